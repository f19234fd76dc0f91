"""Prometheus series selectors (``name{label="v", other=~"a|b"}``): parsed once, matched against the
history's series and written back as PromQL for a Prometheus server, so both read the same series."""

from __future__ import annotations

import dataclasses
import re

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


class SelectorError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        v = labels.get(self.label, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = re.fullmatch(self.value, v) is not None
        return hit if self.op == "=~" else not hit

    def promql(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.label}{self.op}"{escaped}"'


@dataclasses.dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def with_labels(self, **equal: str) -> Selector:
        extra = tuple(Matcher(k, "=", v) for k, v in equal.items())
        return Selector(self.name, self.matchers + extra)

    def promql(self) -> str:
        if not self.matchers:
            return self.name
        return self.name + "{" + ", ".join(m.promql() for m in self.matchers) + "}"

    __str__ = promql


def parse_selector(text: str) -> Selector:
    """Parse ``name`` or ``name{l="v", ...}`` (operators = != =~ !~); raise SelectorError."""
    s = text.strip()
    m = _NAME.match(s)
    if not m:
        raise SelectorError(f"{text!r} does not start with a metric name")
    name, pos = m.group(0), m.end()
    if pos == len(s):
        return Selector(name)
    if s[pos] != "{" or not s.endswith("}"):
        raise SelectorError(f'{text!r}: expected {{label="value", ...}} after the metric name')
    body, pos, matchers = s[pos + 1 : -1], 0, []
    while body[pos:].strip():
        lm = _LABEL.match(body, pos)
        if not lm:
            raise SelectorError(f'{text!r}: expected label="value" at {body[pos:]!r}')
        pos = lm.end()
        if pos >= len(body) or body[pos] not in "\"'":
            raise SelectorError(f"{text!r}: the value of {lm.group(1)} must be quoted")
        quote, pos, value = body[pos], pos + 1, []
        while pos < len(body) and body[pos] != quote:
            if body[pos] == "\\" and pos + 1 < len(body):
                value.append(_ESCAPES.get(body[pos + 1], "\\" + body[pos + 1]))
                pos += 2
            else:
                value.append(body[pos])
                pos += 1
        if pos >= len(body):
            raise SelectorError(f"{text!r}: unterminated string")
        op, val = lm.group(2), "".join(value)
        if op in ("=~", "!~"):
            try:
                re.compile(val)
            except re.error as exc:
                raise SelectorError(f"{text!r}: bad regular expression {val!r}: {exc}") from None
        matchers.append(Matcher(lm.group(1), op, val))
        pos += 1
        rest = body[pos:].lstrip()
        if rest.startswith(","):
            pos = len(body) - len(rest) + 1
        elif rest:
            raise SelectorError(f"{text!r}: expected ',' or '}}' at {rest!r}")
    return Selector(name, tuple(matchers))
