"""Writing a snapshot: JSON (machine-readable, reproducible), CSV (one file per table), XLSX (for people,
bilingual headings, numbers as numbers) and the HTML report (see :mod:`exporter.snapshot.html`).

Every file is written to a temporary name and renamed when complete: an interrupted run leaves no
half-written report behind."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from pathlib import Path
from typing import Any

from exporter.snapshot.files import write_atomic as _atomic
from exporter.snapshot.labels import (
    HEADINGS,
    NO_RANKING,
    UNVERIFIED,
    below_text,
    both,
    file_base,
    head,
    input_text,
    level_name,
    local_text,
    local_time,
    met,
    missing_note,
    system_name,
)
from exporter.snapshot.tables import (
    availability_rows,
    criteria_rows,
    definition_text,
    indicator_rows,
    note_rows,
    ranking_rows,
    unit_rows,
)

FORMATS = ("xlsx", "csv", "json", "html")


def _clean(obj: Any) -> Any:
    """NaN/inf are not JSON: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def write_json(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    path = out_dir / f"{file_base(doc)}.json"
    text = json.dumps(_clean(doc), ensure_ascii=False, indent=1, allow_nan=False) + "\n"
    return [_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))]


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def write_csv(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    """UTF-8 with a byte-order mark, so that Excel shows the Vietnamese names right."""
    base, out = file_base(doc), []
    for name, rows in (
        ("notes", note_rows(doc)),
        ("indicators", indicator_rows(doc)),
        ("units", unit_rows(doc)),
        ("criteria", criteria_rows(doc)),
        ("ranking", ranking_rows(doc)),
        ("availability", availability_rows(doc)),
    ):
        text = _csv_text(rows)
        out.append(
            _atomic(out_dir / f"{base}-{name}.csv", lambda p, t=text: p.write_text(t, encoding="utf-8-sig"))
        )
    return out


# ------------------------------------------------------------------------------------------- xlsx

SHEETS = {
    "summary": "Tổng hợp - Summary",
    "indicators": "Chỉ tiêu - Indicators",
    "units": "Xếp hạng - Units ranked",
    "national": "Toàn quốc - National ranking",
    "criteria": "Tiêu chí - Criteria",
    "availability": "Sẵn sàng - Availability",
    "definitions": "Định nghĩa - Definitions",
}
NUMBER_FORMATS = {
    "count": "#,##0",
    "ratio": "0.00%",
    "points": "0.00",
    "seconds": "0.000",
    "timestamp": "yyyy-mm-dd hh:mm",
}
DELTA_FORMATS = {
    "count": "+#,##0;-#,##0;0",
    "ratio": "+0.00%;-0.00%;0.00%",
    "points": "+0.00;-0.00;0.00",
    "seconds": "+0.000;-0.000;0.000",
    "timestamp": "+0.0;-0.0;0.0",
}


def _excel_value(value: Any, display: str) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if display == "timestamp":
        return local_time(value).replace(tzinfo=None)
    return value


def _excel_delta(delta: Any, display: str) -> Any:
    if delta is None or (isinstance(delta, float) and not math.isfinite(delta)):
        return None
    return delta / 86400 if display == "timestamp" else delta


def write_xlsx(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold, title_font = Font(bold=True), Font(bold=True, size=14)
    head_fill = PatternFill("solid", fgColor="DCE6F1")
    wrap = Alignment(wrap_text=True, vertical="top")

    wb = Workbook()
    sheets = {key: (wb.active if i == 0 else wb.create_sheet()) for i, key in enumerate(SHEETS)}
    for key, ws in sheets.items():
        ws.title = SHEETS[key]

    def header(ws: Any, row: int, titles: list[str], widths: list[int]) -> None:
        for c, (t, w) in enumerate(zip(titles, widths, strict=True), start=1):
            cell = ws.cell(row=row, column=c, value=t)
            cell.font, cell.fill, cell.alignment = bold, head_fill, wrap
            ws.column_dimensions[get_column_letter(c)].width = w
        ws.freeze_panes = ws.cell(row=row + 1, column=1)

    def put(ws: Any, row: int, col: int, value: Any, fmt: str | None = None) -> None:
        cell = ws.cell(row=row, column=col, value=value)
        if fmt and value is not None:
            cell.number_format = fmt

    def met_text(value: Any, target: Any) -> str | None:
        m = met(value, target)
        return None if m is None else ("Đạt / Yes" if m else "Chưa / No")

    def put_row(ws: Any, row: int, cells: list[Any]) -> None:
        """One table row from column 1: each cell a value, or (value, number format)."""
        for col, cell in enumerate(cells, start=1):
            value, fmt = cell if isinstance(cell, tuple) else (cell, None)
            put(ws, row, col, value, fmt)

    period, prev = doc["period"], doc["previous_period"]
    sections = {s["id"]: s for s in doc["sections"]}

    # summary ---------------------------------------------------------------------------------
    ws = sheets["summary"]
    ws["A1"] = f"{doc['title_vi']} — {period['title_vi']}"
    ws["A1"].font = title_font
    ws["A2"] = f"{doc['title_en']} — {period['title_en']}"
    ws["A2"].font = Font(italic=True)
    src = doc["source"]
    where = src.get("file") or src.get("url")
    info = [
        (head("figure", " / "), ""),
        ("Kỳ báo cáo / Period", f"{period['label']} ({period['start'][:10]} – {_last_day(period)})"),
        ("Kỳ so sánh / Compared with", f"{prev['label']} ({prev['start'][:10]} – {_last_day(prev)})"),
        ("Nguồn dữ liệu / Source", f"{src['type']}: {where}"),
        ("Số liệu từ / Data from", local_text(doc["data_from"])),
        ("Số liệu đến / Data until", local_text(doc["data_until"])),
        ("Số ngày có dữ liệu / Days with data", f"{doc['days_with_data']} / {doc['days_in_period']}"),
        ("Lập lúc / Generated", doc["generated_at"]),
    ]
    for i, (k, v) in enumerate(info[1:], start=4):
        ws.cell(row=i, column=1, value=k).font = bold
        ws.cell(row=i, column=2, value=v)
    row = 4 + len(info) - 1
    for note in doc["notes"]:
        row += 1
        ws.cell(row=row, column=1, value=head("note")).font = Font(bold=True, color="B26A00")
        cell = ws.cell(row=row, column=2, value=f"{note['vi']}\n{note['en']}")
        cell.alignment, cell.font = wrap, Font(color="B26A00")
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=7)
        ws.row_dimensions[row].height = 15 * (2 + len(note["vi"] + note["en"]) // 120)
    row += 2
    titles = [
        head("section"),
        head("indicator"),
        head("value"),
        head("previous"),
        head("delta"),
        head("target"),
        head("met"),
    ]
    header(ws, row, titles, [34, 52, 16, 16, 16, 12, 12])
    ws.freeze_panes = None
    for ind in doc["indicators"]:
        row += 1
        d = ind["display"]
        sec = sections[ind["section"]]
        put_row(
            ws,
            row,
            [
                both((sec["vi"], sec["en"])),
                both((ind["vi"], ind["en"])),
                (_excel_value(ind["value"], d), NUMBER_FORMATS[d]),
                (_excel_value(ind["previous"]["value"], d), NUMBER_FORMATS[d]),
                (_excel_delta(ind["delta"], d), DELTA_FORMATS[d]),
                (ind["target"], NUMBER_FORMATS[d]),
                met_text(ind["value"], ind["target"]),
            ],
        )
    for sc in doc["scorecards"]:
        for prov in sc["province"]:
            row += 1
            put_row(
                ws,
                row,
                [
                    both((sc["vi"], sc["en"])),
                    f"{head('total')} ({prov['unit']}, {sc['source']})",
                    (prov["total"], "0.00"),
                    (prov["previous_total"], "0.00"),
                    (prov["delta"], DELTA_FORMATS["points"]),
                    (sc["max_total"], "0.00"),
                ],
            )
    av = doc["availability"]
    for sysrow in av["systems"]:
        row += 1
        put_row(
            ws,
            row,
            [
                head("availability"),
                system_name(sysrow["system"]),
                (sysrow["availability"], "0.00%"),
                (sysrow["previous_availability"], "0.00%"),
                (sysrow["delta"], DELTA_FORMATS["ratio"]),
                (av["objective"], "0.00%"),
                met_text(sysrow["availability"], av["objective"]),
            ],
        )
    if doc["warnings"]:
        row += 2
        ws.cell(row=row, column=1, value=head("note")).font = bold
        for w in doc["warnings"]:
            row += 1
            ws.cell(row=row, column=1, value=w)

    # indicators ------------------------------------------------------------------------------
    ws = sheets["indicators"]
    titles = [
        head("id"),
        head("indicator"),
        head("key"),
        head("unit_name"),
        head("value"),
        head("numerator"),
        head("denominator"),
        head("previous"),
        head("delta"),
        head("target"),
    ]
    header(ws, 1, titles, [26, 48, 16, 36, 16, 14, 14, 16, 16, 12])
    by_id = {i["id"]: i for i in doc["indicators"]}
    for r, ir in enumerate(indicator_rows(doc), start=2):
        d = by_id[ir["indicator"]]["display"]
        ws.cell(row=r, column=1, value=ir["indicator"])
        ws.cell(row=r, column=2, value=both((ir["name_vi"], ir["name_en"])))
        ws.cell(row=r, column=3, value=ir["key"] or both(HEADINGS["province"]))
        ws.cell(row=r, column=4, value=ir["unit_name"])
        if ir["row"] == "province":
            for c in range(1, 5):
                ws.cell(row=r, column=c).font = bold
        put(ws, r, 5, _excel_value(ir["value"], d), NUMBER_FORMATS[d])
        put(ws, r, 6, ir["numerator"], "#,##0.##")
        put(ws, r, 7, ir["denominator"], "#,##0.##")
        put(ws, r, 8, _excel_value(ir["previous_value"], d), NUMBER_FORMATS[d])
        put(ws, r, 9, _excel_delta(ir["delta"], d), DELTA_FORMATS[d])
        put(ws, r, 10, ir["target"], NUMBER_FORMATS[d])
    ws.auto_filter.ref = f"A1:J{max(1, ws.max_row)}"

    # units ranked ----------------------------------------------------------------------------
    ws = sheets["units"]
    row = 0
    for sc in doc["scorecards"]:
        codes = [g["code"] for g in sc["groups"]]
        row += 1
        ws.cell(row=row, column=1, value=f"{sc['vi']} / {sc['en']} — {sc['source'] or '—'}").font = bold
        row += 1
        titles = (
            [head("rank"), head("level"), head("unit"), head("unit_name"), head("total")]
            + [f"{g['code']} ({g['max']:g})\n{g['vi']} / {g['en']}" for g in sc["groups"]]
            + [head("previous"), head("delta"), head("previous_rank"), head("rank_change"), head("note")]
        )
        header(ws, row, titles, [10, 18, 12, 36, 14] + [14] * len(codes) + [14, 12, 12, 12, 40])
        for r in [*sc["province"], *sc["units"], *sc["unranked"]]:
            row += 1
            cells = [
                r.get("rank"),
                level_name(r["level"]),
                r["unit"],
                r["name"],
                (r["total"], "0.00"),
                *((r["groups"].get(g), "0.00") for g in codes),
                (r["previous_total"], "0.00"),
                (r["delta"], DELTA_FORMATS["points"]),
                r.get("previous_rank"),
                (r.get("rank_change"), "+0;-0;0"),
            ]
            if r["missing_groups"]:
                cells.append(missing_note(r["missing_groups"]))
            put_row(ws, row, cells)
        row += 1
        for band in sc["thresholds"]:
            row += 1
            ws.cell(row=row, column=1, value=below_text(band)).font = bold
            ws.cell(row=row, column=4, value=", ".join(band["units"]))
        row += 1

    ws, row = sheets["national"], 0
    nr = doc.get("national_ranking")
    if nr:
        row += 1
        ws.cell(row=row, column=1, value=f"{nr['vi']} / {nr['en']}").font = bold
        if not nr["provinces"]:
            row += 1
            ws.cell(row=row, column=1, value=NO_RANKING)
        else:
            row += 1
            codes = [g["code"] for g in nr["groups"]]
            titles = (
                [head("rank"), head("province_code"), head("province_name"), head("total")]
                + [f"{g['code']} ({g['max']:g})" for g in nr["groups"]]
                + [head("previous_rank"), head("rank_change"), head("previous"), head("delta")]
            )
            header(ws, row, titles, [10, 12, 36, 14] + [14] * len(codes) + [14, 12, 12, 12])
            ws.freeze_panes = None
            for r in nr["provinces"]:
                row += 1
                cells = [
                    r["rank"],
                    r["province"],
                    r["name"],
                    (r["total"], "0.00"),
                    *((r["groups"].get(g), "0.00") for g in codes),
                    r["previous_rank"],
                    (r["rank_change"], "+0;-0;0"),
                    (r["previous_total"], "0.00"),
                    (r["delta"], DELTA_FORMATS["points"]),
                ]
                put_row(ws, row, cells)
                if r["own"]:
                    for col in range(1, len(cells) + 1):
                        ws.cell(row=row, column=col).font = bold

    # criteria (PAR Index component 7) -----------------------------------------------------------
    ws = sheets["criteria"]
    row = 0
    for c in doc["criteria"]:
        row += 1
        title = f"{c['vi']} / {c['en']}: {_points(c['total'])} / {_points(c['total_max'])}"
        ws.cell(row=row, column=1, value=title).font = bold
        if c["unverified"]:
            row += 1
            ws.cell(row=row, column=1, value=UNVERIFIED).font = Font(italic=True, color="B26A00")
        row += 1
        titles = [
            head("criterion"),
            head("criterion_name"),
            head("points"),
            head("maximum"),
            head("at_max"),
            head("input"),
            head("previous"),
            head("delta"),
        ]
        header(ws, row, titles, [10, 60, 10, 10, 10, 40, 12, 12])
        for r in c["rows"]:
            row += 1
            put_row(
                ws,
                row,
                [
                    r["criterion"],
                    r["name"] + ("" if r["verified"] is not False else " *"),
                    (r["score"], "0.00"),
                    (r["max"], "0.00"),
                    "✓" if r["at_max"] else "",
                    input_text(r),
                    (r["previous_score"], "0.00"),
                    (r["delta"], DELTA_FORMATS["points"]),
                ],
            )
        row += 1

    # availability ----------------------------------------------------------------------------
    ws = sheets["availability"]
    titles = [
        head("system"),
        head("monitored"),
        head("availability"),
        head("observations"),
        head("poll_duration"),
        head("previous"),
        head("delta"),
    ]
    header(ws, 1, titles, [34, 28, 16, 14, 16, 16, 16])
    for r, ar in enumerate(availability_rows(doc), start=2):
        put_row(
            ws,
            r,
            [
                system_name(ar["system"]) if ar["system"] else both(HEADINGS["province"]),
                ar["target"] or ("—" if ar["scope"] == "system" else ""),
                (ar["availability"], "0.00%"),
                (ar["observations"], "#,##0"),
                (ar["mean_poll_duration_seconds"], "0.000"),
                (ar["previous_availability"], "0.00%"),
                (ar["delta"], DELTA_FORMATS["ratio"]),
            ],
        )
        if ar["scope"] != "target":
            for c in (1, 2):
                ws.cell(row=r, column=c).font = bold

    # definitions -----------------------------------------------------------------------------
    ws = sheets["definitions"]
    titles = [head("id"), head("indicator"), "Cách tính", "How it is computed", head("target"), head("note")]
    header(ws, 1, titles, [26, 48, 70, 70, 12, 30])
    r = 1
    for ind in doc["indicators"]:
        r += 1
        vi, en = definition_text(ind, doc)
        for c, v in enumerate((ind["id"], both((ind["vi"], ind["en"])), vi, en), start=1):
            ws.cell(row=r, column=c, value=v).alignment = wrap
        put(ws, r, 5, ind["target"], NUMBER_FORMATS[ind["display"]])
        unverified = " (chưa kiểm chứng / unverified)" if ind["target_verified"] is False else ""
        ws.cell(
            row=r,
            column=6,
            value=f"{ind['target_key']}: {ind['target_note']}{unverified}" if ind["target_key"] else "",
        )
    method = doc["method"]
    notes = [
        ("availability", "Trung bình các mẫu egov_target_up trong kỳ", method["availability"]),
        (
            "window",
            "Giá trị cuối kỳ: mẫu cuối cùng trong khoảng lookback trước thời điểm kết thúc kỳ",
            method["window"],
        ),
        (
            "ranks",
            "Xếp hạng theo tổng điểm giảm dần, rồi theo mã đơn vị; trong từng cấp",
            "units ranked on their total score (highest first, then unit code), within their level",
        ),
        ("source", f"Nguồn: {src['type']}", json.dumps(src, ensure_ascii=False)),
        ("evaluated_at", "Thời điểm tính", method["evaluated_at"]),
    ]
    for key, vi, en in notes:
        r += 1
        for c, v in enumerate((key, "", vi, en), start=1):
            ws.cell(row=r, column=c, value=v).alignment = wrap

    path = out_dir / f"{file_base(doc)}.xlsx"
    return [_atomic(path, lambda p: wb.save(p))]


def _points(value: Any) -> str:
    return "—" if value is None else f"{value:g}"


def _last_day(period: dict[str, Any]) -> str:
    end = dt.datetime.fromisoformat(period["end"]) - dt.timedelta(seconds=1)
    return f"{end:%Y-%m-%d}"


def write_outputs(doc: dict[str, Any], formats: list[str], out_dir: str | Path) -> list[Path]:
    from exporter.snapshot.html import write_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writers = {"json": write_json, "csv": write_csv, "xlsx": write_xlsx, "html": write_html}
    paths: list[Path] = []
    for fmt in formats:
        paths.extend(writers[fmt](doc, out))
    return paths
