"""A loopback simulator of N HTTP endpoints for the benchmark (not the demo simulator of ``exporter.simulator``).

Endpoint ``i`` is ``GET http://127.0.0.1:<port of host i // per_host>/e/<i>``: after 50 ms ± 20 ms it answers a
small JSON document (``{"status": "ok", "received": ..., "on_time": ..., "units": [...]}``), which the
exporter parses and extracts a value from, so content is checked.  A fraction of the endpoints can *hang*:
they read the request and never answer (the client's timeout ends it).  Every host is its own listening port,
so per-host limits apply as they would to real hosts.

Runs in its own process (``Simulator.start()``), asyncio on one core (uvloop when installed), keep-alive and
``Connection: close`` both honoured.  Counters live in shared memory so the bench reads them without asking
the simulator: requests that arrived and answers sent, per endpoint.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import sys
import time
from typing import Any

LATENCY = (0.030, 0.070)  # 50 ms ± 20 ms, uniform


#: answers that look fine to a status-code check but are not the data (scenario (e) of run.py)
BAD_ANSWERS = ("malformed", "huge", "wrong_content_type", "missing_field")
HUGE_BYTES = 50 * 1000 * 1000


def bad_answer(kind: str, i: int) -> tuple[bytes, bytes]:
    """(status line + headers without the final blank line, body) of a 200 answer that is not the data."""
    ctype, body = "application/json", body_for(i, 0)
    if kind == "malformed":  # the answer cut short by a proxy: half a JSON document
        body = body[: len(body) // 2]
    elif kind == "huge":  # an export dump instead of the statistics: 50 MB of valid JSON
        filler = b'{"row":"' + b"x" * 90 + b'"},'
        rows = filler * (HUGE_BYTES // len(filler))
        body = b'{"status":"ok","received":1,"dump":[' + rows[:-1] + b"]}"
    elif kind == "wrong_content_type":  # a maintenance page served with 200
        ctype, body = (
            "text/html; charset=utf-8",
            ("<!doctype html><html><body><h1>Hệ thống đang bảo trì</h1></body></html>").encode(),
        )
    elif kind == "missing_field":  # the vendor renamed the field
        body = json.dumps({"status": "ok", "id": i, "total_received": 1000}).encode()
    else:
        raise ValueError(f"unknown bad answer {kind!r}")
    return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
        ctype.encode(),
        len(body),
    ), body


def body_for(i: int, units: int) -> bytes:
    doc: dict[str, Any] = {"status": "ok", "id": i, "received": 1000 + i % 997, "on_time": 900 + i % 89}
    if units:
        doc["units"] = [{"code": f"U{u:03d}", "value": (i * 31 + u * 7) % 1000} for u in range(units)]
    return json.dumps(doc, separators=(",", ":")).encode()


class _Endpointset:
    def __init__(
        self,
        n: int,
        units: int,
        hanging: set[int],
        arrived: Any,
        answered: Any,
        bad: dict[int, str] | None = None,
    ) -> None:
        self.n = n
        self.hanging = hanging
        self.arrived = arrived
        self.answered = answered
        self.responses = []
        for i in range(n):
            body = body_for(i, units)
            self.responses.append(
                (
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                    % len(body),
                    body,
                )
            )
        for i, kind in (bad or {}).items():
            self.responses[i] = bad_answer(kind, i)
        self.not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
        self.rng = random.Random(7)


class _Conn(asyncio.Protocol):
    __slots__ = ("eps", "transport", "buf", "loop")

    def __init__(self, eps: _Endpointset, loop: asyncio.AbstractEventLoop) -> None:
        self.eps = eps
        self.buf = b""
        self.loop = loop
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.transport.close()
                return
            head = self.buf[:end]
            self.buf = self.buf[end + 4 :]
            line, _, headers = head.partition(b"\r\n")
            parts = line.split(b" ")
            path = parts[1] if len(parts) > 1 else b"/"
            close = b"connection: close" in headers.lower()
            length = 0
            low = headers.lower()
            at = low.find(b"content-length:")
            if at >= 0:
                length = int(low[at + 15 :].split(b"\r\n", 1)[0].strip() or 0)
            self.buf = self.buf[length:]  # request bodies are ignored
            self._handle(path, close, parts[0] == b"HEAD")

    def _handle(self, path: bytes, close: bool, head: bool) -> None:
        eps = self.eps
        i = -1
        if path.startswith(b"/e/"):
            try:
                i = int(path[3:].split(b"?", 1)[0])
            except ValueError:
                i = -1
        if not 0 <= i < eps.n:
            self._write(eps.not_found, b"", close)
            return
        eps.arrived[i] += 1
        if i in eps.hanging:
            return  # read the request, never answer: the client's deadline must end it
        delay = eps.rng.uniform(*LATENCY)
        self.loop.call_later(delay, self._answer, i, close, head)

    def _answer(self, i: int, close: bool, head: bool) -> None:
        if self.transport.is_closing():
            return
        head_bytes, body = self.eps.responses[i]
        self.eps.answered[i] += 1
        self._write(head_bytes, b"" if head else body, close)

    def _write(self, head: bytes, body: bytes, close: bool) -> None:
        self.transport.write(head + (b"Connection: close\r\n\r\n" if close else b"\r\n") + body)
        if close:
            self.transport.close()


def _serve(
    n: int,
    per_host: int,
    units: int,
    hanging: list[int],
    arrived: Any,
    answered: Any,
    ports_out: Any,
    ready: Any,
    bad: dict[int, str],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop  # type: ignore[import-not-found]

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    eps = _Endpointset(n, units, set(hanging), arrived, answered, bad)
    hosts = (n + per_host - 1) // per_host
    servers = []
    for h in range(hosts):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        sock.setblocking(False)
        ports_out[h] = sock.getsockname()[1]
        servers.append(
            loop.run_until_complete(loop.create_server(lambda: _Conn(eps, loop), sock=sock, backlog=1024))
        )
    ready.set()
    try:
        loop.run_forever()
    finally:
        for s in servers:
            s.close()


class Simulator:
    """N endpoints in a child process; ``url(i)``, ``arrived``/``answered`` counters, ``stop()``."""

    def __init__(
        self,
        n: int,
        *,
        per_host: int = 10,
        units: int = 0,
        hang_fraction: float = 0.0,
        seed: int = 1,
        bad: dict[int, str] | None = None,
    ) -> None:
        self.n = n
        self.per_host = per_host
        self.units = units
        ctx = mp.get_context("fork")  # start before the caller starts threads
        self.arrived = ctx.RawArray("i", n)
        self.answered = ctx.RawArray("i", n)
        self.hosts = (n + per_host - 1) // per_host
        self._ports = ctx.RawArray("i", self.hosts)
        # hanging endpoints: one in every 1/hang_fraction consecutive ones, so (with per_host 10 and 10 %)
        # one per host, never two hanging endpoints competing for one host's connections
        rng = random.Random(seed)
        step = max(1, round(1 / hang_fraction)) if hang_fraction > 0 else 0
        self.hanging = (
            [rng.randrange(start, min(n, start + step)) for start in range(0, n, step)] if step else []
        )
        self._ready = ctx.Event()
        self._proc = ctx.Process(
            target=_serve,
            name="bench-sim",
            daemon=True,
            args=(
                n,
                per_host,
                units,
                self.hanging,
                self.arrived,
                self.answered,
                self._ports,
                self._ready,
                dict(bad or {}),
            ),
        )

    def start(self, timeout: float = 60.0) -> Simulator:
        self._proc.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("simulator did not start")
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self._ports[i // self.per_host]}/e/{i}"

    def counts(self) -> tuple[list[int], list[int]]:
        return list(self.arrived), list(self.answered)

    def stop(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="serve N benchmark endpoints on loopback until interrupted")
    p.add_argument("--endpoints", type=int, default=1000)
    p.add_argument("--per-host", type=int, default=10)
    p.add_argument("--units", type=int, default=0)
    p.add_argument("--hang-fraction", type=float, default=0.0)
    args = p.parse_args(argv)
    with Simulator(
        args.endpoints, per_host=args.per_host, units=args.units, hang_fraction=args.hang_fraction
    ) as sim:
        print(f"{args.endpoints} endpoints, e.g. {sim.url(0)} ... {sim.url(args.endpoints - 1)}", flush=True)
        try:
            while True:
                time.sleep(5)
                print(f"answered {sum(sim.answered)} requests", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
