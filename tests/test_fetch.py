"""HttpClient: auth, OAuth2 token caching, counted retries, Retry-After, WAF pages, body cap, redirect loops,
transport failures, and the total deadline against real loopback servers that trickle, stall or hang."""

from __future__ import annotations

import base64
import email.utils
import socket
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
from responses import matchers

from collectors.http import HttpConfig
from exporter.fetch import USER_AGENT, HttpClient, SessionPool, _OAuth2Token, public_url
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
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
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
    resp = HttpClient(target(auth=auth)).request()
    assert resp.status == 200 and resp.json() == {"ok": 1}


def test_configured_headers_sent(rsps):
    rsps.get(URL, body="ok", match=[matchers.header_matcher({"Accept-Language": "vi"})])
    assert HttpClient(target(headers={"Accept-Language": "vi"})).request().body == b"ok"


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
    client = HttpClient(oauth2_target(), clock=clock)
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
    client = HttpClient(oauth2_target(), clock=clock)
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
    client = HttpClient(oauth2_target(), clock=FakeClock())
    assert client.request().json() == {"ok": 1}
    assert ok.call_count == 1 and client.stats["token_requests"] == 2 and client.stats["retries"] == 0


def test_oauth2_persistent_401_is_auth_without_loop(rsps):
    token = rsps.post(TOKEN_URL, body=body("token.json"), content_type="application/json")
    data = rsps.get(URL, status=401)
    err = fail(HttpClient(oauth2_target(retries=2), clock=FakeClock()))
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
    err = fail(HttpClient(oauth2_target(), clock=FakeClock()))
    assert err.reason == reason and token.call_count == 1
    assert "client-secret-77" not in err.message


# ------------------------------------------------------------------------------- retries and status


def test_5xx_retried_and_counted(rsps):
    rsps.get(URL, status=502)
    rsps.get(URL, status=500)
    ok = rsps.get(URL, json={"ok": 1})
    client = HttpClient(target(retries=2))
    assert client.request().status == 200
    assert client.stats["retries"] == 2 and client.stats["requests"] == 3 and ok.call_count == 1


def test_5xx_retries_exhausted(rsps):
    call = rsps.get(URL, status=500)
    client = HttpClient(target(retries=2))
    err = fail(client)
    assert err.reason == "http_status" and "HTTP 500" in err.message
    assert call.call_count == 3 and client.stats["retries"] == 2


def test_connect_error_retried_and_counted(rsps):
    import requests

    call = rsps.get(URL, body=requests.exceptions.ConnectionError("Connection refused"))
    client = HttpClient(target(retries=1))
    assert fail(client).reason == "connect"
    assert call.call_count == 2 and client.stats["retries"] == 1


@pytest.mark.parametrize("status", [400, 404, 410])
def test_4xx_not_retried(rsps, status):
    call = rsps.get(URL, status=status)
    client = HttpClient(target(retries=3))
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
    assert fail(HttpClient(target(auth=auth))).reason == reason


def test_429_blocked_with_retry_after_seconds(rsps):
    call = rsps.get(URL, status=429, headers={"Retry-After": "120"})
    client = HttpClient(target(retries=2))
    err = fail(client)
    assert (err.reason, err.retry_after) == ("blocked", 120.0)
    assert call.call_count == 1 and client.stats["retries"] == 0


def test_429_blocked_with_retry_after_http_date(rsps):
    clock = FakeClock()
    rsps.get(URL, status=429, headers={"Retry-After": email.utils.formatdate(T0 + 90, usegmt=True)})
    err = fail(HttpClient(target(), clock=clock))
    assert err.reason == "blocked" and err.retry_after == pytest.approx(90.0)


def test_429_with_garbage_retry_after(rsps):
    rsps.get(URL, status=429, headers={"Retry-After": "soon"})
    err = fail(HttpClient(target()))
    assert err.reason == "blocked" and err.retry_after is None


def test_503_with_retry_after_not_retried(rsps):
    call = rsps.get(URL, status=503, headers={"Retry-After": "30"})
    client = HttpClient(target(retries=3))
    err = fail(client)
    assert (err.reason, err.retry_after) == ("http_status", 30.0)
    assert call.call_count == 1 and client.stats["retries"] == 0


def test_503_without_retry_after_is_retried(rsps):
    call = rsps.get(URL, status=503)
    client = HttpClient(target(retries=1))
    err = fail(client)
    assert err.reason == "http_status" and err.retry_after is None
    assert call.call_count == 2 and client.stats["retries"] == 1


# ------------------------------------------------------------------------------------ bad answers


@pytest.mark.parametrize("status", [200, 403])
def test_waf_page_is_blocked_whatever_the_status(rsps, status):
    rsps.get(URL, body=body("waf-request-rejected.html"), status=status, content_type="text/html")
    err = fail(HttpClient(target(retries=2)))
    assert err.reason == "blocked"
    assert len(rsps.calls) == 1


def test_waf_words_inside_json_data_are_data(rsps):
    rsps.get(URL, json={"note": "Request Rejected by the clerk", "count": 3})
    assert HttpClient(target()).request().json()["count"] == 3


def test_body_over_max_body_size_is_parse(rsps):
    rsps.get(URL, body=b"x" * 5000)
    err = fail(HttpClient(target(max_body_size="1KB")))
    assert err.reason == "parse" and "max_body_size" in err.message


def test_body_at_max_body_size_is_fine(rsps):
    rsps.get(URL, body=b"x" * 1000)
    assert len(HttpClient(target(max_body_size="1KB")).request().body) == 1000


def test_redirect_loop_is_http_status(rsps):
    loop = "https://lgsp.example.vn/loop"
    rsps.get(URL, status=302, headers={"Location": loop})
    rsps.get(loop, status=302, headers={"Location": URL})
    err = fail(HttpClient(target(retries=2)))
    assert err.reason == "http_status" and "redirects" in err.message


def test_redirect_followed_and_counted(rsps):
    final = "https://lgsp.example.vn/api/v2/stats"
    rsps.get(URL, status=301, headers={"Location": final})
    rsps.get(final, json={"v": 2})
    resp = HttpClient(target()).request()
    assert (resp.url, resp.redirects, resp.json()) == (final, 1, {"v": 2})


def test_unfollowed_redirect_is_http_status_by_default(rsps):
    rsps.get(URL, status=304)
    assert fail(HttpClient(target())).reason == "http_status"


def test_ok_statuses_admit_a_status(rsps):
    rsps.get(URL, status=404, body="not here")
    assert HttpClient(target()).request(ok_statuses={404}).status == 404


def test_invalid_json_is_parse(rsps):
    rsps.get(URL, body=body("malformed.json"), content_type="application/json")
    resp = HttpClient(target()).request()
    with pytest.raises(CollectError) as info:
        resp.json()
    assert info.value.reason == "parse"


def test_response_text_charset_and_headers(rsps):
    rsps.get(URL, body="Cổng dịch vụ công".encode("utf-16"), content_type="text/plain; charset=utf-16")
    resp = HttpClient(target()).request()
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


# ------------------------------------------- real loopback: urllib3 directly, as requests would answer


def _canned(port: int) -> dict[bytes, bytes]:
    """Raw answers by path: what a poll usually gets, and what the email header parser and requests'
    adapter handle in their own ways."""
    import gzip
    import json

    doc = json.dumps({"received": 12, "units": [{"code": "U1", "value": 3}]}).encode()
    zipped = gzip.compress(doc)
    big = b"x" * 3000

    def answer(status: str, headers: list[str], body: bytes = b"", length: bool = True) -> bytes:
        lines = [f"HTTP/1.1 {status}", *headers] + ([f"Content-Length: {len(body)}"] if length else [])
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (doc[:7], doc[7:])) + b"0\r\n\r\n"
    return {
        b"/ok": answer("200 OK", ["Content-Type: application/json", "X-Rep: a", "x-rep:  b\t"], doc),
        b"/gzip": answer("200 OK", ["Content-Type: application/json", "Content-Encoding: gzip"], zipped),
        b"/chunked": answer(
            "200 OK", ["Content-Type: application/json", "Transfer-Encoding: chunked"], chunks, length=False
        ),
        b"/redirect": answer("302 Found", ["Location: /ok"]),
        b"/redirect-abs": answer("301 Moved", [f"Location: http://127.0.0.1:{port}/gzip"]),
        b"/loop": answer("302 Found", ["Location: /loop"]),
        b"/big": answer("200 OK", ["Content-Type: text/plain"], big),
        b"/big-unannounced": answer(
            "200 OK", ["Content-Type: text/plain", "Connection: close"], big, length=False
        ),
        b"/short": answer(
            "200 OK", ["Content-Type: application/json", "Content-Length: 500"], doc[:10], length=False
        ),
        b"/folded": answer("200 OK", ["Content-Type: application/json", "X-Fold: a", " b"], doc),
        b"/latin1": answer("200 OK", ["Content-Type: application/json", "X-Name: caf\xe9"], doc),
        b"/no-colon": answer(
            "200 OK",
            ["Content-Type: application/json", f"Content-Length: {len(doc)}", "Not a header"],
            doc,
            length=False,
        ),
        b"/multipart": answer("200 OK", ["Content-Type: multipart/mixed; boundary=zz"], b"--zz--\r\n"),
        b"/empty": answer("204 No Content", ["X-A: 1"], length=False),
        b"/error": answer("503 Service Unavailable", ["Retry-After: 7", "Content-Type: text/plain"], b"busy"),
        b"/http10": b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + doc,
        b"/garbage": b"NOT HTTP AT ALL\r\n\r\n",
    }


class CannedServer(LoopbackServer):
    """A loopback HTTP/1.1 server answering each path with fixed bytes (keep-alive unless the answer ends
    the connection), keeping the request heads."""

    def __init__(self) -> None:
        super().__init__(backlog=16)
        self.answers = _canned(self.port)
        self.heads: list[bytes] = []  # every request's head, as received
        self.thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        buf = b""
        try:
            while not self.stop.is_set():
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(
                    next(
                        (
                            line.split(b":")[1]
                            for line in head.split(b"\r\n")[1:]
                            if line.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
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
                    or (method != b"HEAD" and path in (b"/short", b"/garbage"))
                ):
                    return  # (a HEAD of /short is answered in full: it stays open)
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
        return ("error", exc.reason, exc.message, exc.retryable, exc.retry_after)
    return ("answer", r.url, r.status, r.headers, r.body, r.redirects, r.tls_not_after, r.text())


@pytest.mark.parametrize("path", [p.decode() for p in _canned(0)] + ["/missing"])
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_urllib3_directly_answers_as_requests_does(canned, monkeypatch, path, method):
    """A poll goes to urllib3 directly (the adapter's ``open``); every answer and every failure is what
    requests' own ``Session.send``/``HTTPAdapter.send``/``iter_content`` give, twice on one keep-alive pool."""
    from exporter import fetch

    url = f"http://127.0.0.1:{canned.port}{path}"
    opened = []
    real_open = fetch._WatchedAdapter.open
    monkeypatch.setattr(
        fetch._WatchedAdapter, "open", lambda self, *a: opened.append(1) or real_open(self, *a)
    )
    kw = {"url": url, "max_body_size": "2KiB", "headers": {"X-Trace": "1"}}
    canned.heads.clear()
    client = HttpClient(target(**kw), SessionPool())
    fast = [outcome(client, method) for _ in range(2)]
    fast_heads = list(canned.heads)
    assert len(opened) == 2  # no responses mock here: the direct path was taken
    monkeypatch.setattr(fetch, "_fast", lambda adapter: False)
    canned.heads.clear()
    client = HttpClient(target(**kw), SessionPool())
    slow = [outcome(client, method) for _ in range(2)]
    assert fast == slow
    assert fast_heads == canned.heads  # the same requests on the wire, redirects' too
    if path == "/ok" and method == "GET":
        assert fast[0][3]["x-rep"] == "a, b\t" and fast[0][4].startswith(b'{"received"')
    if path == "/redirect-abs" and method == "GET":
        assert fast[0][1].endswith("/gzip") and fast[0][5] == 1 and b"received" in fast[0][4]
