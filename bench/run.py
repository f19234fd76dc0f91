"""The benchmark: egov-exporter against blackbox_exporter on the same machine, in the same run.

    python bench/run.py                                    # everything; ~27 minutes on 2 cores
    python bench/run.py --skip poll,scrape,hang,content    # the primary table only; ~7 minutes
    python bench/run.py --quick    # secondary N = 100, 1,000, 1 run; primary window 1 interval

The primary scenario (``steady``) is the steady state of issue 15: N = 1,000 and 5,000 endpoints each polled
by ours, and probed through blackbox_exporter, every 10 s, spread over the interval, at most 128 at once
(blackbox driven by ``bench/prober.py`` as Prometheus drives it), and N = 5,000 every 60 s.  The secondary
scenarios are the burst (blackbox probing all N at once), /metrics latency at 1k-50k series, hanging endpoints
and the content check.

Every figure comes from real processes on loopback: the exporter as ``python -m exporter`` with a generated
configuration, blackbox_exporter (Debian's ``prometheus-blackbox-exporter``) with a generated blackbox.yml,
both polling the endpoints of ``bench/sim.py`` (50 ms ± 20 ms, small JSON answers).  CPU seconds are read
from ``/proc/<pid>/stat`` and peak RSS from ``/proc/<pid>/status`` (VmHWM).  See bench/README.md for what each
scenario measures and the table of the last run; the raw figures go to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import http.client
import json
import os
import platform
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import prober
import procs
from sim import BAD_ANSWERS, HUGE_BYTES, Simulator

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
TIMEOUT = 5.0  # the upstream timeout of both exporters (blackbox's default module timeout)
SERIES_PER_TARGET = 27  # health (22) + http (4) + the JSON value (1), without per-unit series


# ---------------------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def brief(figures: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The figures named, rounded, for the progress log."""
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items() if k in keys}


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def write_config(
    path: Path, sim: Simulator, *, concurrency: int, interval: float, units: int = 0, spread: float = 0.0
) -> None:
    """The exporter's configuration for every endpoint of ``sim``: kind json, one JSONPath value (and the
    per-unit values when the endpoints answer units), so each poll parses and checks the answer."""
    lines = [
        "scheduler:",
        f"  max_concurrency: {concurrency}",
        "  per_host_concurrency: 4",
        f"  start_spread: {spread:g}s",
        "history:",
        "  enabled: false",
        "scoring:",
        "  scorecards: []",
        "defaults:",
        f"  interval: {interval:g}s",
        f"  timeout: {TIMEOUT:g}s",
        "  jitter: 0",
        "  retries: 0",
        "targets:",
    ]
    for i in range(sim.n):
        lines += [
            f"  - name: ep-{i:05d}",
            "    kind: json",
            "    system: services",
            f"    url: {sim.url(i)}",
            "    metrics:",
            "      - {name: egov_bench_received, path: $.received}",
        ]
        if units:
            lines.append(
                "      - {name: egov_bench_unit_value, path: '$.units[*]', value: '@.value', "
                "labels: {code: '@.code'}}"
            )
    path.write_text("\n".join(lines) + "\n")


_LINE = re.compile(r"^(egov_[a-z_]+)\{([^}]*)\} (\S+)$")
_TARGET = re.compile(r'target="([^"]*)"')


def parse_metrics(text: str, names: set[str]) -> dict[str, dict[str, float]]:
    """{metric: {target: value}} for the per-target metrics named (first sample per target)."""
    out: dict[str, dict[str, float]] = {n: {} for n in names}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(1) in names:
            t = _TARGET.search(m.group(2))
            if t:
                out[m.group(1)].setdefault(t.group(1), float(m.group(3)))
    return out


def scrape(address: str, timeout: float = 60.0) -> str:
    """/metrics as Prometheus asks for it (OpenMetrics, gzip), so that the exporter serves one variant only."""
    status, body = procs.http_get(
        f"http://{address}/metrics",
        timeout=timeout,
        headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"},
    )
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    return gzip.decompress(body).decode() if body[:2] == b"\x1f\x8b" else body.decode()


def round_of(text: str, targets: list[str]) -> dict[str, Any]:
    """The exporter's own account of its last poll of each target: start, end, success."""
    m = parse_metrics(
        text,
        {
            "egov_target_last_poll_timestamp_seconds",
            "egov_target_poll_duration_seconds",
            "egov_target_up",
            "egov_target_polls_total",
            "egov_bench_received",
        },
    )
    starts = [m["egov_target_last_poll_timestamp_seconds"].get(t) for t in targets]
    if any(s is None for s in starts):
        return {"complete": False}
    ends = [s + m["egov_target_poll_duration_seconds"][t] for s, t in zip(starts, targets)]
    return {
        "complete": True,
        "start": min(starts),
        "end": max(ends),
        "wall": max(ends) - min(starts),
        "ends": dict(zip(targets, ends)),
        "starts": dict(zip(targets, starts)),
        "up": sum(1 for t in targets if m["egov_target_up"].get(t) == 1.0),
        "with_value": sum(1 for t in targets if t in m["egov_bench_received"]),
        "polls_min": min(m["egov_target_polls_total"].get(t, 0) for t in targets),
    }


class Scraper(threading.Thread):
    """A Prometheus stand-in: GET /metrics every ``every`` seconds (a fixed cadence) with Prometheus's headers,
    on a keep-alive connection as Prometheus keeps one; each scrape timed from request to last byte."""

    def __init__(self, address: str, every: float) -> None:
        super().__init__(daemon=True)
        self.address, self.every = address, every
        self.stop_event = threading.Event()
        self.count = 0
        self.scrapes: list[tuple[float, float, bool]] = []  # (started, seconds, answered 200 with a body)

    def run(self) -> None:
        host, port = self.address.rsplit(":", 1)
        headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
        conn: http.client.HTTPConnection | None = None
        due = time.monotonic() + self.every
        while not self.stop_event.wait(max(0.0, due - time.monotonic())):
            due = max(due + self.every, time.monotonic())  # a scrape longer than `every` delays the next
            started, t0 = time.monotonic(), time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=30)
                conn.request("GET", "/metrics", headers=headers)
                resp = conn.getresponse()
                ok = resp.status == 200 and bool(resp.read())
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn, ok = None, False
            self.scrapes.append((started, time.perf_counter() - t0, ok))
            self.count += 1
        if conn is not None:
            conn.close()

    def within(self, since: float, until: float) -> tuple[list[float], int]:
        """The latencies (s) of the scrapes started in [since, until) that were answered, and how many were not."""
        inside = [(sec, ok) for t, sec, ok in self.scrapes if since <= t < until]
        return [sec for sec, ok in inside if ok], sum(1 for _, ok in inside if not ok)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(35)


def answered_all(sim: Simulator, k: int, base: list[int], only: list[int] | None = None) -> bool:
    """Every endpoint (of ``only``) answered ``k`` requests since ``base`` (the counts at the start)."""
    answered = sim.answered
    return all(answered[i] - base[i] >= k for i in (only if only is not None else range(sim.n)))


# ------------------------------------------------------------------ primary: steady state (issue 15)

SCRAPE_EVERY = 2.5  # Prometheus's scrape interval for each exporter's own /metrics in the steady scenario
PER_HOST = 16  # endpoints per simulated host in the steady scenario
STEADY_BRIEF = (
    "cpu_ms_per_poll",
    "cpu_cores",
    "peak_rss_mib",
    "metrics_p99_ms",
    "with_value",
    "probes_failed",
    "probes_late_p99_ms",
)


def sleep_until(when: float, proc: procs.Proc) -> None:
    """Sleep until ``when`` (time.monotonic()), checking every second that ``proc`` still runs."""
    while (left := when - time.monotonic()) > 0:
        if not proc.alive():
            raise RuntimeError(f"process {proc.pid} exited:\n{proc.tail()}")
        time.sleep(min(1.0, left))


def window_figures(
    proc: procs.Proc, sim: Simulator, scraper: Scraper, since: float, length: float
) -> dict[str, Any]:
    """CPU seconds of ``proc`` and the requests ``sim`` answered from ``since`` for ``length`` seconds, and the
    /metrics latencies of the scrapes started in that window: the figures both exporters are compared on."""
    sleep_until(since, proc)
    cpu0, polls0, t0 = proc.cpu(), sum(sim.answered), time.monotonic()
    sleep_until(t0 + length, proc)
    cpu1, polls1, t1 = proc.cpu(), sum(sim.answered), time.monotonic()
    lat, failed = scraper.within(t0, t1)
    polls, cpu = polls1 - polls0, cpu1 - cpu0
    return {
        "window_s": t1 - t0,
        "window_polls": polls,
        "window_cpu_s": cpu,
        "cpu_ms_per_poll": 1000 * cpu / polls if polls else None,
        "cpu_cores": cpu / (t1 - t0),
        "polls_per_s": polls / (t1 - t0),
        "metrics_scrapes": len(lat),
        "metrics_failed": failed,
        "metrics_p50_ms": 1000 * percentile(lat, 0.5) if lat else None,
        "metrics_p99_ms": 1000 * percentile(lat, 0.99) if lat else None,
        "metrics_max_ms": 1000 * max(lat) if lat else None,
    }


def ours_steady(
    sim: Simulator,
    workdir: Path,
    interval: float,
    windows: int,
    concurrency: int,
    root: Path = procs.ROOT,
) -> dict[str, Any]:
    """Ours at steady state: every target every ``interval`` s, the first polls spread over the first interval
    (``start_spread`` = the interval), /metrics scraped every 2.5 s; measured over ``windows`` intervals after
    a warm-up of one.  At the end, every target must be up with its value."""
    n = sim.n
    config = workdir / f"steady-ours-{n}-{interval:g}.yml"
    write_config(config, sim, concurrency=concurrency, interval=interval, spread=interval)
    targets = [f"ep-{i:05d}" for i in range(n)]
    base = list(sim.answered)
    t_start = time.monotonic()
    proc = procs.start_ours(config, workdir, root=root)
    scraper = Scraper(proc.address, SCRAPE_EVERY)
    try:
        t_ready = time.monotonic()
        scraper.start()
        sleep_until(t_ready + interval, proc)  # the warm-up: start-up and the first round
        procs.wait_until(lambda: answered_all(sim, 1, base), interval)  # the first round is complete
        fig = window_figures(proc, sim, scraper, time.monotonic(), windows * interval)
        scraper.stop()
        last = round_of(scrape(proc.address), targets)
        rss = proc.peak_rss()
        threads = procs.threads(proc.pid)
    finally:
        scraper.stop()
        proc.stop()
    return {
        "n": n,
        "interval": interval,
        "windows": windows,
        "startup_s": t_ready - t_start,
        **fig,
        "up": last["up"],
        "with_value": last["with_value"],
        "polls_min": last["polls_min"],
        "peak_rss_mib": rss,
        "threads": threads,
    }


def blackbox_steady(
    sim: Simulator, workdir: Path, interval: float, windows: int, concurrency: int
) -> dict[str, Any]:
    """blackbox_exporter driven as Prometheus drives it (bench/prober.py, its own process): every endpoint a
    probe target scraped every ``interval`` s at its own offset, at most ``concurrency`` in flight; its own
    /metrics scraped every 2.5 s; measured over ``windows`` intervals after a warm-up of one."""
    n = sim.n
    paths = procs.probe_paths([sim.url(i) for i in range(n)])
    scrape_timeout = min(10.0, interval)  # Prometheus's default scrape_timeout, at most the interval
    t_start = time.monotonic()
    proc = procs.start_blackbox(workdir, TIMEOUT)
    scraper = Scraper(proc.address, SCRAPE_EVERY)
    try:
        t_ready = time.monotonic()
        begin = t_ready + 1.0  # the prober's Python starts meanwhile
        until = begin + (1 + windows) * interval
        driver = prober.start(
            workdir,
            proc.address,
            paths,
            interval=interval,
            concurrency=concurrency,
            start=begin,
            until=until,
            scrape_timeout=scrape_timeout,
        )
        scraper.start()
        fig = window_figures(proc, sim, scraper, begin + interval, windows * interval)
        probed = driver.result(timeout=max(0.0, until - time.monotonic()) + scrape_timeout + 30)
        scraper.stop()
        rss = proc.peak_rss()
        threads = procs.threads(proc.pid)
    finally:
        scraper.stop()
        proc.stop()
    w0, w1 = begin + interval, until
    rows = probed["rows"]
    late = [started - due for _, due, started, _, _, _ in rows]
    late_window = [started - due for _, due, started, _, _, _ in rows if w0 <= due < w1]
    expected = n * (1 + windows)
    return {
        "n": n,
        "interval": interval,
        "windows": windows,
        "startup_s": t_ready - t_start,
        **fig,
        "probes": len(rows),
        "probes_scheduled": expected,
        "probes_failed": sum(1 for r in rows if not r[5]) + max(0, expected - len(rows)),
        "probes_late_p50_ms": 1000 * percentile(late_window, 0.5) if late_window else None,
        "probes_late_p99_ms": 1000 * percentile(late_window, 0.99) if late_window else None,
        "probes_late_max_ms": 1000 * max(late) if late else None,
        "probe_seconds_p99": percentile([r[3] - r[2] for r in rows], 0.99) if rows else None,
        "prober_cpu_ms_per_probe": 1000 * probed["cpu_s"] / len(rows) if rows else None,
        "peak_rss_mib": rss,
        "threads": threads,
    }


# ------------------------------------------------------------------------------- (a) poll rounds


def ours_rounds(
    sim: Simulator,
    workdir: Path,
    concurrency: int,
    steady_rounds: int,
    scrape_every: float,
    root: Path = procs.ROOT,
) -> dict[str, Any]:
    n = sim.n
    interval = max(TIMEOUT, 2.0 + n * 0.0015)
    config = workdir / f"ours-{n}.yml"
    write_config(config, sim, concurrency=concurrency, interval=interval)
    targets = [f"ep-{i:05d}" for i in range(n)]
    base = list(sim.answered)
    before = sum(base)
    proc = procs.start_ours(config, workdir, root=root)
    try:
        procs.wait_until(lambda: answered_all(sim, 1, base), 60 + n * 0.05)
        time.sleep(0.3)
        cpu_first = proc.cpu()
        first = round_of(scrape(proc.address), targets)
        scraper = Scraper(proc.address, scrape_every)
        scraper.start()
        cpu0, polls0 = proc.cpu(), sum(sim.answered)
        procs.wait_until(
            lambda: answered_all(sim, 1 + steady_rounds, base), steady_rounds * (interval + 30) + 30
        )
        time.sleep(0.3)
        cpu1, polls1 = proc.cpu(), sum(sim.answered)
        scraper.stop()
        last = round_of(scrape(proc.address), targets)
        rss = proc.peak_rss()
        threads = procs.threads(proc.pid)
    finally:
        proc.stop()
    polls = polls1 - polls0
    return {
        "n": n,
        "concurrency": concurrency,
        "interval": interval,
        "first_round_wall": first["wall"],
        "first_round_up": first["up"],
        "first_round_values": first["with_value"],
        "startup_and_first_round_cpu": cpu_first,
        "steady_polls": polls,
        "steady_cpu": cpu1 - cpu0,
        "scrapes_during": scraper.count,
        "cpu_per_1000": 1000 * (cpu1 - cpu0) / polls if polls else None,
        "steady_round_wall": last["wall"],
        "steady_up": last["up"],
        "steady_values": last["with_value"],
        "polls_min": last["polls_min"],
        "peak_rss_mib": rss,
        "threads": threads,
        "requests_total": sum(sim.answered) - before,
    }


def blackbox_rounds(sim: Simulator, workdir: Path, concurrency: int, rounds: int) -> dict[str, Any]:
    n = sim.n
    paths = procs.probe_paths([sim.url(i) for i in range(n)])
    proc = procs.start_blackbox(workdir, TIMEOUT)
    walls, cpus, oks = [], [], []
    try:
        for _ in range(rounds):
            cpu0, t0 = proc.cpu(), time.monotonic()
            out = procs.drive(
                proc.address, paths, concurrency, headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"}
            )
            wall = time.monotonic() - t0
            time.sleep(0.3)
            cpus.append(proc.cpu() - cpu0)
            walls.append(wall)
            oks.append(sum(1 for o in out if b"\nprobe_success 1\n" in o[2]))
        rss = proc.peak_rss()
    finally:
        proc.stop()
    return {
        "n": n,
        "concurrency": concurrency,
        "round_wall": median(walls),
        "cpu_per_1000": 1000 * median(cpus) / n,
        "walls": walls,
        "cpus": cpus,
        "success": min(oks),
        "peak_rss_mib": rss,
    }


# ------------------------------------------------------------------------------ (b) scrape latency


def timed_scrapes(address: str, count: int, every: float, headers: dict[str, str]) -> list[float]:
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    out = []
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            conn.request("GET", "/metrics", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            out.append(time.perf_counter() - t0)
            if resp.status != 200 or not body:
                raise RuntimeError(f"/metrics answered {resp.status}")
            time.sleep(every)
    finally:
        conn.close()
    return out


def scrape_latency(
    series: int, workdir: Path, concurrency: int, duration: float, root: Path = procs.ROOT
) -> dict[str, Any]:
    n = min(1000, max(10, series // 50))
    units = max(0, series // n - SERIES_PER_TARGET)
    with Simulator(n, units=units) as sim:
        config = workdir / f"scrape-{series}.yml"
        # every target polled every 5 s, the polls spread evenly: 200 polls a second at 1,000 targets
        write_config(config, sim, concurrency=concurrency, interval=TIMEOUT, units=units, spread=TIMEOUT)
        proc = procs.start_ours(config, workdir, root=root)
        try:
            procs.wait_until(lambda: answered_all(sim, 1, [0] * n), 60 + TIMEOUT + n * 0.05)
            plain = scrape(proc.address)
            counted = sum(1 for line in plain.splitlines() if line and not line.startswith("#"))
            prom = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
            every = 0.1
            count = max(20, int(duration / (every + 0.005)))
            timed_scrapes(proc.address, 1, 0, prom)  # the first render of this variant (not counted)
            polls0, cpu0 = sum(sim.answered), proc.cpu()
            lat_prom = timed_scrapes(proc.address, count, every, prom)
            timed_scrapes(proc.address, 1, 0, {})  # the first render of the plain text (not counted)
            lat_plain = timed_scrapes(proc.address, count // 2, every, {})
            polls = sum(sim.answered) - polls0
            cpu = proc.cpu() - cpu0
            rss = proc.peak_rss()
        finally:
            proc.stop()
    return {
        "series_target": series,
        "targets": n,
        "units": units,
        "series": counted,
        "bytes": len(plain),
        "polls_during": polls,
        "cpu_during": cpu,
        "peak_rss_mib": rss,
        "prometheus_p50_ms": 1000 * percentile(lat_prom, 0.5),
        "prometheus_p99_ms": 1000 * percentile(lat_prom, 0.99),
        "prometheus_max_ms": 1000 * max(lat_prom),
        "plain_p50_ms": 1000 * percentile(lat_plain, 0.5),
        "plain_p99_ms": 1000 * percentile(lat_plain, 0.99),
        "scrapes": len(lat_prom) + len(lat_plain),
    }


# -------------------------------------------------------------------------- (c) hanging endpoints


class PollLog(threading.Thread):
    """Scrapes /metrics every ``every`` seconds and keeps each target's polls: [(start, end, up)]."""

    def __init__(self, address: str, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.address, self.every = address, every
        self.polls: dict[str, list[tuple[float, float, bool]]] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(self.every):
            try:
                text = scrape(self.address, timeout=10)
            except RuntimeError:
                continue
            m = parse_metrics(
                text,
                {
                    "egov_target_last_poll_timestamp_seconds",
                    "egov_target_poll_duration_seconds",
                    "egov_target_up",
                },
            )
            for target, start in m["egov_target_last_poll_timestamp_seconds"].items():
                seen = self.polls.setdefault(target, [])
                if not seen or seen[-1][0] != start:
                    seen.append(
                        (
                            start,
                            start + m["egov_target_poll_duration_seconds"][target],
                            m["egov_target_up"].get(target) == 1.0,
                        )
                    )

    def stop(self) -> None:
        self.stop_event.set()
        self.join(15)


def ours_hanging(
    n: int,
    workdir: Path,
    concurrency: int,
    steady_rounds: int,
    fraction: float = 0.1,
    root: Path = procs.ROOT,
) -> dict[str, Any]:
    """The first round (a burst: every target due at start-up) with 10 % of the endpoints hanging, and then
    how late the other targets' later polls start (the time from the end of one poll to the start of the next,
    beyond the interval): as late as without hanging endpoints (``fraction=0``), i.e. not at all."""
    interval = 2 * TIMEOUT + 2.0 + n * 0.0015
    with Simulator(n, hang_fraction=fraction) as sim:
        hanging = {f"ep-{i:05d}" for i in sim.hanging}
        targets = [f"ep-{i:05d}" for i in range(n)]
        healthy = [t for t in targets if t not in hanging]
        config = workdir / f"hang-{n}.yml"
        write_config(config, sim, concurrency=concurrency, interval=interval)
        proc = procs.start_ours(config, workdir, root=root)
        polls = PollLog(proc.address)
        polls.start()
        try:
            want = 2 + steady_rounds
            procs.wait_until(
                lambda: (
                    all(len(polls.polls.get(t, ())) >= want for t in healthy)
                    and all(len(polls.polls.get(t, ())) >= want - 1 for t in hanging)
                ),
                want * (interval + TIMEOUT) + 60 + n * 0.05,
                step=0.5,
            )
            rss = proc.peak_rss()
        finally:
            polls.stop()
            proc.stop()
    log_ = polls.polls
    first = {t: log_[t][0] for t in targets}
    gaps = [b[0] - a[0] for t in healthy for a, b in zip(log_[t][1:], log_[t][2:])]  # after the first poll
    late = [b[0] - a[1] - interval for t in healthy for a, b in zip(log_[t], log_[t][1:])]
    hang_gaps = [b[0] - a[0] for t in hanging for a, b in zip(log_[t][1:], log_[t][2:])]
    return {
        "n": n,
        "hanging": len(hanging),
        "interval": interval,
        "first_round_wall": max(e for _, e, _ in first.values()) - min(s for s, _, _ in first.values()),
        "first_round_healthy_wall": max(first[t][1] for t in healthy) - min(first[t][0] for t in healthy),
        "healthy_period_median": median(gaps),
        "healthy_period_max": max(gaps),
        "healthy_late_median": median(late),
        "healthy_late_p99": percentile(late, 0.99),
        "healthy_late_max": max(late),
        "hanging_period_median": median(hang_gaps),
        "longest_hanging_poll": max((e - s for t in hanging for s, e, _ in log_[t]), default=None),
        "healthy_up": all(log_[t][-1][2] for t in healthy),
        "peak_rss_mib": rss,
    }


def blackbox_hanging(n: int, workdir: Path, concurrency: int, fraction: float = 0.1) -> dict[str, Any]:
    with Simulator(n, hang_fraction=fraction) as sim:
        hanging = {sim.url(i) for i in sim.hanging}
        urls = [sim.url(i) for i in range(n)]
        paths = procs.probe_paths(urls)
        healthy_paths = {p for p, u in zip(paths, urls) if u not in hanging}
        proc = procs.start_blackbox(workdir, TIMEOUT)
        try:
            t0 = time.monotonic()
            out = procs.drive(
                proc.address, paths, concurrency, headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"}
            )
            wall = time.monotonic() - t0
        finally:
            proc.stop()
    healthy_end = max(o[4] for o in out if o[0] in healthy_paths) - t0  # when the last healthy probe ended
    return {
        "n": n,
        "concurrency": concurrency,
        "round_wall": wall,
        "healthy_wall": healthy_end,
        "success": sum(1 for o in out if b"\nprobe_success 1\n" in o[2]),
    }


# ------------------------------------------------------------------------- (e) content checked


def content_check(workdir: Path, root: Path = procs.ROOT) -> dict[str, Any]:
    """Answers that are 200 but not the data (sim.BAD_ANSWERS), two endpoints each, and two good ones: what
    each exporter reports for them.  blackbox's http_2xx checks the status only; ours parses the answer."""
    bad = {2 + 2 * k + j: kind for k, kind in enumerate(BAD_ANSWERS) for j in range(2)}
    n = 2 + len(bad)
    kinds = {i: bad.get(i, "good") for i in range(n)}
    with Simulator(n, per_host=n, bad=bad) as sim:
        bb = procs.start_blackbox(workdir, TIMEOUT)
        try:
            out = procs.drive(
                bb.address,
                procs.probe_paths([sim.url(i) for i in range(n)]),
                n,
                headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"},
            )
            bb_rss = bb.peak_rss()
        finally:
            bb.stop()
        by_path = {o[0]: o[2] for o in out}
        bb_ok = {
            i: b"\nprobe_success 1\n" in by_path.get(p, b"")
            for i, p in enumerate(procs.probe_paths([sim.url(i) for i in range(n)]))
        }
        config = workdir / "ours-content.yml"
        write_config(config, sim, concurrency=n, interval=TIMEOUT)
        proc = procs.start_ours(config, workdir, root=root)
        targets = [f"ep-{i:05d}" for i in range(n)]
        try:
            text = procs.wait_until(
                lambda: (lambda t: t if round_of(t, targets)["complete"] else None)(scrape(proc.address)),
                60,
                step=0.2,
            )
            ours_rss = proc.peak_rss()
        finally:
            proc.stop()
    m = parse_metrics(text, {"egov_target_up"})["egov_target_up"]
    reasons: dict[str, str] = {}
    for line in text.splitlines():
        if (
            line.startswith("egov_target_failures_total{")
            and not line.endswith(" 0")
            and not line.endswith(" 0.0")
        ):
            t, r = _TARGET.search(line).group(1), re.search(r'reason="([^"]*)"', line).group(1)
            reasons[t] = r
    rows = {}
    for kind in ["good", *BAD_ANSWERS]:
        idx = [i for i, k in kinds.items() if k == kind]
        rows[kind] = {
            "endpoints": len(idx),
            "blackbox_success": sum(bb_ok[i] for i in idx),
            "ours_up": sum(m.get(targets[i]) == 1.0 for i in idx),
            "ours_reasons": sorted({reasons.get(targets[i], "") for i in idx} - {""}),
        }
    return {"rows": rows, "blackbox_peak_rss_mib": bb_rss, "ours_peak_rss_mib": ours_rss}


# ----------------------------------------------------------------------------------------- report


def fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**missed**")


BURST = "burst (blackbox all N at once; not how Prometheus drives it)"


def goal_table(goals: list[dict[str, Any]]) -> list[str]:
    lines = ["| goal | figure | verdict |", "|---|---|---|"]
    for goal in goals:
        lines.append(f"| {goal['goal']} | {goal['figure']} | {verdict(goal['ok'])} |")
    return lines


def primary_report(res: dict[str, Any]) -> list[str]:
    """The steady-state table (issue 15), with the burst rows of (a) below it, and issue 15's goals."""
    c = res["args"]["concurrency"]
    lines = [
        "### Primary: steady state, same concurrency",
        "",
        f"Each of N endpoints (16 per simulated host, 50 ± 20 ms, small JSON) polled by ours / probed through "
        f"blackbox every interval, spread over the interval, at most {c} at once; each exporter's /metrics "
        f"scraped every {SCRAPE_EVERY:g} s. Measured over the window after a warm-up of one interval: CPU of "
        "the exporter's process divided by the requests the endpoints answered; peak RSS of the whole run.",
        "",
        "| load | N | ours CPU ms / poll | bb CPU ms / probe | ours / bb | ours CPU (cores) | bb CPU (cores) | "
        "ours peak RSS (MiB) | bb peak RSS (MiB) | ours / bb | ours /metrics p50 / p99 (ms) | "
        "bb /metrics p50 / p99 (ms) | ours: up with value | bb: probes failed | bb: probes late p99 (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    if not res["steady"] and not res["poll"]:
        lines[-5:] = ["(not run)"]
    rows = sorted(res["steady"].values(), key=lambda row: (row["ours"]["interval"], row["ours"]["n"]))
    for row in rows:
        o, b = row["ours"], row["blackbox"]
        lines.append(
            f"| steady, every {o['interval']:g} s (window {fmt(o['window_s'], 0)} s) | {o['n']:,.0f} | "
            f"{fmt(o['cpu_ms_per_poll'], 3)} | {fmt(b['cpu_ms_per_poll'], 3)} | "
            f"{fmt(ratio(o['cpu_ms_per_poll'], b['cpu_ms_per_poll']))} | {fmt(o['cpu_cores'], 3)} | "
            f"{fmt(b['cpu_cores'], 3)} | {fmt(o['peak_rss_mib'], 1)} | {fmt(b['peak_rss_mib'], 1)} | "
            f"{fmt(ratio(o['peak_rss_mib'], b['peak_rss_mib']))} | {fmt(o['metrics_p50_ms'])} / "
            f"{fmt(o['metrics_p99_ms'])} | {fmt(b['metrics_p50_ms'])} / {fmt(b['metrics_p99_ms'])} | "
            f"{o['with_value']:,.0f} of {o['n']:,.0f} | {b['probes_failed']:,.0f} of {b['probes']:,.0f} | "
            f"{fmt(b['probes_late_p99_ms'], 1)} |"
        )
    for n, row in sorted(res["poll"].items(), key=lambda kv: int(kv[0])):
        o, b = row["ours"], row["blackbox_burst"]
        lines.append(
            f"| {BURST} | {int(n):,} | {fmt(o['cpu_per_1000'], 3)} | {fmt(b['cpu_per_1000'], 3)} | "
            f"{fmt(ratio(o['cpu_per_1000'], b['cpu_per_1000']))} | – | – | {fmt(o['peak_rss_mib'], 1)} | "
            f"{fmt(b['peak_rss_mib'], 1)} | {fmt(ratio(o['peak_rss_mib'], b['peak_rss_mib']))} | – | – | "
            f"{o['steady_values']:,.0f} of {int(n):,} | {int(n) - b['success']:,.0f} of {int(n):,} | – |"
        )
    for key, g in res["steady_growth"].items():
        lines += [
            "",
            f"Growth {key}: CPU per round ours {fmt(g['ours_cpu'])}×, blackbox {fmt(g['blackbox_cpu'])}×; "
            f"peak RSS ours {fmt(g['ours_rss'])}×, blackbox {fmt(g['blackbox_rss'])}× (N {fmt(g['n'], 0)}×).",
        ]
    if res["poll"]:
        lines += [
            "",
            "The burst rows are (a) below: blackbox probes all N endpoints at once; ours polls a first round "
            "due all at once, its CPU per poll taken over the rounds after it.",
        ]
    lines += ["", "### Goals (issue 15)", "", *goal_table(res["goals"])]
    return lines


def report(res: dict[str, Any]) -> str:
    lines = primary_report(res)
    lines += ["", "### Secondary: the burst, /metrics latency, hanging endpoints, content"]
    poll = res["poll"]
    if poll:
        lines += [
            "",
            "#### (a) Burst: poll round, per N (medians of the runs; blackbox all N at once, not how Prometheus "
            f"drives it, and {res['args']['concurrency']} at a time)",
            "",
            "| N | ours: first round (s) | blackbox burst round (s) | ours / bb burst | blackbox same-C round (s) | "
            "ours CPU ms / poll | bb burst CPU ms / probe | bb same-C CPU ms / probe | ours / bb burst | "
            "ours / bb same-C | ours peak RSS (MiB) | bb burst peak RSS | bb same-C peak RSS | ours / bb burst |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    for n, row in sorted(poll.items(), key=lambda kv: int(kv[0])):
        o, b, s = row["ours"], row["blackbox_burst"], row["blackbox_same"]
        lines.append(
            f"| {int(n):,} | {fmt(o['first_round_wall'])} | {fmt(b['round_wall'])} | "
            f"{fmt(ratio(o['first_round_wall'], b['round_wall']))} | {fmt(s['round_wall'])} | "
            f"{fmt(o['cpu_per_1000'], 3)} | {fmt(b['cpu_per_1000'], 3)} | {fmt(s['cpu_per_1000'], 3)} | "
            f"{fmt(ratio(o['cpu_per_1000'], b['cpu_per_1000']))} | {fmt(ratio(o['cpu_per_1000'], s['cpu_per_1000']))} | "
            f"{fmt(o['peak_rss_mib'], 0)} | {fmt(b['peak_rss_mib'], 0)} | {fmt(s['peak_rss_mib'], 0)} | "
            f"{fmt(ratio(o['peak_rss_mib'], b['peak_rss_mib']))} |"
        )
    if res["scrape"]:
        lines += [
            "",
            "#### (b) /metrics latency while polling runs (ms; Prometheus's headers: OpenMetrics, gzip)",
            "",
            "| series | targets | text size (MB) | p50 | p99 | max | plain text p50 | plain text p99 |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for s in sorted(res["scrape"].values(), key=lambda r: r["series"]):
        lines.append(
            f"| {s['series']:,} | {s['targets']:,} | {s['bytes'] / 1e6:.1f} | {fmt(s['prometheus_p50_ms'])} | "
            f"{fmt(s['prometheus_p99_ms'])} | {fmt(s['prometheus_max_ms'])} | {fmt(s['plain_p50_ms'])} | "
            f"{fmt(s['plain_p99_ms'])} |"
        )
    h = res.get("hang")
    if h:
        o = h["ours"]
        lines += [
            "",
            f"#### (c) 10 % of {o['n']:,} endpoints hang until the {TIMEOUT:g} s timeout",
            "",
            "First round (every target due at once):",
            "",
            "| | round with hanging (s) | the healthy targets' round (s) | round without hanging (s) |",
            "|---|---|---|---|",
            f"| ours | {fmt(o['first_round_wall'])} | {fmt(o['first_round_healthy_wall'])} | "
            f"{fmt(h['ours_without']['first_round_wall'])} |",
            f"| blackbox burst | {fmt(h['blackbox_burst']['round_wall'])} | "
            f"{fmt(h['blackbox_burst']['healthy_wall'])} | {fmt(h['blackbox_burst_without']['round_wall'])} |",
            f"| blackbox, {res['args']['concurrency']} at once | {fmt(h['blackbox_same']['round_wall'])} | "
            f"{fmt(h['blackbox_same']['healthy_wall'])} | {fmt(h['blackbox_same_without']['round_wall'])} |",
            "",
            f"Later rounds (ours, interval {fmt(o['interval'], 1)} s): the healthy targets are polled every "
            f"{fmt(o['healthy_period_median'])} s (median; longest {fmt(o['healthy_period_max'])} s), the hanging "
            f"ones every {fmt(o['hanging_period_median'])} s; the longest hanging poll lasted "
            f"{fmt(o['longest_hanging_poll'])} s.  A healthy target's next poll starts "
            f"{fmt(1000 * o['healthy_late_median'], 0)} ms (median; p99 {fmt(1000 * o['healthy_late_p99'], 0)} ms, "
            f"max {fmt(1000 * o['healthy_late_max'], 0)} ms) after its interval has passed; without hanging "
            f"endpoints {fmt(1000 * h['ours_without']['healthy_late_median'], 0)} ms (p99 "
            f"{fmt(1000 * h['ours_without']['healthy_late_p99'], 0)} ms, max "
            f"{fmt(1000 * h['ours_without']['healthy_late_max'], 0)} ms).",
        ]
    g = res.get("growth")
    if g:
        lines += [
            "",
            "#### (d) Growth (burst rounds; ours; ratio of the larger N to the smaller)",
            "",
            "| | N ratio | CPU per round | first round wall | peak RSS |",
            "|---|---|---|---|---|",
        ]
        for k, v in g.items():
            lines.append(
                f"| {k} | {fmt(v['n'], 0)}× | {fmt(v['cpu'])}× | {fmt(v['wall'])}× | {fmt(v['rss'])}× |"
            )
    c = res.get("content")
    if c:
        lines += [
            "",
            "#### (e) Content checked: answers with status 200 that are not the data",
            "",
            "| answer | endpoints | blackbox `probe_success` 1 | ours `egov_target_up` 1 | ours: reason |",
            "|---|---|---|---|---|",
        ]
        what = {
            "good": "the JSON statistics",
            "malformed": "half a JSON document",
            "huge": f"{HUGE_BYTES / 1e6:.0f} MB of valid JSON (a dump)",
            "wrong_content_type": "an HTML maintenance page",
            "missing_field": "JSON without the field read",
        }
        for kind, r in c["rows"].items():
            lines.append(
                f"| {what.get(kind, kind)} | {r['endpoints']} | {r['blackbox_success']} | {r['ours_up']} | "
                f"{', '.join(r['ours_reasons']) or '–'} |"
            )
        lines += [
            "",
            f"Peak RSS in this scenario: blackbox {fmt(c['blackbox_peak_rss_mib'], 0)} MiB, ours "
            f"{fmt(c['ours_peak_rss_mib'], 0)} MiB (ours refuses a body above `max_body_size`, 10 MiB).",
        ]
    if res["goals_secondary"]:
        lines += ["", "#### Secondary goals", "", *goal_table(res["goals_secondary"])]
    if lines[-1].startswith("### Secondary"):
        lines += ["", "(not run)"]
    return "\n".join(lines) + "\n"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def medians(runs: list[dict[str, Any]], who: str | None = None) -> dict[str, float | None]:
    """The median of each numeric figure over the runs (of ``run[who]`` when ``who`` is given)."""
    rows = [r[who] if who else r for r in runs]
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: median([r[k] for r in rows]) for k in keys}


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {
        "steady": {},
        "poll": {},
        "scrape": {},
        "machine": raw["machine"],
        "args": raw["args"],
    }
    for key, runs in raw.get("steady", {}).items():
        res["steady"][key] = {who: medians(runs, who) for who in ("ours", "blackbox")}
    for n, runs in raw["poll"].items():
        res["poll"][n] = {who: medians(runs, who) for who in ("ours", "blackbox_burst", "blackbox_same")}
    for s, runs in raw["scrape"].items():
        res["scrape"][s] = medians(runs)
    if raw.get("hang"):
        res["hang"] = {
            who: medians(raw["hang"], who)
            for who in (
                "ours",
                "ours_without",
                "blackbox_burst",
                "blackbox_burst_without",
                "blackbox_same",
                "blackbox_same_without",
            )
        }
    if raw.get("content"):
        res["content"] = raw["content"]
    # growth of the steady rows at one interval: CPU per round (CPU per poll × N) from each N to the next
    steady_growth = {}
    intervals = sorted({row["ours"]["interval"] for row in res["steady"].values()})
    for interval in intervals:
        rows = sorted(
            (row for row in res["steady"].values() if row["ours"]["interval"] == interval),
            key=lambda row: row["ours"]["n"],
        )
        for a, b in zip(rows, rows[1:]):
            lo, hi = a["ours"]["n"], b["ours"]["n"]
            steady_growth[f"{lo:,} → {hi:,} (every {interval:g} s)"] = {
                "lo": lo,
                "hi": hi,
                "interval": interval,
                "n": hi / lo,
                **{
                    f"{who}_cpu": ratio(
                        (b[who]["cpu_ms_per_poll"] or 0) * hi, (a[who]["cpu_ms_per_poll"] or 0) * lo
                    )
                    for who in ("ours", "blackbox")
                },
                **{
                    f"{who}_rss": ratio(b[who]["peak_rss_mib"], a[who]["peak_rss_mib"])
                    for who in ("ours", "blackbox")
                },
            }
    res["steady_growth"] = steady_growth
    sizes = sorted(int(n) for n in res["poll"])
    growth = {}
    for lo, hi in zip(sizes, sizes[1:]):
        a, b = res["poll"][str(lo)]["ours"], res["poll"][str(hi)]["ours"]
        growth[f"{lo:,} → {hi:,}"] = {
            "n": hi / lo,
            "cpu": ratio(b["cpu_per_1000"] * hi, a["cpu_per_1000"] * lo),
            "wall": ratio(b["first_round_wall"], a["first_round_wall"]),
            "rss": ratio(b["peak_rss_mib"], a["peak_rss_mib"]),
        }
    res["growth"] = growth
    res["goals"] = primary_goals(res)
    res["goals_secondary"] = secondary_goals(res)
    return res


def steady_row(res: dict[str, Any], n: int, interval: float) -> dict[str, Any] | None:
    return res["steady"].get(f"{n}@{interval:g}")


#: the scheduler of bench/prober.py keeps up when the probes of the window start this late at most (p99)
PROBER_LATE_MS = 100.0


def primary_goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 15's goals, from the steady rows (and the 50k-series /metrics latency of (b)); a goal whose figures
    were not measured in this run (a skipped scenario, other sizes) shows "not measured" and no verdict."""
    interval = res["args"].get("steady_interval", 10.0)
    absent = {"figure": "not measured in this run", "ok": None}
    out = []
    k = steady_row(res, 1000, interval)
    o, b = (k["ours"], k["blackbox"]) if k else ({}, {})
    r = ratio(o.get("cpu_ms_per_poll"), b.get("cpu_ms_per_poll"))
    out.append(
        {
            "goal": f"CPU per poll ≤ 0.8 × blackbox's per probe (steady, every {interval:g} s, 128 in flight, "
            "N = 1,000; ours parses and checks every answer, blackbox the status)",
            **(
                {
                    "figure": f"{fmt(o['cpu_ms_per_poll'], 3)} ms vs {fmt(b['cpu_ms_per_poll'], 3)} ms "
                    f"({fmt(r)}×)",
                    "ok": r is not None and r <= 0.8,
                }
                if k
                else absent
            ),
        }
    )
    r = ratio(o.get("peak_rss_mib"), b.get("peak_rss_mib"))
    out.append(
        {
            "goal": "peak RSS ≤ 1.0 × blackbox's at N = 1,000 (steady)",
            **(
                {
                    "figure": f"{fmt(o['peak_rss_mib'], 1)} MiB vs {fmt(b['peak_rss_mib'], 1)} MiB ({fmt(r)}×)",
                    "ok": r is not None and r <= 1.0,
                }
                if k
                else absent
            ),
        }
    )
    big = sorted(
        (row["ours"] for row in res["steady"].values() if row["ours"]["n"] == 5000),
        key=lambda o: o["interval"],
    )
    out.append(
        {
            "goal": "peak RSS ≤ 150 MiB at N = 5,000 (steady)",
            **(
                {
                    "figure": ", ".join(
                        f"{fmt(o['peak_rss_mib'], 1)} MiB every {o['interval']:g} s" for o in big
                    ),
                    "ok": max(o["peak_rss_mib"] for o in big) <= 150,
                }
                if big
                else absent
            ),
        }
    )
    scraped = [s for s in res["scrape"].values() if s["series_target"] >= 50000]
    out.append(
        {
            "goal": "/metrics p99 ≤ 10 ms at 50k series while polling ((b) below)",
            **(
                {
                    "figure": f"{fmt(scraped[0]['prometheus_p99_ms'])} ms at {scraped[0]['series']:,} series "
                    f"(plain text {fmt(scraped[0]['plain_p99_ms'])} ms)",
                    "ok": scraped[0]["prometheus_p99_ms"] <= 10.0,
                }
                if scraped
                else absent
            ),
        }
    )
    k = steady_row(res, 5000, 60)
    out.append(
        {
            "goal": "5,000 targets every 60 s in ≤ 0.25 of one core (steady)",
            **(
                {
                    "figure": f"{fmt(k['ours']['cpu_cores'], 3)} core over {fmt(k['ours']['window_s'], 0)} s "
                    f"(blackbox, driven the same way: {fmt(k['blackbox']['cpu_cores'], 3)})",
                    "ok": k["ours"]["cpu_cores"] <= 0.25,
                }
                if k
                else absent
            ),
        }
    )
    g = [v for v in res["steady_growth"].values() if v["lo"] == 1000 and v["hi"] == 5000]
    out.append(
        {
            "goal": "growth from 1,000 to 5,000 targets ≤ 5.5 × CPU per round (steady, same interval)",
            **(
                {
                    "figure": f"{fmt(g[0]['ours_cpu'])}× (blackbox {fmt(g[0]['blackbox_cpu'])}×; peak RSS "
                    f"{fmt(g[0]['ours_rss'])}×)",
                    "ok": g[0]["ours_cpu"] is not None and g[0]["ours_cpu"] <= 5.5,
                }
                if g
                else absent
            ),
        }
    )
    if res["steady"]:
        rows = sorted(res["steady"].items(), key=lambda kv: (kv[1]["ours"]["interval"], kv[1]["ours"]["n"]))
        bad = [
            key
            for key, row in rows
            if row["ours"]["up"] != row["ours"]["n"]
            or row["ours"]["with_value"] != row["ours"]["n"]
            or row["blackbox"]["probes_failed"]
            or (row["blackbox"]["probes_late_p99_ms"] or 0) > PROBER_LATE_MS
        ]
        out.append(
            {
                "goal": "the steady figures are sound: every target up with its value (ours), every probe "
                f"`probe_success 1` (blackbox), the probes on schedule (p99 ≤ {PROBER_LATE_MS:g} ms late)",
                "figure": "; ".join(
                    f"{key.replace('@', ' every ')} s: {row['ours']['with_value']:g} of {row['ours']['n']:g} up "
                    f"with value, {row['blackbox']['probes_failed']:g} of {row['blackbox']['probes']:g} probes "
                    f"failed, {fmt(row['blackbox']['probes_late_p99_ms'], 1)} ms late (p99)"
                    for key, row in rows
                ),
                "ok": not bad,
            }
        )
    return out


def secondary_goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The earlier goals that still apply: the hanging endpoints' isolation, the content check."""
    out = []
    h = res.get("hang")
    if h:
        o, w = h["ours"], h["ours_without"]
        added = o["first_round_wall"] - w["first_round_wall"]
        out.append(
            {
                "goal": f"10 % hanging add ≤ the timeout ({TIMEOUT:g} s) to the round",
                "figure": f"{fmt(o['first_round_wall'])} s vs {fmt(w['first_round_wall'])} s without hanging: "
                f"+{fmt(added)} s (blackbox burst {fmt(h['blackbox_burst']['round_wall'])} s)",
                "ok": added <= TIMEOUT,
            }
        )
        later = o["healthy_late_p99"] - w["healthy_late_p99"]
        slower = o["first_round_healthy_wall"] - w["first_round_healthy_wall"]
        out.append(
            {
                "goal": "… and delay no other target's freshness",
                "figure": f"healthy targets' later polls start {fmt(1000 * o['healthy_late_p99'], 0)} ms late (p99) "
                f"vs {fmt(1000 * w['healthy_late_p99'], 0)} ms without hanging endpoints; their first "
                f"round {fmt(o['first_round_healthy_wall'])} s vs {fmt(w['first_round_healthy_wall'])} s",
                "ok": later <= 0.1 and slower <= max(0.25, 0.25 * w["first_round_healthy_wall"]),
            }
        )
    c = res.get("content")
    if c:
        bad = [r for k, r in c["rows"].items() if k != "good"]
        total = sum(r["endpoints"] for r in bad)
        ours_up, bb_ok = sum(r["ours_up"] for r in bad), sum(r["blackbox_success"] for r in bad)
        good = c["rows"]["good"]
        out.append(
            {
                "goal": "a 200 that is not the data (malformed, 50 MB, HTML, missing field) is a failure",
                "figure": f"ours: up for {ours_up} of {total} such answers (good ones: {good['ours_up']} of "
                f"{good['endpoints']}); blackbox: success for {bb_ok} of {total}",
                "ok": ours_up == 0 and good["ours_up"] == good["endpoints"],
            }
        )
    return out


# ------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="secondary scenarios at N = 100 and 1,000, one run, shorter scrape series; the steady window "
        "one interval",
    )
    p.add_argument("--sizes", default=None, help="comma-separated N (default 100,1000,5000; quick: 100,1000)")
    p.add_argument("--runs", type=int, default=None, help="runs of each measurement (default 3; quick: 1)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=128,
        help="our max_concurrency, and blackbox's concurrent /probe requests in the same-concurrency "
        "rounds (default 128); blackbox's burst rounds send all N at once",
    )
    p.add_argument("--series", default="1000,10000,50000", help="series counts for the /metrics latency")
    p.add_argument("--hang-n", type=int, default=1000, help="N for the hanging-endpoints scenario")
    p.add_argument(
        "--skip", default="", help="comma-separated scenarios to skip: steady,poll,scrape,hang,content"
    )
    p.add_argument(
        "--steady-sizes",
        default="1000,5000",
        help="N of the primary (steady-state) scenario, each at --steady-interval (default 1000,5000)",
    )
    p.add_argument(
        "--steady-interval",
        type=float,
        default=10.0,
        help="seconds between two polls of a target (and probes of a probe target) in the steady scenario "
        "(default 10)",
    )
    p.add_argument(
        "--steady-windows",
        type=int,
        default=None,
        help="length of the steady measurement window, in intervals, after a warm-up of one interval "
        "(default 3; quick: 1)",
    )
    p.add_argument(
        "--steady-long",
        default="5000:60",
        help="N:INTERVAL of the steady row at a long interval, measured over one interval after the "
        "warm-up (default 5000:60; 'none' leaves it out)",
    )
    p.add_argument(
        "--steady-runs", type=int, default=1, help="runs of the steady scenario (default 1; medians)"
    )
    p.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parent / "results.json"),
        help="where the raw and summarised figures go (JSON)",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="run the bench and every process it starts with the real-time policy SCHED_RR (priority 1; "
        "needs root), so that other work on a shared machine cannot delay them: the figures of "
        "bench/README.md were taken so",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the bench and every process it starts at this niceness (negative needs root): "
        "on a machine shared with other work, -10 keeps the others' load out of the figures",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=procs.ROOT,
        help="run the exporter from this source tree (e.g. a checkout of an older commit, to compare)",
    )
    args = p.parse_args(argv)
    sizes = [int(x) for x in (args.sizes or ("100,1000" if args.quick else "100,1000,5000")).split(",")]
    runs = args.runs or (1 if args.quick else 3)
    skip = set(filter(None, args.skip.split(",")))
    steady_rounds = 2 if args.quick else 3
    scrape_seconds = 8.0 if args.quick else 20.0
    steady_windows = args.steady_windows or (1 if args.quick else 3)
    try:
        steady_rows = [
            (int(x), args.steady_interval, steady_windows) for x in args.steady_sizes.split(",") if x
        ]
        if args.steady_long.lower() != "none":
            long_n, _, long_interval = args.steady_long.partition(":")
            steady_rows.append((int(long_n), float(long_interval), 1))
    except ValueError:
        p.error(
            f"--steady-sizes {args.steady_sizes!r} / --steady-long {args.steady_long!r}: expected N,N,… / N:SECONDS"
        )
    if any(interval < TIMEOUT for _, interval, _ in steady_rows):
        p.error(f"a steady interval is shorter than the upstream timeout ({TIMEOUT:g}s)")
    if steady_windows < 1:
        p.error("--steady-windows must be at least 1")

    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by the simulator and both exporters
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))  # inherited likewise
    workdir = Path(tempfile.mkdtemp(prefix="egov-bench-"))
    atexit.register(procs.stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raw: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_start": open("/proc/loadavg").read().split()[:3],
            "blackbox": procs.BLACKBOX,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
        "args": {
            "sizes": sizes,
            "runs": runs,
            "concurrency": args.concurrency,
            "timeout": TIMEOUT,
            "steady_rounds": steady_rounds,
            "steady_interval": args.steady_interval,
            "steady_rows": steady_rows,
            "steady_runs": args.steady_runs,
            "steady_scrape_every": SCRAPE_EVERY,
            "steady_per_host": PER_HOST,
            "root": str(args.root),
            "nice": args.nice,
            "realtime": args.realtime,
        },
        "steady": {},
        "poll": {},
        "scrape": {},
        "hang": [],
    }
    t_start = time.monotonic()
    try:
        if "steady" not in skip:
            for n, interval, windows in steady_rows:
                for run in range(args.steady_runs):
                    log(
                        f"steady state: N={n} every {interval:g} s, window {windows} interval(s), "
                        f"run {run + 1}/{args.steady_runs}"
                    )
                    with Simulator(n, per_host=PER_HOST) as sim:
                        entry = {
                            "ours": ours_steady(sim, workdir, interval, windows, args.concurrency, args.root),
                            "blackbox": blackbox_steady(sim, workdir, interval, windows, args.concurrency),
                        }
                    log("  " + json.dumps({k: brief(v, STEADY_BRIEF) for k, v in entry.items()}))
                    raw["steady"].setdefault(f"{n}@{interval:g}", []).append(entry)
        if "poll" not in skip:
            for n in sizes:
                for run in range(runs):
                    log(f"poll rounds: N={n}, run {run + 1}/{runs}")
                    with Simulator(n) as sim:
                        entry = {
                            "blackbox_burst": blackbox_rounds(sim, workdir, n, steady_rounds),
                            "ours": ours_rounds(
                                sim, workdir, args.concurrency, steady_rounds, 5.0, args.root
                            ),
                            "blackbox_same": blackbox_rounds(sim, workdir, args.concurrency, steady_rounds),
                        }
                    keys = ("first_round_wall", "round_wall", "cpu_per_1000", "peak_rss_mib")
                    log("  " + json.dumps({k: brief(v, keys) for k, v in entry.items()}))
                    raw["poll"].setdefault(str(n), []).append(entry)
        if "scrape" not in skip:
            for series in [int(x) for x in args.series.split(",")]:
                for run in range(runs):
                    log(f"/metrics latency: {series} series, run {run + 1}/{runs}")
                    entry = scrape_latency(series, workdir, args.concurrency, scrape_seconds, args.root)
                    log(
                        f"  p50 {entry['prometheus_p50_ms']:.2f} ms, p99 {entry['prometheus_p99_ms']:.2f} ms "
                        f"({entry['series']} series)"
                    )
                    raw["scrape"].setdefault(str(series), []).append(entry)
        if "hang" not in skip:
            for run in range(runs):
                log(f"hanging endpoints: N={args.hang_n}, run {run + 1}/{runs}")
                entry = {
                    "ours": ours_hanging(
                        args.hang_n, workdir, args.concurrency, steady_rounds, 0.1, args.root
                    ),
                    "ours_without": ours_hanging(
                        args.hang_n, workdir, args.concurrency, steady_rounds, 0.0, args.root
                    ),
                    "blackbox_burst": blackbox_hanging(args.hang_n, workdir, args.hang_n),
                    "blackbox_burst_without": blackbox_hanging(args.hang_n, workdir, args.hang_n, 0.0),
                    "blackbox_same": blackbox_hanging(args.hang_n, workdir, args.concurrency),
                    "blackbox_same_without": blackbox_hanging(args.hang_n, workdir, args.concurrency, 0.0),
                }
                log("  " + json.dumps(entry))
                raw["hang"].append(entry)
        if "content" not in skip:
            log("content checked: answers with status 200 that are not the data")
            raw["content"] = content_check(workdir, args.root)
            log("  " + json.dumps(raw["content"]["rows"]))
    finally:
        procs.stop_all()
    raw["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    raw["machine"]["minutes"] = round((time.monotonic() - t_start) / 60, 1)
    res = summarise(raw)
    Path(args.out).write_text(json.dumps({"summary": res, "raw": raw}, indent=1, default=str) + "\n")
    print(report(res))
    print(
        f"(raw figures in {args.out}; load average {raw['machine']['loadavg_start']} → "
        f"{raw['machine']['loadavg_end']}; {raw['machine']['minutes']} minutes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
