"""A stand-in for the HTTP transport of :class:`exporter.fetch.HttpClient`, with ``responses``' API.

Collectors' tests hand it to the client (``HttpClient(cfg, stub)``: dependency injection, nothing patched)
and register canned answers by method and URL as they would with ``responses.RequestsMock``::

    with HttpStub() as rsps:                      # every registered answer must be asked for (at exit)
        rsps.get(URL, json={"ok": 1}, match=[matchers.header_matcher({"Authorization": "Bearer t"})])
        rsps.post(TOKEN_URL, body=b"...", status=401, content_type="application/json")
        rsps.get(URL, body=TransportError("timeout"))   # a transport failure instead of an answer
        HttpClient(cfg, rsps).request()
        assert rsps.calls[0].request.headers["User-Agent"] == USER_AGENT

It answers each :class:`~exporter.fetch.Hop` the client sends (redirects, retries, auth and status handling
stay the client's own, so they are tested through it); what belongs to the transport (deadlines, the body
cap, TLS, decoding, connections) is tested against loopback servers through libcurl (tests/test_fetch.py).

Matching is ``responses``': method, and URL without its query string (a registered URL with a query
string must match that query too), then every matcher of ``match``.  When several registered answers
match, the first is used, and once it has been used it gives way to the next (so answers registered in
order come in order, and the last one repeats).  A request nothing matches fails as a connection error.
"""

from __future__ import annotations

import dataclasses
import json as jsonlib
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exporter.fetch import Answer, Hop, TransportError

GET, POST, HEAD, PUT, DELETE, PATCH = "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH"

_UNSET: Any = object()


class Headers(dict):
    """The request's headers, looked up by name whatever its case."""

    def __init__(self, items: dict[str, str]) -> None:
        super().__init__(items)
        self._lower = {k.lower(): v for k, v in items.items()}

    def __getitem__(self, name: str) -> str:
        return self._lower[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lower

    def get(self, name: str, default: Any = None) -> Any:
        return self._lower.get(name.lower(), default)


@dataclasses.dataclass
class Request:
    """What the client sent (as ``requests.PreparedRequest`` has it for ``responses``)."""

    method: str
    url: str
    headers: Headers
    #: the body as sent, except a form (x-www-form-urlencoded), which is text, as requests keeps it
    body: bytes | str | None

    @property
    def params(self) -> dict[str, Any]:
        """The query string's parameters (a repeated one as a list)."""
        out: dict[str, Any] = {}
        for k, v in parse_qsl(urlsplit(self.url).query, keep_blank_values=True):
            out[k] = [*out[k], v] if isinstance(out.get(k), list) else [out[k], v] if k in out else v
        return out


@dataclasses.dataclass
class Call:
    request: Request
    response: Any  # the Answer given, or the exception raised


class Registered:
    """One registered answer; ``call_count`` and ``calls`` say how often it was given."""

    def __init__(
        self,
        method: str,
        url: str,
        answer: Callable[[Request], tuple[int, dict[str, str], bytes | str | BaseException]],
        match: Iterable[Callable[[Request], tuple[bool, str]]],
    ) -> None:
        self.method = method.upper()
        self.url = url
        self.answer = answer
        self.match = list(match)
        if urlsplit(url).query:
            self.match.append(_query_string_matcher(urlsplit(url).query))
        self.calls: list[Call] = []

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def matches(self, request: Request) -> tuple[bool, str]:
        if request.method != self.method:
            return False, "method"
        if _without_query(request.url) != _without_query(self.url):
            return False, "URL"
        for matcher in self.match:
            ok, why = matcher(request)
            if not ok:
                return False, why
        return True, ""


class HttpStub:
    """The transport of the clients it is handed (``HttpClient(cfg, stub)``), with canned answers."""

    def __init__(self, assert_all_requests_are_fired: bool = True) -> None:
        self.assert_all = assert_all_requests_are_fired
        self.registered: list[Registered] = []
        self.calls: list[Call] = []
        self.pool_size = 4  # the SessionPool's attribute the scheduler sets

    def __enter__(self) -> HttpStub:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None and self.assert_all:
            self.assert_all_requests_are_fired()

    def assert_all_requests_are_fired(self) -> None:
        unused = [f"{r.method} {r.url}" for r in self.registered if not r.calls]
        assert not unused, f"registered answers never asked for: {unused}"

    # ----------------------------------------------------------------------------- registering

    def add(
        self,
        method: str,
        url: str,
        body: bytes | str | BaseException = b"",
        *,
        json: Any = _UNSET,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str | None = _UNSET,
        match: Iterable[Callable[[Request], tuple[bool, str]]] = (),
    ) -> Registered:
        if json is not _UNSET:
            body = jsonlib.dumps(json)
            content_type = "application/json" if content_type is _UNSET else content_type
        if content_type is _UNSET:
            content_type = "text/plain"
        hdrs = dict(headers or {})
        if content_type and not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = content_type
        reg = Registered(method, url, lambda request: (status, hdrs, body), match)
        self.registered.append(reg)
        return reg

    def get(self, url: str, body: Any = b"", **kw: Any) -> Registered:
        return self.add(GET, url, body, **kw)

    def post(self, url: str, body: Any = b"", **kw: Any) -> Registered:
        return self.add(POST, url, body, **kw)

    def head(self, url: str, body: Any = b"", **kw: Any) -> Registered:
        return self.add(HEAD, url, body, **kw)

    def put(self, url: str, body: Any = b"", **kw: Any) -> Registered:
        return self.add(PUT, url, body, **kw)

    def delete(self, url: str, body: Any = b"", **kw: Any) -> Registered:
        return self.add(DELETE, url, body, **kw)

    def add_callback(
        self,
        method: str,
        url: str,
        callback: Callable[[Request], tuple[int, dict[str, str], bytes | str]],
        content_type: str | None = "text/plain",
        match: Iterable[Callable[[Request], tuple[bool, str]]] = (),
    ) -> Registered:
        def answer(request: Request) -> tuple[int, dict[str, str], bytes | str]:
            status, headers, body = callback(request)
            headers = dict(headers)
            if content_type and not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = content_type
            return status, headers, body

        reg = Registered(method, url, answer, match)
        self.registered.append(reg)
        return reg

    # ------------------------------------------------------------------------------ the transport

    def exchange(self, hop: Hop) -> Answer:
        form = any(
            k.lower() == "content-type" and v.startswith("application/x-www-form-urlencoded")
            for k, v in hop.headers.items()
        )
        body: bytes | str | None = hop.body.decode() if form and hop.body is not None else hop.body
        request = Request(hop.method, hop.url, Headers(dict(hop.headers)), body)
        reg = self._find(request)
        if reg is None:
            error = TransportError(
                "connect", f"cannot connect: no stub answer registered for {hop.method} {hop.url}"
            )
            self.calls.append(Call(request, error))
            raise error
        status, headers, content = reg.answer(request)
        if isinstance(content, BaseException):
            call = Call(request, content)
            reg.calls.append(call)
            self.calls.append(call)
            raise content
        data = content.encode() if isinstance(content, str) else bytes(content)
        answer = Answer(
            status, {k.lower(): v for k, v in headers.items()}, b"" if hop.method == HEAD else data
        )
        call = Call(request, answer)
        reg.calls.append(call)
        self.calls.append(call)
        return answer

    def _find(self, request: Request) -> Registered | None:
        found = None
        for i, reg in enumerate(self.registered):
            if not reg.matches(request)[0]:
                continue
            if found is None:
                found = i
                continue
            if self.registered[found].calls:  # used already: it gives way to the next that matches
                self.registered.pop(found)
                return reg
            break
        return None if found is None else self.registered[found]

    def close(self) -> None:
        pass


def _without_query(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower(), parts.path or "/"


def _query_string_matcher(query: str) -> Callable[[Request], tuple[bool, str]]:
    want = sorted(parse_qsl(query, keep_blank_values=True))

    def match(request: Request) -> tuple[bool, str]:
        got = sorted(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
        return got == want, f"query {got} != {want}"

    return match


class matchers:  # noqa: N801 - named as responses' module, so a test reads the same
    """The request matchers of ``responses.matchers`` that the tests use, with the same arguments."""

    @staticmethod
    def header_matcher(headers: dict[str, Any], strict_match: bool = False) -> Callable:
        def match(request: Request) -> tuple[bool, str]:
            for name, want in headers.items():
                got = request.headers.get(name)
                ok = got is not None and (
                    want.fullmatch(got) is not None if isinstance(want, re.Pattern) else got == want
                )
                if not ok:
                    return False, f"header {name}: {got!r} != {want!r}"
            if strict_match and {k.lower() for k in request.headers} != {k.lower() for k in headers}:
                return False, "headers differ"
            return True, ""

        return match

    @staticmethod
    def query_param_matcher(params: dict[str, Any], strict_match: bool = True) -> Callable:
        want = {k: [str(x) for x in v] if isinstance(v, list) else str(v) for k, v in params.items()}

        def match(request: Request) -> tuple[bool, str]:
            got = request.params
            if strict_match:
                return got == want, f"query {got} != {want}"
            return all(got.get(k) == v for k, v in want.items()), f"query {got} lacks {want}"

        return match

    @staticmethod
    def json_params_matcher(params: Any, strict_match: bool = True) -> Callable:
        def match(request: Request) -> tuple[bool, str]:
            try:
                got = jsonlib.loads(request.body or b"null")
            except ValueError:
                return False, "body is not JSON"
            if strict_match or not isinstance(params, dict) or not isinstance(got, dict):
                return got == params, f"JSON {got!r} != {params!r}"
            return all(got.get(k) == v for k, v in params.items()), f"JSON {got!r} lacks {params!r}"

        return match

    @staticmethod
    def urlencoded_params_matcher(params: dict[str, str] | None, allow_blank: bool = False) -> Callable:
        def match(request: Request) -> tuple[bool, str]:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            got = dict(parse_qsl(body, keep_blank_values=allow_blank)) if body else {}
            return got == (params or {}), f"form {got!r} != {params!r}"

        return match

    @staticmethod
    def body_matcher(params: str | bytes, allow_blank: bool = False) -> Callable:
        def match(request: Request) -> tuple[bool, str]:
            got = request.body.encode() if isinstance(request.body, str) else request.body or b""
            want = params.encode() if isinstance(params, str) else params
            return got == want, f"body {got!r} != {want!r}"

        return match
