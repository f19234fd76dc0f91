"""The benchmark: egov-exporter against blackbox_exporter on the same machine, in the same run.

    python bench/run.py            # N = 100, 1,000, 5,000; 3 runs of everything; ~20 minutes
    python bench/run.py --quick    # N = 100, 1,000; 1 run; a few minutes

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
    """A Prometheus stand-in: GET /metrics every ``every`` seconds with Prometheus's headers."""

    def __init__(self, address: str, every: float) -> None:
        super().__init__(daemon=True)
        self.address, self.every = address, every
        self.stop_event = threading.Event()
        self.count = 0

    def run(self) -> None:
        while not self.stop_event.wait(self.every):
            procs.http_get(
                f"http://{self.address}/metrics",
                timeout=30,
                headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"},
            )
            self.count += 1

    def stop(self) -> None:
        self.stop_event.set()
        self.join(35)


def answered_all(sim: Simulator, k: int, base: list[int], only: list[int] | None = None) -> bool:
    """Every endpoint (of ``only``) answered ``k`` requests since ``base`` (the counts at the start)."""
    answered = sim.answered
    return all(answered[i] - base[i] >= k for i in (only if only is not None else range(sim.n)))


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


def report(res: dict[str, Any]) -> str:
    lines: list[str] = []
    poll = res["poll"]
    lines += [
        "### (a) Poll round, per N (medians of the runs)",
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
    lines += [
        "",
        "### (b) /metrics latency while polling runs (ms; Prometheus's headers: OpenMetrics, gzip)",
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
            f"### (c) 10 % of {o['n']:,} endpoints hang until the {TIMEOUT:g} s timeout",
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
            "### (d) Growth (ours; ratio of the larger N to the smaller)",
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
            "### (e) Content checked: answers with status 200 that are not the data",
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
    lines += ["", "### Goals", "", "| goal | figure | verdict |", "|---|---|---|"]
    for goal in res["goals"]:
        lines.append(f"| {goal['goal']} | {goal['figure']} | {verdict(goal['ok'])} |")
    return "\n".join(lines) + "\n"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {"poll": {}, "scrape": {}, "machine": raw["machine"], "args": raw["args"]}
    for n, runs in raw["poll"].items():
        row = {}
        for who in ("ours", "blackbox_burst", "blackbox_same"):
            keys = [k for k, v in runs[0][who].items() if isinstance(v, (int, float))]
            row[who] = {k: median([r[who][k] for r in runs]) for k in keys}
        res["poll"][n] = row
    for s, runs in raw["scrape"].items():
        keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
        res["scrape"][s] = {k: median([r[k] for r in runs]) for k in keys}
    if raw.get("hang"):
        hang = {}
        for who in (
            "ours",
            "ours_without",
            "blackbox_burst",
            "blackbox_burst_without",
            "blackbox_same",
            "blackbox_same_without",
        ):
            keys = [k for k, v in raw["hang"][0][who].items() if isinstance(v, (int, float))]
            hang[who] = {k: median([r[who][k] for r in raw["hang"]]) for k in keys}
        res["hang"] = hang
    if raw.get("content"):
        res["content"] = raw["content"]
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
    res["goals"] = goals(res)
    return res


def goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    k = res["poll"].get("1000")
    if k:
        o, b, s = k["ours"], k["blackbox_burst"], k["blackbox_same"]
        r_b, r_s = ratio(o["cpu_per_1000"], b["cpu_per_1000"]), ratio(o["cpu_per_1000"], s["cpu_per_1000"])
        out.append(
            {
                "goal": "CPU per 1,000 polls ≤ 1.0 × blackbox's (N = 1,000, content checked)",
                "figure": f"{fmt(o['cpu_per_1000'], 3)} s vs {fmt(b['cpu_per_1000'], 3)} s burst "
                f"({fmt(r_b)}×), {fmt(s['cpu_per_1000'], 3)} s same concurrency ({fmt(r_s)}×)",
                "ok": r_b is not None and r_s is not None and r_b <= 1.0 and r_s <= 1.0,
            }
        )
        rr = ratio(o["peak_rss_mib"], b["peak_rss_mib"])
        out.append(
            {
                "goal": "peak RSS ≤ 0.5 × blackbox's at 1,000 endpoints (burst)",
                "figure": f"{fmt(o['peak_rss_mib'], 0)} MiB vs {fmt(b['peak_rss_mib'], 0)} MiB ({fmt(rr)}×); "
                f"blackbox at our concurrency: {fmt(s['peak_rss_mib'], 0)} MiB",
                "ok": rr is not None and rr <= 0.5,
            }
        )
        rw = ratio(o["first_round_wall"], b["round_wall"])
        out.append(
            {
                "goal": "round time ≤ 2 × blackbox's burst round (N = 1,000)",
                "figure": f"{fmt(o['first_round_wall'])} s vs {fmt(b['round_wall'])} s ({fmt(rw)}×)",
                "ok": rw is not None and rw <= 2.0,
            }
        )
    big = [s for s in res["scrape"].values() if s["series_target"] >= 50000]
    if big:
        p99 = big[0]["prometheus_p99_ms"]
        out.append(
            {
                "goal": "/metrics p99 ≤ 10 ms at 50k series while polling",
                "figure": f"{fmt(p99)} ms at {big[0]['series']:,} series "
                f"(plain text {fmt(big[0]['plain_p99_ms'])} ms)",
                "ok": p99 <= 10.0,
            }
        )
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
    g = [v for k, v in res["growth"].items() if k.startswith("1,000 → 5,000")]
    if g:
        out.append(
            {
                "goal": "linear growth: 5,000 endpoints ≤ 5.5 × the CPU of 1,000",
                "figure": f"{fmt(g[0]['cpu'])}× (round wall {fmt(g[0]['wall'])}×, RSS {fmt(g[0]['rss'])}×)",
                "ok": g[0]["cpu"] is not None and g[0]["cpu"] <= 5.5,
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
    p.add_argument("--quick", action="store_true", help="N = 100 and 1,000, one run, shorter scrape series")
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
    p.add_argument("--skip", default="", help="comma-separated scenarios to skip: poll,scrape,hang,content")
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
            "root": str(args.root),
            "nice": args.nice,
            "realtime": args.realtime,
        },
        "poll": {},
        "scrape": {},
        "hang": [],
    }
    t_start = time.monotonic()
    try:
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
                    log(
                        "  "
                        + json.dumps(
                            {
                                k: {
                                    kk: round(vv, 3) if isinstance(vv, float) else vv
                                    for kk, vv in v.items()
                                    if kk
                                    in ("first_round_wall", "round_wall", "cpu_per_1000", "peak_rss_mib")
                                }
                                for k, v in entry.items()
                            }
                        )
                    )
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
