"""``json``: values from a JSON answer by JSONPath, with value maps and labels from the payload."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from collectors.extract import JsonMetric, extract_json
from collectors.http import HTTP_METRICS, HttpCollector, HttpConfig
from exporter.plugin import Collected, CollectError


class JsonConfig(HttpConfig):
    kind: Literal["json"] = "json"  # type: ignore[assignment]
    method: Literal["GET", "POST"] = "GET"
    #: a JSON request body for POST
    json_body: dict | list | None = None
    #: how numbers written as strings are read: vi (1.234,5) or en (1,234.5)
    number_format: Literal["vi", "en"] = "vi"
    metrics: list[JsonMetric] = Field(min_length=1)


class JsonCollector(HttpCollector):
    kind = "json"
    summary = "values from a JSON API by JSONPath, with value maps and labels taken from the payload"
    Config = JsonConfig
    metrics = HTTP_METRICS
    target: JsonConfig

    def collect(self) -> Collected:
        t = self.target
        resp = self.fetch(t.method, json=t.json_body, data=t.body.encode() if t.body else None)
        out = Collected()
        self.checked(resp, out)
        if "html" in resp.content_type:
            raise CollectError("parse", f"expected JSON, got {resp.content_type or 'no content type'}")
        before = len(out.samples)
        extract_json(t.metrics, resp.json(), out, number_format=t.number_format)
        if out.skipped and len(out.samples) == before:  # one metric may skip several items: count samples
            raise CollectError("parse", "no configured metric found in the answer: " + out.skipped[0])
        return out
