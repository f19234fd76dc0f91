"""The simulator's HTTP server: routes ``/<system>/...`` to that system, applies its fault mode."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from exporter.simulator.faults import FAULT_MODES, WAF_PAGE
from exporter.simulator.protocol import Reply, Request
from exporter.simulator.world import World

log = logging.getLogger("egov.simulator")


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*):')
_HTML_TAG = re.compile(r"<(/?)(table|thead|tbody|tr|th|td|ul|ol|li|article|section|nav|time)\b", re.I)
_HTML_ATTR = re.compile(r'\b(class|id)=(["\'])([^"\']*)\2', re.I)


def changed_layout(reply: Reply) -> Reply:
    """The same content in a new layout, as after a vendor upgrade: JSON keys renamed (``key`` ->
    ``key_v2``); HTML tables, lists and sections turned into ``div``s and every class and id renamed."""
    text = reply.data().decode("utf-8", errors="replace")
    if "json" in reply.content_type:
        text = _JSON_KEY.sub(lambda m: f'"{m.group(1)}_v2"{m.group(2)}:', text)
    elif "html" in reply.content_type:
        text = _HTML_TAG.sub(lambda m: f"<{m.group(1)}div", text)
        text = _HTML_ATTR.sub(
            lambda m: (
                f"{m.group(1)}={m.group(2)}" + " ".join("v2-" + c for c in m.group(3).split()) + m.group(2)
            ),
            text,
        )
    return Reply(reply.status, text, reply.content_type, reply.headers)


class Simulator:
    """The systems of one simulated province and their fault modes."""

    def __init__(self, world: World | None = None, systems: list[type] | None = None) -> None:
        from exporter.simulator.systems import system_classes

        self.world = world or World()
        self.systems = {cls.name: cls(self.world) for cls in (systems or system_classes())}
        self.faults: dict[str, dict[str, Any]] = {name: {"mode": "none"} for name in self.systems}
        self.requests: dict[str, int] = {name: 0 for name in self.systems}
        self._lock = threading.Lock()
        self.server: SimServer | None = None
        self.stopping = threading.Event()
        #: HTTPS certificates (exporter.simulator.tls.ServerCertificates) when serving TLS, else None
        self.tls: Any = None

    def enable_tls(self, directory: str) -> str:
        """Serve HTTPS (call before ``start``) with certificates made in ``directory``; returns the CA file."""
        from exporter.simulator.tls import ServerCertificates

        self.tls = ServerCertificates(directory)
        return self.tls.ca_file

    def set_cert(self, mode: str, keep: Any = None) -> str | None:
        """Switch the served certificate; open connections (but ``keep``) are closed.  Returns a problem
        or None."""
        from exporter.simulator.tls import CERT_MODES

        if self.tls is None:
            return "the simulator is not serving TLS (start it with --tls)"
        if mode not in CERT_MODES:
            return f"unknown certificate {mode!r}; certificates: {', '.join(CERT_MODES)}"
        self.tls.mode = mode
        if self.server is not None:
            self.server.close_connections(keep)
        log.info("certificate set to %s", mode)
        return None

    def set_fault(self, system: str, mode: str, **params: Any) -> str | None:
        """Switch a system's fault mode (``all`` for every system); returns a problem or None."""
        if mode not in FAULT_MODES:
            return f"unknown fault mode {mode!r}; modes: {', '.join(FAULT_MODES)}"
        names = list(self.systems) if system == "all" else [system]
        for name in names:
            if name not in self.systems:
                return f"unknown system {system!r}; systems: {', '.join(self.systems)}, all"
        with self._lock:
            for name in names:
                self.faults[name] = {"mode": mode, **params}
        log.info("fault of %s set to %s", system, mode)
        return None

    def fault(self, system: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.faults.get(system, {"mode": "none"}))

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.server = SimServer((host, port), self)
        threading.Thread(target=self.server.serve_forever, name="egov-sim", daemon=True).start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"{'https' if self.tls is not None else 'http'}://{host}:{port}"

    def stop(self) -> None:
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        super().__init__(address, _Handler)
        self.sim = sim
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        if self.sim.tls is not None:
            sock = self.sim.tls.wrap(sock)
        with self._open_lock:
            self._open.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self, keep: Any = None) -> None:
        """Shut down every open client connection but ``keep`` (after a certificate switch)."""
        with self._open_lock:
            socks = [s for s in self._open if s is not keep]
        for sock in socks:
            try:
                sock.shutdown(2)
            except OSError:
                pass

    def route(self, path: str) -> tuple[Simulator | None, str]:
        """The simulator that serves ``path`` and the path within it (one province: all of them)."""
        return self.sim, path

    def index(self, sim: Simulator | None) -> dict[str, Any]:
        """What ``/`` answers: the systems, their faults and the fault modes."""
        sim = sim or self.sim
        return {
            "systems": {name: f"/{name}/" for name in sim.systems},
            "faults": sim.faults,
            "modes": FAULT_MODES,
            "units": len(sim.world.units),
        }

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that rejects our certificate or goes away mid-answer is part of the job, not a bug
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.debug("connection from %s ended: %s", client_address, exc)
        else:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: SimServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written separately: no 40 ms delayed-ACK stall
    server_version = "egov-simulator"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug(fmt, *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 10 * 1024 * 1024)) if length else b""

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        query = parse_qs(url.query)
        sim, path = self.server.route(url.path)
        if sim is not None and path.startswith("/-/"):
            self._control(sim, path, query, body)
            return
        if path in ("/", ""):
            self._reply(Reply.json(self.server.index(sim)))
            return
        if sim is None:
            self._reply(Reply(404, "not found\n", "text/plain"))
            return
        system_name, _, rest = path.lstrip("/").partition("/")
        system = sim.systems.get(system_name)
        if system is None:
            self._reply(Reply(404, "not found\n", "text/plain"))
            return
        with sim._lock:
            sim.requests[system_name] += 1
        req = Request(self.command, "/" + rest, query, {k.lower(): v for k, v in self.headers.items()}, body)
        fault = sim.fault(system_name)
        mode = fault["mode"]
        if mode == "hang":
            self._hang()
            return
        if mode == "slow":
            self._sleep(float(fault.get("delay", 3.0)))
        if mode in ("5xx", "503", "429", "waf", "forbidden", "redirect_loop", "unauthorized"):
            self._reply(self._fault_reply(mode, url))
            return
        if mode == "huge":
            self._stream_huge(int(fault.get("size", 50 * 1024 * 1024)), chunked=bool(fault.get("chunked")))
            return
        try:
            reply = system.handle(req)
        except Exception as exc:  # a simulator bug answers 500, like a real server would
            log.exception("simulated %s failed", system_name)
            reply = Reply(500, f"simulator error: {exc}\n", "text/plain")
        if reply is None:
            reply = Reply(404, "not found\n", "text/plain")
        if mode == "malformed":
            data = reply.data()
            reply = Reply(reply.status, data[: len(data) // 2], reply.content_type, reply.headers)
        elif mode == "truncated":
            self._truncated(reply)
            return
        elif mode == "changed_layout":
            reply = changed_layout(reply)
        elif mode == "wrong_content_type":
            if "json" in reply.content_type:
                reply = Reply.html(
                    "<!doctype html><html><body><h1>Trang chủ</h1><p>Đang bảo trì</p></body></html>"
                )
            else:
                reply = Reply.json({"status": "ok"})
        elif mode == "missing_fields":
            reply = (
                Reply.json({"code": "OK", "data": {}})
                if "json" in reply.content_type
                else Reply.html("<!doctype html><html><body><div id='main'></div></body></html>")
            )
        if mode == "trickle":
            self._trickle(reply, headers_too=False)
        elif mode == "slow_headers":
            self._trickle(reply, headers_too=True)
        else:
            self._reply(reply)

    def _fault_reply(self, mode: str, url: Any) -> Reply:
        if mode == "5xx":
            return Reply(500, "<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html")
        if mode == "503":
            return Reply(503, "Service Unavailable\n", "text/plain", {"Retry-After": "120"})
        if mode == "429":
            return Reply(429, "Too Many Requests\n", "text/plain", {"Retry-After": "60"})
        if mode == "waf":
            return Reply.html(WAF_PAGE)
        if mode == "forbidden":
            return Reply(403, "<html><body>403 Forbidden</body></html>", "text/html")
        if mode == "unauthorized":
            return Reply(401, '{"error":"invalid_token"}', "application/json", {"WWW-Authenticate": "Bearer"})
        return Reply(302, "", "text/plain", {"Location": url.path + ("?" + url.query if url.query else "")})

    def _reply(self, reply: Reply) -> None:
        data = reply.data()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _sleep(self, seconds: float) -> None:
        self.server.sim.stopping.wait(min(seconds, 600))

    def _hang(self) -> None:
        # hold the connection until the client goes away, the simulator stops, or 10 minutes pass
        self.connection.settimeout(0.5)
        end = time.monotonic() + 600
        while time.monotonic() < end and not self.server.sim.stopping.is_set():
            try:
                if self.connection.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        self.close_connection = True

    def _stream_huge(self, size: int, chunked: bool = False) -> None:
        """``size`` bytes, announced by Content-Length, or (``chunked``) with no length given up front."""
        chunk = b'{"filler":"' + b"x" * 65500 + b'"},\n'
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header(
                *(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(size)))
            )
            self.end_headers()
            sent = 0
            while sent < size and not self.server.sim.stopping.is_set():
                part = chunk[: size - sent]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                sent += len(part)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        self.close_connection = True

    def _truncated(self, reply: Reply) -> None:
        """Announce the whole body, send half of it, close the connection."""
        data = reply.data()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        self.close_connection = True

    def _trickle(self, reply: Reply, headers_too: bool) -> None:
        data = reply.data()
        head = (
            f"HTTP/1.1 {reply.status} OK\r\nContent-Type: {reply.content_type}\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        ).encode()
        stream = head + data if headers_too else data
        try:
            if not headers_too:
                self.wfile.write(head)
            for i in range(min(len(stream), 1200)):  # at most 10 minutes of trickling
                if self.server.sim.stopping.wait(0.5):
                    break
                self.wfile.write(stream[i : i + 1])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        self.close_connection = True

    def _control(self, sim: Simulator, path: str, query: dict[str, list[str]], body: bytes) -> None:
        if path == "/-/faults":
            self._reply(
                Reply.json(
                    {
                        "faults": sim.faults,
                        "modes": FAULT_MODES,
                        "requests": sim.requests,
                        "cert": sim.tls.mode if sim.tls is not None else None,
                    }
                )
            )
            return
        if path == "/-/tls":
            if self.command != "POST":
                self._reply(Reply(405, "use POST /-/tls?cert=MODE\n", "text/plain"))
                return
            mode = (query.get("cert") or [""])[0]
            problem = sim.set_cert(mode, keep=self.connection)
            self.close_connection = True  # the next request of this client sees the new certificate
            self._reply(Reply(400, problem + "\n", "text/plain") if problem else Reply.json({"cert": mode}))
            return
        if path == "/-/fault":
            if self.command != "POST":
                self._reply(Reply(405, "use POST /-/fault?system=NAME&mode=MODE\n", "text/plain"))
                return
            params = {k: v[0] for k, v in query.items()}
            if body:
                try:
                    params.update(json.loads(body))
                except ValueError:
                    self._reply(Reply(400, "body must be JSON\n", "text/plain"))
                    return
            system, mode = params.pop("system", ""), params.pop("mode", "")
            extra = {}
            for key in ("delay", "size", "chunked"):
                if key in params:
                    try:
                        extra[key] = float(params[key])
                    except (TypeError, ValueError):
                        self._reply(Reply(400, f"{key} must be a number\n", "text/plain"))
                        return
            problem = sim.set_fault(str(system), str(mode), **extra)
            if problem:
                self._reply(Reply(400, problem + "\n", "text/plain"))
            else:
                self._reply(Reply.json({"system": system, "mode": mode, **extra}))
            return
        if path == "/-/healthy":
            self._reply(Reply(200, "ok\n", "text/plain"))
            return
        self._reply(Reply(404, "not found\n", "text/plain"))
