"""The HTTP server: /metrics, /, /-/healthy, /-/ready, /-/reload, /probe?target=NAME."""

from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE

from exporter import __version__
from exporter.app import App
from exporter.config import ConfigError
from exporter.landing import render_landing
from exporter.webconfig import BasicAuth, WebConfig

log = logging.getLogger("egov.server")
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        app: App,
        web: WebConfig | None = None,
        enable_lifecycle: bool = True,
        enable_probe: bool = True,
        external_url: str = "",
    ) -> None:
        super().__init__(address, Handler)
        self.app = app
        #: where users reach the exporter (--web.external-url): the landing page's links use its path
        self.external_url = external_url
        self.web = web or WebConfig()
        self.auth = BasicAuth(self.web.basic_auth_users)
        self.enable_lifecycle = enable_lifecycle
        self.enable_probe = enable_probe
        ctx = self.web.ssl_context()
        if ctx is not None:
            self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line, never a traceback on stderr: a client that speaks plain HTTP to the TLS port, fails
        the handshake or goes away is routine (debug); anything else is a warning."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # ssl.SSLError, resets, broken pipes, timeouts
            log.debug("connection from %s ended: %s", client_address[0], exc)
        else:
            log.warning(
                "request from %s failed: %s: %s",
                client_address[0],
                type(exc).__name__,
                exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="egov-http", daemon=True)
        thread.start()
        return thread


def parse_listen_address(text: str) -> tuple[str, int]:
    """``:9877``, ``127.0.0.1:9877``, ``[::1]:9877`` -> (host, port); ValueError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--web.listen-address must be [host]:port, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def check_external_url(text: str) -> str:
    """``--web.external-url``: empty, or an absolute http(s) URL; ValueError otherwise."""
    from urllib.parse import urlsplit

    if text and (urlsplit(text).scheme not in ("http", "https") or not urlsplit(text).netloc):
        raise ValueError(f"--web.external-url must be an http:// or https:// URL, got {text!r}")
    return text


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written separately: no 40 ms delayed-ACK stall
    server_version = f"egov-exporter/{__version__}"
    #: seconds a connection may sit idle (or half-sent, or mid-handshake) before it is closed, so that
    #: clients that open connections and send nothing cannot hold the server's threads forever
    timeout = 120

    def log_message(self, fmt: str, *args: Any) -> None:  # access log at debug level only
        log.debug("%s %s", self.address_string(), fmt % args)

    # plumbing ------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes | str,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.server.auth.check(self.headers.get("Authorization")):
            return True
        self._send(401, "Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="egov-exporter"'})
        return False

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._authorized():
            return
        url = urlsplit(self.path)
        route = {
            "/metrics": self._metrics,
            "/": self._landing,
            "/-/healthy": self._healthy,
            "/-/ready": self._ready,
            "/probe": self._probe,
            "/-/reload": self._method_not_allowed,
        }
        handler = route.get(url.path)
        if handler is None:
            self._send(404, f"Not found: {url.path}\n")
            return
        try:
            handler(parse_qs(url.query))
        except BrokenPipeError:
            pass

    def do_POST(self) -> None:
        if not self._authorized():
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= 65536:
            self.close_connection = True
            self._send(400, "Bad Content-Length (at most 65536 bytes).\n")
            return
        if length:
            self.rfile.read(length)
        if urlsplit(self.path).path == "/-/reload":
            self._reload()
        else:
            self._send(405, "Method not allowed\n", headers={"Allow": "GET"})

    def _method_not_allowed(self, _q: dict) -> None:
        self._send(405, "Use POST to reload the configuration.\n", headers={"Allow": "POST"})

    # endpoints -----------------------------------------------------------------------------
    def _metrics(self, _q: dict) -> None:
        accept = self.headers.get("Accept", "")
        openmetrics = "application/openmetrics-text" in accept
        gz = "gzip" in self.headers.get("Accept-Encoding", "")
        body = self.server.app.cache.get(openmetrics=openmetrics, gz=gz)
        headers = {"Content-Encoding": "gzip"} if gz else {}
        self._send(200, body, OPENMETRICS_TYPE if openmetrics else TEXT_TYPE, headers)

    def _healthy(self, _q: dict) -> None:
        self._send(200, "Healthy.\n")

    def _ready(self, _q: dict) -> None:
        if self.server.app.ready():
            self._send(200, "Ready.\n")
        else:
            self._send(503, "Not ready: some targets have not been polled yet.\n")

    def _reload(self) -> None:
        if not self.server.enable_lifecycle:
            self._send(403, "Lifecycle endpoints are disabled (--no-web.enable-lifecycle).\n")
            return
        try:
            self.server.app.load()
        except ConfigError as exc:
            self._send(
                400,
                "Reload rejected, the running configuration is kept:\n"
                + self.server.app.redact("\n".join(exc.messages))
                + "\n",
            )
            return
        self._send(200, "Configuration reloaded.\n")

    def _probe(self, query: dict) -> None:
        if not self.server.enable_probe:
            self._send(403, "/probe is disabled (--no-web.enable-probe).\n")
            return
        names = query.get("target") or []
        if len(names) != 1 or not names[0]:
            self._send(400, "Give one configured target name: /probe?target=NAME\n")
            return
        app = self.server.app
        if app.config is None or app.config.target(names[0]) is None:
            self._send(
                400, f"Unknown target {names[0][:100]!r}: /probe only runs targets of the configuration.\n"
            )
            return
        out = app.probe(names[0])
        if (query.get("format") or ["text"])[0] == "json":
            self._send(200, json.dumps(out, ensure_ascii=False, indent=2) + "\n", "application/json")
        else:
            self._send(200, render_probe_text(out), "text/plain; charset=utf-8")

    def _landing(self, _q: dict) -> None:
        self._send(200, render_landing(self.server.app, self.server.external_url), "text/html; charset=utf-8")


def render_probe_text(out: dict[str, Any]) -> str:
    lines = [
        f"target {out['target']} (kind {out['kind']}, system {out['system']}): {out['state']}"
        + (f", reason {out['reason']}" if out["reason"] else "")
        + (f": {out['message']}" if out["message"] else ""),
        f"poll took {out['duration_seconds']}s",
        "",
    ]
    for f in out["fetched"]:
        lines.append(
            f"fetched {f.get('request')}: "
            + (
                f"error {f['error']}"
                if "error" in f
                else f"HTTP {f.get('status')} in {f.get('seconds')}s, {f.get('bytes')} bytes, {f.get('content_type')}"
            )
        )
        if f.get("body"):
            lines.append("  body (first 2000 characters):")
            lines.extend("    " + line for line in f["body"].splitlines()[:60])
    if out["skipped"]:
        lines.append("")
        lines.append("skipped (field missing in the answer):")
        lines.extend("  " + s for s in out["skipped"])
    lines.append("")
    lines.append(f"extracted {len(out['samples'])} samples:")
    for s in out["samples"]:
        labels = ",".join(f'{k}="{v}"' for k, v in s["labels"].items())
        lines.append(f"  {s['name']}{{{labels}}} {s['value']:g}")
    return "\n".join(lines) + "\n"
