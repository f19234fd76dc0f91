"""A Prometheus stand-in that drives blackbox_exporter the way Prometheus does in production, in its own process.

Every endpoint is a probe target (``/probe?module=http_2xx&target=<url>``), scraped every ``interval`` seconds
at its own fixed offset within the interval.  Prometheus derives a target's offset from a hash of its labels;
here the offsets are spread evenly over the interval (slot ``j`` at ``j * interval / N``) and the targets are
dealt to the slots in a fixed random order, so the probes of one simulated host are not back to back.  At most
``concurrency`` probes are in flight (a probe due while all are busy waits, and counts as late), on keep-alive
connections, with Prometheus's scrape headers (``Accept``, ``Accept-Encoding: gzip``,
``X-Prometheus-Scrape-Timeout-Seconds``).

    python bench/prober.py SPEC.json OUT.json

SPEC is written by :func:`start`: blackbox's address, the probe paths, interval, concurrency, the scrape timeout,
and ``start``/``until`` as ``time.monotonic()`` values (CLOCK_MONOTONIC, the same in every process of the
machine).  Probes are due from ``start`` on; none is started once ``until`` has passed.  When the in-flight
probes have ended (each bounded by the scrape timeout plus 5 s), OUT gets ``{"rows": [...], "cpu_s": ...}``: one
row per probe, ``[target index, due, started, ended, status, ok]`` (``ok``: the answer holds ``probe_success 1``),
and the prober's own CPU seconds.  asyncio on one event loop;
uvloop when installed.  A separate process, so that neither the bench's timers nor the exporters' CPU figures
carry its work.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs  # the bench's process helpers, beside this file

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def offsets(n: int, interval: float, seed: int = 15) -> list[float]:
    """Each target's fixed offset within the interval: evenly spaced slots, dealt in a fixed random order."""
    slots = list(range(n))
    random.Random(seed).shuffle(slots)
    return [slots[i] * interval / n for i in range(n)]


async def run(spec: dict[str, Any]) -> list[list[Any]]:
    host, port = spec["address"].rsplit(":", 1)
    paths: list[str] = spec["paths"]
    interval: float = spec["interval"]
    start: float = spec["start"]
    until: float = spec["until"]
    timeout = float(spec["scrape_timeout"])
    request_tail = (
        f"Host: {spec['address']}\r\nUser-Agent: bench-prober\r\nAccept: {PROMETHEUS_ACCEPT}\r\n"
        + ("Accept-Encoding: gzip\r\n" if spec.get("gzip", True) else "")
        + f"X-Prometheus-Scrape-Timeout-Seconds: {timeout:g}\r\n\r\n"
    ).encode()
    requests = [f"GET {p} HTTP/1.1\r\n".encode() + request_tail for p in paths]
    offset = offsets(len(paths), interval)
    order = sorted(range(len(paths)), key=offset.__getitem__)
    slots = asyncio.Semaphore(spec["concurrency"])
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    rows: list[list[Any]] = []
    tasks: set[asyncio.Task] = set()

    async def probe(i: int, due: float) -> None:
        try:
            started = time.monotonic()
            status, ok = 0, False
            conn = idle.pop() if idle else None
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
                reader, writer = conn
                writer.write(requests[i])
                status, headers, body = await asyncio.wait_for(procs.read_response(reader), timeout + 5)
                if headers.get(b"content-encoding", b"").lower() == b"gzip":
                    body = gzip.decompress(body)
                ok = status == 200 and b"\nprobe_success 1\n" in body
                idle.append(conn)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, zlib.error):
                if conn is not None:
                    conn[1].close()
            rows.append([i, due, started, time.monotonic(), status, ok])
        finally:
            slots.release()

    k = 0
    while (base := start + k * interval) < until:
        for i in order:
            due = base + offset[i]
            if due >= until:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()  # at most `concurrency` in flight; a wait here makes the probe late
            task = asyncio.create_task(probe(i, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        k += 1
    if tasks:
        await asyncio.wait(tasks, timeout=timeout + 10)
    for _reader, writer in idle:
        writer.close()
    return rows


class Prober:
    """The prober process :func:`start` started: :meth:`result` waits for its end and reads what it wrote."""

    def __init__(self, popen: subprocess.Popen, out: Path, log: Path) -> None:
        self.popen, self.out, self.log = popen, out, log

    def result(self, timeout: float) -> dict[str, Any]:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            procs.stop(self.popen)
            raise TimeoutError(f"the prober did not end within {timeout:g}s") from None
        procs.stop(self.popen)  # reaped: off the list of processes to stop
        if self.popen.returncode != 0 or not self.out.exists():
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the prober exited with {self.popen.returncode}:\n{tail}")
        return json.loads(self.out.read_text())


def start(
    workdir: Path,
    address: str,
    paths: list[str],
    *,
    interval: float,
    concurrency: int,
    start: float,
    until: float,
    scrape_timeout: float,
    gzip: bool = True,
) -> Prober:
    """Start the prober (``python bench/prober.py``) against blackbox_exporter at ``address``."""
    name = f"prober-{len(paths)}-{time.monotonic_ns()}"
    spec, out, log = (workdir / f"{name}{ext}" for ext in (".spec.json", ".out.json", ".log"))
    spec.write_text(
        json.dumps(
            {
                "address": address,
                "paths": paths,
                "interval": interval,
                "concurrency": concurrency,
                "start": start,
                "until": until,
                "scrape_timeout": scrape_timeout,
                "gzip": gzip,
            }
        )
    )
    popen = procs.spawn([sys.executable, str(Path(__file__).resolve()), str(spec), str(out)], log)
    return Prober(popen, out, log)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: prober.py SPEC.json OUT.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    try:
        import uvloop  # type: ignore[import-not-found]

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    rows = runner(run(spec))
    tmp = Path(argv[1] + ".tmp")
    tmp.write_text(json.dumps({"rows": rows, "cpu_s": time.process_time()}))
    tmp.rename(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
