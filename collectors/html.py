"""``html``: values from an HTML page by CSS selector (BeautifulSoup)."""

from __future__ import annotations

from typing import Literal

from bs4 import BeautifulSoup
from pydantic import Field

from collectors.extract import HtmlMetric, extract_html
from collectors.http import HTTP_METRICS, HttpCollector, HttpConfig
from exporter.plugin import Collected, CollectError


def parse_html(body: bytes | str) -> BeautifulSoup:
    return BeautifulSoup(body, "html.parser")


class HtmlConfig(HttpConfig):
    kind: Literal["html"] = "html"  # type: ignore[assignment]
    number_format: Literal["vi", "en"] = "vi"
    metrics: list[HtmlMetric] = Field(min_length=1)


class HtmlCollector(HttpCollector):
    kind = "html"
    summary = "values from an HTML page by CSS selector"
    Config = HtmlConfig
    metrics = HTTP_METRICS
    target: HtmlConfig

    def collect(self) -> Collected:
        t = self.target
        resp = self.fetch(t.method)
        out = Collected()
        self.checked(resp, out)
        if resp.content_type and "html" not in resp.content_type and "xml" not in resp.content_type:
            raise CollectError("parse", f"expected HTML, got {resp.content_type}")
        extract_html(t.metrics, parse_html(resp.body), out, number_format=t.number_format)
        counted = [m for m in t.metrics if m.value != "count"]
        if counted and len(out.skipped) >= len(counted):
            raise CollectError("parse", "no configured metric found on the page: " + out.skipped[0])
        return out
