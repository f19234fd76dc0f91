"""HTTP for collectors: one total deadline per request, a body cap, counted retries, auth, WAF detection.

``requests`` prepares each request (once per target) and follows redirects; the exchange itself goes to
urllib3 directly, as requests' ``HTTPAdapter.send`` would make it (the same pool, TLS settings, headers,
timeouts and exceptions; ``responses`` in tests still intercepts everything, see :func:`_fast`), without
building a ``requests.Response``.  Two things are added beneath it:

* a **total deadline** (connect + headers + body).  urllib3's read timeout restarts on every byte, so a
  server that trickles bytes could hold a worker forever.  Every connection's socket is registered with a
  watchdog thread before the response is read; when the request's deadline passes the watchdog shuts the
  socket down, the blocked read returns, and the request fails with reason ``timeout``.
* a **body cap**: the body is streamed and the request fails (reason ``parse``) past ``max_body_size``.

Failures are raised as :class:`exporter.plugin.CollectError` with a reason from the fixed list.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import json as jsonlib
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.models import REDIRECT_STATI
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util import Timeout

from exporter import __version__
from exporter.config import TargetBase, header_secrets
from exporter.plugin import CollectError

USER_AGENT = f"egov-exporter/{__version__} (+https://github.com/egov-exporter/egov-exporter)"

#: bodies that are a web application firewall's refusal, never data (F5, FortiWeb, Cloudflare, ModSecurity)
WAF_PATTERNS = re.compile(
    rb"Request Rejected|The requested URL was rejected|Web Page Blocked|Attention Required! \| Cloudflare"
    rb"|<title>Access Denied</title>|ModSecurity|Your support ID is",
    re.I,
)

MAX_REDIRECTS = 10


# ----------------------------------------------------------------------------------- the watchdog


class _Watchdog:
    """Shuts down the sockets of requests whose total deadline has passed.

    One thread sleeps until the earliest deadline of a request still in flight.  Finished requests are not
    removed from the heap when they end (that would need the lock on every request); the thread drops them
    when it next looks, and ``begin`` wakes it only when the new deadline comes before the one it sleeps
    towards, so a steady stream of fast requests costs no thread switches."""

    #: the heap is rebuilt without finished requests when it grows past this many entries
    COMPACT_AT = 4096

    def __init__(self) -> None:
        self._local = threading.local()
        self._heap: list[tuple[float, int, dict]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the thread looks next (inf: it waits to be notified)

    def begin(self, deadline: float) -> dict:
        token = {"deadline": deadline, "socks": [], "done": False, "fired": False}
        self._local.token = token
        with self._cond:
            seq = next(self._seq)
            heap = self._heap
            if len(heap) >= self.COMPACT_AT and seq % self.COMPACT_AT == 0:
                heap[:] = [item for item in heap if not item[2]["done"]]
                heapq.heapify(heap)
            heapq.heappush(heap, (deadline, seq, token))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="egov-deadline", daemon=True)
                self._thread.start()
            if deadline < self._wake_at:
                self._wake_at = deadline
                self._cond.notify()
        return token

    def end(self, token: dict) -> None:
        token["done"] = True
        token["socks"].clear()
        self._local.token = None

    def watch(self, sock: socket.socket | None) -> None:
        token = getattr(self._local, "token", None)
        if token is not None and sock is not None:
            token["socks"].append(sock)
            if token["fired"]:
                _shutdown(sock)

    def _run(self) -> None:
        heap = self._heap
        while True:
            with self._cond:
                while True:
                    while heap and heap[0][2]["done"]:
                        heapq.heappop(heap)
                    if not heap:
                        self._wake_at = math.inf
                        self._cond.wait()
                        continue
                    deadline, _, token = heap[0]
                    now = time.monotonic()
                    if deadline > now:
                        self._wake_at = deadline
                        self._cond.wait(deadline - now)
                        continue
                    heapq.heappop(heap)
                    token["fired"] = True
                    socks = list(token["socks"])
                    break
            for sock in socks:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


WATCHDOG = _Watchdog()


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    """A connection whose socket the watchdog may shut when the request's total deadline passes."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        WATCHDOG.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        WATCHDOG.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """The adapter of every session: watched connections, and the per-request work of ``HTTPAdapter.send``
    that gives the same answer every time done once (``send`` itself is requests', so ``responses`` still
    intercepts it in tests): the pool of a URL, the checks of its TLS settings, its path."""

    #: remembered pools and paths are forgotten past this many URLs
    MEMO_SIZE = 1024

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self._pools: dict[tuple, Any] = {}
        self._verified: dict[int, tuple] = {}
        self._paths: dict[str, str] = {}

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        if proxies or cert is not None:
            return super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        key = (request.url, verify)
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:  # not seen yet, or closed when the pool manager dropped it
            pool = super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
            if len(self._pools) >= self.MEMO_SIZE:
                self._pools.clear()
            self._pools[key] = pool
        return pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        done = self._verified.get(id(conn))
        if done is not None and done[0] is conn and done[1:] == (verify, cert):
            return
        super().cert_verify(conn, url, verify, cert)
        if len(self._verified) >= self.MEMO_SIZE:
            self._verified.clear()
        self._verified[id(conn)] = (conn, verify, cert)

    def request_url(self, request: Any, proxies: Any) -> str:
        if proxies:
            return super().request_url(request, proxies)
        path = self._paths.get(request.url)
        if path is None:
            path = request.path_url
            if len(self._paths) >= self.MEMO_SIZE:
                self._paths.clear()
            self._paths[request.url] = path
        return path

    def open(
        self,
        request: requests.PreparedRequest,
        timeout: Timeout,
        verify: Any,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """What ``HTTPAdapter.send`` does up to urllib3's answer (no proxies, no client certificate), without
        building a ``requests.Response``: the same pool, TLS checks, path, headers, retries and timeouts, and
        the same exceptions (urllib3's mapped to requests' as ``send`` maps them).  The answer's body is not
        read; :func:`_stream` reads it as ``Response.iter_content`` would.  ``headers``: the request's headers
        as a plain dict (the same items in the same order), when the caller has them."""
        try:
            conn = self.get_connection_with_tls_context(request, verify)
        except LocationValueError as e:
            raise requests.exceptions.InvalidURL(e, request=request) from e
        self.cert_verify(conn, request.url, verify, None)
        url = self.request_url(request, None)
        chunked = not (request.body is None or "Content-Length" in request.headers)
        try:
            return conn.urlopen(
                method=request.method,
                url=url,
                body=request.body,
                headers=request.headers if headers is None else headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                retries=self.max_retries,
                timeout=timeout,
                chunked=chunked,
            )
        except (ProtocolError, OSError) as err:
            raise requests.exceptions.ConnectionError(err, request=request) from err
        except MaxRetryError as e:
            if isinstance(e.reason, ConnectTimeoutError) and not isinstance(e.reason, NewConnectionError):
                raise requests.exceptions.ConnectTimeout(e, request=request) from e
            if isinstance(e.reason, ResponseError):
                raise requests.exceptions.RetryError(e, request=request) from e
            if isinstance(e.reason, urllib3.exceptions.ProxyError):
                raise requests.exceptions.ProxyError(e, request=request) from e
            if isinstance(e.reason, urllib3.exceptions.SSLError):
                raise requests.exceptions.SSLError(e, request=request) from e
            raise requests.exceptions.ConnectionError(e, request=request) from e
        except ClosedPoolError as e:
            raise requests.exceptions.ConnectionError(e, request=request) from e
        except urllib3.exceptions.ProxyError as e:
            raise requests.exceptions.ProxyError(e) from e
        except (urllib3.exceptions.SSLError, urllib3.exceptions.HTTPError) as e:
            if isinstance(e, urllib3.exceptions.SSLError):
                raise requests.exceptions.SSLError(e, request=request) from e
            if isinstance(e, ReadTimeoutError):
                raise requests.exceptions.ReadTimeout(e, request=request) from e
            if isinstance(e, urllib3.exceptions.InvalidHeader):
                raise requests.exceptions.InvalidHeader(e, request=request) from e
            raise

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        """``HTTPAdapter.build_response`` without filling ``response.cookies`` (cookies are never kept)."""
        response = requests.Response()
        response.status_code = resp.status
        response.headers = requests.structures.CaseInsensitiveDict(resp.headers)
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url
        response.request = req
        response.connection = self
        return response


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


#: what carries the credentials of the request this thread is sending: header names, and whether the body
#: does (the OAuth2 token request's form holds the client secret)
_CREDENTIALS = threading.local()


class _Session(requests.Session):
    """A session whose redirects to another host or port carry no credentials.  requests drops only
    ``Authorization``; an auth header of type ``header`` (``X-Api-Key``) would follow a redirect to any
    host, and a 307/308 would re-send the token request's client secret there."""

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)
        if not self.should_strip_auth(response.request.url, prepared_request.url):
            return
        for name in getattr(_CREDENTIALS, "headers", ()):
            prepared_request.headers.pop(name, None)
        if getattr(_CREDENTIALS, "body", False) and prepared_request.body is not None:
            raise CollectError(
                "auth",
                f"{public_url(response.request.url)}: redirected to another host "
                f"({public_url(prepared_request.url)}); the credentials are not sent there",
            )


class SessionPool:
    """One ``requests.Session`` per (scheme, host, port), shared by the targets on that host, so
    connections are reused; cookies are never kept (sessions are shared between targets)."""

    def __init__(self, pool_size: int = 4) -> None:
        self._sessions: dict[tuple, requests.Session] = {}
        #: the session of each URL asked for (a poll asks for the same URL every time: no parsing, no lock)
        self._by_url: dict[str, requests.Session] = {}
        self._lock = threading.Lock()
        self.pool_size = pool_size

    def get(self, url: str) -> requests.Session:
        session = self._by_url.get(url)
        if session is not None:
            return session
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname, parts.port)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = _Session()
                session.cookies.set_policy(_NoCookies())
                session.max_redirects = MAX_REDIRECTS
                session.trust_env = False
                adapter = _WatchedAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers["User-Agent"] = USER_AGENT
                self._sessions[key] = session
            if len(self._by_url) >= 65536:
                self._by_url.clear()
            self._by_url[url] = session
            return session

    def close(self) -> None:
        with self._lock:
            for s in self._sessions.values():
                s.close()
            self._sessions.clear()
            self._by_url.clear()


# ------------------------------------------------------------------------------------ the response


@dataclasses.dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float
    #: notAfter of the server certificate (unix seconds) when the connection was TLS and verified
    tls_not_after: float | None = None
    redirects: int = 0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def text(self) -> str:
        charset = "utf-8"
        m = re.search(r"charset=([\w-]+)", self.headers.get("content-type", ""), re.I)
        if m:
            charset = m.group(1)
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return jsonlib.loads(self.body)
        except ValueError as exc:
            raise CollectError("parse", f"{self.url}: body is not valid JSON ({exc})") from None


@functools.lru_cache(maxsize=8192)
def public_url(url: str) -> str:
    """The URL without credentials, query or fragment (which may carry tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _cert_not_after(raw: Any) -> float | None:
    conn = getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if isinstance(sock, ssl.SSLSocket):
        try:
            cert = sock.getpeercert()
        except (ValueError, OSError, AttributeError):  # AttributeError: the connection was closed meanwhile
            return None
        if cert and cert.get("notAfter"):
            return float(ssl.cert_time_to_seconds(cert["notAfter"]))
    return None


# ------------------------------------------------------------------------------------- the client


class _OAuth2Token:
    """Client-credentials token, cached until shortly before it expires, shared by the targets that
    use the same token endpoint and client."""

    _cache: dict[tuple, tuple[str, float]] = {}
    _lock = threading.Lock()

    @classmethod
    def get(cls, client: HttpClient, force: bool = False) -> str:
        auth = client.target.auth
        assert auth is not None and auth.token_url and auth.client_secret is not None
        # the secret is part of the key: a target with other (or wrong) credentials never borrows a token
        key = (
            auth.token_url,
            auth.client_id,
            auth.client_secret,
            tuple(auth.scopes),
            tuple(sorted(auth.params.items())),
        )
        now = client.clock()
        with cls._lock:
            cached = cls._cache.get(key)
            if cached and not force and cached[1] > now:
                return cached[0]
        form = {
            "grant_type": "client_credentials",
            "client_id": auth.client_id,
            "client_secret": auth.client_secret.reveal(),
            **auth.params,
        }
        if auth.scopes:
            form["scope"] = " ".join(auth.scopes)
        resp = client.send("POST", auth.token_url, data=form, authenticate=False, what="token request")
        # a firewall page, 429 or 5xx of the token endpoint is that failure, not a credentials problem
        resp = client._check(resp, ok_statuses={400, 401, 403} | set(range(200, 300)))
        if resp.status in (400, 401, 403):
            raise CollectError("auth", f"token endpoint refused the client credentials (HTTP {resp.status})")
        if resp.status >= 300:
            raise CollectError("auth", f"token endpoint answered HTTP {resp.status}")
        try:
            payload = jsonlib.loads(resp.body)
            token = payload["access_token"]
            lifetime = float(payload.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise CollectError("auth", "token endpoint answer has no access_token") from None
        with cls._lock:
            cls._cache[key] = (token, now + max(0.0, lifetime - min(30.0, lifetime / 10)))
        client.stats["token_requests"] += 1
        return token

    @classmethod
    def clear(cls) -> None:
        with cls._lock:
            cls._cache.clear()


class HttpClient:
    """The HTTP client of one target: its settings, auth and counters."""

    def __init__(
        self, target: TargetBase, sessions: SessionPool | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.target = target
        self.sessions = sessions or SessionPool()
        self.clock = clock
        self.stats = {"retries": 0, "requests": 0, "token_requests": 0}
        #: the credentials the last request carried (an auth header's value; of ``Authorization``, the part
        #: after "Basic " / "Bearer "): an upstream that echoes them must not have them shown (``redact``)
        self.sent_credentials: tuple[str, ...] = ()
        #: credentials in the plain ``headers:`` (Authorization, Cookie, X-API-Key, ... by name)
        self._secret_headers = header_secrets(target.headers)
        #: prepared requests by (method, url, headers, body): a poll repeats the same request, so it is
        #: prepared once (requests' preparation and settings merge cost more than the exchange itself)
        #: (with its headers as a plain dict, which urllib3 copies for every request faster than requests'
        #: case-insensitive one, giving the same header lines)
        self._prepared: dict[tuple, tuple[requests.PreparedRequest, dict[str, str]]] = {}
        self._timeouts: Timeout | None = None

    def _prepare(
        self, session: requests.Session, method: str, url: str, headers: dict[str, str], json: Any, data: Any
    ) -> tuple[requests.PreparedRequest, dict[str, str]]:
        if json is not None or not (data is None or isinstance(data, (bytes, str))):
            prep = session.prepare_request(
                requests.Request(method, url, headers=headers, json=json, data=data)
            )
            return prep, dict(prep.headers)
        key = (method, url, tuple(headers.items()), data)
        found = self._prepared.get(key)
        if found is None:
            prep = session.prepare_request(requests.Request(method, url, headers=headers, data=data))
            if len(self._prepared) >= 16:  # e.g. a rotating token in the headers
                self._prepared.clear()
            found = self._prepared[key] = (prep, dict(prep.headers))
        return found

    def _timeout(self) -> Timeout:
        """The urllib3 timeouts of every request (connect and each read: the target's timeout); the total
        deadline is the watchdog's."""
        t = self._timeouts
        if t is None or t.connect_timeout != self.target.timeout:
            t = self._timeouts = Timeout(connect=self.target.timeout, read=self.target.timeout)
        return t

    def _auth_headers(self, force_token: bool = False) -> dict[str, str]:
        auth = self.target.auth
        if auth is None:
            return {}
        if auth.type == "basic":
            import base64

            raw = f"{auth.username}:{auth.password.reveal()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if auth.type == "bearer":
            return {"Authorization": "Bearer " + auth.token.reveal()}
        if auth.type == "header":
            return {auth.name: auth.value.reveal()}
        return {"Authorization": "Bearer " + _OAuth2Token.get(self, force=force_token)}

    def redact(self, text: str) -> str:
        """``text`` without the credentials this client sent (an upstream may echo its request headers)."""
        for secret in sorted(self.sent_credentials, key=len, reverse=True):
            if len(secret) >= 3 and secret in text:
                text = text.replace(secret, "<redacted>")
        return text

    def request(
        self,
        method: str = "GET",
        url: str | None = None,
        *,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        ok_statuses: Any = None,
        what: str = "",
    ) -> Response:
        """Send with retries; raise CollectError for transport failures, WAF pages and, unless
        ``ok_statuses`` admits it, HTTP errors.  Retries (connect errors, timeouts, 5xx other than 503
        with Retry-After) are counted in ``stats['retries']``."""
        url = url or self.target.url
        attempt = 0
        refreshed = False
        while True:
            try:
                resp = self.send(
                    method, url, json=json, data=data, headers=headers, what=what, force_token=refreshed
                )
                if (
                    resp.status == 401
                    and self.target.auth is not None
                    and self.target.auth.type == "oauth2"
                    and not refreshed
                ):
                    refreshed = True  # the cached token may have been revoked: fetch a new one once
                    continue
                return self._check(resp, ok_statuses)
            except CollectError as exc:
                if not exc.retryable or attempt >= self.target.retries:
                    raise
            attempt += 1
            self.stats["retries"] += 1
            time.sleep(min(self.target.retry_backoff * (2 ** (attempt - 1)), self.target.timeout))

    def _check(self, resp: Response, ok_statuses: Any) -> Response:
        now = self.clock()
        status = resp.status
        if WAF_PATTERNS.search(resp.body[:65536]) and "html" in resp.content_type or status == 429:
            raise CollectError(
                "blocked",
                f"{resp.url}: refused by the upstream firewall or rate limit (HTTP {status})",
                retry_after=_retry_after(resp.headers.get("retry-after"), now),
            )
        if ok_statuses is not None and status in ok_statuses:
            return resp
        if status in (401, 407):
            raise CollectError("auth", f"{resp.url}: HTTP {status}, credentials refused")
        if status == 403:
            reason = "auth" if self.target.auth is not None else "blocked"
            raise CollectError(reason, f"{resp.url}: HTTP 403 Forbidden")
        if status >= 300 or ok_statuses is not None:  # ok_statuses, when given, is the whole list
            retry_after = _retry_after(resp.headers.get("retry-after"), now) if status == 503 else None
            raise CollectError(
                "http_status",
                f"{resp.url}: HTTP {status}",
                retry_after=retry_after,
                retryable=status >= 500 and retry_after is None,
            )
        return resp

    def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        authenticate: bool = True,
        what: str = "",
        force_token: bool = False,
    ) -> Response:
        """One attempt within the total deadline ``target.timeout``; no status checks."""
        target = self.target
        hdrs = dict(target.headers)
        auth_headers = self._auth_headers(force_token) if authenticate else {}
        secret_headers = self._secret_headers
        if authenticate:
            hdrs.update(auth_headers)
            self.sent_credentials = tuple(
                v.partition(" ")[2] if k.lower() == "authorization" and " " in v else v
                for k, v in auth_headers.items()
            ) + tuple(v for vs in secret_headers.values() for v in vs)
        # a redirect to another host drops these (see _Session); an unauthenticated request with a body is
        # the token request, whose form is the credentials
        _CREDENTIALS.headers = tuple(auth_headers) + tuple(secret_headers)
        _CREDENTIALS.body = not authenticate and data is not None
        if headers:
            hdrs.update(headers)
        verify: Any = not target.tls.insecure_skip_verify
        if verify and target.tls.ca_file:
            verify = target.tls.ca_file
        start = time.monotonic()
        deadline = start + target.timeout
        token = WATCHDOG.begin(deadline)
        session = self.sessions.get(url)
        self.stats["requests"] += 1
        label = what or url
        resp = None
        raw = None  # urllib3's answer (of the first request, until the redirects are followed)
        answered = consumed = False
        try:
            prep, plain_headers = self._prepare(session, method, url, hdrs, json, data)
            adapter = session.get_adapter(prep.url)
            if _fast(adapter):
                # the usual case: urllib3 directly, as HTTPAdapter.send would call it; a redirect is handed to
                # requests (Session.resolve_redirects) with the requests.Response that send would have built
                raw = adapter.open(prep, self._timeout(), verify, plain_headers)
                if raw.status in REDIRECT_STATI and "location" in raw.headers:
                    prep = prep.copy()
                    resp = _follow(
                        session,
                        adapter.build_response(prep, raw),
                        prep,
                        stream=True,
                        timeout=(target.timeout, target.timeout),
                        verify=verify,
                        cert=None,
                        proxies={},
                    )
            else:  # HTTPAdapter.send is replaced (``responses`` in tests): through requests entirely
                resp = _send_prepared(
                    session,
                    prep.copy(),
                    stream=True,
                    timeout=(target.timeout, target.timeout),
                    verify=verify,
                    cert=None,
                    proxies={},
                )
            answered = True
            if resp is not None:
                raw, final_url, status, redirects = resp.raw, resp.url, resp.status_code, len(resp.history)
                headers = {k.lower(): v for k, v in resp.headers.items()}
                body = resp.iter_content(65536)
            else:
                final_url, status, redirects = prep.url, raw.status, 0
                h = (
                    raw.headers
                )  # values of a repeated header joined, as requests' CaseInsensitiveDict has them
                headers = {k.lower(): h[k] for k in h}
                body = _stream(raw, 65536)
            not_after = _cert_not_after(raw)
            announced = headers.get("content-length", "")
            if method != "HEAD" and announced.isdigit() and int(announced) > target.max_body_size:
                # refused before a byte of it is read (a body without a length is capped while streaming)
                raise CollectError(
                    "parse",
                    f"{label}: body of {announced} bytes announced, larger than "
                    f"max_body_size ({target.max_body_size} bytes)",
                )
            chunks = []
            size = 0
            for chunk in body:
                size += len(chunk)
                if size > target.max_body_size:
                    raise CollectError(
                        "parse", f"{label}: body larger than max_body_size ({target.max_body_size} bytes)"
                    )
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise CollectError(
                        "timeout", f"{label}: no complete answer within {target.timeout:g}s", retryable=True
                    )
            consumed = True
            elapsed = time.monotonic() - start
            return Response(
                url=final_url,
                status=status,
                headers=headers,
                body=b"".join(chunks),
                elapsed=elapsed,
                tls_not_after=not_after,
                redirects=redirects,
            )
        except CollectError:
            raise
        except requests.exceptions.TooManyRedirects:
            raise CollectError(
                "http_status", f"{label}: more than {MAX_REDIRECTS} redirects (loop?)"
            ) from None
        except requests.exceptions.SSLError as exc:
            raise CollectError("tls", f"{label}: TLS error: {_short(exc)}") from None
        except (
            requests.exceptions.Timeout,
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError,
            OSError,
        ) as exc:
            if token["fired"] or time.monotonic() >= deadline or isinstance(exc, requests.exceptions.Timeout):
                raise CollectError(
                    "timeout", f"{label}: no complete answer within {target.timeout:g}s", retryable=True
                ) from None
            if isinstance(exc, requests.exceptions.ConnectionError) and not answered:
                raise CollectError(
                    "connect", f"{label}: cannot connect: {_short(exc)}", retryable=True
                ) from None
            # the connection broke after the answer began (e.g. a body shorter than its Content-Length)
            raise CollectError(
                "connect", f"{label}: connection broken mid-answer: {_short(exc)}", retryable=True
            ) from None
        except requests.exceptions.RequestException as exc:
            raise CollectError("other", f"{label}: {_short(exc)}") from None
        finally:
            WATCHDOG.end(token)
            if resp is not None:
                resp.close()
            elif raw is not None:  # what requests.Response.close does
                if not consumed:
                    raw.close()
                raw.release_conn()


#: ``HTTPAdapter.send`` as requests defines it; ``responses`` (tests) replaces it to intercept requests
_ADAPTER_SEND = HTTPAdapter.send


def _fast(adapter: Any) -> bool:
    """Whether a request can go to urllib3 directly (:meth:`_WatchedAdapter.open`): our adapter, and
    ``HTTPAdapter.send`` not replaced."""
    return type(adapter) is _WatchedAdapter and _WatchedAdapter.send is _ADAPTER_SEND


def _stream(raw: Any, size: int) -> Any:
    """The body of urllib3's answer ``raw`` in chunks, decoded, with the errors ``Response.iter_content``
    raises."""
    try:
        yield from raw.stream(size, decode_content=True)
    except ProtocolError as e:
        raise requests.exceptions.ChunkedEncodingError(e) from e
    except DecodeError as e:
        raise requests.exceptions.ContentDecodingError(e) from e
    except ReadTimeoutError as e:
        raise requests.exceptions.ConnectionError(e) from e
    except urllib3.exceptions.SSLError as e:
        raise requests.exceptions.SSLError(e) from e


def _follow(
    session: requests.Session, resp: requests.Response, prep: requests.PreparedRequest, **kwargs: Any
) -> requests.Response:
    """The redirects from ``resp`` on, as :func:`_send_prepared` follows them."""
    history = [resp, *session.resolve_redirects(resp, prep, **kwargs)]
    resp = history.pop()
    resp.history = history
    return resp


def _send_prepared(
    session: requests.Session, prep: requests.PreparedRequest, **kwargs: Any
) -> requests.Response:
    """What ``Session.send`` does for us, without what we never use (hooks, kept cookies, proxies from the
    environment): the adapter sends the request (so ``responses`` still intercepts it in tests) and redirects
    are followed by ``Session.resolve_redirects`` (method changes, auth stripping, ``max_redirects``)."""
    resp = session.get_adapter(prep.url).send(prep, **kwargs)
    return _follow(session, resp, prep, **kwargs) if resp.is_redirect else resp


def _short(exc: BaseException) -> str:
    """The innermost, most telling part of a requests/urllib3 error, on one line."""
    text = str(exc)
    for pattern in (
        r"\[Errno -?\d+\] ([^'\")]+)",
        r"(certificate verify failed[^'\")]*)",
        r"(hostname [^'\")]* doesn't match[^'\")]*)",
        r"(Connection refused)",
        r"(Name or service not known|nodename nor servname provided|Temporary failure in name resolution)",
        r"(Failed to resolve[^(]*)",
    ):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip().rstrip(":").strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
