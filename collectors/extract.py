"""Declarative extraction: metrics described as data (a JSONPath or a CSS selector per metric, a value
map, labels from the payload), shared by the generic ``json``/``html`` kinds and the system collectors'
vendor profiles.  A missing field skips that one metric and is counted; it does not fail the target.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath_parse
from pydantic import field_validator, model_validator

from exporter.config import Strict
from exporter.plugin import Collected

_METRIC_RE = re.compile(r"^egov_[a-z0-9_]+$")


@functools.lru_cache(maxsize=4096)
def compile_jsonpath(expr: str) -> Any:
    try:
        return jsonpath_parse(expr)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # jsonpath-ng raises bare Exception too
        raise ValueError(f"not a valid JSONPath: {expr!r} ({str(exc).splitlines()[0][:80]})") from None


def jsonpath_values(expr: str, data: Any) -> list[Any]:
    return [m.value for m in compile_jsonpath(expr).find(data)]


def parse_number(value: Any, number_format: str = "vi") -> float | None:
    """A number from JSON or page text.  ``vi``: ``1.234.567`` and ``12,5``; ``en``: ``1,234`` and ``12.5``.
    Percent signs and spaces are ignored.  None when there is no number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.replace("\xa0", "").replace(" ", "").replace("%", "").strip()
    if not text:
        return None
    thousands, decimal = (".", ",") if number_format == "vi" else (",", ".")
    if re.fullmatch(r"[-+]?\d{1,3}(\%s\d{3})+(\%s\d+)?" % (thousands, decimal), text):
        text = text.replace(thousands, "")
    text = text.replace(decimal, ".")
    try:
        return float(text)
    except ValueError:
        return None


def check_metric_name(value: str) -> str:
    if not _METRIC_RE.match(value):
        raise ValueError(f"metric name must match egov_[a-z0-9_]+, got {value!r}")
    return value


class MetricRule(Strict):
    """Common part of a declarative metric."""

    name: str
    type: Literal["gauge", "counter"] = "gauge"
    help: str = ""
    #: labels: a literal value, or (JSON) a JSONPath starting with ``$``/``@`` relative to the item,
    #: (HTML) ``text``, ``attr:NAME`` or ``css:SELECTOR`` relative to the matched element
    labels: dict[str, str] = {}
    #: maps extracted strings to numbers (``{"UP": 1, "DOWN": 0}``); unmapped strings are skipped
    value_map: dict[str, float] = {}
    #: multiply the extracted number (e.g. 0.01 for a percentage, 0.001 for milliseconds)
    scale: float = 1.0
    #: a missing value is normal (not counted as skipped)
    optional: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_metric_name(v)

    @model_validator(mode="after")
    def _counter_suffix(self) -> "MetricRule":
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        return self

    def number(self, raw: Any, number_format: str = "vi") -> float | None:
        if self.value_map and raw is not None:
            key = raw.strip() if isinstance(raw, str) else str(raw)
            if key in self.value_map:
                return self.value_map[key] * self.scale
        value = parse_number(raw, number_format)
        return None if value is None else value * self.scale


class JsonMetric(MetricRule):
    #: JSONPath selecting the items; each item gives one sample
    path: str = "$"
    #: JSONPath (relative to the item) of the value, or a constant number
    value: str | float = "@"

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        compile_jsonpath(v)
        return v

    @model_validator(mode="after")
    def _paths(self) -> "JsonMetric":
        for expr in [self.value, *self.labels.values()]:
            if isinstance(expr, str) and expr[:1] in "$@":
                compile_jsonpath(expr)
        return self


def _first(expr: str, item: Any) -> Any:
    found = jsonpath_values(expr, item)
    return found[0] if found else None


def extract_json(rules: list[JsonMetric], data: Any, out: Collected, base_labels: dict[str, str] | None = None,
                 number_format: str = "vi") -> None:
    for rule in rules:
        items = jsonpath_values(rule.path, data)
        if not items:
            if not rule.optional:
                out.skipped.append(f"{rule.name}: nothing at {rule.path}")
            continue
        for item in items:
            labels = dict(base_labels or {})
            missing_label = None
            for key, expr in rule.labels.items():
                if expr[:1] in "$@":
                    val = _first(expr, item)
                    if val is None:
                        missing_label = key
                        break
                    labels[key] = str(val)
                else:
                    labels[key] = expr
            if missing_label:
                if not rule.optional:
                    out.skipped.append(f"{rule.name}: label {missing_label} missing at {rule.labels[missing_label]}")
                continue
            raw = rule.value if not isinstance(rule.value, str) else (
                _first(rule.value, item) if rule.value[:1] in "$@" else rule.value)
            value = rule.number(raw, number_format)
            if value is None:
                if not rule.optional:
                    out.skipped.append(f"{rule.name}: no number at {rule.value} (got {str(raw)[:40]!r})")
                continue
            out.add(rule.name, value, **labels)


class HtmlMetric(MetricRule):
    #: CSS selector; each match gives one sample (or, with value ``count``, one sample: the number of matches)
    select: str
    #: ``text`` (the element's text), ``attr:NAME``, or ``count``
    value: str = "text"
    #: applied to the text: the first group (or the whole match) is the value
    regex: str | None = None

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v

    @field_validator("select")
    @classmethod
    def _select(cls, v: str) -> str:
        import soupsieve

        try:
            soupsieve.compile(v)
        except Exception as exc:  # soupsieve.SelectorSyntaxError and friends
            raise ValueError(f"not a valid CSS selector: {str(exc).splitlines()[0]}") from None
        return v


def element_value(el: Any, how: str) -> str | None:
    if how == "text":
        return el.get_text(" ", strip=True)
    if how.startswith("attr:"):
        val = el.get(how[5:])
        return " ".join(val) if isinstance(val, list) else val
    if how.startswith("css:"):
        sub = el.select_one(how[4:])
        return sub.get_text(" ", strip=True) if sub is not None else None
    return how  # a literal


def extract_html(rules: list[HtmlMetric], soup: Any, out: Collected, base_labels: dict[str, str] | None = None,
                 number_format: str = "vi") -> None:
    for rule in rules:
        matches = soup.select(rule.select)
        if rule.value == "count":
            out.add(rule.name, len(matches) * rule.scale,
                    **{**(base_labels or {}), **{k: v for k, v in rule.labels.items()}})
            continue
        if not matches:
            if not rule.optional:
                out.skipped.append(f"{rule.name}: nothing matches {rule.select!r}")
            continue
        for el in matches:
            labels = dict(base_labels or {})
            for key, how in rule.labels.items():
                labels[key] = element_value(el, how) or ""
            raw = element_value(el, rule.value)
            if raw is not None and rule.regex:
                m = re.search(rule.regex, raw)
                raw = (m.group(1) if m and m.groups() else m.group(0)) if m else None
            value = rule.number(raw, number_format) if raw is not None else None
            if value is None:
                if not rule.optional:
                    out.skipped.append(f"{rule.name}: no number in {rule.select!r} (got {str(raw)[:40]!r})")
                continue
            out.add(rule.name, value, **labels)
