"""The HTML report: one self-contained page (inline CSS and SVG, no script, no network) that prints to
PDF on A4: summary table, scores and units ranked, trends of every ratio over the period against the
previous one, availability per system, and how each figure was computed."""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from exporter.snapshot.labels import (
    HEADINGS,
    NO_RANKING,
    UNVERIFIED,
    both,
    file_base,
    fmt_delta,
    fmt_value,
    input_text,
    level_name,
    local_text,
    met,
    missing_note,
    missing_text,
    system_name,
)
from exporter.snapshot.svg import bar_chart, line_chart
from exporter.snapshot.tables import definition_text

TEMPLATES = Path(__file__).with_name("templates")
#: units drawn in a ranking chart before it shows only the first and last ones
MAX_BARS = 30
SHOWN = "; 20 đơn vị đầu và 10 đơn vị cuối / the first 20 and the last 10"
NUM = ' class="num"'


def _h(text: Any) -> str:
    return escape("" if text is None else str(text))


def _bi(vi: str, en: str) -> str:
    return f'{_h(vi)} <span class="en">/ {_h(en)}</span>' if vi != en else _h(vi)


def _day_index(iso_time: str, period_start: dt.datetime) -> int:
    return int((dt.datetime.fromisoformat(iso_time) - period_start).total_seconds() // 86400)


def _x_labels(period: dict[str, Any], days: int) -> list[tuple[int, str]]:
    start = dt.datetime.fromisoformat(period["start"])
    out = []
    for i in range(days):
        d = start + dt.timedelta(days=i)
        if (period["kind"] in ("quarter", "year") and d.day == 1) or (
            period["kind"] not in ("quarter", "year") and i % 7 == 0
        ):
            out.append((i, f"{d:%d/%m}"))
    return out


def _th(keys: tuple[str, ...], numeric: tuple[str, ...]) -> str:
    return "".join(f"<th{NUM if k in numeric else ''}>{_bi(*HEADINGS[k])}</th>" for k in keys)


def _rank_change(value: int | None) -> str:
    return "" if value is None else f"{value:+d}".replace("-", "−") if value else "0"


def _delta_cell(delta: Any, display: str, higher_is_better: bool = True) -> str:
    cls = ""
    if delta and not fmt_delta(delta, display).startswith("±"):
        cls = "up" if (delta > 0) == higher_is_better else "down"
    text = fmt_delta(delta, display)
    number, sep, unit = text.partition(" ")  # "+1,50 điểm % / pp": the unit may go to a second line
    unit_html = f' <span class="unit">{_h(unit)}</span>' if sep else ""
    return f'<td class="num delta {cls}"><span class="n">{_h(number)}</span>{unit_html}</td>'


def _badge(value: Any, target: Any) -> str:
    m = met(value, target)
    if m is None:
        return "<td></td>"
    return (
        '<td><span class="badge met">Đạt / met</span></td>'
        if m
        else '<td><span class="badge unmet">Chưa đạt <span class="nw">/ not met</span></span></td>'
    )


def _target_cell(ind: dict[str, Any]) -> str:
    d = ind["display"]
    if ind["target"] is not None:
        mark = "*" if ind["target_verified"] is False else ""
        return (
            f'<td class="num" title="{_h(ind["target_note"])}">{_h(fmt_value(ind["target"], d))}{mark}</td>'
        )
    if ind.get("maximum") is not None:
        most = _h(fmt_value(ind["maximum"], d))
        return f'<td class="num wrap">{most} <span class="unit">tối đa / max</span></td>'
    return "<td></td>"


def _summary(doc: dict[str, Any]) -> str:
    sections = {s["id"]: s for s in doc["sections"]}
    groups: dict[str, list[str]] = {}
    for ind in doc["indicators"]:
        d = ind["display"]
        wrap = " wrap" if d == "timestamp" else ""  # date and time may take two lines
        groups.setdefault(ind["section"], []).append(
            f'<tr data-indicator="{_h(ind["id"])}"><td>{_bi(ind["vi"], ind["en"])}</td>'
            f'<td class="num{wrap}">{_h(fmt_value(ind["value"], d))}</td>'
            f'<td class="num{wrap}">{_h(fmt_value(ind["previous"]["value"], d))}</td>'
            f"{_delta_cell(ind['delta'], d)}{_target_cell(ind)}"
            f"{_badge(ind['value'], ind['target'])}</tr>"
        )
    bodies = "".join(
        '<tbody class="section"><tr class="section">'
        f'<td colspan="6">{_bi(sections[sid]["vi"], sections[sid]["en"])}'
        f"</td></tr>{''.join(rows)}</tbody>"
        for sid, rows in groups.items()
    )
    head = _th(
        ("indicator", "value", "previous", "delta", "target", "met"), ("value", "previous", "delta", "target")
    )
    unverified = sorted({i["target_key"] for i in doc["indicators"] if i["target_verified"] is False})
    foot = (
        '<p class="note">* Mục tiêu chưa được kiểm chứng / unverified target (indicators/targets.yaml; nguồn '
        "của từng mục tiêu: phần Cách tính / each target's source: see Definitions).</p>"
        if unverified
        else ""
    )
    cols = "".join(f'<col class="c{i}">' for i in range(1, 7))
    return (
        f'<table class="summary"><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>{bodies}</table>'
        + foot
    )


def _ranking_rows(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def row(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "key": r["unit"],
            "label": f"{r['rank']}. {r['name'] or r['unit']}"[:42],
            "value": r["total"],
            "previous": r["previous_total"],
        }

    if len(units) <= MAX_BARS:
        return [row(r) for r in units]
    head, tail = units[:20], units[-10:]
    return (
        [row(r) for r in head]
        + [{"key": "", "label": "", "value": 0}]
        + [{**row(r), "css": "low"} for r in tail]
    )


def _group_head(groups: list[dict[str, Any]]) -> str:
    """Group columns: the code, its maximum and its name (CKMB (18) Công khai, minh bạch)."""
    return "".join(
        f'<th class="num group" title="{_h(g["vi"])} / {_h(g["en"])}">{_h(g["code"])} '
        f'<span class="en">({g["max"]:g})</span><br><span class="gname">{_h(g["vi"])}</span></th>'
        for g in groups
    )


def _bands(sc: dict[str, Any], names: dict[str, dict[str, Any]]) -> str:
    """Units below the thresholds per level (communes under 80 and 90 points), the weakest listed."""
    if not sc["thresholds"]:
        return ""
    rows = []
    for band in sc["thresholds"]:
        listed = ", ".join(
            f"{names[u]['name'] or u} ({fmt_value(names[u]['total'], 'points')})" for u in band["units"][:12]
        )
        more = len(band["units"]) - 12
        if more > 0:
            listed += f" … (+{more})"
        prev = "—" if band["previous_count"] is None else str(band["previous_count"])
        if band["from"] is not None and listed:
            listed = f"{band['from']:g}–{band['below']:g}: {listed}"
        rows.append(
            f'<tr data-level="{_h(band["level"])}" data-below="{band["below"]:g}">'
            f'<td>{_h(level_name(band["level"]))}</td><td class="num">&lt; {band["below"]:g}</td>'
            f'<td class="num">{band["count"]} / {band["of"]}</td>'
            f'<td class="num">{prev}</td><td class="units">{_h(listed)}</td></tr>'
        )
    return (
        f"<h3>{_bi('Đơn vị dưới ngưỡng điểm', 'Units below the thresholds')}</h3>"
        f'<table class="bands"><thead><tr><th>{_bi(*HEADINGS["level"])}</th>'
        f'<th class="num">{_bi("Dưới", "Under")}</th><th class="num">{_bi("Số đơn vị", "Units")}</th>'
        f'<th class="num">{_bi(*HEADINGS["previous"])}</th>'
        f"<th>{_bi('Đơn vị, thấp nhất trước', 'Units, lowest first')}"
        f"</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _scorecard(sc: dict[str, Any]) -> str:
    out = [f'<h2 id="scores-{_h(sc["id"])}">{_bi(sc["vi"], sc["en"])}</h2>']
    if not sc["province"] and not sc["units"] and not sc["unranked"]:
        return out[0] + '<p class="note">Không có dữ liệu / no data</p>'
    out.append(
        f'<p class="note">Nguồn điểm / scores: <b>{_h(sc["source"])}</b>; tối đa / maximum '
        f"{_h(fmt_value(sc['max_total'], 'points'))}; tổng điểm cần đủ {len(sc['groups'])} nhóm / a total "
        f"needs all {len(sc['groups'])} groups.</p>"
    )
    codes = [g["code"] for g in sc["groups"]]
    for prov in sc["province"]:
        cells = "".join(
            f'<td class="num">{_h(fmt_value(prov["groups"].get(g), "points"))}</td>' for g in codes
        )
        prev = prov.get("previous_groups") or {}
        prev_cells = "".join(f'<td class="num">{_h(fmt_value(prev.get(g), "points"))}</td>' for g in codes)
        out.append(
            f"<h3>{_bi('Toàn tỉnh', 'Province')}: {_h(prov['name'] or prov['unit'])} — "
            f"{_h(fmt_value(prov['total'], 'points'))} ({_h(fmt_delta(prov['delta'], 'points'))})</h3>"
        )
        missing = (
            f'<p class="note">{_h(missing_note(prov["missing_groups"]))}</p>'
            if prov["missing_groups"]
            else ""
        )
        out.append(
            f'<table class="groups"><thead><tr><th></th>{_group_head(sc["groups"])}'
            f'<th class="num">{_bi(*HEADINGS["total"])}</th></tr></thead><tbody>'
            f'<tr class="province" data-unit="{_h(prov["unit"])}">'
            f"<td>{_bi('Kỳ này', 'This period')}</td>{cells}"
            f'<td class="num">{_h(fmt_value(prov["total"], "points"))}</td></tr>'
            f"<tr><td>{_bi('Kỳ trước', 'Previous')}</td>{prev_cells}"
            f'<td class="num">{_h(fmt_value(prov["previous_total"], "points"))}</td></tr></tbody></table>'
            + missing
        )
    out.append(_bands(sc, {r["unit"]: r for r in sc["units"]}))
    levels: dict[str, list[dict[str, Any]]] = {}
    for r in sc["units"]:
        levels.setdefault(r["level"], []).append(r)
    for level, units in levels.items():
        title = f"{level_name(level)}: xếp hạng / units ranked ({len(units)})"
        out.append(f'<section class="level" data-level="{_h(level)}"><h3>{_h(title)}</h3>')
        out.append(
            '<figure><figcaption><span class="legend">Tổng điểm; vạch đen: kỳ trước / total score; black '
            "mark: "
            f"previous period{SHOWN if len(units) > MAX_BARS else ''}"
            "</span></figcaption>"
        )
        out.append(
            bar_chart(
                chart_id=f"{sc['id']}-ranking-{level or 'all'}",
                title=title,
                rows=_ranking_rows(units),
                x_max=sc["max_total"],
                fmt=lambda v: fmt_value(v, "points"),
            )
        )
        out.append("</figure>")
        head = _th(
            ("rank", "unit", "unit_name", "total", "delta", "rank_change"),
            ("rank", "total", "delta", "rank_change"),
        )
        rows = "".join(
            f'<tr data-unit="{_h(r["unit"])}"><td class="num">{r["rank"]}</td><td>{_h(r["unit"])}</td>'
            f'<td>{_h(r["name"])}</td><td class="num">{_h(fmt_value(r["total"], "points"))}</td>'
            f"{_delta_cell(r['delta'], 'points')}"
            f'<td class="num">{_rank_change(r["rank_change"])}</td></tr>'
            for r in units
        )
        out.append(
            f'<table class="ranking"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>'
        )
    if sc["unranked"]:
        rows = "".join(
            f'<tr data-unit="{_h(r["unit"])}"><td>{_h(level_name(r["level"]))}</td><td>{_h(r["unit"])}</td>'
            f"<td>{_h(r['name'])}</td><td>{_h(missing_text(r['missing_groups']))}</td></tr>"
            for r in sc["unranked"]
        )
        out.append(
            f"<h3>{_bi('Đơn vị chưa đủ điểm các nhóm, không xếp hạng', 'Units lacking a group, not ranked')} "
            f"({len(sc['unranked'])})</h3>"
            f'<table class="unranked"><thead><tr><th>{_bi(*HEADINGS["level"])}</th>'
            f"<th>{_bi(*HEADINGS['unit'])}"
            f"</th><th>{_bi(*HEADINGS['unit_name'])}</th><th>{_bi('Nhóm thiếu', 'Groups missing')}</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    return "".join(out)


def _national(doc: dict[str, Any]) -> str:
    nr = doc.get("national_ranking")
    if not nr:
        return ""
    out = [f'<section class="page" id="national"><h2>{_bi(nr["vi"], nr["en"])}</h2>']
    if not nr["provinces"]:
        out.append(f'<p class="empty">{_h(NO_RANKING)}</p></section>')
        return "".join(out)
    mine = next((r for r in nr["provinces"] if r["own"]), None)
    if mine is not None:
        prev = (
            f", kỳ trước / previous {mine['previous_rank']} ({_rank_change(mine['rank_change'])})"
            if mine["previous_rank"]
            else ""
        )
        out.append(
            f'<p class="own">{_h(mine["name"] or mine["province"])} ({_h(mine["province"])}): '
            f"hạng / rank <b>{mine['rank'] or '—'}</b> / {nr['ranked']}{_h(prev)} · "
            f"{_h(fmt_value(mine['total'], 'points'))} / {_h(fmt_value(nr['max_total'], 'points'))}</p>"
        )
    else:
        out.append(
            '<p class="note">Không tìm thấy tỉnh mình trong bảng xếp hạng (mã đơn vị tỉnh hoặc nhãn '
            "province) / the province's own code is not in the ranking (its unit code or the targets' "
            "province label).</p>"
        )
    codes = [g["code"] for g in nr["groups"]]
    own_css = ' class="own"'
    rows = "".join(
        f'<tr data-province="{_h(r["province"])}"{own_css if r["own"] else ""}>'
        f'<td class="num">{r["rank"] or "—"}</td><td>{_h(r["name"] or r["province"])} '
        f'<span class="en">· {_h(r["province"])}</span></td>'
        f'<td class="num">{_h(fmt_value(r["total"], "points"))}</td>'
        + "".join(f'<td class="num">{_h(fmt_value(r["groups"].get(g), "points"))}</td>' for g in codes)
        + f'{_delta_cell(r["delta"], "points")}<td class="num">{_rank_change(r["rank_change"])}</td></tr>'
        for r in nr["provinces"]
    )
    head = (
        f'<th class="num">{_bi(*HEADINGS["rank"])}</th><th>{_bi(*HEADINGS["province_name"])}</th>'
        f'<th class="num">{_bi(*HEADINGS["total"])}</th>{_group_head(nr["groups"])}'
        f'<th class="num">{_bi(*HEADINGS["delta"])}</th><th class="num">{_bi(*HEADINGS["rank_change"])}</th>'
    )
    cols = (
        '<col class="rank"><col class="name"><col class="total">'
        + '<col class="group">' * len(codes)
        + '<col class="change"><col class="change">'
    )
    out.append(
        f'<table class="national"><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody>"
        "</table></section>"
    )
    return "".join(out)


def _criteria(doc: dict[str, Any]) -> str:
    out = []
    for c in doc["criteria"]:
        rows = "".join(
            f'<tr data-criterion="{_h(r["criterion"])}"><td>{_h(r["criterion"])}</td>'
            f"<td>{_h(r['name'])}{'*' if r['verified'] is False else ''}</td>"
            f'<td class="num">{_h(fmt_value(r["score"], "points"))}</td>'
            f'<td class="num">{_h(fmt_value(r["max"], "points"))}</td>'
            f'<td class="mark">{"✓" if r["at_max"] else ""}</td>'
            f'<td class="input {_h(r["input"].replace(" ", "-"))}">{_h(input_text(r))}</td>'
            f'<td class="num">{_h(fmt_value(r["previous_score"], "points"))}</td>'
            f"{_delta_cell(r['delta'], 'points')}</tr>"
            for r in c["rows"]
        )
        head = (
            f"<th>{_bi(*HEADINGS['code'])}</th><th>{_bi(*HEADINGS['criterion_name'])}</th>"
            f'<th class="num">{_bi(*HEADINGS["points"])}</th><th class="num">{_bi(*HEADINGS["maximum"])}</th>'
            f"<th>{_bi(*HEADINGS['at_max'])}</th><th>{_bi(*HEADINGS['input'])}</th>"
            f'<th class="num">{_bi(*HEADINGS["previous"])}</th><th class="num">{_bi(*HEADINGS["delta"])}</th>'
        )
        total = (
            f"{fmt_value(c['total'], 'points')} / {fmt_value(c['total_max'], 'points')} "
            f"({fmt_delta(c['delta'], 'points')}); {c['at_max']}/{len(c['rows'])} tiêu chí đạt tối đa / "
            "criteria at maximum"
        )
        foot = f'<p class="note">{_h(UNVERIFIED)}</p>' if c["unverified"] else ""
        out.append(
            f'<section class="criteria" id="criteria-{_h(c["id"])}"><h2>{_bi(c["vi"], c["en"])}</h2>'
            f'<p class="own">{_h(total)}</p>'
            '<table class="criteria"><colgroup><col class="code"><col class="name"><col class="num">'
            '<col class="num"><col class="mark"><col class="input"><col class="num"><col class="num">'
            "</colgroup>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{foot}</section>"
        )
    return "".join(out)


def _legend(doc: dict[str, Any]) -> str:
    """The key of a trend chart: this period's line, the previous period's dashed line."""
    cur, prev = doc["period"], doc["previous_period"]
    return (
        f'<p class="legend"><span class="key cur"></span>{_h(cur["title_vi"])} / {_h(cur["title_en"])} '
        f'<span class="key prev"></span>{_h(prev["title_vi"])} / {_h(prev["title_en"])} '
        '<span class="key target"></span>mục tiêu / target</p>'
    )


def _trends(doc: dict[str, Any]) -> str:
    period = doc["period"]
    start = dt.datetime.fromisoformat(period["start"])
    prev_start = dt.datetime.fromisoformat(doc["previous_period"]["start"])
    days = doc["days_in_period"]
    labels = _x_labels(period, days)
    figures = []
    for ind in doc["indicators"]:
        if ind["display"] != "ratio" or not (ind["trend"] or ind["previous_trend"]):
            continue
        cur = [(_day_index(t, start), v) for t, v in ind["trend"]]
        prev = [(_day_index(t, prev_start), v) for t, v in ind["previous_trend"]]
        fmt = lambda v: fmt_value(v, "ratio").replace(",00 %", " %")  # noqa: E731
        figures.append(
            f'<figure data-indicator="{_h(ind["id"])}"><figcaption>{_bi(ind["vi"], ind["en"])}</figcaption>'
            + line_chart(
                chart_id=ind["id"],
                title=f"{ind['vi']} / {ind['en']}",
                days=days,
                y_max=1.0,
                fmt=fmt,
                target=ind["target"],
                x_labels=labels,
                series=[
                    {
                        "name": "previous",
                        "label": doc["previous_period"]["label"],
                        "points": prev,
                        "dashed": True,
                    },
                    {"name": "current", "label": period["label"], "points": cur},
                ],
            )
            + "</figure>"
        )
    for sc in doc["scorecards"]:
        if not sc["trend"]:
            continue
        cur = [(_day_index(t, start), v) for t, v in sc["trend"]]
        prev = [(_day_index(t, prev_start), v) for t, v in sc["previous_trend"]]
        figures.append(
            f'<figure data-scorecard="{_h(sc["id"])}"><figcaption>{_bi(sc["vi"], sc["en"])}: '
            f"{_bi('tổng điểm toàn tỉnh', 'province total')}</figcaption>"
            + line_chart(
                chart_id=f"{sc['id']}-total",
                title=f"{sc['vi']} / {sc['en']}",
                days=days,
                y_max=sc["max_total"],
                fmt=lambda v: fmt_value(v, "points"),
                x_labels=labels,
                series=[
                    {
                        "name": "previous",
                        "label": doc["previous_period"]["label"],
                        "points": prev,
                        "dashed": True,
                    },
                    {"name": "current", "label": period["label"], "points": cur},
                ],
            )
            + "</figure>"
        )
    if not figures:
        return ""
    return (
        f'<section class="page" id="trends"><h2>{_bi("Diễn biến trong kỳ", "Trends over the period")}</h2>'
        '<p class="note">Giá trị lũy kế cuối mỗi ngày; kỳ trước vẽ theo cùng ngày trong kỳ / the cumulative '
        f"value at the end of each day; the previous period on the same day of its period.</p>{_legend(doc)}"
        f'<div class="charts">{"".join(figures)}</div></section>'
    )


def _availability(doc: dict[str, Any]) -> str:
    av = doc["availability"]
    if not av["targets"]:
        return ""
    pct = lambda v: fmt_value(v, "ratio")  # noqa: E731
    rows = [
        {
            "key": s["system"],
            "label": system_name(s["system"]),
            "value": s["availability"],
            "previous": s["previous_availability"],
            "css": "low" if s["availability"] < av["objective"] else "",
        }
        for s in av["systems"]
    ]
    chart = bar_chart(
        chart_id="availability-systems",
        title="Availability per system",
        rows=rows,
        x_max=1.0,
        fmt=pct,
        objective=av["objective"],
    )
    head = _th(
        ("system", "availability", "previous", "delta", "observations", "poll_duration"),
        ("availability", "previous", "delta", "observations", "poll_duration"),
    )
    body = []
    for s in av["systems"]:
        body.append(
            f'<tr class="province" data-system="{_h(s["system"])}"><td>{_h(system_name(s["system"]))} '
            f'<span class="en">({s["targets"]})</span></td><td class="num">{_h(pct(s["availability"]))}</td>'
            f'<td class="num">{_h(pct(s["previous_availability"]))}</td>{_delta_cell(s["delta"], "ratio")}'
            f"<td></td><td></td></tr>"
        )
        for t in (t for t in av["targets"] if t["system"] == s["system"]):
            body.append(
                f'<tr data-target="{_h(t["target"])}"><td class="indent">{_h(t["target"])}</td>'
                f'<td class="num">{_h(pct(t["availability"]))}</td>'
                f'<td class="num">{_h(pct(t["previous_availability"]))}</td>'
                f"{_delta_cell(t['delta'], 'ratio')}"
                f'<td class="num">{t["observations"]}</td>'
                f'<td class="num">{_h(fmt_value(t["mean_poll_duration_seconds"], "points"))}</td></tr>'
            )
    return (
        '<section class="page" id="availability">'
        f"<h2>{_bi('Mức độ sẵn sàng của hệ thống', 'System availability')}"
        f"</h2><figure><figcaption>{_bi('Tỷ lệ sẵn sàng theo hệ thống', 'Availability per system')} "
        f'<span class="legend">— mục tiêu / objective {_h(pct(av["objective"]))}</span></figcaption>{chart}'
        f'</figure><table class="availability"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
        f"</tbody></table></section>"
    )


def _definitions(doc: dict[str, Any]) -> str:
    rows = []
    for ind in doc["indicators"]:
        vi, en = definition_text(ind, doc)
        formula, _sep, how_vi = vi.partition("; ")
        how_en = en.partition("; ")[2]
        target = ""
        if ind["target"] is not None:
            flag = " (chưa kiểm chứng / unverified)" if ind["target_verified"] is False else ""
            target = (
                f"<b>{_h(fmt_value(ind['target'], ind['display']))}</b> "
                f"<code>{_h(ind['target_key'])}</code><br>"
                f"{_h(ind['target_note'])}{_h(flag)}"
            )
        rows.append(
            f"<tr><td>{_bi(ind['vi'], ind['en'])}<br><code>{_h(ind['id'])}</code></td>"
            f'<td><code class="formula">{_h(formula)}</code><br>{_h(how_vi)}<br><span class="en">{_h(how_en)}'
            f"</span></td><td>{target}</td></tr>"
        )
    src = doc["source"]
    where = src.get("file") or src.get("url")
    method = doc["method"]
    return (
        f'<section class="page" id="definitions"><h2>{_bi("Cách tính", "Definitions")}</h2>'
        f'<table class="definitions"><colgroup><col class="c1"><col class="c2"><col class="c3"></colgroup>'
        f"<thead><tr><th>{_bi(*HEADINGS['indicator'])}</th><th>{_bi(*HEADINGS['definition'])}</th>"
        f"<th>{_bi(*HEADINGS['target'])}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="note">Nguồn / source: {_h(src["type"])} {_h(where)}. Tính tại / evaluated at '
        f"{_h(method['evaluated_at'])}; {_h(method['window'])}; lookback {method['lookback_seconds']:g}s. "
        f"{_h(method['availability'])}. Xếp hạng theo tổng điểm giảm dần rồi mã đơn vị, trong từng cấp / "
        f"units ranked on their total (highest first, then unit code) within their level; a total needs "
        f"every group. Mục tiêu: indicators/targets.yaml / targets: indicators/targets.yaml. "
        f"{len(doc['queries'])} truy vấn / queries, listed in the JSON snapshot.</p></section>"
    )


def render_html(doc: dict[str, Any]) -> str:
    period, prev = doc["period"], doc["previous_period"]
    src = doc["source"]
    facts = [
        (
            "Kỳ báo cáo / Period",
            f"{period['title_vi']} / {period['title_en']} ({period['start'][:10]} – "
            f"{(dt.datetime.fromisoformat(period['end']) - dt.timedelta(seconds=1)):%Y-%m-%d})",
        ),
        ("So với / Compared with", f"{prev['title_vi']} / {prev['title_en']}"),
        (
            "Số liệu / Data",
            f"{local_text(doc['data_from'])} – {local_text(doc['data_until'])} "
            f"({doc['days_with_data']}/{doc['days_in_period']} ngày có dữ liệu / days with data)",
        ),
        ("Nguồn / Source", f"{src['type']}: {src.get('file') or src.get('url')}"),
        ("Lập lúc / Generated", doc["generated_at"]),
    ]
    facts_html = (
        '<dl class="facts">' + "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in facts) + "</dl>"
    )
    if doc["notes"]:
        facts_html += (
            '<section id="notes" class="notes"><h2>Lưu ý khi đọc số liệu <span class="en">/ Read this first'
            "</span></h2><ul>"
            + "".join(
                f'<li data-note="{_h(n["code"])}">{_h(n["vi"])}<br><span class="en">{_h(n["en"])}</span></li>'
                for n in doc["notes"]
            )
            + "</ul></section>"
        )
    body = [f'<section id="summary"><h2>{_bi("Tổng hợp chỉ số", "Summary")}</h2>{_summary(doc)}']
    if doc["warnings"]:
        body.append('<ul class="warnings">' + "".join(f"<li>{_h(w)}</li>" for w in doc["warnings"]) + "</ul>")
    body.append("</section>")
    body.append(_criteria(doc))
    for sc in doc["scorecards"]:
        body.append(f'<section class="page" id="scorecard-{_h(sc["id"])}">{_scorecard(sc)}</section>')
    body.append(_national(doc))
    body.append(_trends(doc))
    body.append(_availability(doc))
    body.append(_definitions(doc))
    template = Template((TEMPLATES / "report.html").read_text(encoding="utf-8"))
    return template.substitute(
        generator=_h(doc["generator"]),
        title=_h(f"{doc['title_vi']} — {period['title_vi']}"),
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
        kicker=_h(f"{both(('Báo cáo định kỳ', 'Periodic report'))} · {period['label']}"),
        heading=_h(f"{doc['title_vi']} — {period['title_vi']}"),
        subheading=_h(f"{doc['title_en']} — {period['title_en']}"),
        facts=facts_html,
        body="".join(body),
        footer=_h(f"{doc['generator']} · {doc['schema']} · {src['type']}"),
    )


def write_html(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    from exporter.snapshot.files import write_atomic as _atomic

    text = render_html(doc)
    path = out_dir / f"{file_base(doc)}.html"
    return [_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))]
