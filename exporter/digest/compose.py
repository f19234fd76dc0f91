"""What the weekly digest says, read from a snapshot source (the embedded history or a Prometheus-compatible
server, :mod:`exporter.snapshot.sources`), and its bilingual text.

Figures, for the window ``(start, end]`` (7 days by default):

* the province's Decision 766 total and rank among the provinces, at the end of the window and its change
  since the start, from ``egov_qd766_province_score{group="total"}`` and ``egov_qd766_province_rank`` (the
  national report of every province, polled by the ``qd766`` collector); when those series are absent the
  digest says so, and gives the province's own total from its units' published group scores;
* the units whose 766 total (the sum of their published group scores) is below each threshold;
* per 766 group, the unit whose score fell most during the window;
* availability per system: the mean of ``egov_target_up`` over the window (targets averaged per system);
* the alerts that fired (``ALERTS{alertstate="firing"}``: a Prometheus-compatible server only; the
  embedded history does not record alerts, and the digest says so).

Values at an instant are each series' last sample within a day before it (else within the window), as
the snapshots read them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

from exporter.snapshot.compute import natural_key, r2
from exporter.snapshot.selectors import parse_selector
from exporter.snapshot.sources import Series

TZ_NAME = "Asia/Ho_Chi_Minh"
GROUPS = ("CKMB", "TDGQ", "CLGQ", "TTTT", "MDHL", "MDSH")
PROVINCE_SCORE = "egov_qd766_province_score"
PROVINCE_RANK = "egov_qd766_province_rank"
PROVINCE_INFO = "egov_qd766_province_info"
DAY = 86400.0


@dataclasses.dataclass
class Options:
    start: dt.datetime
    end: dt.datetime
    period: str = "month"  # the 766 period label read (month, quarter, year)
    province: str | None = None  # MA_COQUAN / unit code of the province; default: the qd766 province unit
    thresholds: tuple[float, ...] = (80.0, 90.0)
    top: int = 5  # units listed per threshold


def _last(source: Any, selector: str, t: float, window: float) -> list[Series]:
    sel = parse_selector(selector)
    for w in (min(DAY, window), window) if window > DAY else (window,):
        found = source.last_over(sel, t, w)
        if found:
            return found
    return []


def _sorted(series: list[Series]) -> list[Series]:
    return sorted(series, key=lambda s: sorted(s[0].items()))


def compose(source: Any, opts: Options) -> dict[str, Any]:
    """Every figure of the digest, as a JSON-able document (the webhook's ``digest``)."""
    start, end = opts.start.timestamp(), opts.end.timestamp()
    window = end - start
    period = opts.period

    def last(selector: str, t: float) -> list[Series]:
        return _last(source, selector, t, window)

    # units: names and the province unit ---------------------------------------------------------
    names: dict[str, str] = {}
    province_unit = None
    for labels, _v in _sorted(last("egov_qd766_unit_info", end)):
        unit = labels.get("unit", "")
        names.setdefault(unit, labels.get("unit_name", ""))
        if labels.get("level", "").lower() == "province" and province_unit is None:
            province_unit = unit
    province = opts.province or province_unit

    # unit totals and group scores, at the end and at the start -----------------------------------
    def scores(t: float) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        sel = f'egov_qd766_score{{source="published", period="{period}"}}'
        for labels, v in _sorted(last(sel, t)):
            if labels.get("group") in GROUPS and not math.isnan(v):
                out.setdefault(labels.get("unit", ""), {}).setdefault(labels["group"], v)
        return out

    now_scores, then_scores = scores(end), scores(start)

    def total(groups: dict[str, float]) -> float:
        return r2(math.fsum(groups.values()))

    units = {u: total(g) for u, g in now_scores.items() if u != province_unit}
    below = []
    for limit in sorted(opts.thresholds):
        hits = sorted((v, natural_key(u), u) for u, v in units.items() if v < limit)
        below.append(
            {
                "threshold": limit,
                "count": len(hits),
                "units": [{"unit": u, "name": names.get(u, ""), "total": v} for v, _k, u in hits[: opts.top]],
            }
        )
    drops = []
    for group in GROUPS:
        worst = None
        for unit, groups in now_scores.items():
            if unit == province_unit or group not in groups or group not in then_scores.get(unit, {}):
                continue
            drop = r2(then_scores[unit][group] - groups[group])
            if drop > 0 and (worst is None or (drop, natural_key(worst[0])) > (worst[1], natural_key(unit))):
                worst = (unit, drop)
        if worst:
            unit, drop = worst
            drops.append(
                {
                    "group": group,
                    "unit": unit,
                    "name": names.get(unit, ""),
                    "from": r2(then_scores[unit][group]),
                    "to": r2(now_scores[unit][group]),
                    "drop": drop,
                }
            )

    # the province among the provinces ----------------------------------------------------------
    def province_figures(t: float) -> dict[str, Any]:
        if not province:
            return {}
        score = last(f'{PROVINCE_SCORE}{{group="total", period="{period}"}}', t)
        rank = last(f'{PROVINCE_RANK}{{period="{period}"}}', t)
        mine = [v for labels, v in score if labels.get("province") == province]
        my_rank = [v for labels, v in rank if labels.get("province") == province]
        return {
            "total": r2(mine[0]) if mine else None,
            "rank": int(my_rank[0]) if my_rank else None,
            "ranked": len({labels.get("province") for labels, _ in rank}) or None,
        }

    ranking_now, ranking_then = province_figures(end), province_figures(start)
    ranking_available = bool(ranking_now.get("total") is not None or ranking_now.get("rank") is not None)
    province_name = ""
    if province:
        for labels, _v in last(PROVINCE_INFO, end):
            if labels.get("province") == province:
                province_name = labels.get("name", "")
        province_name = province_name or names.get(province, "")
    own_now = total(now_scores[province_unit]) if province_unit in now_scores else None
    own_then = total(then_scores[province_unit]) if province_unit in then_scores else None
    total_now = ranking_now.get("total") if ranking_available else own_now
    total_then = ranking_then.get("total") if ranking_available else own_then
    rank_now, rank_then = ranking_now.get("rank"), ranking_then.get("rank")

    # availability per system --------------------------------------------------------------------
    per_target: dict[str, tuple[str, float]] = {}
    for labels, v in _sorted(source.avg_over(parse_selector("egov_target_up"), end, window)):
        per_target.setdefault(labels.get("target", ""), (labels.get("system", ""), v))
    systems: dict[str, list[float]] = {}
    for system, v in per_target.values():
        systems.setdefault(system, []).append(v)
    availability = [
        {"system": s, "availability": round(math.fsum(v) / len(v), 6), "targets": len(v)}
        for s, v in sorted(systems.items())
    ]
    worst_targets = sorted((v, t) for t, (_s, v) in per_target.items() if v < 1)[:3]

    # alerts ---------------------------------------------------------------------------------------
    alerts: list[dict[str, Any]] | None = None
    if getattr(source, "kind", "") == "prometheus":
        fired: dict[str, dict[str, Any]] = {}
        for labels, points in source.samples_over(parse_selector('ALERTS{alertstate="firing"}'), end, window):
            name = labels.get("alertname", "")
            entry = fired.setdefault(
                name, {"alertname": name, "severity": "", "targets": set(), "first": None}
            )
            entry["severity"] = entry["severity"] or labels.get("severity", "")
            entry["targets"].add(labels.get("target") or labels.get("system") or labels.get("instance", ""))
            first = min(ts for ts, _v in points) if points else None
            if first is not None and (entry["first"] is None or first < entry["first"]):
                entry["first"] = first
        alerts = [
            {
                "alertname": e["alertname"],
                "severity": e["severity"],
                "count": len(e["targets"]),
                "targets": sorted(t for t in e["targets"] if t),
                "first": _iso(e["first"]) if e["first"] is not None else None,
            }
            for e in sorted(fired.values(), key=lambda e: (e["severity"] != "critical", e["alertname"]))
        ]

    return {
        "schema": "egov-exporter/digest/v1",
        "window": {
            "start": opts.start.isoformat(timespec="seconds"),
            "end": opts.end.isoformat(timespec="seconds"),
        },
        "period": period,
        "province": {
            "code": province,
            "name": province_name,
            "total": total_now,
            "total_change": r2(total_now - total_then)
            if total_now is not None and total_then is not None
            else None,
            "rank": rank_now,
            "rank_change": rank_then - rank_now if rank_now is not None and rank_then is not None else None,
            "ranked_among": ranking_now.get("ranked"),
            "ranking_available": ranking_available,
        },
        "below_thresholds": below,
        "units_scored": len(units),
        "largest_drops": drops,
        "availability": availability,
        "least_available_targets": [{"target": t, "availability": round(v, 6)} for v, t in worst_targets],
        "alerts": alerts,
        "source": getattr(source, "kind", ""),
    }


def _iso(ts: float) -> str:
    from exporter.snapshot.periods import TZ

    return dt.datetime.fromtimestamp(ts, TZ).isoformat(timespec="minutes")


# ------------------------------------------------------------------------------------------- text


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _signed(x: float | None, digits: int = 2) -> str:
    if x is None:
        return ""
    return f" ({'+' if x >= 0 else '−'}{abs(x):.{digits}f})"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def subject(doc: dict[str, Any]) -> str:
    p = doc["province"]
    who = " ".join(x for x in (p["code"], p["name"]) if x) or "egov-exporter"
    day = doc["window"]["end"][:10]
    return f"Bản tin tuần chính quyền số / Weekly e-government digest — {who} — {day}"


def render_text(doc: dict[str, Any]) -> str:
    """The digest as a short bilingual plain-text message (Vietnamese / English)."""
    p = doc["province"]
    w = doc["window"]
    lines = [
        subject(doc),
        f"Tuần / week: {w['start'][:16].replace('T', ' ')} → {w['end'][:16].replace('T', ' ')} ({TZ_NAME})",
        "",
        f"Chỉ số 766 (kỳ / period: {doc['period']})",
    ]
    if p["ranking_available"]:
        rank = ""
        if p["rank"] is not None:
            change = p["rank_change"]
            moved = (
                ""
                if change is None
                else (f" (↑{change})" if change > 0 else f" (↓{-change})" if change < 0 else " (=)")
            )
            rank = f", hạng / rank {p['rank']}/{p['ranked_among']}{moved}"
        lines.append(f"  Tổng điểm / total: {_num(p['total'])}{_signed(p['total_change'])}{rank}")
    else:
        lines.append(
            "  Xếp hạng các tỉnh: chưa có dữ liệu / National ranking: no data "
            f"({PROVINCE_SCORE}, {PROVINCE_RANK} absent: the qd766 collector's province ranking)"
        )
        if p["total"] is not None:
            lines.append(
                f"  Tổng điểm của tỉnh / province total (own units' published scores): "
                f"{_num(p['total'])}{_signed(p['total_change'])}"
            )
    lines += [
        "",
        f"Đơn vị dưới ngưỡng / units below thresholds ({doc['units_scored']} đơn vị / units scored)",
    ]
    for b in doc["below_thresholds"]:
        shown = ", ".join(f"{u['name'] or u['unit']} {_num(u['total'])}" for u in b["units"])
        more = f", … +{b['count'] - len(b['units'])}" if b["count"] > len(b["units"]) else ""
        lines.append(f"  < {b['threshold']:g}: {b['count']}" + (f" — {shown}{more}" if shown else ""))
    lines += ["", "Giảm nhiều nhất theo nhóm / largest drops per group"]
    if doc["largest_drops"]:
        for d in doc["largest_drops"]:
            who = d["name"] or d["unit"]
            lines.append(f"  {d['group']}: {who} {_num(d['from'])} → {_num(d['to'])} (−{d['drop']:.2f})")
    else:
        lines.append("  không có / none")
    lines += ["", "Khả dụng theo hệ thống / availability per system"]
    if doc["availability"]:
        lines.append(
            "  " + ", ".join(f"{a['system']} {_pct(a['availability'])}" for a in doc["availability"])
        )
        if doc["least_available_targets"]:
            worst = ", ".join(
                f"{t['target']} {_pct(t['availability'])}" for t in doc["least_available_targets"]
            )
            lines.append(f"  Thấp nhất / lowest: {worst}")
    else:
        lines.append("  không có dữ liệu / no data")
    lines += ["", "Cảnh báo đã phát / alerts fired"]
    if doc["alerts"] is None:
        lines.append(
            "  không có trong lịch sử nhúng / not recorded in the embedded history (use --prometheus-url)"
        )
    elif not doc["alerts"]:
        lines.append("  không có / none")
    else:
        for a in doc["alerts"]:
            targets = ", ".join(a["targets"][:3]) + (
                f", … +{len(a['targets']) - 3}" if len(a["targets"]) > 3 else ""
            )
            lines.append(f"  {a['alertname']} ({a['severity']}) × {a['count']}: {targets}")
    return "\n".join(lines) + "\n"
