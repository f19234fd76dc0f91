"""Real monitoring processes for the integration tests (Debian's binaries at fixed paths), and the loopback
receivers they deliver to: a webhook receiver (Alertmanager's webhook, the digest's webhook) and an SMTP
server (the digest's e-mail).

Shared by test_nationwide, test_alert_delivery and test_digest_delivery.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness import ROOT, _env, free_port, wait_for

#: where Debian's packages put the binaries (prometheus, prometheus-alertmanager, victoria-metrics)
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
AMTOOL = "/usr/bin/amtool"
VICTORIA_METRICS = "/usr/bin/victoria-metrics"
VMAGENT = "/usr/bin/vmagent"
VMALERT = "/usr/bin/vmalert"
PACKAGES = {
    PROMETHEUS: "prometheus",
    PROMTOOL: "prometheus",
    ALERTMANAGER: "prometheus-alertmanager",
    AMTOOL: "prometheus-alertmanager",
    VICTORIA_METRICS: "victoria-metrics",
    VMAGENT: "victoria-metrics",
    VMALERT: "victoria-metrics",
}


def require(*binaries: str) -> None:
    missing = [b for b in binaries if not os.access(b, os.X_OK)]
    assert not missing, "missing: " + ", ".join(
        f"{b} (install Debian's {PACKAGES.get(b, '?')} package; CI does)" for b in missing
    )


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post(url: str, data: bytes = b"", content_type: str = "application/json", timeout: float = 10.0):
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def prom_query(base: str, expr: str, at: float | None = None, path: str = "/api/v1/query") -> list[dict]:
    """An instant query against a Prometheus-compatible API (Prometheus, VictoriaMetrics)."""
    params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
    status, body = http_get(f"{base}{path}?" + urllib.parse.urlencode(params), timeout=60)
    doc = json.loads(body)
    assert status == 200 and doc.get("status") == "success", f"{base}: {expr}: {status} {body[:300]!r}"
    return doc["data"]["result"]


class Procs:
    """Processes of one test, each with its log file in ``tmp``; stopped in reverse order."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return self.procs[name]

    def exporter(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return self.start(name, [sys.executable, "-m", "exporter", *args], env)

    def log(self, name: str) -> str:
        try:
            return (self.tmp / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait_http(self, name: str, url: str, timeout: float = 60) -> None:
        """Wait until ``url`` answers 200, failing with the process's log when it died or never did."""

        def ok() -> bool:
            p = self.procs[name]
            if p.poll() is not None:
                raise AssertionError(f"{name} exited with {p.returncode}:\n{self.log(name)[-3000:]}")
            return http_get(url, timeout=5)[0] == 200

        try:
            wait_for(ok, timeout, f"{name} at {url}", step=0.2)
        except AssertionError as exc:
            if "exited" in str(exc):
                raise
            raise AssertionError(f"{exc}\n{name} log:\n{self.log(name)[-3000:]}") from None

    def stop(self, name: str) -> None:
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)

    def stop_all(self) -> None:
        for name in list(self.procs)[::-1]:
            self.stop(name)


# ------------------------------------------------------------------------------------ receivers


class WebhookReceiver:
    """Records every POST on loopback: (arrival time, path, headers, parsed JSON or raw text).  Answers
    ``status`` (200 unless a test wants failures) with the body of the first ``replies`` key found in the
    path (e.g. what Telegram's Bot API answers to sendMessage), else an empty body."""

    def __init__(self, replies: dict[str, bytes] | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.replies = dict(replies or {})
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    doc: Any = json.loads(body)
                except ValueError:
                    doc = body.decode("utf-8", errors="replace")
                with receiver.lock:
                    receiver.received.append(
                        {
                            "at": time.time(),
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": doc,
                        }
                    )
                reply = next((r for key, r in receiver.replies.items() if key in self.path), b"")
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.received if path is None or m["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """A loopback SMTP server (aiosmtpd) keeping every message it is sent: (envelope from, to, bytes)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[str, list[str], bytes]] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                receiver.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
                return "250 Message accepted for delivery"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
