"""HTTP for collectors: one total deadline per request, a body cap, counted retries, auth, WAF detection.

Two layers:

* :class:`HttpClient`, one per target: builds the request (headers, auth, OAuth2 token, body), follows
  redirects itself (at most :data:`MAX_REDIRECTS`; credentials never go to another host or port), retries,
  maps statuses and firewall pages to failure reasons.  It hands each hop -- one request, no redirect
  followed -- to a transport as a :class:`Hop` and gets an :class:`Answer` or a :class:`TransportError`.
* :class:`SessionPool`, the transport every target of an exporter shares: libcurl (pycurl) driven by one
  event-loop thread through a multi handle, so every transfer shares one connection cache (keep-alive
  connections per host), one DNS cache and one parsed CA store, whatever thread asks.  Per hop, libcurl
  keeps the **total deadline** (``TIMEOUT_MS``: connect + headers + body, however slowly a server trickles),
  the connect timeout, TLS verification, gzip/deflate decoding, and refuses an announced ``Content-Length``
  over ``max_body_size`` before reading the body (``MAXFILESIZE``); the body is counted as it arrives
  (decoded) and the transfer stopped past the cap.  No cookies are kept (libcurl's cookie engine is never
  switched on).

Tests hand :class:`HttpClient` another transport (any object with :meth:`SessionPool.exchange`, e.g.
``tests/httpstub.py``); everything that is a property of the transport is tested against loopback servers.

Failures are raised as :class:`exporter.plugin.CollectError` with a reason from the fixed list.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import functools
import json as jsonlib
import os
import re
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit, urlunsplit

import certifi
import pycurl

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
#: statuses whose Location is followed (304 is not a redirect to follow)
REDIRECT_STATI = frozenset((301, 302, 303, 307, 308))


# ------------------------------------------------------------------------------- the transport's terms


@dataclasses.dataclass(slots=True)
class Hop:
    """One request for the transport: no redirect followed, no retry."""

    method: str
    url: str
    #: the request's headers, in order (the transport adds Host, Accept, Accept-Encoding, Content-Length)
    headers: dict[str, str]
    body: bytes | None
    #: time.monotonic() by which the whole answer must be in (the request's total deadline)
    deadline: float
    connect_timeout: float
    #: the largest body accepted, decoded (an announced larger Content-Length is refused unread)
    max_body_size: int
    verify: bool = True
    #: the CA bundle to verify against (None: certifi's, as requests and urllib3 use)
    ca_file: str | None = None


@dataclasses.dataclass(slots=True)
class Answer:
    """The transport's answer to one :class:`Hop`."""

    status: int
    #: lower-case names; the values of a repeated header joined with ", "
    headers: dict[str, str]
    body: bytes
    #: notAfter of the server certificate (unix seconds) when the connection was TLS and verified
    tls_not_after: float | None = None


class TransportError(Exception):
    """A hop failed below HTTP.  ``reason``: ``timeout`` (the deadline passed), ``connect`` (no connection,
    or it broke), ``tls``, ``parse`` (the body cap, an undecodable body) or ``other``; ``detail``: a short
    message (none for ``timeout``: :class:`HttpClient` says which deadline)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# -------------------------------------------------------------------------------- the curl transport

_TLS_ERRORS = frozenset(
    getattr(pycurl, name)
    for name in (
        "E_SSL_CONNECT_ERROR",
        "E_PEER_FAILED_VERIFICATION",
        "E_SSL_CERTPROBLEM",
        "E_SSL_CIPHER",
        "E_SSL_CACERT_BADFILE",
        "E_SSL_ISSUER_ERROR",
        "E_SSL_INVALIDCERTSTATUS",
        "E_SSL_PINNEDPUBKEYNOTMATCH",
        "E_SSL_CRL_BADFILE",
        "E_SSL_SHUTDOWN_FAILED",
        "E_USE_SSL_FAILED",
    )
    if hasattr(pycurl, name)
)
#: the connection could not be made
_CONNECT_ERRORS = frozenset((pycurl.E_COULDNT_CONNECT, pycurl.E_COULDNT_RESOLVE_HOST))
#: the connection broke
_BROKEN_ERRORS = frozenset(
    (pycurl.E_PARTIAL_FILE, pycurl.E_GOT_NOTHING, pycurl.E_RECV_ERROR, pycurl.E_SEND_ERROR)
)
#: what came back is not HTTP (8 is libcurl's CURLE_WEIRD_SERVER_REPLY; HTTP/0.9 is refused as
#: CURLE_UNSUPPORTED_PROTOCOL)
_NOT_HTTP_ERRORS = frozenset((8, pycurl.E_UNSUPPORTED_PROTOCOL))
_MS = re.compile(r" after \d+ ms")


class _Transfer:
    """One easy handle and what its current transfer has received.  Used by one thread at a time: the
    caller sets it up, the loop thread runs it (the callbacks fill ``head`` and ``chunks``), the caller
    reads it after ``done`` is released."""

    __slots__ = ("curl", "head", "chunks", "size", "cap", "over", "done", "error", "method")

    def __init__(self) -> None:
        c = self.curl = pycurl.Curl()
        self.head: list[bytes] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.cap = 0
        self.over = False
        self.method = "GET"
        self.error: tuple[int, str] | None = None
        self.done = threading.Lock()
        self.done.acquire()
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        c.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        c.setopt(pycurl.ACCEPT_ENCODING, "gzip, deflate")
        c.setopt(pycurl.OPT_CERTINFO, 1)
        # every new connection a full handshake: a resumed TLS session carries no certificate, so neither
        # its expiry nor a switched certificate would be seen (kept-alive connections make this rare)
        c.setopt(pycurl.SSL_SESSIONID_CACHE, 0)
        c.setopt(pycurl.HEADERFUNCTION, self.head.append)
        c.setopt(pycurl.WRITEFUNCTION, self._write)

    def _write(self, chunk: bytes) -> int | None:
        self.size += len(chunk)
        if self.size > self.cap:
            self.over = True
            return 0  # libcurl stops the transfer (CURLE_WRITE_ERROR)
        self.chunks.append(chunk)
        return None

    def setup(self, hop: Hop) -> None:
        c = self.curl
        self.head.clear()
        self.chunks.clear()
        self.size = 0
        self.cap = hop.max_body_size
        self.over = False
        self.error = None
        c.setopt(pycurl.URL, hop.url)
        lines = [f"{k}: {v}" for k, v in hop.headers.items()]
        for line in lines:
            if "\n" in line or "\r" in line:  # it would end the header and start another
                raise TransportError(
                    "other", f"header {line.partition(':')[0]}: the value holds a line break"
                )
        lines.append("Expect:")  # no 100-continue round trip before a body
        method = hop.method
        if method == "HEAD":
            c.setopt(pycurl.NOBODY, 1)
        elif hop.body is not None or method == "POST":
            c.setopt(pycurl.NOBODY, 0)
            c.setopt(pycurl.POSTFIELDSIZE, len(hop.body or b""))
            c.setopt(pycurl.COPYPOSTFIELDS, hop.body or b"")
            if not any(k.lower() == "content-type" for k in hop.headers):
                lines.append("Content-Type:")  # libcurl would call the body a form; it is sent as is
        else:
            c.setopt(pycurl.HTTPGET, 1)
        if method not in ("GET", "HEAD", "POST"):
            c.setopt(pycurl.CUSTOMREQUEST, method)
        elif self.method not in ("GET", "HEAD", "POST"):
            c.unsetopt(pycurl.CUSTOMREQUEST)
        self.method = method
        c.setopt(pycurl.HTTPHEADER, lines)
        c.setopt(pycurl.TIMEOUT_MS, max(1, int((hop.deadline - time.monotonic()) * 1000)))
        c.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(hop.connect_timeout * 1000)))
        # an announced Content-Length over the cap is refused before the body is read (not for a HEAD's)
        c.setopt(pycurl.MAXFILESIZE_LARGE, 0 if method == "HEAD" else hop.max_body_size)
        if hop.verify:
            c.setopt(pycurl.SSL_VERIFYPEER, 1)
            c.setopt(pycurl.SSL_VERIFYHOST, 2)
            c.setopt(pycurl.CAINFO, hop.ca_file or certifi.where())
        else:
            c.setopt(pycurl.SSL_VERIFYPEER, 0)
            c.setopt(pycurl.SSL_VERIFYHOST, 0)

    def answer(self, hop: Hop, not_after: dict[int, float | None]) -> Answer:
        """What the finished transfer got (raises TransportError for a failure)."""
        c = self.curl
        body = b"".join(self.chunks)
        self.chunks.clear()
        head = _parse_head(self.head)
        if self.error is not None:
            raise _transport_error(self, hop, head)
        status = c.getinfo(pycurl.RESPONSE_CODE)
        expiry = None
        if hop.verify and hop.url.startswith("https:"):
            # libcurl reports the certificate of a new connection only: remembered by connection
            conn = c.getinfo(pycurl.CONN_ID)
            if c.getinfo(pycurl.NUM_CONNECTS):
                if len(not_after) >= 4096:
                    not_after.clear()
                not_after[conn] = expiry = _leaf_not_after(c.getinfo(pycurl.INFO_CERTINFO))
            else:
                expiry = not_after.get(conn)
        return Answer(status, head, body, expiry)

    def close(self) -> None:
        self.curl.close()


def _parse_head(lines: list[bytes]) -> dict[str, str]:
    """The headers of the last response head in ``lines`` (an interim 1xx head comes before it), names in
    lower case, values of a repeated name joined with ", ", folded lines unfolded."""
    start = 0
    for i, line in enumerate(lines):
        if line.startswith(b"HTTP/"):
            start = i + 1
    out: dict[str, str] = {}
    last = None
    for raw in lines[start:]:
        if raw[:1] in (b" ", b"\t") and last is not None:  # obsolete line folding
            out[last] = f"{out[last]} {raw.strip().decode('latin-1')}".strip()
            continue
        name, sep, value = raw.partition(b":")
        if not sep:
            continue
        key = name.strip().decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
        last = key
    return out


def _leaf_not_after(certinfo: Any) -> float | None:
    if not certinfo:
        return None
    for key, value in certinfo[0]:
        if key == "Expire date":
            try:
                return float(ssl.cert_time_to_seconds(value))
            except ValueError:
                return None
    return None


def _transport_error(t: _Transfer, hop: Hop, head: dict[str, str]) -> TransportError:
    code, message = t.error or (0, "")
    message = _MS.sub("", message).strip() or f"libcurl error {code}"
    answered = any(line.startswith(b"HTTP/") for line in t.head)
    if code == pycurl.E_OPERATION_TIMEDOUT:
        return TransportError("timeout")
    announced = head.get("content-length", "")
    if code == pycurl.E_FILESIZE_EXCEEDED and announced.isdigit() and int(announced) > hop.max_body_size:
        return TransportError(
            "parse",
            f"body of {announced} bytes announced, larger than max_body_size ({hop.max_body_size} bytes)",
        )
    if code == pycurl.E_FILESIZE_EXCEEDED or code == pycurl.E_WRITE_ERROR and t.over:
        return TransportError("parse", f"body larger than max_body_size ({hop.max_body_size} bytes)")
    if code in _TLS_ERRORS:
        return TransportError("tls", message)
    if code == pycurl.E_COULDNT_CONNECT:
        errno = t.curl.getinfo(pycurl.OS_ERRNO)
        return TransportError("connect", f"cannot connect: {os.strerror(errno) if errno else message}")
    if code in _CONNECT_ERRORS:
        return TransportError("connect", f"cannot connect: {message}")
    if code in _BROKEN_ERRORS:
        if answered:
            return TransportError("connect", f"connection broken mid-answer: {message}")
        return TransportError("connect", f"no HTTP answer: {message}")
    if code in _NOT_HTTP_ERRORS:
        return TransportError("other", f"not a valid HTTP answer: {message}")
    if code == pycurl.E_BAD_CONTENT_ENCODING:
        return TransportError("parse", f"body cannot be decoded: {message}")
    return TransportError("other", message)


class _Loop:
    """One thread driving a libcurl multi handle (socket_action, with a selector and a wake-up socket
    pair).  Callers hand it set-up transfers and wait on their ``done`` lock; libcurl's TIMEOUT_MS ends
    every transfer, so every wait ends.  The thread stops after a while without transfers and starts
    again with the next one; the multi handle, and so the open connections, stay."""

    IDLE_EXIT = 30.0

    def __init__(self) -> None:
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ)
        self._pending: collections.deque[_Transfer] = collections.deque()
        self._running: set[_Transfer] = set()
        self._by_curl: dict[int, _Transfer] = {}
        self._timer: float | None = None
        self._woken = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False

    def run(self, transfer: _Transfer) -> None:
        """Run one set-up transfer to its end (its ``error`` set when it failed)."""
        self._pending.append(transfer)
        if self._thread is None or self._closing:
            with self._lock:
                if self._closing:
                    self._pending.remove(transfer)
                    transfer.error = (pycurl.E_ABORTED_BY_CALLBACK, "the HTTP transport is closed")
                    return
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="egov-http", daemon=True)
                    self._thread.start()
        if not self._woken:
            self._woken = True
            try:
                self._wake_w.send(b"\0")
            except OSError:  # the pair's buffer is full: the loop is awake anyway
                pass
        transfer.done.acquire()

    def set_max_connections(self, n: int) -> None:
        self._max_connections = n
        self._woken = True
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            self._closing = True
            thread = self._thread
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass
        if thread is not None:
            thread.join(10)

    # -------------------------------------------------------------------------- the loop thread

    def _on_socket(self, what: int, fd: int, multi: Any, data: Any) -> None:
        if what == pycurl.POLL_REMOVE:
            try:
                self.selector.unregister(fd)
            except (KeyError, ValueError):
                pass
            return
        events = 0
        if what in (pycurl.POLL_IN, pycurl.POLL_INOUT):
            events |= selectors.EVENT_READ
        if what in (pycurl.POLL_OUT, pycurl.POLL_INOUT):
            events |= selectors.EVENT_WRITE
        try:
            self.selector.modify(fd, events)
        except KeyError:
            self.selector.register(fd, events)

    def _on_timer(self, ms: int) -> None:
        self._timer = None if ms < 0 else time.monotonic() + ms / 1000

    def _run(self) -> None:
        idle_since = time.monotonic()
        try:
            while True:
                timeout = None if self._timer is None else max(0.0, self._timer - time.monotonic())
                if not self._running and not self._pending:
                    timeout = self.IDLE_EXIT if timeout is None else min(timeout, self.IDLE_EXIT)
                for key, mask in self.selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except OSError:
                            pass
                        # only now: a caller that set the flag before this drained its byte has its
                        # transfer in _pending already (added below); one that sets it later sends a byte
                        self._woken = False
                        continue
                    action = (pycurl.CSELECT_IN if mask & selectors.EVENT_READ else 0) | (
                        pycurl.CSELECT_OUT if mask & selectors.EVENT_WRITE else 0
                    )
                    self._act(key.fd, action)
                self._add_pending()
                if self._timer is not None and time.monotonic() >= self._timer:
                    self._timer = None
                    self._act(pycurl.SOCKET_TIMEOUT, 0)
                self._reap()
                if self._running or self._pending:
                    idle_since = time.monotonic()
                    continue
                with self._lock:
                    if self._closing or (
                        time.monotonic() - idle_since >= self.IDLE_EXIT and not self._pending
                    ):
                        self._thread = None
                        break
        except BaseException as exc:  # noqa: BLE001 - never leave a caller waiting
            self._fail_all(f"HTTP transport failed: {type(exc).__name__}: {exc}")
            with self._lock:
                self._thread = None
            raise
        if self._closing:
            self._fail_all("the HTTP transport is closed")

    def _act(self, fd: int, action: int) -> None:
        try:
            self.multi.socket_action(fd, action)
        except pycurl.error:  # libcurl's own trouble with one socket: its transfer ends with an error
            pass

    def _add_pending(self) -> None:
        pending = self._pending
        while pending:
            t = pending.popleft()
            self._by_curl[id(t.curl)] = t
            self._running.add(t)
            try:
                self.multi.add_handle(t.curl)
            except pycurl.error as exc:
                self._finish(t, (exc.args[0], str(exc.args[1])), added=False)
        if getattr(self, "_max_connections", None) is not None:
            self.multi.setopt(pycurl.M_MAXCONNECTS, self._max_connections)
            self._max_connections = None

    def _reap(self) -> None:
        while True:
            queued, ok, failed = self.multi.info_read()
            for curl in ok:
                self._finish(self._by_curl[id(curl)], None)
            for curl, code, message in failed:
                self._finish(self._by_curl[id(curl)], (code, message))
            if not queued:
                break

    def _finish(self, t: _Transfer, error: tuple[int, str] | None, added: bool = True) -> None:
        if added:
            self.multi.remove_handle(t.curl)
        self._by_curl.pop(id(t.curl), None)
        self._running.discard(t)
        t.error = error
        t.done.release()

    def _fail_all(self, message: str) -> None:
        for t in list(self._running):
            try:
                self.multi.remove_handle(t.curl)
            except pycurl.error:
                pass
            self._finish(t, (pycurl.E_ABORTED_BY_CALLBACK, message), added=False)
        while self._pending:
            t = self._pending.popleft()
            t.error = (pycurl.E_ABORTED_BY_CALLBACK, message)
            t.done.release()


class SessionPool:
    """The HTTP transport of an exporter: libcurl through one multi handle, so keep-alive connections are
    kept per host (up to ``pool_size`` idle ones for each host polled) and shared by the targets on that
    host; cookies are never kept.  :meth:`exchange` may be called from any thread; it blocks the caller
    until the hop's answer is in or its deadline passed."""

    def __init__(self, pool_size: int = 4) -> None:
        self._loop: _Loop | None = None
        self._lock = threading.Lock()
        self._free: list[_Transfer] = []
        self._hosts: set[tuple] = set()
        #: the host of each URL asked for (a poll asks for the same URL every time: parsed once)
        self._host_of: dict[str, tuple] = {}
        #: the certificate's notAfter by libcurl connection id (reported for a new connection only)
        self._not_after: dict[int, float | None] = {}
        self._pool_size = pool_size

    @property
    def pool_size(self) -> int:
        return self._pool_size

    @pool_size.setter
    def pool_size(self, n: int) -> None:
        self._pool_size = n
        if self._loop is not None:
            self._loop.set_max_connections(max(16, n * len(self._hosts)))

    def exchange(self, hop: Hop) -> Answer:
        host = self._host_of.get(hop.url)
        if host is None:
            parts = urlsplit(hop.url)
            host = (parts.scheme, parts.hostname, parts.port)
            if len(self._host_of) >= 65536:
                self._host_of.clear()
            self._host_of[hop.url] = host
        with self._lock:
            loop = self._loop
            if loop is None:
                loop = self._loop = _Loop()
            if host not in self._hosts:
                self._hosts.add(host)
                loop.set_max_connections(max(16, self._pool_size * len(self._hosts)))
            t = self._free.pop() if self._free else None
        if t is None:
            t = _Transfer()
        try:
            t.setup(hop)
        except TransportError:
            self._give_back(t)
            raise
        except pycurl.error as exc:
            self._give_back(t)
            raise TransportError("other", f"cannot send the request: {exc.args[-1]}") from None
        loop.run(t)
        if (
            t.error is not None
            and t.error[0] in _BROKEN_ERRORS
            and self._stale(t)
            and time.monotonic() < hop.deadline
        ):
            # a kept-alive connection the server had closed, found out only by using it: once more on a
            # new connection, within the same deadline (not a retry of the target's: nothing was answered)
            t.setup(hop)
            t.curl.setopt(pycurl.FRESH_CONNECT, 1)
            loop.run(t)
            t.curl.setopt(pycurl.FRESH_CONNECT, 0)
        try:
            return t.answer(hop, self._not_after)
        finally:
            self._give_back(t)

    @staticmethod
    def _stale(t: _Transfer) -> bool:
        """Whether the failed transfer ``t`` used a kept-alive connection and got no answer on it."""
        return not t.curl.getinfo(pycurl.NUM_CONNECTS) and not any(
            line.startswith(b"HTTP/") for line in t.head
        )

    def _give_back(self, t: _Transfer) -> None:
        with self._lock:
            if self._loop is not None and len(self._free) < 256:
                self._free.append(t)
                return
        t.close()

    def close(self) -> None:
        """Close every connection (the pool can be used again: a new loop starts)."""
        with self._lock:
            loop, self._loop = self._loop, None
            free, self._free = self._free, []
            self._hosts.clear()
        if loop is not None:
            loop.close()
            if loop._thread is not None:  # a transfer outlived its own deadline: leave the handles be
                return
            loop.multi.close()
            loop.selector.close()
            loop._wake_r.close()
            loop._wake_w.close()
        for t in free:
            t.close()


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
    """The HTTP client of one target: its settings, auth and counters.  ``sessions``: the transport (the
    exporter's :class:`SessionPool`; a new one when not given)."""

    def __init__(
        self, target: TargetBase, sessions: Any = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.target = target
        self.sessions = sessions if sessions is not None else SessionPool()
        self.clock = clock
        self.stats = {"retries": 0, "requests": 0, "token_requests": 0}
        #: the credentials the last request carried (an auth header's value; of ``Authorization``, the part
        #: after "Basic " / "Bearer "): an upstream that echoes them must not have them shown (``redact``)
        self.sent_credentials: tuple[str, ...] = ()
        #: credentials in the plain ``headers:`` (Authorization, Cookie, X-API-Key, ... by name)
        self._secret_headers = header_secrets(target.headers)
        #: the headers of every request: the User-Agent, unless the target's ``headers:`` name another
        self._base_headers = {"User-Agent": USER_AGENT}
        for name, value in target.headers.items():
            if name.lower() == "user-agent":
                self._base_headers.pop("User-Agent", None)
            self._base_headers[name] = value
        self._verify = not target.tls.insecure_skip_verify
        self._ca_file = target.tls.ca_file if self._verify else None

    def _auth_headers(self, force_token: bool = False) -> dict[str, str]:
        auth = self.target.auth
        if auth is None:
            return {}
        if auth.type == "basic":
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
        """One attempt within the total deadline ``target.timeout`` (redirects included); no status
        checks.  A redirect to another host or port (scheme, host and port: the origin) goes there without
        the credentials: ``Authorization``, the auth header, the plain headers named like credentials; a
        request whose body is the credentials (the OAuth2 token request) is not re-sent there at all."""
        target = self.target
        hdrs = dict(self._base_headers)
        auth_headers = self._auth_headers(force_token) if authenticate else {}
        secret_headers = self._secret_headers
        if authenticate:
            hdrs.update(auth_headers)
            self.sent_credentials = tuple(
                v.partition(" ")[2] if k.lower() == "authorization" and " " in v else v
                for k, v in auth_headers.items()
            ) + tuple(v for vs in secret_headers.values() for v in vs)
        if headers:
            hdrs.update(headers)
        body, content_type = _encode_body(json, data)
        if content_type and not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = content_type
        start = time.monotonic()
        self.stats["requests"] += 1
        label = what or url
        redirects = 0
        try:
            while True:
                hop = Hop(
                    method,
                    url,
                    hdrs,
                    body,
                    start + target.timeout,
                    target.timeout,
                    target.max_body_size,
                    self._verify,
                    self._ca_file,
                )
                answer = self.sessions.exchange(hop)
                location = answer.headers.get("location")
                if answer.status not in REDIRECT_STATI or location is None:
                    break
                if redirects >= MAX_REDIRECTS:
                    raise CollectError("http_status", f"{label}: more than {MAX_REDIRECTS} redirects (loop?)")
                new_url = _redirect_target(url, location)
                if urlsplit(new_url).scheme not in ("http", "https"):
                    raise CollectError("other", f"{label}: redirected to a URL that is not HTTP(S)")
                if answer.status not in (307, 308):  # the method becomes GET, the body goes (as browsers do)
                    if answer.status in (302, 303) and method != "HEAD" or method == "POST":
                        method = "GET"
                    if body is not None:
                        body = None
                        for name in [k for k in hdrs if k.lower() in ("content-type", "content-length")]:
                            del hdrs[name]
                if _other_origin(url, new_url):
                    if not authenticate and body is not None:  # the token request: its form is the secret
                        raise CollectError(
                            "auth",
                            f"{public_url(url)}: redirected to another host ({public_url(new_url)}); "
                            "the credentials are not sent there",
                        )
                    drop = {k.lower() for k in auth_headers} | {k.lower() for k in secret_headers}
                    drop.add("authorization")
                    hdrs = {k: v for k, v in hdrs.items() if k.lower() not in drop}
                url = new_url
                redirects += 1
        except TransportError as exc:
            raise self._failure(exc, label) from None
        return Response(
            url=url,
            status=answer.status,
            headers=answer.headers,
            body=answer.body,
            elapsed=time.monotonic() - start,
            tls_not_after=answer.tls_not_after,
            redirects=redirects,
        )

    def _failure(self, exc: TransportError, label: str) -> CollectError:
        if exc.reason == "timeout":
            return CollectError(
                "timeout", f"{label}: no complete answer within {self.target.timeout:g}s", retryable=True
            )
        if exc.reason == "connect":
            return CollectError("connect", f"{label}: {exc.detail}", retryable=True)
        if exc.reason == "tls":
            return CollectError("tls", f"{label}: TLS error: {exc.detail}")
        return CollectError(exc.reason, f"{label}: {exc.detail}")


def _encode_body(json: Any, data: Any) -> tuple[bytes | None, str | None]:
    """The request body and its Content-Type: JSON, a form (a dict or pairs), or bytes/text as they are."""
    if json is not None:
        return jsonlib.dumps(json, allow_nan=False).encode(), "application/json"
    if data is None:
        return None, None
    if isinstance(data, bytes):
        return data, None
    if isinstance(data, str):
        return data.encode(), None
    return urlencode(data, doseq=True).encode(), "application/x-www-form-urlencoded"


def _redirect_target(url: str, location: str) -> str:
    """The absolute URL a Location header points to from ``url`` (a UTF-8 Location read as Latin-1, as
    the header was, is read as UTF-8; characters a URL may not hold are percent-encoded), without its
    fragment."""
    location = location.strip()
    try:
        location = location.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return urljoin(url, quote(location, safe="!#$%&'()*+,/:;=?@[]~")).partition("#")[0]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _other_origin(old: str, new: str) -> bool:
    """Whether a redirect from ``old`` to ``new`` leaves the origin, so the credentials stay behind: another
    host, port or scheme -- except http to https on the same host with the default ports."""
    a, b = urlsplit(old), urlsplit(new)
    if a.hostname != b.hostname:
        return True
    a_port = a.port or _DEFAULT_PORTS.get(a.scheme)
    b_port = b.port or _DEFAULT_PORTS.get(b.scheme)
    if (a.scheme, a_port, b.scheme, b_port) == ("http", 80, "https", 443):
        return False
    return (a.scheme, a_port) != (b.scheme, b_port)
