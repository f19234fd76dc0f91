"""A real exporter process for the reliability and security tests: started with ``python -m exporter``,
its stderr kept in a file (tests grep it), scraped over loopback, its memory read from /proc.

Shared by test_fault_matrix, test_bad_input, test_security, test_load and bench/load.py.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """Call ``predicate`` until it returns something true; fail the test after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


def proc_status_kib(pid: int, key: str) -> int:
    """A field of /proc/<pid>/status in KiB (VmRSS, VmHWM) or a count (Threads)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class Http:
    """Small loopback HTTP client (urllib): status, headers and body, never raising on HTTP errors."""

    def __init__(self, base: str, ca_file: str | None = None, auth: tuple[str, str] | None = None) -> None:
        self.base = base
        self.ctx = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.auth = auth

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, dict[str, str], bytes]:
        hdrs = dict(headers or {})
        if self.auth is not None:
            import base64

            hdrs.setdefault(
                "Authorization", "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
            )
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ctx) as resp:  # noqa: S310 - loopback
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()

    def get(self, path: str, **kw: Any) -> tuple[int, bytes]:
        status, _h, body = self.request(path, **kw)
        return status, body


def parse_metrics(text: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append(s)
    return out


class TargetView:
    """What /metrics says about the targets: state, failure counters by reason, polls, skips."""

    FAMILIES = (
        "egov_target_state",
        "egov_target_failures_total",
        "egov_target_polls_total",
        "egov_target_extraction_skipped_total",
        "egov_target_up",
        "egov_target_last_poll_timestamp_seconds",
    )

    def __init__(self, metrics: dict[str, list[Any]]) -> None:
        self.metrics = metrics
        self.state = {
            s.labels["target"]: s.labels["state"]
            for s in metrics.get("egov_target_state", [])
            if s.value == 1
        }
        self.failures: dict[str, dict[str, float]] = {}
        for s in metrics.get("egov_target_failures_total", []):
            self.failures.setdefault(s.labels["target"], {})[s.labels["reason"]] = s.value
        self.polls = {s.labels["target"]: s.value for s in metrics.get("egov_target_polls_total", [])}
        self.skips = {
            s.labels["target"]: s.value for s in metrics.get("egov_target_extraction_skipped_total", [])
        }
        self.system = {s.labels["target"]: s.labels["system"] for s in metrics.get("egov_target_state", [])}
        self.started = {
            s.labels["target"]: s.value for s in metrics.get("egov_target_last_poll_timestamp_seconds", [])
        }


class ExporterProcess:
    """``python -m exporter ARGS`` in its own session; stderr (the log) goes to ``log``."""

    def __init__(
        self,
        args: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        base: str | None = None,
        ca_file: str | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.log = log
        out = open(log, "wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "exporter", *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(env),
            start_new_session=True,
        )
        out.close()
        self.pid = self.popen.pid
        self.http = Http(base, ca_file, auth) if base else None

    @classmethod
    def serve(
        cls,
        config: Path,
        log: Path,
        *extra: str,
        env: dict[str, str] | None = None,
        scheme: str = "http",
        ca_file: str | None = None,
        auth: tuple[str, str] | None = None,
        wait: bool = True,
    ) -> ExporterProcess:
        port = free_port()
        proc = cls(
            ["--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}", *extra],
            log,
            env,
            f"{scheme}://127.0.0.1:{port}",
            ca_file,
            auth,
        )
        if wait:
            try:
                wait_for(
                    lambda: proc.alive() and proc.get("/-/healthy")[0] == 200, 30, "the exporter to listen"
                )
            except AssertionError:
                proc.stop()
                raise AssertionError("the exporter did not start:\n" + proc.output()[-3000:]) from None
        return proc

    # reading -------------------------------------------------------------------------------
    def get(self, path: str, **kw: Any) -> tuple[int, bytes]:
        assert self.http is not None
        return self.http.get(path, **kw)

    def request(self, path: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
        assert self.http is not None
        return self.http.request(path, **kw)

    def scrape(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return body.decode("utf-8")

    def targets(self) -> TargetView:
        """The per-target health series only (parsing a large /metrics whole would cost a busy test
        more than the exporter spends serving it)."""
        wanted = tuple(name + "{" for name in TargetView.FAMILIES)
        text = "\n".join(line for line in self.scrape().splitlines() if line.startswith(wanted)) + "\n"
        return TargetView(parse_metrics(text))

    def rss_kib(self) -> int:
        return proc_status_kib(self.pid, "VmRSS")

    def peak_rss_kib(self) -> int:
        return proc_status_kib(self.pid, "VmHWM")

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    # lifecycle -----------------------------------------------------------------------------
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 30) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=15)
        return self.popen.returncode


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    """The test's environment, with the repository importable from any working directory."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **(extra or {})}


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """``python -m exporter ARGS`` to completion (in ``cwd``), output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=_env(env),
    )
