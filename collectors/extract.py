"""Declarative extraction: metrics described as data (a JSONPath or a CSS selector per metric, a value
map, labels from the payload), shared by the generic ``json``/``html`` kinds and the system collectors'
vendor profiles.  A missing field skips that one metric and is counted; it does not fail the target.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Literal

from jsonpath_ng import jsonpath
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath_parse
from pydantic import Field, field_validator, model_validator

from exporter.config import Strict, TargetBase
from exporter.domain import norm_text
from exporter.plugin import Collected

_METRIC_RE = re.compile(r"^egov_[a-z0-9_]+$")


@functools.lru_cache(maxsize=4096)
def compile_jsonpath(expr: str) -> Any:
    try:
        return jsonpath_parse(expr)
    except (
        JsonPathLexerError,
        JsonPathParserError,
        Exception,
    ) as exc:  # jsonpath-ng raises bare Exception too
        raise ValueError(f"not a valid JSONPath: {expr!r} ({str(exc).splitlines()[0][:80]})") from None


def jsonpath_values(expr: str, data: Any) -> list[Any]:
    return _finder(expr)(data)


_MISSING = object()


@functools.lru_cache(maxsize=4096)
def _finder(expr: str) -> Callable[[Any], list[Any]]:
    """``lambda data: [m.value for m in compile_jsonpath(expr).find(data)]``; for a plain path of fields
    (``$.a.b``, ``@.value``: what jsonpath-ng parses as the root or the current item followed by single named
    fields) a walk down the fields that gives what jsonpath-ng gives (``Fields.find``: ``value.get(field)``,
    nothing where there is no such field or no ``get``), without its match objects."""
    parsed = compile_jsonpath(expr)
    fields: list[str] = []
    node = parsed
    while (
        type(node) is jsonpath.Child
        and type(node.right) is jsonpath.Fields
        and len(node.right.fields) == 1
        and node.right.fields[0] not in ("*", jsonpath.auto_id_field)
    ):
        fields.append(node.right.fields[0])
        node = node.left
    if type(node) not in (jsonpath.Root, jsonpath.This) or jsonpath.auto_id_field is not None:
        return lambda data: [m.value for m in parsed.find(data)]
    fields.reverse()

    def find(data: Any) -> list[Any]:
        for field in fields:
            try:
                data = data.get(field, _MISSING)
            except (TypeError, AttributeError):
                return []
            if data is _MISSING:
                return []
        return [data]

    return find


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
    if re.fullmatch(rf"[-+]?\d{{1,3}}(\{thousands}\d{{3}})+(\{decimal}\d+)?", text):
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

    @field_validator("labels")
    @classmethod
    def _label_names(cls, v: dict[str, str]) -> dict[str, str]:
        # the same rule as a target's labels: an invalid name would break the whole /metrics page, and
        # target/system/... would overwrite the series' own labels
        return TargetBase._labels(v)

    @model_validator(mode="after")
    def _counter_suffix(self) -> MetricRule:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        if self.type != "counter" and self.name.endswith("_total"):
            raise ValueError(
                f"{self.name} ends in _total, which is for counters: set type: counter or rename it"
            )
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
    #: JSONPaths (relative to the item) of numbers subtracted from the value, for a figure the upstream
    #: gives only as a difference (iGate: dossiers resolved in time = ``resolved`` - ``resolvedOverdue``)
    subtract: list[str] = []

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        compile_jsonpath(v)
        return v

    @model_validator(mode="after")
    def _paths(self) -> JsonMetric:
        for expr in [self.value, *self.labels.values()]:
            if isinstance(expr, str) and expr[:1] in "$@":
                compile_jsonpath(expr)
        for expr in self.subtract:
            if expr[:1] not in "$@":
                raise ValueError(f"subtract takes JSONPaths starting with $ or @, got {expr!r}")
            compile_jsonpath(expr)
        return self


def _first(expr: str, item: Any) -> Any:
    found = jsonpath_values(expr, item)
    return found[0] if found else None


def extract_json(
    rules: list[JsonMetric],
    data: Any,
    out: Collected,
    base_labels: dict[str, str] | None = None,
    number_format: str = "vi",
) -> None:
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
                    out.skipped.append(
                        f"{rule.name}: label {missing_label} missing at {rule.labels[missing_label]}"
                    )
                continue
            raw = (
                rule.value
                if not isinstance(rule.value, str)
                else (_first(rule.value, item) if rule.value[:1] in "$@" else rule.value)
            )
            value = rule.number(raw, number_format)
            if value is None:
                if not rule.optional:
                    out.skipped.append(f"{rule.name}: no number at {rule.value} (got {str(raw)[:40]!r})")
                continue
            for expr in rule.subtract:
                minus = _first(expr, item)
                less = parse_number(minus, number_format)
                if less is None:
                    if not rule.optional:
                        out.skipped.append(f"{rule.name}: no number at {expr} (got {str(minus)[:40]!r})")
                    break
                value -= less * rule.scale
            else:
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


def extract_html(
    rules: list[HtmlMetric],
    soup: Any,
    out: Collected,
    base_labels: dict[str, str] | None = None,
    number_format: str = "vi",
) -> None:
    for rule in rules:
        matches = soup.select(rule.select)
        if rule.value == "count":
            out.add(
                rule.name,
                len(matches) * rule.scale,
                **{**(base_labels or {}), **{k: v for k, v in rule.labels.items()}},
            )
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


# ------------------------------------------------------------------------------------ HTML tables


def _header_parts(text: str) -> list[str]:
    return [p for p in (norm_text(x) for x in text.split("/")) if p]


class TableCell(Strict):
    """Where a label or value is in a table row: the column whose header text is ``column`` (stacked
    headers joined with ``/``: ``Tiếp nhận / Trực tuyến``; the last parts suffice when they are unique),
    optionally an element inside the cell (``css``), one of its attributes (``attr``, default its text)
    and a regular expression whose first group (or whole match) is taken."""

    column: str
    css: str | None = None
    attr: str | None = None
    regex: str | None = None

    @field_validator("column")
    @classmethod
    def _column(cls, v: str) -> str:
        if not _header_parts(v):
            raise ValueError("column must name a header text")
        return v

    @field_validator("css")
    @classmethod
    def _css(cls, v: str | None) -> str | None:
        return HtmlMetric._select(v) if v is not None else v

    @field_validator("regex")
    @classmethod
    def _cell_regex(cls, v: str | None) -> str | None:
        return HtmlMetric._regex(v)

    def read(self, cell: Any) -> str | None:
        el = cell.select_one(self.css) if self.css else cell
        if el is None:
            return None
        if self.attr:
            raw = el.get(self.attr)
            text = " ".join(raw) if isinstance(raw, list) else raw
        else:
            text = el.get_text(" ", strip=True)
        if text is not None and self.regex:
            m = re.search(self.regex, text)
            text = (m.group(1) if m.groups() else m.group(0)) if m else None
        return text


class TableValue(TableCell, MetricRule):
    """One metric from one column of a table: a sample per row (``labels`` here are literal values)."""


class HtmlTable(Strict):
    """Metrics from the rows of an HTML table, columns found by their header text (so a vendor adding or
    reordering columns changes nothing).  Merged cells (``colspan``/``rowspan``) are expanded.  Each row
    gives one sample per value; rows whose label cell is empty or has no match (totals, sub-headings) are
    passed over; rows giving the same labels are added up (e.g. the levels of one unit)."""

    #: CSS selector of the table(s)
    select: str = "table"
    #: labels read from cells: a column header, or a TableCell
    label_columns: dict[str, str | TableCell] = {}
    #: only rows whose cell in that column matches the regular expression (``re.search``, any case)
    where: dict[str, str] = {}
    #: header rows at the top; default: the rows of <thead>, else the leading rows made only of <th>
    header_rows: int | None = Field(default=None, ge=0, le=20)
    values: list[TableValue] = Field(min_length=1)

    @field_validator("select")
    @classmethod
    def _table_select(cls, v: str) -> str:
        return HtmlMetric._select(v)

    @field_validator("where")
    @classmethod
    def _where(cls, v: dict[str, str]) -> dict[str, str]:
        for expr in v.values():
            HtmlMetric._regex(expr)
        return v

    def cells(self) -> dict[str, TableCell]:
        return {
            k: (TableCell(column=ref) if isinstance(ref, str) else ref)
            for k, ref in self.label_columns.items()
        }


def table_grid(table: Any, header_rows: int | None = None) -> tuple[list[list[str]], list[list[Any]]]:
    """The table as a grid of cells with merged cells expanded: (header path of each column, body rows)."""
    trs = list(_table_rows(table))
    grid: list[list[Any]] = []
    carry: dict[int, tuple[int, Any]] = {}  # column -> (rows still covered, cell) of a rowspan
    for tr in trs:
        row: list[Any] = []
        cells = iter(tr.find_all(["td", "th"], recursive=False))
        while True:
            while len(row) in carry:
                left, held = carry.pop(len(row))
                if left > 1:
                    carry[len(row)] = (left - 1, held)
                row.append(held)
            cell = next(cells, None)
            if cell is None:
                break
            span_c = _span(cell.get("colspan"), 200)
            span_r = _span(cell.get("rowspan"), 5000)
            for _ in range(span_c):
                if span_r > 1:
                    carry[len(row)] = (span_r - 1, cell)
                row.append(cell)
        for col in sorted(c for c in carry if c >= len(row)):  # rowspans right of the row's own cells
            while len(row) < col:
                row.append(None)
            left, held = carry.pop(col)
            if left > 1:
                carry[col] = (left - 1, held)
            row.append(held)
        grid.append(row)
    if header_rows is None:
        thead = [tr for tr in trs if tr.parent is not None and tr.parent.name == "thead"]
        header_rows = (
            len(thead)
            if thead
            else next(
                (i for i, row in enumerate(grid) if not row or any(c is None or c.name != "th" for c in row)),
                len(grid),
            )
        )
    head, body = grid[:header_rows], grid[header_rows:]
    width = max((len(r) for r in grid), default=0)
    paths: list[list[str]] = []
    for col in range(width):
        parts: list[str] = []
        seen: Any = None
        for row in head:
            cell = row[col] if col < len(row) else None
            if cell is not None and cell is not seen:
                parts += _header_parts(cell.get_text(" ", strip=True))
            seen = cell
        paths.append(parts)
    return paths, body


def _table_rows(table: Any) -> Any:
    """The table's own rows (not those of tables nested in its cells), in document order."""
    for child in table.children:
        name = getattr(child, "name", None)
        if name == "tr":
            yield child
        elif name in ("thead", "tbody", "tfoot"):
            yield from (tr for tr in child.children if getattr(tr, "name", None) == "tr")


def _span(raw: Any, limit: int) -> int:
    try:
        return max(1, min(int(str(raw).strip()), limit))
    except (TypeError, ValueError):
        return 1


def find_column(paths: list[list[str]], column: str) -> int | None:
    """Index of the first column whose header path ends with ``column``'s parts."""
    want = _header_parts(column)
    return next((i for i, path in enumerate(paths) if path[-len(want) :] == want), None)


def extract_tables(
    rules: list[HtmlTable],
    soup: Any,
    out: Collected,
    base_labels: dict[str, str] | None = None,
    number_format: str = "vi",
) -> None:
    # rules often read the same table: expand it once
    grids: dict[tuple[int, int | None], tuple[list[list[str]], list[list[Any]]]] = {}
    for rule in rules:
        tables = soup.select(rule.select)
        problems: dict[str, list[str]] = {v.name: [] for v in rule.values}
        sums: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        if not tables:
            for v in rule.values:
                problems[v.name].append(f"no table matches {rule.select!r}")
        label_cells = rule.cells()
        for table in tables:
            key = (id(table), rule.header_rows)
            if key not in grids:
                grids[key] = table_grid(table, rule.header_rows)
            paths, body = grids[key]
            where = [
                (col, find_column(paths, col), re.compile(expr, re.I)) for col, expr in rule.where.items()
            ]
            labels_at = {k: (find_column(paths, c.column), c) for k, c in label_cells.items()}
            absent = [col for col, i, _ in where if i is None] + [
                c.column for i, c in labels_at.values() if i is None
            ]
            if absent:
                for v in rule.values:
                    problems[v.name].append(f"no column {absent[0]!r} in {rule.select!r}")
                continue
            values_at = []
            for v in rule.values:
                i = find_column(paths, v.column)
                if i is None:
                    problems[v.name].append(f"no column {v.column!r} in {rule.select!r}")
                else:
                    values_at.append((v, i))
            for n, row in enumerate(body):
                if any(
                    i >= len(row) or row[i] is None or not rx.search(row[i].get_text(" ", strip=True))
                    for _, i, rx in where
                ):
                    continue
                labels = dict(base_labels or {})
                for key, (i, cell) in labels_at.items():
                    text = cell.read(row[i]) if i < len(row) and row[i] is not None else None
                    if not text:
                        break
                    labels[key] = text
                else:
                    for v, i in values_at:
                        raw = v.read(row[i]) if i < len(row) and row[i] is not None else None
                        value = v.number(raw, number_format) if raw is not None else None
                        if value is None:
                            problems[v.name].append(
                                f"no number in column {v.column!r}, row {n + 1} (got {str(raw)[:40]!r})"
                            )
                            continue
                        key = (v.name, tuple(sorted({**labels, **v.labels}.items())))
                        sums[key] = sums.get(key, 0.0) + value
        emitted = {name for name, _ in sums}
        for v in rule.values:
            if v.optional:
                continue
            if not problems[v.name] and v.name not in emitted:
                problems[v.name].append(f"no row of {rule.select!r} matched")
            out.skipped.extend(f"{v.name}: {p}" for p in dict.fromkeys(problems[v.name]))
        for (name, labels), value in sums.items():
            out.add(name, value, **dict(labels))
