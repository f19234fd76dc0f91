"""Metric selectors of the scorecards: a PromQL-like subset.

    egov_qd766_figure{group="TTTT",field="paid_online"}
    egov_services_dossiers_completed_total{timeliness=~"early|on_time"}
    min(egov_target_up{system="lgsp"})

A selector picks samples by metric name and label matchers (``=``, ``!=``, ``=~``, ``!~``; regular
expressions are anchored, as in Prometheus) and aggregates them (``sum`` unless ``min``, ``max``, ``avg``
or ``count`` is given) **by** the scorecard's key labels, like ``sum by (unit, period) (...)``.  A sample
lacking one of the key labels is not attributed to any key.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

AGGREGATIONS = ("sum", "min", "max", "avg", "count")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OP = re.compile(r"=~|!~|!=|=")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')

Key = tuple[str, ...]
#: samples by metric name: [(labels, value)]
Index = Mapping[str, list[tuple[dict[str, str], float]]]


class SampleIndex(dict):
    """Samples by metric name, plus lookups by one label's value, built on first use (selectors of one
    metric that differ by ``metric="..."`` or ``field="..."`` then read only their own samples)."""

    def __init__(self) -> None:
        super().__init__()
        self._by_label: dict[tuple[str, str], dict[str, list[tuple[dict[str, str], float]]]] = {}

    def equal(self, name: str, label: str, value: str) -> list[tuple[dict[str, str], float]]:
        table = self._by_label.get((name, label))
        if table is None:
            table = {}
            for labels, v in self.get(name, ()):
                table.setdefault(labels.get(label, ""), []).append((labels, v))
            self._by_label[(name, label)] = table
        return table.get(value, [])


@dataclasses.dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str
    regex: re.Pattern | None = None

    def __call__(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.label, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        hit = self.regex is not None and self.regex.fullmatch(have) is not None
        return hit if self.op == "=~" else not hit


@dataclasses.dataclass(frozen=True)
class Selector:
    text: str
    name: str
    matchers: tuple[Matcher, ...] = ()
    agg: str = "sum"

    def __str__(self) -> str:
        return self.text

    def promql(self, by: Iterable[str]) -> str:
        """The same selection in PromQL (used by the recording-rule checks and the landing page)."""
        inner = self.text
        m = re.match(r"^\s*(?:sum|min|max|avg|count)\s*\((.*)\)\s*$", inner, re.S)
        if m:
            inner = m.group(1).strip()
        return f"{self.agg} by ({', '.join(by)}) ({inner})"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m(labels) for m in self.matchers)

    def evaluate(self, index: Index, by: tuple[str, ...]) -> dict[Key, float]:
        """Aggregate the matching samples by the key labels."""
        groups: dict[Key, list[float]] = {}
        first = next((m for m in self.matchers if m.op == "="), None)
        rest = self.matchers
        if first is not None and isinstance(index, SampleIndex):
            candidates = index.equal(self.name, first.label, first.value)
            rest = tuple(m for m in self.matchers if m is not first)
        else:
            candidates = index.get(self.name, ())
        for labels, value in candidates:
            if rest and not all(m(labels) for m in rest):
                continue
            try:
                key = tuple(labels[k] for k in by)
            except KeyError:
                continue
            groups.setdefault(key, []).append(value)
        return {key: _aggregate(self.agg, values) for key, values in groups.items()}


def _aggregate(agg: str, values: list[float]) -> float:
    if agg == "sum":
        return float(sum(values))
    if agg == "min":
        return min(values)
    if agg == "max":
        return max(values)
    if agg == "count":
        return float(len(values))
    return sum(values) / len(values)


def parse_selector(text: str) -> Selector:
    """Parse ``[agg(]name{matchers}[)]``; ValueError with a one-line message when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f'not a valid selector: {text!r} (expected name{{label="value",...}})')
    original = text
    s = text.strip()
    agg = "sum"
    m = re.match(r"^(sum|min|max|avg|count)\s*\((.*)\)$", s, re.S)
    if m:
        agg, s = m.group(1), m.group(2).strip()
    try:
        name, matchers = _parse_vector(s)
    except ValueError as exc:
        raise ValueError(f"not a valid selector: {original!r} ({exc})") from None
    return Selector(original.strip(), name, tuple(matchers), agg)


def _parse_vector(s: str) -> tuple[str, list[Matcher]]:
    m = _NAME.match(s)
    if not m:
        raise ValueError("expected a metric name")
    name, pos = m.group(0), m.end()
    matchers: list[Matcher] = []
    rest = s[pos:].strip()
    if not rest:
        return name, matchers
    if not (rest.startswith("{") and rest.endswith("}")):
        raise ValueError('expected {label="value",...} after the metric name')
    body = rest[1:-1]
    i = 0
    while True:
        while i < len(body) and body[i].isspace():
            i += 1
        if i >= len(body):
            break
        lm = _LABEL.match(body, i)
        if not lm:
            raise ValueError(f"expected a label name at {body[i : i + 12]!r}")
        label = lm.group(0)
        i = lm.end()
        while i < len(body) and body[i].isspace():
            i += 1
        om = _OP.match(body, i)
        if not om:
            raise ValueError(f"expected =, !=, =~ or !~ after {label}")
        op = om.group(0)
        i = om.end()
        while i < len(body) and body[i].isspace():
            i += 1
        sm = _STRING.match(body, i)
        if not sm:
            raise ValueError(f"expected a double-quoted value for {label}")
        value = re.sub(r"\\(.)", r"\1", sm.group(1))
        i = sm.end()
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regular expression for {label}: {exc}") from None
        matchers.append(Matcher(label, op, value, regex))
        while i < len(body) and body[i].isspace():
            i += 1
        if i < len(body):
            if body[i] != ",":
                raise ValueError(f"expected ',' between matchers at {body[i : i + 12]!r}")
            i += 1
    return name, matchers
