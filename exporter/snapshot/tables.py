"""The snapshot's tables as rows of plain values: what CSV writes and XLSX formats (one source of truth
for both, so a figure cannot differ between them)."""

from __future__ import annotations

from typing import Any

from exporter.snapshot.labels import met, missing_text


def note_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The facts a reader needs first (period, what the data cover) and the notes on them."""
    period, prev = doc["period"], doc["previous_period"]
    facts = [
        ("period", period["label"], "Kỳ báo cáo", "Period"),
        ("period_start", period["start"], "Từ", "From"),
        ("period_end", period["end"], "Đến (không kể)", "To (exclusive)"),
        ("previous_period", prev["label"], "Kỳ so sánh", "Compared with"),
        ("data_from", doc["data_from"], "Số liệu từ (mẫu đầu tiên)", "Data from (first sample)"),
        ("data_until", doc["data_until"], "Số liệu đến (mẫu cuối cùng)", "Data until (last sample)"),
        (
            "days_with_data",
            f"{doc['days_with_data']}/{doc['days_in_period']}",
            "Số ngày có dữ liệu",
            "Days with data",
        ),
        ("generated_at", doc["generated_at"], "Lập lúc", "Generated"),
    ]
    out = [{"key": k, "value": v, "vi": vi, "en": en} for k, v, vi, en in facts]
    out += [{"key": n["code"], "value": "", "vi": n["vi"], "en": n["en"]} for n in doc["notes"]]
    return out


def indicator_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each indicator: its province figure, then one row per unit (or target, criterion...)."""
    sections = {s["id"]: s for s in doc["sections"]}
    out = []
    for ind in doc["indicators"]:
        common = {
            "section": ind["section"],
            "section_vi": sections[ind["section"]]["vi"],
            "section_en": sections[ind["section"]]["en"],
            "indicator": ind["id"],
            "name_vi": ind["vi"],
            "name_en": ind["en"],
            "display": ind["display"],
            "by": ind["by"],
        }
        out.append(
            {
                **common,
                "row": "province",
                "key": "",
                "unit_name": "",
                "value": ind["value"],
                "numerator": ind["numerator"],
                "denominator": ind["denominator"],
                "previous_value": ind["previous"]["value"],
                "delta": ind["delta"],
                "target": ind["target"],
                "target_met": met(ind["value"], ind["target"]),
            }
        )
        for r in ind["rows"]:
            out.append(
                {
                    **common,
                    "row": "aggregate" if r["aggregate"] else "row",
                    "key": r["key"],
                    "unit_name": r["name"],
                    "value": r["value"],
                    "numerator": r["numerator"],
                    "denominator": r["denominator"],
                    "previous_value": r["previous_value"],
                    "delta": r["delta"],
                    "target": ind["target"],
                    "target_met": met(r["value"], ind["target"]),
                }
            )
    return out


def unit_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for sc in doc["scorecards"]:
        codes = [g["code"] for g in sc["groups"]]
        for kind, rows in (("province", sc["province"]), ("unit", sc["units"] + sc["unranked"])):
            for r in rows:
                row = {
                    "scorecard": sc["id"],
                    "row": kind,
                    "level": r["level"],
                    "rank": r.get("rank"),
                    "ranked_among": r.get("ranked_among"),
                    "unit": r["unit"],
                    "unit_name": r["name"],
                    "total": r["total"],
                    "source": sc["source"],
                }
                row.update({g: r["groups"].get(g) for g in codes})
                row.update({f"total_{s}": v for s, v in r["totals"].items()})
                row["missing_groups"] = missing_text(r["missing_groups"])
                row.update(
                    {
                        "previous_total": r["previous_total"],
                        "delta": r["delta"],
                        "previous_rank": r.get("previous_rank"),
                        "rank_change": r.get("rank_change"),
                    }
                )
                out.append(row)
    return out


def ranking_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The national ranking: every province's rank, total and group scores; ``own`` marks this province."""
    nr = doc.get("national_ranking")
    if not nr:
        return []
    codes = [g["code"] for g in nr["groups"]]
    return [
        {
            "rank": r["rank"],
            "province": r["province"],
            "name": r["name"],
            "own": r["own"],
            "total": r["total"],
            **{g: r["groups"].get(g) for g in codes},
            "previous_rank": r["previous_rank"],
            "rank_change": r["rank_change"],
            "previous_total": r["previous_total"],
            "delta": r["delta"],
        }
        for r in nr["provinces"]
    ]


def criteria_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each criterion of each criteria table (PAR Index component 7): points, maximum, how it was scored."""
    return [
        {
            "table": c["id"],
            "criterion": r["criterion"],
            "name": r["name"],
            "score": r["score"],
            "max": r["max"],
            "at_max": r["at_max"],
            "input": r["input"],
            "set_by": r["set_by"],
            "set_at": r["set_at"],
            "verified": r["verified"],
            "previous_score": r["previous_score"],
            "delta": r["delta"],
        }
        for c in doc["criteria"]
        for r in c["rows"]
    ]


def availability_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    av = doc["availability"]
    out = [
        {
            "scope": "overall",
            "target": "",
            "system": "",
            "availability": av["overall"],
            "observations": None,
            "mean_poll_duration_seconds": None,
            "previous_availability": av["previous_overall"],
            "delta": av["delta"],
        }
    ]
    for r in av["systems"]:
        out.append(
            {
                "scope": "system",
                "target": "",
                "system": r["system"],
                "availability": r["availability"],
                "observations": None,
                "mean_poll_duration_seconds": None,
                "previous_availability": r["previous_availability"],
                "delta": r["delta"],
            }
        )
    for r in av["targets"]:
        out.append(
            {
                "scope": "target",
                "target": r["target"],
                "system": r["system"],
                "availability": r["availability"],
                "observations": r["observations"],
                "mean_poll_duration_seconds": r["mean_poll_duration_seconds"],
                "previous_availability": r["previous_availability"],
                "delta": r["delta"],
            }
        )
    return out


def definition_text(ind: dict[str, Any], doc: dict[str, Any]) -> tuple[str, str]:
    """How the figure is computed, in Vietnamese and English."""
    period = doc["period"]
    if ind["read"] == "counter" and period["counter_period"]:
        how_en = (
            f"last value before the end of the period of the period-to-date counters with "
            f'period="{period["counter_period"]}"'
        )
        how_vi = f'giá trị lũy kế cuối kỳ của bộ đếm theo kỳ (period="{period["counter_period"]}")'
    elif ind["read"] == "counter":
        how_en = 'increase over the range of the period-to-date counters with period="year"'
        how_vi = 'mức tăng trong khoảng thời gian của bộ đếm lũy kế năm (period="year")'
    else:
        how_en, how_vi = "last value before the end of the period", "giá trị cuối kỳ"
    sels = ind["selectors"]
    if "numerator" in sels:
        formula = f"sum({sels['numerator']}) / sum({sels['denominator']})"
    else:
        formula = f"{ind['aggregate']}({sels['value']})"
    by = f", per {ind['by']}" if ind["by"] else ""
    return f"{formula}; {how_vi}", f"{formula}; {how_en}{by}"
