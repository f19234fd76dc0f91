"""``html``: values from an HTML page by CSS selector (BeautifulSoup)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from collectors.extract import HtmlMetric, extract_html
from collectors.http import HTTP_METRICS, HttpCollector, HttpConfig
from exporter.plugin import Collected, CollectError

if TYPE_CHECKING:
    from bs4 import BeautifulSoup


def parse_html(body: bytes | str) -> BeautifulSoup:
    """The page parsed by BeautifulSoup, imported on the first page: an exporter with no HTML to read
    (JSON APIs and plain availability checks) never loads it (~8 MiB)."""
    from bs4 import BeautifulSoup

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
        before = len(out.samples)
        extract_html(t.metrics, parse_html(resp.body), out, number_format=t.number_format)
        # failed when no value was found at all (a count always is; one rule may skip several elements)
        found = {m.name for m in t.metrics if m.value != "count"} & {s.name for s in out.samples[before:]}
        if out.skipped and not found:
            raise CollectError("parse", "no configured metric found on the page: " + out.skipped[0])
        return out
