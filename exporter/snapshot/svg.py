"""Inline SVG charts for the HTML report: generated here, no JavaScript, no network, printable.

Every chart is an ``<svg class="chart ...">`` whose drawn series carry ``data-series`` (and bars
``data-key``/``data-value``), so a test (or a curious reader of the source) can tell what is drawn."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

Fmt = Callable[[float], str]

#: widths of characters as a share of the font size, generous for the sans-serif fonts the report names
#: (DejaVu Sans is the widest): a label is laid out (and cut with an ellipsis) so that it stays in its box
_NARROW = set("iIl.,:;|!'’()[] /-")
_WIDE = set("MWmwĐĐ@%ẰẮẶẦẤẬ")


def text_width(text: str, size: float) -> float:
    """A generous estimate of a text's width in pixels at ``size`` px."""
    return size * sum(
        0.34 if c in _NARROW else 0.92 if c in _WIDE else 0.66 if c.isupper() else 0.6 for c in text
    )


def fit(text: str, width: float, size: float) -> str:
    """``text``, cut with an ellipsis where it would be wider than ``width`` pixels."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


def line_chart(
    *,
    chart_id: str,
    title: str,
    days: int,
    series: Sequence[dict],
    y_max: float | None,
    fmt: Fmt,
    target: float | None = None,
    x_labels: Sequence[tuple[int, str]] = (),
    width: int = 520,
    height: int = 210,
) -> str:
    """``series``: dicts with name, label, points [(day index, value)], dashed (bool)."""
    left, right, top, bottom = 54, 70, 26, 28
    pw, ph = width - left - right, height - top - bottom
    values = [v for s in series for _, v in s["points"]] + ([target] if target is not None else [])
    top_value = y_max if y_max is not None else _nice_max(max(values) if values else 1.0)

    def x(day: float) -> float:
        return left + pw * (day / max(1, days - 1))

    def y(v: float) -> float:
        return top + ph * (1 - min(max(v / top_value, 0.0), 1.05))

    out = [
        f'<svg class="chart trend" data-chart="{escape(chart_id)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        gv = top_value * i / 4
        gy = y(gv)
        out.append(f'<line class="grid" x1="{left}" y1="{gy:.1f}" x2="{left + pw}" y2="{gy:.1f}"/>')
        out.append(
            f'<text class="axis" x="{left - 6}" y="{gy + 3:.1f}" text-anchor="end">{escape(fmt(gv))}</text>'
        )
    for day, label in x_labels:
        out.append(
            f'<line class="tick" x1="{x(day):.1f}" y1="{top + ph}" x2="{x(day):.1f}" y2="{top + ph + 4}"/>'
        )
        out.append(
            f'<text class="axis" x="{x(day):.1f}" y="{top + ph + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    current = next((s for s in series if not s.get("dashed") and s["points"]), None)
    end_y = y(current["points"][-1][1]) if current else None
    if target is not None:
        ty = y(target)
        out.append(
            f'<line class="target" data-series="target" x1="{left}" y1="{ty:.1f}" x2="{left + pw}" '
            f'y2="{ty:.1f}"><title>{escape(fmt(target))}</title></line>'
        )
        label_y = ty + 3
        if end_y is not None and abs(end_y - ty) < 12:  # keep clear of the end value's label
            label_y = ty - 5 if end_y >= ty else ty + 11
        out.append(
            f'<text class="target-label" x="{left + pw + 4}" y="{label_y:.1f}">{escape(fmt(target))}</text>'
        )
    for s in series:
        pts = s["points"]
        if not pts:
            continue
        d = " ".join(f"{'M' if i == 0 else 'L'}{x(day):.1f},{y(v):.1f}" for i, (day, v) in enumerate(pts))
        cls = "series previous" if s.get("dashed") else "series current"
        out.append(
            f'<path class="{cls}" data-series="{escape(s["name"])}" data-points="{len(pts)}" d="{d}">'
            f"<title>{escape(s['label'])}</title></path>"
        )
        if not s.get("dashed"):
            day, v = pts[-1]
            out.append(f'<circle class="end" cx="{x(day):.1f}" cy="{y(v):.1f}" r="3"/>')
            out.append(
                f'<text class="end-label" x="{x(day) + 6:.1f}" y="{y(v) + 3:.1f}">{escape(fmt(v))}</text>'
            )
    out.append(f'<rect class="frame" x="{left}" y="{top}" width="{pw}" height="{ph}"/>')
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    *,
    chart_id: str,
    title: str,
    rows: Sequence[dict],
    x_max: float,
    fmt: Fmt,
    objective: float | None = None,
    width: int = 680,
    bar: int = 14,
    max_label_width: int = 300,
) -> str:
    """Horizontal bars, the labels on the left (as wide as the longest needs, at most ``max_label_width``,
    longer ones cut with an ellipsis), the values in a column on the right.  ``rows``: dicts with key, label,
    value, previous (optional), css (optional); a row with key "" is a gap marker."""
    size, gap, top, right = 10, 4, 8, 64
    labels = [r["label"] for r in rows if r["key"]]
    label_width = min(max_label_width, int(max((text_width(t, size) for t in labels), default=0)) + 12)
    height = top + len(rows) * (bar + gap) + (20 if objective is not None else 4)
    pw = width - label_width - right

    def x(v: float) -> float:
        return label_width + pw * min(max(v / x_max, 0.0), 1.0) if x_max else label_width

    out = [
        f'<svg class="chart bars" data-chart="{escape(chart_id)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, r in enumerate(rows):
        ty = top + i * (bar + gap)
        if not r["key"]:
            out.append(
                f'<text class="gap" x="{label_width - 6}" y="{ty + bar - 3}" text-anchor="end">⋯</text>'
            )
            continue
        out.append(
            f'<text class="label" x="{label_width - 6}" y="{ty + bar - 3}" text-anchor="end">'
            f"{escape(fit(r['label'], label_width - 8, size))}<title>{escape(r['label'])}</title></text>"
        )
        v = r["value"]
        out.append(
            f'<rect class="bar {escape(r.get("css", ""))}" data-key="{escape(r["key"])}" data-value="{v!r}" '
            f'x="{label_width}" y="{ty}" width="{max(0.5, x(v) - label_width):.1f}" height="{bar}">'
            f"<title>{escape(r['label'])}: {escape(fmt(v))}</title></rect>"
        )
        if r.get("previous") is not None:
            px = x(r["previous"])
            out.append(
                f'<line class="previous-mark" data-key="{escape(r["key"])}" x1="{px:.1f}" y1="{ty - 1}" '
                f'x2="{px:.1f}" y2="{ty + bar + 1}"/>'
            )
        out.append(
            f'<text class="value" x="{width - 4}" y="{ty + bar - 3}" text-anchor="end">'
            f"{escape(fmt(v))}</text>"
        )
    if objective is not None:
        ox = x(objective)
        out.append(
            f'<line class="target" data-series="objective" x1="{ox:.1f}" y1="{top - 4}" x2="{ox:.1f}" '
            f'y2="{height - 16}"/>'
        )
        out.append(
            f'<text class="target-label" x="{ox:.1f}" y="{height - 4}" text-anchor="end">'
            f"{escape(fmt(objective))}</text>"
        )
    out.append("</svg>")
    return "".join(out)
