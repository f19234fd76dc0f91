"""``http``: availability of an HTTP endpoint (status codes, body and response-time conditions, TLS
certificate expiry, redirects).  Every HTTP-based kind (json, html and the system collectors) builds on
:class:`HttpCollector` and emits these ``egov_target_http_*`` series too."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import field_validator

from exporter.config import Duration, TargetBase
from exporter.fetch import Response
from exporter.plugin import Collected, CollectError, Collector, MetricSpec

HTTP_METRICS = (
    MetricSpec(
        "egov_target_http_status_code",
        "gauge",
        "HTTP status code of the target's last answer.",
        vi="mã trạng thái HTTP",
    ),
    MetricSpec(
        "egov_target_http_response_seconds",
        "gauge",
        "Time of the target's last HTTP exchange, connect to last byte, in seconds.",
        vi="thời gian phản hồi",
    ),
    MetricSpec(
        "egov_target_http_content_length_bytes",
        "gauge",
        "Size of the last answer's body in bytes.",
        vi="kích thước phản hồi",
    ),
    MetricSpec(
        "egov_target_http_redirects",
        "gauge",
        "Redirects followed in the last poll.",
        vi="số lần chuyển hướng",
    ),
    MetricSpec(
        "egov_target_tls_cert_expiry_timestamp_seconds",
        "gauge",
        "When the target's TLS certificate expires (notAfter), as a unix timestamp.",
        vi="thời điểm hết hạn chứng thư số TLS",
    ),
)


class HttpConfig(TargetBase):
    kind: Literal["http"] = "http"
    method: Literal["GET", "HEAD", "POST"] = "GET"
    #: request body for POST (sent as is)
    body: str | None = None
    #: accepted status codes; empty means any 2xx
    valid_status_codes: list[int] = []
    #: every regex must match the body, else the target is down with reason "condition"
    body_must_match: list[str] = []
    #: no regex may match the body, else down with reason "condition"
    body_must_not_match: list[str] = []
    #: a response time above this turns the target "degraded" (slow)
    degraded_after: Duration | None = None

    @field_validator("body_must_match", "body_must_not_match")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        for expr in v:
            try:
                re.compile(expr)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression {expr!r}: {exc}") from None
        return v

    @field_validator("valid_status_codes")
    @classmethod
    def _codes(cls, v: list[int]) -> list[int]:
        bad = [c for c in v if not 100 <= c <= 599]
        if bad:
            raise ValueError(f"status codes must be 100-599, got {bad[0]}")
        return v


class HttpCollector(Collector):
    kind = "http"
    summary = "availability of an HTTP(S) endpoint: status, body and response-time conditions, TLS expiry"
    Config = HttpConfig
    metrics = HTTP_METRICS
    # HTTP-based kinds that extend this one add their own metrics after HTTP_METRICS.
    target: HttpConfig

    def fetch(
        self,
        method: str = "GET",
        url: str | None = None,
        *,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        what: str = "",
        client: Any = None,
    ) -> Response:
        """One request through the target's client (or ``client``, e.g. one for another service the target
        names with its own credentials), recorded in the /probe trace."""
        url = url or self.target.url
        ok = set(self.target.valid_status_codes) or None
        http = client or self.ctx.http
        try:
            resp = http.request(method, url, json=json, data=data, headers=headers, ok_statuses=ok, what=what)
        except CollectError as exc:
            self.ctx.note(request=f"{method} {url}", error=f"{exc.reason}: {exc.message}")
            raise
        if self.ctx.trace is None:  # a poll, not /probe: nothing to note
            return resp
        # an upstream may echo the request's credentials: they go before the excerpt is cut (the configured
        # secrets are redacted from the whole /probe answer later)
        redact = getattr(http, "redact", None) or (lambda text: text)
        self.ctx.note(
            request=f"{method} {url}",
            status=resp.status,
            seconds=round(resp.elapsed, 4),
            bytes=len(resp.body),
            content_type=resp.content_type,
            body=redact(resp.text())[:2000],
        )
        return resp

    def checked(self, resp: Response, out: Collected) -> None:
        """Apply the target's conditions to ``resp`` and add the HTTP series to ``out``."""
        t = self.target
        out.add("egov_target_http_status_code", resp.status)
        out.add("egov_target_http_response_seconds", resp.elapsed)
        out.add("egov_target_http_content_length_bytes", len(resp.body))
        out.add("egov_target_http_redirects", resp.redirects)
        if resp.tls_not_after is not None:
            out.add("egov_target_tls_cert_expiry_timestamp_seconds", resp.tls_not_after)
        if t.body_must_match or t.body_must_not_match:
            text = resp.text()
            for expr in t.body_must_match:
                if not re.search(expr, text):
                    raise CollectError("condition", f"body does not match {expr!r}")
            for expr in t.body_must_not_match:
                if re.search(expr, text):
                    raise CollectError("condition", f"body matches {expr!r}")
        problems = []
        if t.degraded_after is not None and resp.elapsed > t.degraded_after:
            problems.append(f"response time {resp.elapsed:.2f}s > {t.degraded_after:g}s")
        if resp.tls_not_after is not None and t.tls.expiry_warning_days:
            days = (resp.tls_not_after - self.ctx.clock()) / 86400
            if days < t.tls.expiry_warning_days:
                problems.append(f"TLS certificate expires in {days:.1f} days")
        if problems:
            out.state, out.message = "degraded", "; ".join(problems)

    def collect(self) -> Collected:
        t = self.target
        resp = self.fetch(t.method, data=t.body.encode() if t.body is not None else None)
        out = Collected()
        self.checked(resp, out)
        return out
