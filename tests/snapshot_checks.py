"""Checks of a snapshot's outputs against figures computed from the simulated province alone
(:class:`snapshot_synth.Expected`): the same checks whichever source the snapshot was taken from."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path

from snapshot_synth import GROUPS, TARGETS, TZ, Expected, Province


def write_history(path: Path, province: Province) -> Path:
    """``province``'s synthetic history written to a new history file at ``path``."""
    from exporter.history import HistoryDB

    db = HistoryDB(path, synchronous="OFF")
    province.write_history(db)
    db.close()
    return path


def write_snapshot(history: Path, out: Path, *args: str) -> Path:
    """``egov-exporter snapshot *args`` from ``history`` into ``out`` (quietly); it must succeed."""
    from exporter.cli import main

    code = main(["snapshot", *args, "--history.file", str(history), "--output-dir", str(out), "--quiet"])
    assert code == 0
    return out


RATIOS = {  # indicator -> (numerator, denominator) of the services counters
    "online_submission_ratio": ("online", "received"),
    "full_online_ratio": ("full_online", "received"),
    "online_payment_ratio": ("paid_online", "with_fee"),
    "digitized_ratio": ("digitized", "received"),
}
SHEETS = [
    "Tổng hợp - Summary",
    "Chỉ tiêu - Indicators",
    "Xếp hạng - Units ranked",
    "Toàn quốc - National ranking",
    "Tiêu chí - Criteria",
    "Sẵn sàng - Availability",
    "Định nghĩa - Definitions",
]


def local(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, tzinfo=TZ)


def day_end(day: dt.datetime) -> str:
    return (day + dt.timedelta(days=1) - dt.timedelta(milliseconds=1)).isoformat(timespec="milliseconds")


class Case:
    """A snapshot request and the figures it must give."""

    def __init__(
        self,
        province: Province,
        kind: str,
        start: dt.datetime,
        end: dt.datetime,
        prev_start: dt.datetime,
        prev_end: dt.datetime,
    ) -> None:
        self.p = province
        self.kind = kind
        self.cur = Expected(province, start, end, kind)
        self.prev = Expected(province, prev_start, prev_end, kind)


def check_doc(doc: dict, case: Case) -> None:
    cur, prev = case.cur, case.prev
    inds = {i["id"]: i for i in doc["indicators"]}
    want, pwant = cur.indicators(), prev.indicators()
    assert {k: inds[k]["value"] for k in want} == want
    assert {k: inds[k]["previous"]["value"] for k in pwant} == pwant
    assert {k: inds[k]["delta"] for k in want} == {k: want[k] - pwant[k] for k in want}
    for ind, (num, den) in RATIOS.items():
        assert (inds[ind]["numerator"], inds[ind]["denominator"]) == (cur.services(num), cur.services(den))
        assert {r["key"]: r["value"] for r in inds[ind]["rows"]} == {
            u.code: cur.unit_ratio(u, num, den) for u in case.p.children
        }
    # the public table (a second target for two units) reports less than the API: the API is kept
    assert {r["key"]: r["value"] for r in inds["dossiers_received"]["rows"]} == {
        u.code: cur._value(case.p.services, u, "received") for u in case.p.children
    }
    assert [i["id"] for i in doc["indicators"] if i["value"] is None] == []
    assert doc["warnings"] == []

    sc = doc["scorecards"][0]
    totals, ptotals = cur.totals(), prev.totals()
    assert sc["source"] == "published"
    [prov] = sc["province"]
    assert (prov["unit"], prov["level"], prov["total"], prov["previous_total"]) == (
        "H99",
        "province",
        totals["H99"],
        ptotals["H99"],
    )
    assert prov["groups"] == {
        g: case.p.score(case.p.province, g, cur.score_period(), cur.last) for g in GROUPS
    }
    ranks, pranks = cur.ranks(), prev.ranks()
    assert {u["unit"]: (u["level"], u["rank"], u["total"]) for u in sc["units"]} == {
        code: (level, rank, totals[code]) for code, (level, rank) in ranks.items()
    }
    assert {u["unit"]: (u["previous_rank"], u["rank_change"], u["previous_total"]) for u in sc["units"]} == {
        code: (pranks[code][1], pranks[code][1] - rank, ptotals[code]) for code, (_l, rank) in ranks.items()
    }
    assert {u["unit"]: u["totals"]["computed"] for u in sc["units"]} == {
        code: cur.totals("computed")[code] for code in ranks
    }

    av = doc["availability"]
    assert {t["target"]: t["availability"] for t in av["targets"]} == cur.availability()
    assert {t["target"]: t["previous_availability"] for t in av["targets"]} == prev.availability()
    assert {t["target"]: t["observations"] for t in av["targets"]} == {t: cur.observations() for t in TARGETS}
    assert {s["system"]: s["availability"] for s in av["systems"]} == cur.systems()
    assert {s["system"]: s["delta"] for s in av["systems"]} == {
        s: v - prev.systems()[s] for s, v in cur.systems().items()
    }

    # trends: the figure at the end of each day, this period and the previous one
    days = (cur.end - cur.start).days
    assert doc["days_in_period"] == days == doc["days_with_data"]
    # the first and last samples of the period (ticks at 20:00), and nothing to warn about
    assert (doc["data_from"], doc["data_until"]) == (
        dt.datetime.fromtimestamp(cur.ticks[0], TZ).isoformat(timespec="milliseconds"),
        dt.datetime.fromtimestamp(cur.last, TZ).isoformat(timespec="milliseconds"),
    )
    assert [n["code"] for n in doc["notes"] if n["code"] != "period_not_over"] == []

    def ratio_at(tick: int, num: str, den: str, period: str) -> float | None:
        n = sum(case.p.services(u, period, tick)[num] for u in case.p.children)
        d = sum(case.p.services(u, period, tick)[den] for u in case.p.children)
        return n / d if d else None  # a ratio of nothing (a Saturday, the 1st) is no point

    if cur.period:
        pay = inds["online_payment_ratio"]
        want_trend = [
            [day_end(cur.start + dt.timedelta(days=i)), ratio_at(t, "paid_online", "with_fee", cur.period)]
            for i, t in enumerate(cur.daily_ticks())
        ]
        assert pay["trend"] == [p for p in want_trend if p[1] is not None]
        assert len(pay["previous_trend"]) == (prev.end - prev.start).days
        assert sc["trend"] == [
            [
                day_end(cur.start + dt.timedelta(days=i)),
                Expected(case.p, cur.start, dt.datetime.fromtimestamp(t + 1, TZ), cur.kind).totals()["H99"],
            ]
            for i, t in enumerate(cur.daily_ticks())
        ]


def check_json(path: Path, case: Case, source_type: str) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))
    check_doc(doc, case)
    assert doc["schema"] == "egov-exporter/snapshot/v1"
    assert (doc["period"]["start"], doc["period"]["end"]) == (
        case.cur.start.isoformat(),
        case.cur.end.isoformat(),
    )
    assert (doc["previous_period"]["start"], doc["previous_period"]["end"]) == (
        case.prev.start.isoformat(),
        case.prev.end.isoformat(),
    )
    assert doc["source"]["type"] == source_type
    assert doc["method"]["evaluated_at"] == (case.cur.end - dt.timedelta(milliseconds=1)).isoformat(
        timespec="milliseconds"
    )
    # every figure can be reproduced: each query is listed with what and when
    assert doc["queries"]
    for q in doc["queries"]:
        if source_type == "history":
            assert q["selector"] and q["function"] and ("at" in q or "start" in q)
        else:
            assert q["endpoint"] in ("/api/v1/query", "/api/v1/query_range") and q["query"]
    return doc


def check_csv(out: Path, base: str, case: Case) -> None:
    def read(name: str) -> list[dict]:
        with open(out / f"{base}-{name}.csv", encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))

    want = case.cur.indicators()
    rows = read("indicators")
    province = {r["indicator"]: r for r in rows if r["row"] == "province"}
    assert {k: float(province[k]["value"]) for k in want} == {k: float(v) for k, v in want.items()}
    assert {k: float(province[k]["previous_value"]) for k in want} == {
        k: float(v) for k, v in case.prev.indicators().items()
    }
    pay = {
        r["key"]: float(r["value"])
        for r in rows
        if r["indicator"] == "online_payment_ratio" and r["row"] == "row"
    }
    assert pay == {u.code: case.cur.unit_ratio(u, "paid_online", "with_fee") for u in case.p.children}
    units = read("units")
    totals = case.cur.totals()
    assert {r["unit"]: (int(r["rank"]), float(r["total"])) for r in units if r["row"] == "unit"} == {
        code: (rank, totals[code]) for code, (_l, rank) in case.cur.ranks().items()
    }
    av = {r["target"]: float(r["availability"]) for r in read("availability") if r["scope"] == "target"}
    assert av == case.cur.availability()


def xl(v: float) -> float:
    """What an XLSX cell holds: openpyxl writes numbers with 16 significant digits (Excel shows 15)."""
    return float(f"{v:.16g}")


def check_xlsx(path: Path, case: Case) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(path)
    assert wb.sheetnames == SHEETS
    want = case.cur.indicators()
    ws = wb[SHEETS[0]]
    summary = {ws.cell(r, 2).value: ws.cell(r, 3) for r in range(1, ws.max_row + 1) if ws.cell(r, 2).value}
    pay = summary["Tỷ lệ thanh toán trực tuyến / Online-payment ratio"]
    assert (pay.value, pay.number_format) == (xl(want["online_payment_ratio"]), "0.00%")
    recv = summary["Hồ sơ tiếp nhận / Dossiers received"]
    assert (recv.value, recv.number_format) == (want["dossiers_received"], "#,##0")
    total = summary["Tổng điểm / Total score (H99, published)"]
    assert total.value == xl(case.cur.totals()["H99"])
    ws = wb[SHEETS[1]]
    assert ws.cell(1, 1).value == "Mã chỉ tiêu / Indicator id" and ws.cell(1, 5).value == "Giá trị / Value"
    province = {
        ws.cell(r, 1).value: ws.cell(r, 5).value
        for r in range(2, ws.max_row + 1)
        if ws.cell(r, 3).value == "Toàn tỉnh / Province"
    }
    assert {k: province[k] for k in want if k != "portal_newest_article"} == {
        k: xl(v) for k, v in want.items() if k != "portal_newest_article"
    }
    newest = dt.datetime.fromtimestamp(want["portal_newest_article"], TZ).replace(tzinfo=None)
    assert province["portal_newest_article"] == newest  # a date, not a number of seconds
    ws = wb[SHEETS[2]]
    ranks = {
        ws.cell(r, 3).value: (ws.cell(r, 1).value, ws.cell(r, 5).value)
        for r in range(1, ws.max_row + 1)
        if isinstance(ws.cell(r, 1).value, int)
    }
    totals = case.cur.totals()
    assert ranks == {code: (rank, xl(totals[code])) for code, (_l, rank) in case.cur.ranks().items()}
    ws = wb[SHEETS[5]]
    av = {
        ws.cell(r, 2).value: ws.cell(r, 3) for r in range(2, ws.max_row + 1) if ws.cell(r, 2).value in TARGETS
    }
    assert {t: c.value for t, c in av.items()} == {t: xl(v) for t, v in case.cur.availability().items()}
    assert {c.number_format for c in av.values()} == {"0.00%"}
    ws = wb[SHEETS[6]]
    defs = {ws.cell(r, 1).value: ws.cell(r, 4).value for r in range(2, ws.max_row + 1)}
    how = (
        f'last value before the end of the period of the period-to-date counters with period="{case.cur.period}"'
        if case.cur.period
        else 'increase over the range of the period-to-date counters with period="year"'
    )
    assert defs["online_payment_ratio"] == (
        "sum(egov_services_dossiers_paid_online_total) / "
        f"sum(egov_services_dossiers_with_fee_total); {how}, per unit"
    )


def check_html(path: Path, case: Case) -> None:
    """The charts draw what the JSON of the same snapshot holds (its figures checked by check_doc)."""
    from bs4 import BeautifulSoup

    doc = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    trends = {i["id"]: i for i in doc["indicators"]}

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    assert soup.find("script") is None and soup.find("link") is None  # self-contained
    assert "@media print" in soup.find("style").text and "@page" in soup.find("style").text
    want = case.cur.indicators()
    for ind in (
        "online_submission_ratio",
        "online_payment_ratio",
        "digitized_ratio",
        "documents_electronic_ratio",
        "work_files_online_ratio",
        "lgsp_shared_data_ratio",
        "portal_required_sections_ratio",
    ):
        svg = soup.find("svg", attrs={"data-chart": ind})
        assert svg is not None, ind
        assert svg.find("path", attrs={"data-series": "current"})["data-points"] == str(
            len(trends[ind]["trend"])
        )
        assert svg.find("path", attrs={"data-series": "previous"})["data-points"] == str(
            len(trends[ind]["previous_trend"])
        )
        if ind.startswith(("lgsp", "portal")):  # gauges: a point every day of both periods
            assert len(trends[ind]["trend"]) == (case.cur.end - case.cur.start).days
            assert len(trends[ind]["previous_trend"]) == (case.prev.end - case.prev.start).days
        label = svg.find("text", class_="end-label").text
        assert label == f"{100 * want[ind]:.2f}".replace(".", ",").replace(",00", "") + " %"
    assert (
        soup.find("svg", attrs={"data-chart": "online_submission_ratio"}).find(
            "line", attrs={"data-series": "target"}
        )
        is not None
    )
    assert soup.find("svg", attrs={"data-chart": "qd766-total"}).find(
        "path", attrs={"data-series": "current"}
    )
    totals = case.cur.totals()
    bars = {
        r["data-key"]: float(r["data-value"])
        for level in ("department", "commune")
        for r in soup.find("svg", attrs={"data-chart": f"qd766-ranking-{level}"}).find_all("rect")
    }
    assert bars == {code: totals[code] for code in case.cur.ranks()}
    systems = {
        r["data-key"]: float(r["data-value"])
        for r in soup.find("svg", attrs={"data-chart": "availability-systems"}).find_all("rect")
    }
    assert systems == case.cur.systems()
    row = soup.find("tr", attrs={"data-indicator": "online_payment_ratio"})
    assert row.find_all("td")[1].text == f"{100 * want['online_payment_ratio']:.2f}".replace(".", ",") + " %"
    assert not math.isnan(sum(systems.values()))
