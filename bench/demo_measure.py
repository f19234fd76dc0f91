"""Issue 2's figures on the demo: time to the first full poll, /metrics latency (normal and while each
simulated system is in each fault mode), and the exporter's RSS.

    python bench/demo_measure.py [--scrapes 200]

Starts `egov-exporter simulate` and `egov-exporter --config.file config.yaml` (the shipped file, as is) as
real processes on loopback, and stops them at the end.  Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
MODES = ["slow", "hang", "5xx", "429", "waf", "malformed", "huge", "redirect_loop", "trickle"]
SYSTEMS = ["portal", "lgsp", "documents", "services", "national"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, data: bytes | None = None, timeout: float = 10) -> bytes:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def states(base: str) -> dict[str, str]:
    out = {}
    for fam in text_string_to_metric_families(get(base + "/metrics").decode()):
        if fam.name == "egov_target_state":
            out.update({s.labels["target"]: s.labels["state"] for s in fam.samples if s.value == 1})
    return out


def scrape_latency(base: str, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        get(base + "/metrics")
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--fault-seconds", type=float, default=12.0, help="how long each fault is held")
    args = ap.parse_args()
    sim_port, port = free_port(), free_port()
    env = {**os.environ, "EGOV_SIM_URL": f"http://127.0.0.1:{sim_port}"}
    sim = subprocess.Popen(
        [sys.executable, "-m", "exporter", "simulate", "--listen-address", f"127.0.0.1:{sim_port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    t_start = time.monotonic()
    exp = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            "config.yaml",
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.level",
            "error",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base, simurl = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
    try:
        first_full = None
        while time.monotonic() - t_start < 60:
            try:
                st = states(base)
            except OSError:
                st = {}
            if st and all(v != "unknown" for v in st.values()):
                first_full = time.monotonic() - t_start
                break
            time.sleep(0.05)
        up = sum(1 for v in st.values() if v == "up")
        print(
            f"targets: {len(st)}; all polled once after {first_full:.2f} s from process start ({up} up)"
            if first_full
            else "not every target was polled within 60 s"
        )
        p50, p99 = scrape_latency(base, args.scrapes)
        print(
            f"/metrics latency, no fault: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({args.scrapes} scrapes, "
            f"{len(get(base + '/metrics'))} bytes)"
        )
        worst = p99
        for i, mode in enumerate(MODES):
            system = SYSTEMS[i % len(SYSTEMS)]
            get(f"{simurl}/-/fault?system={system}&mode={mode}", data=b"")
            end = time.monotonic() + args.fault_seconds
            lat = []
            while time.monotonic() < end:
                lat.append(scrape_latency(base, 20)[1])
            st = states(base)
            down = sorted({v for k, v in st.items()})
            get(f"{simurl}/-/fault?system={system}&mode=none", data=b"")
            worst = max(worst, max(lat))
            print(f"fault {system}={mode}: /metrics p99 over the fault {max(lat):.2f} ms; states now {down}")
        rss, hwm = rss_mib(exp.pid)
        print(f"exporter RSS {rss:.1f} MiB (peak {hwm:.1f} MiB); worst /metrics p99 {worst:.2f} ms")
    finally:
        for p in (exp, sim):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
