"""Load: many concurrent scrapers hammering /metrics while hundreds of targets poll, for a long run of
polling (a "time-compressed day": short intervals, many rounds), reporting scrape throughput and
latency, poll throughput and the exporter's memory at the start and the end.

    python bench/load.py                       # 500 targets, 20 scrapers, 10 minutes, 1 s intervals
    python bench/load.py --targets 1000 --duration 1800 --json

Three processes on loopback: a stub upstream (asyncio, several ports so targets spread over hosts like
a province's systems do; every answer a small JSON statistics payload with per-unit values), the
exporter (``python -m exporter``), and this one, whose threads are the scrapers (keep-alive, half of them
asking for gzip like Prometheus does).  Memory is VmRSS/VmHWM of the exporter from /proc, sampled every
second; the start figure is taken after a warm-up, when every target has been polled a few times.
``tests/test_load.py`` runs the same with CI-sized numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs  # the bench's process helpers, beside this file

ROOT = Path(__file__).resolve().parent.parent
UNITS_PER_TARGET = 8


# ---------------------------------------------------------------------------------- the stub upstream


def _payload(index: int) -> bytes:
    units = [
        {
            "code": f"H99.{100 + (index * UNITS_PER_TARGET + u) % 150}",
            "received": 1000 + index + u,
            "online": f"{(index + u) % 997}.{u}",
        }
        for u in range(UNITS_PER_TARGET)
    ]
    body = json.dumps({"code": "OK", "data": {"received": 5000 + index, "units": units}}).encode()
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


async def _serve_stub(ports: list[int], targets: int) -> None:
    answers = {f"/t/{i}".encode(): _payload(i) for i in range(targets)}
    missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
                writer.write(answers.get(path, missing))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(client, "127.0.0.1", port, backlog=1024) for port in ports]
    print("stub ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def stub_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="load.py stub")
    p.add_argument("--ports", required=True, help="comma-separated ports")
    p.add_argument("--targets", type=int, required=True)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(_serve_stub([int(x) for x in args.ports.split(",")], args.targets))
    return 0


# ----------------------------------------------------------------------------------------- helpers


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def write_config(path: Path, ports: list[int], targets: int, interval: str) -> None:
    """``targets`` json targets spread over the stub's ports (hosts), each with per-unit series."""
    import yaml

    cfg = {
        "scheduler": {"max_concurrency": 32, "per_host_concurrency": 8, "start_spread": "2s"},
        "defaults": {"interval": interval, "timeout": interval, "retries": 0, "jitter": 0.1},
        "history": {"enabled": False},
        "targets": [
            {
                "name": f"load-{i:04d}",
                "kind": "json",
                "system": ("portal", "lgsp", "documents", "services", "national")[i % 5],
                "url": f"http://127.0.0.1:{ports[i % len(ports)]}/t/{i}",
                "labels": {"unit": f"H99.{i % 150}"},
                "metrics": [
                    {"name": "egov_load_dossiers_received", "path": "$.data.received"},
                    {
                        "name": "egov_load_unit_dossiers_online",
                        "path": "$.data.units[*]",
                        "value": "@.online",
                        "labels": {"unit_code": "@.code"},
                    },
                ],
            }
            for i in range(targets)
        ],
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")


class Scrapers:
    """``n`` threads, each a keep-alive client looping GET /metrics; even ones ask for gzip."""

    def __init__(self, port: int, n: int) -> None:
        self.port = port
        self.n = n
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.bytes = 0
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def reset(self) -> None:
        with self._lock:
            self.latencies, self.errors, self.bytes = [], [], 0

    def _run(self, i: int) -> None:
        headers = {"Accept-Encoding": "gzip"} if i % 2 == 0 else {}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        count = 0
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                conn.request("GET", "/metrics", headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                error = None if resp.status == 200 else f"HTTP {resp.status}"
                count += 1
                if error is None and count % 20 == 1:  # check the content now and then
                    text = gzip.decompress(body) if resp.getheader("Content-Encoding") == "gzip" else body
                    if b"egov_target_up{" not in text:
                        error = "no egov_target_up in /metrics"
            except (OSError, http.client.HTTPException) as exc:
                error, body = f"{type(exc).__name__}: {exc}", b""
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            elapsed = time.monotonic() - t0
            with self._lock:
                self.latencies.append(elapsed)
                self.bytes += len(body)
                if error:
                    self.errors.append(error)
        conn.close()


def _scrape_counts(port: int) -> dict[str, float]:
    """Polls and failures summed over the targets, from one scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out: dict[str, Any] = {
        "polls": 0.0,
        "failures": 0.0,
        "series": 0,
        "bytes": len(text),
        "up": 0.0,
        "targets": 0,
        "by_reason": {},
    }
    for fam in text_string_to_metric_families(text):
        out["series"] += len(fam.samples)
        for s in fam.samples:
            if s.name == "egov_target_polls_total" and s.labels["target"].startswith("load-"):
                out["polls"] += s.value
            elif s.name == "egov_target_failures_total" and s.labels["target"].startswith("load-"):
                out["failures"] += s.value
                out["by_reason"][s.labels["reason"]] = out["by_reason"].get(s.labels["reason"], 0) + s.value
            elif s.name == "egov_target_up" and s.labels["target"].startswith("load-"):
                out["up"] += s.value
                out["targets"] += 1
    return out


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --------------------------------------------------------------------------------------------- run


def run(
    targets: int = 500,
    scrapers: int = 20,
    duration: float = 600.0,
    warmup: float = 20.0,
    interval: str = "1s",
    hosts: int = 10,
    workdir: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the load; returns the figures (raises RuntimeError when a process does not start)."""
    import tempfile

    workdir = workdir or Path(tempfile.mkdtemp(prefix="egov-load-"))
    ports = free_ports(hosts + 1)
    stub_ports, exporter_port = ports[:hosts], ports[hosts]
    config = workdir / "config.yaml"
    write_config(config, stub_ports, targets, interval)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    stub = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "stub",
            "--ports",
            ",".join(map(str, stub_ports)),
            "--targets",
            str(targets),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    log = open(workdir / "exporter.log", "wb")
    exporter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(config),
            "--web.listen-address",
            f"127.0.0.1:{exporter_port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    load: Scrapers | None = None
    try:
        if stub.stdout is None or b"stub ready" not in stub.stdout.readline():
            raise RuntimeError("the stub upstream did not start")
        end = time.monotonic() + 60
        while True:
            try:
                counts = _scrape_counts(exporter_port)
                if counts["targets"] == targets and counts["polls"] >= targets:
                    break
            except OSError:
                pass
            if time.monotonic() > end or exporter.poll() is not None:
                raise RuntimeError(
                    "the exporter did not start polling:\n"
                    + (workdir / "exporter.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.5)
        load = Scrapers(exporter_port, scrapers)
        load.start()
        rss: list[tuple[float, int]] = []
        t_start = time.monotonic()

        def sample_until(t_end: float) -> None:
            while time.monotonic() < t_end:
                rss.append((time.monotonic() - t_start, status_kib(exporter.pid, "VmRSS")))
                time.sleep(1.0)

        sample_until(t_start + warmup)
        start_counts = _scrape_counts(exporter_port)
        rss_start = status_kib(exporter.pid, "VmRSS")
        load.reset()
        t0 = time.monotonic()
        next_report = t0 + 60
        while time.monotonic() < t0 + duration:
            sample_until(min(t0 + duration, time.monotonic() + 5))
            if progress and time.monotonic() >= next_report:
                next_report += 60
                print(
                    f"  {time.monotonic() - t0:5.0f}s: RSS {rss[-1][1] / 1024:.0f} MiB, "
                    f"{len(load.latencies)} scrapes",
                    file=sys.stderr,
                    flush=True,
                )
        elapsed = time.monotonic() - t0
        end_counts = _scrape_counts(exporter_port)
        rss_end = status_kib(exporter.pid, "VmRSS")
        hwm = status_kib(exporter.pid, "VmHWM")
        threads = status_kib(exporter.pid, "Threads")
        load.join()
        lat = list(load.latencies)
        polls = end_counts["polls"] - start_counts["polls"]
        return {
            "targets": targets,
            "scrapers": scrapers,
            "interval": interval,
            "hosts": hosts,
            "seconds": round(elapsed, 1),
            "warmup_seconds": warmup,
            "scrapes": len(lat),
            "scrapes_per_second": round(len(lat) / elapsed, 1),
            "scrape_errors": len(load.errors),
            "scrape_error_examples": load.errors[:5],
            "scrape_p50_ms": round(_pct(lat, 0.50) * 1000, 1),
            "scrape_p99_ms": round(_pct(lat, 0.99) * 1000, 1),
            "scrape_max_ms": round(max(lat) * 1000, 1) if lat else None,
            "scraped_mib_per_second": round(load.bytes / elapsed / 2**20, 1),
            "metrics_series": end_counts["series"],
            "metrics_bytes": end_counts["bytes"],
            "polls": int(polls),
            "polls_per_second": round(polls / elapsed, 1),
            "rounds": round(polls / targets, 1),
            "poll_failures": int(end_counts["failures"] - start_counts["failures"]),
            "poll_failures_by_reason": {
                r: int(n - start_counts["by_reason"].get(r, 0))
                for r, n in end_counts["by_reason"].items()
                if n - start_counts["by_reason"].get(r, 0)
            },
            "load_average_at_end": round(os.getloadavg()[0], 1),
            "targets_up_at_end": int(end_counts["up"]),
            "rss_start_mib": round(rss_start / 1024, 1),
            "rss_end_mib": round(rss_end / 1024, 1),
            "rss_growth_mib": round((rss_end - rss_start) / 1024, 1),
            "peak_rss_mib": round(hwm / 1024, 1),
            "exporter_threads": threads,
            "rss_series_mib": [(round(t), round(kib / 1024, 1)) for t, kib in rss[:: max(1, len(rss) // 30)]],
            "exporter_log_tracebacks": (workdir / "exporter.log")
            .read_text(errors="replace")
            .count("Traceback"),
        }
    finally:
        if load is not None:
            load.join()
        for proc in (exporter, stub):
            procs.stop(proc)
        if stub.stdout is not None:
            stub.stdout.close()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["stub"]:
        return stub_main(argv[1:])
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--targets", type=int, default=500)
    p.add_argument("--scrapers", type=int, default=20)
    p.add_argument(
        "--duration", type=float, default=600, help="seconds measured after the warm-up (default 600)"
    )
    p.add_argument("--warmup", type=float, default=30)
    p.add_argument("--interval", default="1s", help="every target's poll interval (and timeout)")
    p.add_argument("--hosts", type=int, default=10, help="stub ports the targets are spread over")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    figures = run(
        args.targets,
        args.scrapers,
        args.duration,
        args.warmup,
        args.interval,
        args.hosts,
        progress=not args.json,
    )
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        for key, value in figures.items():
            print(f"{key:28} {value}")
    return 0 if figures["scrape_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
