"""HttpClient: auth, OAuth2 token caching, counted retries, Retry-After, WAF pages, body cap, redirect loops,
transport failures, and the total deadline against real loopback servers that trickle, stall or hang."""

from __future__ import annotations

import base64
import email.utils
import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from httpstub import HttpStub, matchers

from collectors.http import HttpConfig
from exporter.fetch import USER_AGENT, HttpClient, SessionPool, TransportError, _OAuth2Token, public_url
from exporter.plugin import CollectError

BODIES = Path(__file__).parent / "fixtures" / "http" / "generic"
URL = "https://lgsp.example.vn/api/stats"
TOKEN_URL = "https://sso.example.vn/realms/egov/protocol/openid-connect/token"
T0 = 1_800_000_000.0


def body(name: str) -> bytes:
    return (BODIES / name).read_bytes()


def target(**kw) -> HttpConfig:
    base = {
        "name": "t",
        "kind": "http",
        "system": "lgsp",
        "url": URL,
        "retries": 0,
        "retry_backoff": "1ms",
        "timeout": "2s",
    }
    return HttpConfig.model_validate({**base, **kw})


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    _OAuth2Token.clear()
    yield
    _OAuth2Token.clear()


@pytest.fixture()
def rsps():
    with HttpStub(assert_all_requests_are_fired=True) as r:
        yield r


def fail(client: HttpClient, **kw) -> CollectError:
    with pytest.raises(CollectError) as info:
        client.request(**kw)
    return info.value


# ------------------------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "auth,header,value",
    [
        (
            {"type": "basic", "username": "monitor", "password": "mật-khẩu"},
            "Authorization",
            "Basic " + base64.b64encode("monitor:mật-khẩu".encode()).decode(),
        ),
        ({"type": "bearer", "token": "tok-123"}, "Authorization", "Bearer tok-123"),
        ({"type": "header", "name": "X-Api-Key", "value": "key-456"}, "X-Api-Key", "key-456"),
    ],
)
def test_auth_headers_sent(rsps, auth, header, value):
    rsps.get(URL, json={"ok": 1}, match=[matchers.header_matcher({header: value, "User-Agent": USER_AGENT})])
    resp = HttpClient(target(auth=auth), rsps).request()
    assert resp.status == 200 and resp.json() == {"ok": 1}


def test_configured_headers_sent(rsps):
    rsps.get(URL, body="ok", match=[matchers.header_matcher({"Accept-Language": "vi"})])
    assert HttpClient(target(headers={"Accept-Language": "vi"}), rsps).request().body == b"ok"


def oauth2_target(**kw) -> HttpConfig:
    return target(
        auth={
            "type": "oauth2",
            "token_url": TOKEN_URL,
            "client_id": "egov-exporter",
            "client_secret": "client-secret-77",
            "scopes": ["stats", "read"],
        },
        **kw,
    )


def test_oauth2_token_fetched_once_and_cached(rsps):
    token = rsps.post(TOKEN_URL, body=body("token.json"), content_type="application/json")
    data = rsps.get(
        URL,
        json={"ok": 1},
        match=[matchers.header_matcher({"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.first-token"})],
    )
    clock = FakeClock()
    client = HttpClient(oauth2_target(), rsps, clock=clock)
    for _ in range(3):
        client.request()
        clock.t += 60
    assert token.call_count == 1 and data.call_count == 3
    assert client.stats["token_requests"] == 1
    form = parse_qs(rsps.calls[0].request.body)
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["egov-exporter"],
        "client_secret": ["client-secret-77"],
        "scope": ["stats read"],
    }


def test_oauth2_token_refreshed_when_expired(rsps):
    rsps.post(TOKEN_URL, body=body("token.json"), content_type="application/json")
    rsps.post(TOKEN_URL, body=body("token-second.json"), content_type="application/json")
    first = rsps.get(
        URL,
        json={},
        match=[matchers.header_matcher({"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.first-token"})],
    )
    second = rsps.get(
        URL,
        json={},
        match=[matchers.header_matcher({"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.second-token"})],
    )
    clock = FakeClock()
    client = HttpClient(oauth2_target(), rsps, clock=clock)
    client.request()
    clock.t += 250  # expires_in 300: still valid (refreshed 30 s early)
    client.request()
    clock.t += 25  # 275 s after issue: inside the safety margin, a new token is fetched
    client.request()
    assert first.call_count == 2 and second.call_count == 1
    assert client.stats["token_requests"] == 2


def test_oauth2_token_refetched_once_on_401(rsps):
    rsps.post(TOKEN_URL, body=body("token.json"), content_type="application/json")
    rsps.post(TOKEN_URL, body=body("token-second.json"), content_type="application/json")
    rsps.get(
        URL,
        status=401,
        match=[matchers.header_matcher({"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.first-token"})],
    )
    ok = rsps.get(
        URL,
        json={"ok": 1},
        match=[matchers.header_matcher({"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.second-token"})],
    )
    client = HttpClient(oauth2_target(), rsps, clock=FakeClock())
    assert client.request().json() == {"ok": 1}
    assert ok.call_count == 1 and client.stats["token_requests"] == 2 and client.stats["retries"] == 0


def test_oauth2_persistent_401_is_auth_without_loop(rsps):
    token = rsps.post(TOKEN_URL, body=body("token.json"), content_type="application/json")
    data = rsps.get(URL, status=401)
    err = fail(HttpClient(oauth2_target(retries=2), rsps, clock=FakeClock()))
    assert err.reason == "auth"
    assert token.call_count == 2 and data.call_count == 2


@pytest.mark.parametrize(
    "status,payload,reason",
    [
        (401, b'{"error":"invalid_client"}', "auth"),
        (400, b'{"error":"invalid_scope"}', "auth"),
        (200, b'{"token":"x"}', "auth"),
        (200, b"not json", "auth"),
        (500, b"oops", "http_status"),
        (429, b"slow down", "blocked"),
    ],
)
def test_oauth2_token_endpoint_failures(rsps, status, payload, reason):
    token = rsps.post(TOKEN_URL, body=payload, status=status, content_type="application/json")
    err = fail(HttpClient(oauth2_target(), rsps, clock=FakeClock()))
    assert err.reason == reason and token.call_count == 1
    assert "client-secret-77" not in err.message


# ------------------------------------------------------------------------------- retries and status


def test_5xx_retried_and_counted(rsps):
    rsps.get(URL, status=502)
    rsps.get(URL, status=500)
    ok = rsps.get(URL, json={"ok": 1})
    client = HttpClient(target(retries=2), rsps)
    assert client.request().status == 200
    assert client.stats["retries"] == 2 and client.stats["requests"] == 3 and ok.call_count == 1


def test_5xx_retries_exhausted(rsps):
    call = rsps.get(URL, status=500)
    client = HttpClient(target(retries=2), rsps)
    err = fail(client)
    assert err.reason == "http_status" and "HTTP 500" in err.message
    assert call.call_count == 3 and client.stats["retries"] == 2


def test_connect_error_retried_and_counted(rsps):
    call = rsps.get(URL, body=TransportError("connect", "cannot connect: Connection refused"))
    client = HttpClient(target(retries=1), rsps)
    assert fail(client).reason == "connect"
    assert call.call_count == 2 and client.stats["retries"] == 1


@pytest.mark.parametrize("status", [400, 404, 410])
def test_4xx_not_retried(rsps, status):
    call = rsps.get(URL, status=status)
    client = HttpClient(target(retries=3), rsps)
    err = fail(client)
    assert err.reason == "http_status" and f"HTTP {status}" in err.message
    assert call.call_count == 1 and client.stats["retries"] == 0


@pytest.mark.parametrize(
    "status,auth,reason",
    [
        (401, None, "auth"),
        (403, None, "blocked"),
        (403, {"type": "bearer", "token": "t"}, "auth"),
    ],
)
def test_401_403_reasons(rsps, status, auth, reason):
    rsps.get(URL, status=status)
    assert fail(HttpClient(target(auth=auth), rsps)).reason == reason


def test_429_blocked_with_retry_after_seconds(rsps):
    call = rsps.get(URL, status=429, headers={"Retry-After": "120"})
    client = HttpClient(target(retries=2), rsps)
    err = fail(client)
    assert (err.reason, err.retry_after) == ("blocked", 120.0)
    assert call.call_count == 1 and client.stats["retries"] == 0


def test_429_blocked_with_retry_after_http_date(rsps):
    clock = FakeClock()
    rsps.get(URL, status=429, headers={"Retry-After": email.utils.formatdate(T0 + 90, usegmt=True)})
    err = fail(HttpClient(target(), rsps, clock=clock))
    assert err.reason == "blocked" and err.retry_after == pytest.approx(90.0)


def test_429_with_garbage_retry_after(rsps):
    rsps.get(URL, status=429, headers={"Retry-After": "soon"})
    err = fail(HttpClient(target(), rsps))
    assert err.reason == "blocked" and err.retry_after is None


def test_503_with_retry_after_not_retried(rsps):
    call = rsps.get(URL, status=503, headers={"Retry-After": "30"})
    client = HttpClient(target(retries=3), rsps)
    err = fail(client)
    assert (err.reason, err.retry_after) == ("http_status", 30.0)
    assert call.call_count == 1 and client.stats["retries"] == 0


def test_503_without_retry_after_is_retried(rsps):
    call = rsps.get(URL, status=503)
    client = HttpClient(target(retries=1), rsps)
    err = fail(client)
    assert err.reason == "http_status" and err.retry_after is None
    assert call.call_count == 2 and client.stats["retries"] == 1


# ------------------------------------------------------------------------------------ bad answers


@pytest.mark.parametrize("status", [200, 403])
def test_waf_page_is_blocked_whatever_the_status(rsps, status):
    rsps.get(URL, body=body("waf-request-rejected.html"), status=status, content_type="text/html")
    err = fail(HttpClient(target(retries=2), rsps))
    assert err.reason == "blocked"
    assert len(rsps.calls) == 1


def test_waf_words_inside_json_data_are_data(rsps):
    rsps.get(URL, json={"note": "Request Rejected by the clerk", "count": 3})
    assert HttpClient(target(), rsps).request().json()["count"] == 3


def test_redirect_loop_is_http_status(rsps):
    loop = "https://lgsp.example.vn/loop"
    rsps.get(URL, status=302, headers={"Location": loop})
    rsps.get(loop, status=302, headers={"Location": URL})
    err = fail(HttpClient(target(retries=2), rsps))
    assert err.reason == "http_status" and "redirects" in err.message


def test_redirect_followed_and_counted(rsps):
    final = "https://lgsp.example.vn/api/v2/stats"
    rsps.get(URL, status=301, headers={"Location": final})
    rsps.get(final, json={"v": 2})
    resp = HttpClient(target(), rsps).request()
    assert (resp.url, resp.redirects, resp.json()) == (final, 1, {"v": 2})


def test_unfollowed_redirect_is_http_status_by_default(rsps):
    rsps.get(URL, status=304)
    assert fail(HttpClient(target(), rsps)).reason == "http_status"


def test_ok_statuses_admit_a_status(rsps):
    rsps.get(URL, status=404, body="not here")
    assert HttpClient(target(), rsps).request(ok_statuses={404}).status == 404


def test_invalid_json_is_parse(rsps):
    rsps.get(URL, body=body("malformed.json"), content_type="application/json")
    resp = HttpClient(target(), rsps).request()
    with pytest.raises(CollectError) as info:
        resp.json()
    assert info.value.reason == "parse"


def test_response_text_charset_and_headers(rsps):
    rsps.get(URL, body="Cổng dịch vụ công".encode("utf-16"), content_type="text/plain; charset=utf-16")
    resp = HttpClient(target(), rsps).request()
    assert resp.text() == "Cổng dịch vụ công" and resp.content_type == "text/plain"
    assert resp.headers["content-type"] == "text/plain; charset=utf-16"


def test_public_url_strips_credentials_and_query():
    assert (
        public_url("https://user:pw@lgsp.example.vn:8443/api/x?token=abc#f")
        == "https://lgsp.example.vn:8443/api/x"
    )


# ----------------------------------------------------------------------- real loopback: transport


def free_port_refusing() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    return port


def test_connection_refused_is_connect():
    port = free_port_refusing()
    client = HttpClient(target(url=f"http://127.0.0.1:{port}/", retries=1), SessionPool())
    err = fail(client)
    assert err.reason == "connect" and client.stats["retries"] == 1


class LoopbackServer:
    """A listening socket on 127.0.0.1 whose connections are each served by ``_serve`` in a thread."""

    def __init__(self, backlog: int = 8) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(2)


class StallingServer(LoopbackServer):
    """A loopback server misbehaving in one of three ways, bounded by ``limit`` seconds per connection:

    * ``slow-headers``: reads the request, then sends nothing;
    * ``trickle``: sends headers announcing a large body, then one byte every 0.1 s;
    * ``hang-body``: sends headers announcing a body, then nothing.
    """

    def __init__(self, mode: str, limit: float = 8.0) -> None:
        super().__init__()
        self.mode, self.limit = mode, limit
        self.bytes_sent = 0
        self.thread.start()

    def _serve(self, conn: socket.socket) -> None:
        end = time.monotonic() + self.limit
        try:
            conn.settimeout(1.0)
            conn.recv(65536)
            if self.mode != "slow-headers":
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                )
            while time.monotonic() < end and not self.stop.is_set():
                if self.mode == "trickle":
                    conn.sendall(b" ")
                    self.bytes_sent += 1
                self.stop.wait(0.1)
        except OSError:
            pass
        finally:
            conn.close()


@pytest.mark.parametrize("mode", ["slow-headers", "trickle", "hang-body"])
def test_total_deadline(mode):
    server = StallingServer(mode)
    try:
        client = HttpClient(target(url=f"http://127.0.0.1:{server.port}/stats", timeout="1s"), SessionPool())
        t0 = time.monotonic()
        err = fail(client)
        elapsed = time.monotonic() - t0
    finally:
        server.close()
    assert err.reason == "timeout", err.message
    assert elapsed < 1 + 2  # bounded by the configured timeout, not by the server
    if mode == "trickle":
        assert server.bytes_sent >= 3  # the server really was trickling while we waited


def test_total_deadline_with_retry_counts_the_retry():
    server = StallingServer("trickle")
    try:
        client = HttpClient(
            target(url=f"http://127.0.0.1:{server.port}/stats", timeout="500ms", retries=1), SessionPool()
        )
        t0 = time.monotonic()
        err = fail(client)
        elapsed = time.monotonic() - t0
    finally:
        server.close()
    assert err.reason == "timeout" and client.stats["retries"] == 1 and client.stats["requests"] == 2
    assert elapsed < 2 * 0.5 + 0.5 + 2


# ------------------------------------------------------- real loopback: libcurl's answers and failures

DOC = json.dumps({"received": 12, "units": [{"code": "U1", "value": 3}]}).encode()
CAP = 2048  # the max_body_size of the canned tests


def _answer(status: str, headers: list[str], body: bytes = b"", length: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers] + ([f"Content-Length: {len(body)}"] if length else [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _canned(port: int) -> dict[bytes, bytes]:
    """Raw answers by path: what a poll usually gets, and what HTTP parsers handle in their own ways."""
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (DOC[:7], DOC[7:])) + b"0\r\n\r\n"
    big = b"x" * (CAP + 1000)
    bomb = gzip.compress(b" " * (CAP * 50))  # small on the wire, over the cap once decoded
    json_ct = "Content-Type: application/json"
    return {
        b"/ok": _answer("200 OK", [json_ct, "X-Rep: a", "x-rep:  b\t"], DOC),
        b"/gzip": _answer("200 OK", [json_ct, "Content-Encoding: gzip"], gzip.compress(DOC)),
        b"/deflate": _answer("200 OK", [json_ct, "Content-Encoding: deflate"], zlib.compress(DOC)),
        b"/bad-gzip": _answer("200 OK", [json_ct, "Content-Encoding: gzip"], b"not gzip at all"),
        b"/chunked": _answer("200 OK", [json_ct, "Transfer-Encoding: chunked"], chunks, length=False),
        b"/redirect": _answer("302 Found", ["Location: /ok"]),
        b"/redirect-abs": _answer("301 Moved", [f"Location: http://127.0.0.1:{port}/gzip"]),
        b"/loop": _answer("302 Found", ["Location: /loop"]),
        b"/at-cap": _answer("200 OK", ["Content-Type: text/plain"], b"y" * CAP),
        b"/big": _answer("200 OK", ["Content-Type: text/plain"], big),
        b"/big-unannounced": _answer("200 OK", ["Content-Type: text/plain", "Connection: close"], big, False),
        b"/gzip-bomb": _answer("200 OK", ["Content-Type: text/plain", "Content-Encoding: gzip"], bomb),
        b"/short": _answer("200 OK", [json_ct, "Content-Length: 500"], DOC[:10], length=False),
        b"/folded": _answer("200 OK", [json_ct, "X-Fold: a", " b"], DOC),
        b"/latin1": _answer("200 OK", [json_ct, "X-Name: caf\xe9"], DOC),
        b"/no-colon": _answer("200 OK", [json_ct, f"Content-Length: {len(DOC)}", "Not a header"], DOC, False),
        b"/cookie": _answer("200 OK", ["Set-Cookie: session=abc; Path=/", json_ct], DOC),
        b"/empty": _answer("204 No Content", ["X-A: 1"], length=False),
        b"/error": _answer(
            "503 Service Unavailable", ["Retry-After: 7", "Content-Type: text/plain"], b"busy"
        ),
        b"/http10": b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + DOC,
        b"/garbage": b"NOT HTTP AT ALL\r\n\r\n",
    }


#: what the client makes of each canned answer: ("answer", status, body, headers it must have) or
#: ("error", reason, words of the message, retryable); a HEAD gets the same without a body
EXPECTED: dict[str, tuple] = {
    "/ok": ("answer", 200, DOC, {"x-rep": "a, b", "content-type": "application/json"}),
    "/gzip": ("answer", 200, DOC, {"content-encoding": "gzip"}),
    "/deflate": ("answer", 200, DOC, {"content-encoding": "deflate"}),
    "/bad-gzip": ("error", "parse", "cannot be decoded", False),
    "/chunked": ("answer", 200, DOC, {"transfer-encoding": "chunked"}),
    "/redirect": ("answer", 200, DOC, {"x-rep": "a, b"}),
    "/redirect-abs": ("answer", 200, DOC, {"content-encoding": "gzip"}),
    "/loop": ("error", "http_status", "more than 10 redirects", False),
    "/at-cap": ("answer", 200, b"y" * CAP, {}),
    "/big": ("error", "parse", f"body of {CAP + 1000} bytes announced, larger than max_body_size", False),
    "/big-unannounced": ("error", "parse", f"body larger than max_body_size ({CAP} bytes)", False),
    "/gzip-bomb": ("error", "parse", f"body larger than max_body_size ({CAP} bytes)", False),
    "/short": ("error", "connect", "connection broken mid-answer", True),
    "/folded": ("answer", 200, DOC, {"x-fold": "a b"}),
    "/latin1": ("answer", 200, DOC, {"x-name": "café"}),
    "/no-colon": ("error", "other", "not a valid HTTP answer", False),
    "/cookie": ("answer", 200, DOC, {"set-cookie": "session=abc; Path=/"}),
    "/empty": ("answer", 204, b"", {"x-a": "1"}),
    "/error": ("answer", 503, b"busy", {"retry-after": "7"}),
    "/http10": ("answer", 200, DOC, {"content-type": "application/json"}),
    "/garbage": ("error", "other", "not a valid HTTP answer", False),
    "/missing": ("answer", 404, b"", {}),
}
#: a HEAD reads no body: neither the cap nor a broken or undecodable body concern it
HEAD_ANSWERS = {"/big", "/big-unannounced", "/gzip-bomb", "/short", "/bad-gzip"}
#: the final URL and the redirects followed, where the answer came after redirects
REDIRECTED = {"/redirect": ("/ok", 1), "/redirect-abs": ("/gzip", 1)}


class CannedServer(LoopbackServer):
    """A loopback HTTP/1.1 server (HTTPS with ``tls``) answering each path with fixed bytes (keep-alive
    unless the answer ends the connection), keeping the request heads and counting connections."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(backlog=16)
        self.tls = tls
        self.answers = _canned(self.port)
        self.heads: list[bytes] = []  # every request's head and body, as received
        self.connections = 0
        self.thread.start()

    def _serve(self, conn: socket.socket) -> None:
        self.connections += 1
        conn.settimeout(5)
        buf = b""
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            while not self.stop.is_set():
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(ln.split(b":")[1])
                        for ln in head.split(b"\r\n")[1:]
                        if ln.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(buf) < length:
                    buf += conn.recv(65536)
                self.heads.append(head + b"\r\n\r\n" + buf[:length])
                buf = buf[length:]
                method, path = head.split(b" ")[:2]
                answer = self.answers.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                if method == b"HEAD":
                    answer = answer.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
                conn.sendall(answer)
                if (
                    b"Connection: close" in answer
                    or answer.startswith(b"HTTP/1.0")
                    or (method != b"HEAD" and path in (b"/short", b"/garbage", b"/no-colon"))
                ):
                    return
        except OSError:
            pass
        finally:
            conn.close()


@pytest.fixture(scope="module")
def canned():
    server = CannedServer()
    yield server
    server.close()


def outcome(client: HttpClient, method: str = "GET") -> tuple:
    try:
        r = client.request(
            method, data=b'{"q": 1}' if method == "POST" else None, ok_statuses=set(range(200, 600))
        )
    except CollectError as exc:
        return ("error", exc.reason, exc.message, exc.retryable)
    return ("answer", r.url, r.status, r.headers, r.body, r.redirects, r.tls_not_after)


@pytest.mark.parametrize("path", list(EXPECTED))
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_canned_answers_through_libcurl(canned, path, method):
    """Every answer and every failure of a real exchange, twice on one pool (the second on a kept-alive
    connection where the first left one)."""
    url = f"http://127.0.0.1:{canned.port}{path}"
    client = HttpClient(target(url=url, max_body_size=f"{CAP}B", headers={"X-Trace": "1"}), SessionPool())
    got = [outcome(client, method) for _ in range(2)]
    assert got[0] == got[1]
    want = EXPECTED[path]
    if method == "HEAD" and path in HEAD_ANSWERS:
        want = ("answer", 200, b"", {})
    if want[0] == "error":
        kind, reason, words, retryable = want
        assert got[0][:2] == (kind, reason) and words in got[0][2] and got[0][3] == retryable, got[0]
        assert got[0][2].startswith(url + ": ")  # the message names the request
        return
    final, redirects = REDIRECTED.get(path, (path, 0))
    _, got_url, status, headers, body, got_redirects, not_after = got[0]
    assert (got_url, status, got_redirects, not_after) == (
        f"http://127.0.0.1:{canned.port}{final}",
        want[1],
        redirects,
        None,
    )
    assert body == (b"" if method == "HEAD" else want[2])
    assert {k: headers.get(k) for k in want[3]} == want[3]


def test_request_on_the_wire(canned):
    """What the exporter sends: its User-Agent, gzip/deflate accepted, the target's headers; a POST's body
    as it is (no Content-Type made up, no 100-continue); a cookie set by an answer is never sent back."""
    base = f"http://127.0.0.1:{canned.port}"
    pool = SessionPool()
    canned.heads.clear()
    HttpClient(target(url=base + "/cookie", headers={"X-Trace": "1"}), pool).request()
    HttpClient(target(url=base + "/ok"), pool).request()
    HttpClient(target(url=base + "/ok", method="POST"), pool).request("POST", data=b'{"q": 1}')
    HttpClient(target(url=base + "/ok"), pool).request(json={"q": [1, "á"]})
    heads = [h.decode("latin-1").lower() for h in canned.heads]
    assert len(heads) == 4
    first = heads[0].split("\r\n")
    assert first[0] == "get /cookie http/1.1"
    assert f"user-agent: {USER_AGENT}".lower() in first
    assert "accept-encoding: gzip, deflate" in first and "x-trace: 1" in first
    assert "cookie" not in heads[1]
    post_head, _, post_body = heads[2].partition("\r\n\r\n")
    assert post_head.startswith("post /ok ") and post_body == '{"q": 1}'
    assert "content-type" not in post_head and "expect" not in post_head and "content-length: 8" in post_head
    json_head, _, json_body = heads[3].partition("\r\n\r\n")
    assert "content-type: application/json" in json_head and json.loads(json_body) == {"q": [1, "á"]}


def test_connections_are_kept_alive_per_host(canned):
    """Polls of one host reuse one connection, whichever client (target) asks, from whichever thread."""
    server = CannedServer()
    try:
        pool = SessionPool()
        clients = [HttpClient(target(url=f"http://127.0.0.1:{server.port}/ok"), pool) for _ in range(3)]
        for _ in range(3):
            for c in clients:
                assert c.request().status == 200
        worker = threading.Thread(target=lambda: clients[0].request())
        worker.start()
        worker.join(10)
        assert len(server.heads) == 10 and server.connections == 1
        pool.close()
        assert clients[0].request().status == 200  # a closed pool starts again, on a new connection
        assert server.connections == 2
    finally:
        server.close()


def test_a_dropped_keep_alive_connection_is_replaced(canned):
    """A server that closes an idle kept-alive connection costs the next poll nothing: a new one is made."""
    server = CannedServer()
    try:
        client = HttpClient(target(url=f"http://127.0.0.1:{server.port}/http10"), SessionPool())
        assert [client.request().status for _ in range(3)] == [200, 200, 200]
        assert server.connections == 3  # HTTP/1.0 without keep-alive: closed after each answer
    finally:
        server.close()


def test_redirect_to_another_port_drops_the_credentials(canned):
    """Another port is another origin: the auth header and the secret-named plain headers stay behind."""
    other = CannedServer()
    try:
        other.answers[b"/away"] = _answer("302 Found", [f"Location: http://127.0.0.1:{canned.port}/ok"])
        canned.heads.clear()
        cfg = target(
            url=f"http://127.0.0.1:{other.port}/away",
            auth={"type": "header", "name": "X-Api-Key", "value": "key-456"},
            headers={"Cookie": "sid=secret-cookie", "Accept-Language": "vi"},
        )
        resp = HttpClient(cfg, SessionPool()).request()
        assert (resp.status, resp.redirects) == (200, 1)
        sent_here, sent_there = other.heads[-1].decode(), canned.heads[-1].decode()
        assert "key-456" in sent_here and "secret-cookie" in sent_here
        assert "key-456" not in sent_there and "secret-cookie" not in sent_there
        assert "Accept-Language: vi" in sent_there  # what is not a credential goes along
    finally:
        other.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    from exporter.simulator.tls import make_certificates

    return make_certificates(tmp_path_factory.mktemp("tls"))


def _tls_server(files: dict, mode: str = "good") -> CannedServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*files[mode])
    return CannedServer(tls=ctx)


def _not_after(cert_file: str) -> float:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    return cert.not_valid_after_utc.timestamp()


def test_tls_verified_with_the_ca_file_and_the_expiry_on_every_poll(tls_files):
    """HTTPS verified against ``tls.ca_file``: the certificate's notAfter is reported for the poll that
    made the connection and for the later ones on the same kept-alive connection."""
    server = _tls_server(tls_files)
    try:
        url = f"https://127.0.0.1:{server.port}/gzip"
        client = HttpClient(target(url=url, tls={"ca_file": tls_files["ca"][0]}), SessionPool())
        answers = [client.request() for _ in range(3)]
        assert [r.body for r in answers] == [DOC] * 3 and server.connections == 1
        assert [r.tls_not_after for r in answers] == [_not_after(tls_files["good"][0])] * 3
    finally:
        server.close()


@pytest.mark.parametrize(
    "mode,tls,reason",
    [
        ("good", {}, "tls"),  # the CA is not in the default bundle
        ("expired", "ca", "tls"),
        ("wrong_host", "ca", "tls"),
        ("self_signed", "ca", "tls"),
        ("self_signed", {"insecure_skip_verify": True}, None),
    ],
)
def test_tls_failures(tls_files, mode, tls, reason):
    server = _tls_server(tls_files, mode)
    try:
        settings = {"ca_file": tls_files["ca"][0]} if tls == "ca" else tls
        client = HttpClient(target(url=f"https://127.0.0.1:{server.port}/ok", tls=settings), SessionPool())
        if reason is None:
            resp = client.request()
            assert resp.body == DOC and resp.tls_not_after is None  # not verified: no expiry reported
            return
        err = fail(client)
        assert err.reason == reason and err.message.startswith(
            f"https://127.0.0.1:{server.port}/ok: TLS error: "
        )
        assert not err.retryable
    finally:
        server.close()


def test_the_deadline_covers_redirects():
    """Redirects share the request's one deadline: each hop gets what is left of it."""
    slow = StallingServer("slow-headers")
    hop = CannedServer()
    try:
        hop.answers[b"/to-slow"] = _answer("302 Found", [f"Location: http://127.0.0.1:{slow.port}/x"])
        client = HttpClient(target(url=f"http://127.0.0.1:{hop.port}/to-slow", timeout="1s"), SessionPool())
        t0 = time.monotonic()
        err = fail(client)
        assert err.reason == "timeout" and time.monotonic() - t0 < 1 + 2
    finally:
        slow.close()
        hop.close()


def test_many_threads_share_one_pool(canned):
    """Polls from many threads at once through one pool all get their own answer."""
    pool = SessionPool(pool_size=4)
    paths = ["/ok", "/gzip", "/chunked", "/error", "/missing"]
    results: dict[int, tuple] = {}

    def poll(i: int) -> None:
        path = paths[i % len(paths)]
        client = HttpClient(target(url=f"http://127.0.0.1:{canned.port}{path}"), pool)
        results[i] = (path, outcome(client))

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 40
    for path, got in results.values():
        want = EXPECTED[path]
        assert got[0] == "answer" and (got[2], got[4]) == (want[1], want[2]), (path, got)
    pool.close()


def test_back_to_back_requests_never_wait_for_the_loop():
    """Requests that follow each other at once (a retry 1 ms after a refused connection) are each taken
    up at once by the transport's event loop, never left waiting for it to wake on its own."""
    port = free_port_refusing()
    t0 = time.monotonic()
    for _ in range(50):
        client = HttpClient(target(url=f"http://127.0.0.1:{port}/", retries=1), SessionPool())
        assert fail(client).reason == "connect"
    assert time.monotonic() - t0 < 20  # a missed wake-up costs the loop's idle wait (30 s) each time


def test_a_header_value_with_a_line_break_is_not_sent(canned):
    """A value with CR/LF would end the header and start another (request splitting): refused unsent."""
    canned.heads.clear()
    client = HttpClient(
        target(url=f"http://127.0.0.1:{canned.port}/ok", headers={"X-A": "1\r\nX-Evil: 2"}), SessionPool()
    )
    err = fail(client)
    assert err.reason == "other" and "line break" in err.message and "X-Evil: 2" not in err.message
    assert canned.heads == []


def test_a_switched_certificate_is_seen_on_the_next_connection(tls_files):
    """The server replaces its certificate and shuts its open connections (as a renewal does): the next
    poll makes a new connection with a full handshake and reports the new certificate's expiry."""
    wrapped: list = []

    class Recording:
        def __init__(self, mode: str) -> None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(*tls_files[mode])

        def wrap_socket(self, *args, **kw):
            sock = self.ctx.wrap_socket(*args, **kw)
            wrapped.append(sock)
            return sock

    server = CannedServer(tls=Recording("good"))  # type: ignore[arg-type]
    try:
        url = f"https://127.0.0.1:{server.port}/ok"
        client = HttpClient(target(url=url, tls={"ca_file": tls_files["ca"][0]}), SessionPool())
        assert client.request().tls_not_after == _not_after(tls_files["good"][0])
        server.tls = Recording("expiring")  # type: ignore[assignment]
        for sock in wrapped:
            sock.shutdown(socket.SHUT_RDWR)
        time.sleep(0.1)
        resp = client.request()
        assert resp.tls_not_after == _not_after(tls_files["expiring"][0]) and server.connections == 2
        assert client.stats["retries"] == 0  # the closed kept-alive connection is no failure of the target
    finally:
        server.close()
