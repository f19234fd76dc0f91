"""Processes under test and how they are measured: the exporter and blackbox_exporter as subprocesses on
loopback, CPU seconds from ``/proc/<pid>/stat``, peak RSS from ``/proc/<pid>/status`` (VmHWM), and a small
asyncio HTTP client that drives ``/probe`` requests the way Prometheus would (keep-alive, fixed concurrency).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
BLACKBOX = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")

#: every process started here, killed on exit whatever happens
_STARTED: list[subprocess.Popen] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def peak_rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmHWM") / 1024


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def threads(pid: int) -> int:
    return _status_kib(pid, "Threads")


def wait_until(predicate: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    """Call ``predicate`` until it returns something true or ``timeout`` passes (then raise)."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"condition not met within {timeout:g}s")
        time.sleep(step)


def http_get(url: str, timeout: float = 10.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


class Proc:
    """A started server process: its pid, address, and how to stop it."""

    def __init__(self, popen: subprocess.Popen, address: str, log: Path) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.address = address
        self.log = log

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss(self) -> float:
        return peak_rss_mib(self.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        stop(self.popen)

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.Popen:
    """Start ``cmd`` in a session of its own, output to ``log``; stopped by :func:`stop_all` at the latest."""
    out = open(log, "wb")
    popen = subprocess.Popen(
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    out.close()
    _STARTED.append(popen)
    return popen


def stop(popen: subprocess.Popen) -> None:
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(5)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
    if popen in _STARTED:
        _STARTED.remove(popen)


def stop_all() -> None:
    for popen in list(_STARTED):
        try:
            stop(popen)
        except OSError:
            pass


def start_ours(
    config: Path,
    workdir: Path,
    extra: list[str] | None = None,
    ready_timeout: float = 120.0,
    root: Path = ROOT,
) -> Proc:
    """``python -m exporter --config.file CONFIG --web.listen-address 127.0.0.1:PORT`` run from the source tree
    ``root`` (this one by default), up when /-/healthy is."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    log = workdir / f"exporter-{port}.log"
    popen = spawn(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(config),
            "--web.listen-address",
            address,
            "--log.level",
            "warning",
            *(extra or []),
        ],
        log,
        env={"PYTHONPATH": str(root)},
        cwd=root,
    )
    proc = Proc(popen, address, log)
    _wait_healthy(proc, "/-/healthy", ready_timeout)
    return proc


def start_blackbox(workdir: Path, timeout: float, ready_timeout: float = 30.0) -> Proc:
    if BLACKBOX is None:
        raise RuntimeError("prometheus-blackbox-exporter is not installed")
    config = workdir / "blackbox.yml"
    config.write_text(
        "modules:\n"
        "  http_2xx:\n"
        "    prober: http\n"
        f"    timeout: {timeout:g}s\n"
        "    http:\n"
        "      method: GET\n"
        "      preferred_ip_protocol: ip4\n"
        "      ip_protocol_fallback: false\n"
    )
    port = free_port()
    address = f"127.0.0.1:{port}"
    log = workdir / f"blackbox-{port}.log"
    popen = spawn(
        [BLACKBOX, f"--config.file={config}", f"--web.listen-address={address}", "--log.level=warn"], log
    )
    proc = Proc(popen, address, log)
    _wait_healthy(proc, "/-/healthy", ready_timeout)
    return proc


def _wait_healthy(proc: Proc, path: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not proc.alive():
            raise RuntimeError(f"process {proc.pid} exited:\n{proc.tail()}")
        if http_get(f"http://{proc.address}{path}", timeout=2)[0] == 200:
            return
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"process {proc.pid} not healthy within {timeout:g}s:\n{proc.tail()}")


# ------------------------------------------------------------------------ a Prometheus-like HTTP driver


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes]:
    """(status, headers with lower-case names, body) of one HTTP/1.1 answer: content-length, chunked, or up
    to the end of the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if b"content-length" in headers:
        return status, headers, await reader.readexactly(int(headers[b"content-length"]))
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, headers, b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return status, headers, await reader.read()


async def _drive(
    address: str, paths: list[str], concurrency: int, timeout: float, headers: dict[str, str]
) -> list[tuple[str, int, bytes, float, float]]:
    """GET every path with ``concurrency`` keep-alive connections; (path, status, body, start, end) each."""
    host, port = address.rsplit(":", 1)
    queue = list(reversed(paths))
    out: list[tuple[str, int, bytes, float, float]] = []
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    async def worker() -> None:
        reader = writer = None
        while queue:
            path = queue.pop()
            for _attempt in range(2):
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                t0 = time.monotonic()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {address}\r\n{extra}\r\n".encode())
                try:
                    status, _, body = await asyncio.wait_for(read_response(reader), timeout)
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    reader = writer = None
                    continue
                except TimeoutError:
                    status, body = 0, b""
                    writer.close()
                    reader = writer = None
                out.append((path, status, body, t0, time.monotonic()))
                break
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(paths)))))
    return out


def drive(
    address: str,
    paths: list[str],
    concurrency: int,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> list[tuple[str, int, bytes, float, float]]:
    return asyncio.run(_drive(address, paths, concurrency, timeout, headers or {}))


def probe_paths(urls: list[str], module: str = "http_2xx") -> list[str]:
    return [f"/probe?module={module}&target={quote(u, safe='')}" for u in urls]
