"""What a snapshot says beyond its figures, pinned on synthetic history (tests/snapshot_synth.py) with exact
values: a unit's total needs every group; a period that is not over, and history that covers a period in
part, are said in every format; nothing to compare with is said too."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from snapshot_checks import write_history, write_snapshot
from snapshot_synth import TZ, Province

from exporter.snapshot.compute import Builder
from exporter.snapshot.periods import parse_range, quarter
from exporter.snapshot.sources import HistorySource
from exporter.snapshot.spec import load_report


def build(history: Path, period, now: dt.datetime) -> dict:
    source = HistorySource(str(history))
    try:
        return Builder(source, load_report(), period, now=now.timestamp()).build()
    finally:
        source.close()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------ 1. totals need every group

#: the engine cannot compute CLGQ for H99.100 (its children carry only their score upstream); the portal
#: has not published MDHL for H99.101
WITHOUT = (("computed", "H99.100", "CLGQ"), ("published", "H99.101", "MDHL"))


@pytest.fixture(scope="module")
def lacking(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lacking")
    history = write_history(out / "h.sqlite", Province(without=WITHOUT))
    return write_snapshot(history, out, "--quarter", "2026Q3")


def test_a_unit_lacking_a_group_has_no_total_and_says_why(lacking):
    doc = json.loads((lacking / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8"))
    sc = doc["scorecards"][0]
    units = {u["unit"]: u for u in sc["units"] + sc["unranked"]}
    # H99.100: published 87.12 in full; computed lacks CLGQ (8.84): not 76.53, but no total
    assert (units["H99.100"]["total"], units["H99.100"]["totals"], units["H99.100"]["missing_groups"]) == (
        87.12,
        {"published": 87.12, "computed": None},
        {"computed": ["CLGQ"]},
    )
    # H99.101: the published MDHL is missing, so it has no total of the ranking source and is not ranked
    assert (units["H99.101"]["total"], units["H99.101"]["totals"], units["H99.101"]["missing_groups"]) == (
        None,
        {"published": None, "computed": 77.26},
        {"published": ["MDHL"]},
    )
    assert [u["unit"] for u in sc["unranked"]] == ["H99.101"]
    assert "rank" not in units["H99.101"]
    communes = [(u["unit"], u["rank"], u["ranked_among"]) for u in sc["units"] if u["level"] == "commune"]
    assert communes == [("H99.100", 1, 2), ("H99.102", 2, 2)]
    # the units' CSV: an empty total, and the groups missing
    rows = {r["unit"]: r for r in read_csv(lacking / "egov-snapshot-2026Q3-units.csv")}
    assert (
        rows["H99.100"]["total"],
        rows["H99.100"]["total_computed"],
        rows["H99.100"]["missing_groups"],
    ) == (
        "87.12",
        "",
        "computed: CLGQ",
    )
    assert (rows["H99.101"]["rank"], rows["H99.101"]["total"], rows["H99.101"]["missing_groups"]) == (
        "",
        "",
        "published: MDHL",
    )
    assert rows["H99.101"]["total_computed"] == "77.26"


def test_units_without_a_total_are_listed_with_the_reason_in_xlsx_and_html(lacking):
    from bs4 import BeautifulSoup
    from openpyxl import load_workbook

    ws = load_workbook(lacking / "egov-snapshot-2026Q3.xlsx")["Xếp hạng - Units ranked"]
    rows = {ws.cell(r, 3).value: [c.value for c in ws[r]] for r in range(1, ws.max_row + 1)}
    assert rows["H99.101"][0] is None and rows["H99.101"][4] is None
    assert rows["H99.101"][-1] == "Không tính tổng, thiếu nhóm / no total, groups missing: published: MDHL"
    soup = BeautifulSoup((lacking / "egov-snapshot-2026Q3.html").read_text(encoding="utf-8"), "html.parser")
    row = soup.find("tr", attrs={"data-unit": "H99.101"})
    assert row is not None and "MDHL" in row.text and "published" in row.text


# ------------------------------------------------------------------------------ 2. what the data cover


@pytest.fixture(scope="module")
def until_september(tmp_path_factory) -> Path:
    """Daily ticks at 20:00 from 1 April to 2 September 2026: Q3 is on its 64th day."""
    path = tmp_path_factory.mktemp("sept") / "h.sqlite"
    return write_history(path, Province(end=dt.date(2026, 9, 3)))


def test_a_period_not_over(until_september):
    doc = build(until_september, quarter(2026, 3), dt.datetime(2026, 9, 3, 15, 0, tzinfo=TZ))
    assert (doc["data_from"], doc["data_until"]) == (
        "2026-07-01T20:00:00.000+07:00",
        "2026-09-02T20:00:00.000+07:00",  # the last sample, not the end of the day
    )
    assert (doc["days_with_data"], doc["days_in_period"]) == (64, 92)
    assert doc["notes"] == [
        {
            "code": "period_not_over",
            "vi": "Kỳ báo cáo chưa kết thúc (đến hết ngày 30/09/2026): số liệu tính đến 20:00 02/09/2026, "
            "ngày thứ 64/92 của kỳ. Số lượng, tỷ lệ và điểm là số lũy kế đến thời điểm đó và còn thay "
            "đổi; cột Thay đổi so sánh 64 ngày này với cả kỳ trước.",
            "en": "The period is not over (it ends with 30 Sep 2026): figures are as of 02 Sep 2026 20:00, "
            "day 64/92. Counts, ratios and scores are period-to-date and will still change; the Change "
            "column compares these 64 days with the whole previous period.",
        }
    ]
    # quarter-to-date on 2 September (the ground truth: 2673), against the whole of Q2 (3781)
    figures = {i["id"]: i for i in doc["indicators"]}
    assert (figures["dossiers_received"]["value"], figures["dossiers_received"]["previous"]["value"]) == (
        2673,
        3781,
    )
    assert doc["generated_at"] == "2026-09-03T15:00:00+07:00"


def test_the_same_period_once_over_but_with_history_stopped_early(until_september):
    doc = build(until_september, quarter(2026, 3), dt.datetime(2026, 10, 5, 9, 0, tzinfo=TZ))
    assert [n["code"] for n in doc["notes"]] == ["history_partial"]
    assert doc["notes"][0]["en"] == (
        "The data cover 01 Jul 2026 20:00 to 02 Sep 2026 20:00 only, not the whole period: counts and ratios "
        "are the period-to-date figures as of 02 Sep 2026 20:00; scores and other values are those at "
        "02 Sep 2026 20:00; availability and trends cover only the 64/92 days with data."
    )
    assert doc["notes"][0]["vi"].startswith("Dữ liệu chỉ có từ 20:00 01/07/2026 đến 20:00 02/09/2026")


@pytest.fixture(scope="module")
def fifteen_minutes(tmp_path_factory) -> tuple[Path, Province]:
    """History of 15 minutes: 14:35 to 14:50 on 3 December 2026, every 5 minutes."""
    province = Province(start=dt.date(2026, 12, 3), offset=14 * 3600 + 35 * 60, step=300)
    province.end = dt.datetime(2026, 12, 3, 14, 51, tzinfo=TZ)
    path = tmp_path_factory.mktemp("dec") / "h.sqlite"
    return write_history(path, province), province


def received(province: Province, period: str, tick: int) -> int:
    return sum(province.services(u, period, tick)["received"] for u in province.children)


def test_a_range_from_a_month_start_reads_the_month_to_date_counters(fifteen_minutes):
    history, province = fifteen_minutes
    first, last = province.ticks()[0], province.ticks()[-1]
    doc = build(history, parse_range("2026-12-01", "2026-12-03"), dt.datetime(2026, 12, 3, 15, 0, tzinfo=TZ))
    figures = {i["id"]: i for i in doc["indicators"]}
    # the month's counters at 14:50 count from 1 December: 155 dossiers, not the 1 received in 15 minutes
    assert figures["dossiers_received"]["value"] == received(province, "month", last) == 155
    assert received(province, "year", last) - received(province, "year", first) == 1
    assert doc["period"]["counter_period"] == "month"
    assert (doc["data_from"], doc["data_until"]) == (
        "2026-12-03T14:35:00.000+07:00",
        "2026-12-03T14:50:00.000+07:00",
    )
    assert [n["code"] for n in doc["notes"]] == ["period_not_over", "history_partial", "no_previous"]
    assert doc["notes"][1]["en"] == (
        "The data cover 03 Dec 2026 14:35 to 03 Dec 2026 14:50 only, not the whole period: counts and ratios "
        "still cover the whole period (the systems' period-to-date counters count from its start); "
        "availability and trends cover only the 1/3 days with data."
    )
    assert doc["notes"][2] == {
        "code": "no_previous",
        "vi": "Không có dữ liệu của kỳ trước (Từ 28/11/2026 đến 30/11/2026) để so sánh: cột Kỳ trước và Thay "
        "đổi để trống.",
        "en": "There are no data for the previous period (28 Nov 2026 to 30 Nov 2026) to compare with: the "
        "Previous and Change columns are empty.",
    }


def test_a_range_covered_in_part_says_its_counts_are_an_increase_of_15_minutes(fifteen_minutes, tmp_path):
    history, province = fifteen_minutes
    write_snapshot(history, tmp_path, "--from", "2026-12-02", "--to", "2026-12-03")
    base = tmp_path / "egov-snapshot-2026-12-02_to_2026-12-03"
    doc = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
    figures = {i["id"]: i for i in doc["indicators"]}
    first, last = province.ticks()[0], province.ticks()[-1]
    assert figures["dossiers_received"]["value"] == received(province, "year", last) - received(
        province, "year", first
    )
    assert figures["dossiers_received"]["value"] == 1
    codes = [n["code"] for n in doc["notes"]]
    assert codes[-2:] == ["history_partial", "no_previous"]  # "period_not_over" too, before 4 Dec 2026
    partial = doc["notes"][-2]
    assert partial["en"].startswith(
        "The data cover 03 Dec 2026 14:35 to 03 Dec 2026 14:50 only, not the whole period: counts and ratios "
        "are only the increase from 03 Dec 2026 14:35 to 03 Dec 2026 14:50, not over the whole range"
    )
    assert partial["vi"].startswith(
        "Dữ liệu chỉ có từ 14:35 03/12/2026 đến 14:50 03/12/2026, không đủ cả kỳ: số lượng và tỷ lệ chỉ là "
        "phần tăng từ 14:35 03/12/2026 đến 14:50 03/12/2026, không phải của cả khoảng thời gian"
    )
    # every format says it: the notes CSV, the XLSX summary, the HTML report's cover
    notes = {r["key"]: r for r in read_csv(tmp_path / f"{base.name}-notes.csv")}
    assert (
        notes["history_partial"]["en"] == partial["en"]
        and notes["no_previous"]["vi"] == doc["notes"][-1]["vi"]
    )
    assert (notes["data_from"]["value"], notes["data_until"]["value"]) == (
        "2026-12-03T14:35:00.000+07:00",
        "2026-12-03T14:50:00.000+07:00",
    )
    from bs4 import BeautifulSoup
    from openpyxl import load_workbook

    ws = load_workbook(base.with_suffix(".xlsx"))["Tổng hợp - Summary"]
    cells = [str(c.value) for row in ws.iter_rows() for c in row if c.value]
    assert f"{partial['vi']}\n{partial['en']}" in cells
    assert "2026-12-03 14:50" in cells  # data until, local time
    soup = BeautifulSoup(base.with_suffix(".html").read_text(encoding="utf-8"), "html.parser")
    shown = [li.get_text(" ", strip=True) for li in soup.select("#notes li")]
    assert any(partial["en"] in text for text in shown)


def test_no_notes_for_a_whole_quarter_fully_recorded(lacking):
    doc = json.loads((lacking / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8"))
    assert [n["code"] for n in doc["notes"] if n["code"] != "period_not_over"] == []
    assert doc["data_until"] == "2026-09-30T20:00:00.000+07:00"
    assert doc["coverage"]["previous"] == {
        "first_sample": "2026-04-01T20:00:00.000+07:00",
        "last_sample": "2026-06-30T20:00:00.000+07:00",
        "days_with_data": 91,
        "days": 91,
        "sample_before_start": False,
    }


# ------------------------------------------------------------------------------ 3. one source of targets


def test_every_target_comes_from_the_targets_file(lacking):
    from exporter.scoring.scorecard import PACKAGE_ROOT, load_scorecard
    from exporter.targets import load_targets

    targets = load_targets()
    doc = json.loads((lacking / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8"))
    shown = {i["id"]: (i["target_key"], i["target"]) for i in doc["indicators"] if i["target"] is not None}
    assert shown["online_payment_ratio"] == ("online_payment", 0.8)  # the summary had none
    assert all(targets[key].ratio == value for key, value in shown.values())
    # the landing page's gap to target reads the same keys
    qd766 = load_scorecard(PACKAGE_ROOT / "indicators" / "qd766.yaml")
    paid = next(i for g in qd766.groups for i in g.indicators if i.code == "PAID_ONLINE")
    assert (paid.gap.target, paid.gap.target_key) == (0.8, "online_payment")
    par7 = load_scorecard(PACKAGE_ROOT / "indicators" / "par7.yaml")
    docs = next(i for g in par7.groups for i in g.indicators if i.code == "DOCUMENTS_ELECTRONIC")
    assert (docs.gap.target, docs.gap.target_key) == (
        0.95,
        "documents_electronic",
    )  # was 0.8 there, 1.0 in the report
    assert next(i for i in doc["indicators"] if i["id"] == "documents_electronic_ratio")["target"] == 0.95


def test_a_province_changes_a_target_in_one_place(tmp_path, lacking):
    from exporter.scoring.scorecard import PACKAGE_ROOT, load_scorecard
    from exporter.snapshot.spec import DEFAULT_REPORT

    text = (PACKAGE_ROOT / "indicators" / "targets.yaml").read_text(encoding="utf-8")
    (tmp_path / "targets.yaml").write_text(
        text.replace("  online_payment:\n    ratio: 0.8", "  online_payment:\n    ratio: 0.75"),
        encoding="utf-8",
    )
    (tmp_path / "report.yaml").write_text(DEFAULT_REPORT.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "qd766.yaml").write_text(
        (PACKAGE_ROOT / "indicators" / "qd766.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    spec = load_report(tmp_path / "report.yaml")
    assert spec.target(next(i for i in spec.indicators if i.id == "online_payment_ratio")).ratio == 0.75
    card = load_scorecard(tmp_path / "qd766.yaml")
    assert next(i for g in card.groups for i in g.indicators if i.code == "PAID_ONLINE").gap.target == 0.75


def test_an_unknown_target_is_one_line_naming_its_place(tmp_path, capsys):
    from exporter.config import ConfigError
    from exporter.scoring.scorecard import PACKAGE_ROOT, ScorecardError, load_scorecard
    from exporter.snapshot.spec import DEFAULT_REPORT
    from exporter.targets import DEFAULT_TARGETS

    report = tmp_path / "report.yaml"
    report.write_text(
        DEFAULT_REPORT.read_text(encoding="utf-8").replace(
            "target: online_payment", "target: online_paymnet"
        ),
        encoding="utf-8",
    )
    known = (
        "digitized_dossiers, documents_electronic, full_process_online, lgsp_shared_data, online_dossiers, "
        "online_payment, portal_required_sections, procedures_online, work_files_online, "
        "work_files_online_commune"
    )
    with pytest.raises(ConfigError) as exc:
        load_report(report)
    assert exc.value.messages == [
        f"{report}: indicators[4].target: unknown target 'online_paymnet'; the targets of "
        f"{DEFAULT_TARGETS}: {known}"
    ]
    card = tmp_path / "qd766.yaml"
    card.write_text(
        (PACKAGE_ROOT / "indicators" / "qd766.yaml")
        .read_text(encoding="utf-8")
        .replace("target: digitized_dossiers", "target: digitised"),
        encoding="utf-8",
    )
    with pytest.raises(ScorecardError) as err:
        load_scorecard(card)
    assert err.value.messages == [
        f"{card}: groups[5].indicators[1].gap.target: unknown target 'digitised'; the targets of "
        f"{DEFAULT_TARGETS}: {known}"
    ]


# ------------------------------------------------------------------------------ 4. PAR Index component 7


def test_par7_criterion_by_criterion(lacking):
    doc = json.loads((lacking / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8"))
    [par7] = doc["criteria"]
    assert (par7["total"], par7["total_max"], par7["previous_total"], par7["at_max"]) == (
        11.83,
        13.5,
        11.91,
        7,
    )
    rows = {r["criterion"]: r for r in par7["rows"]}
    assert list(rows) == [f"C{i:02d}" for i in range(1, 15)]  # all 14, in order
    assert sum(r["max"] for r in rows.values()) == 13.5
    assert {c: (r["score"], r["max"], r["at_max"], r["input"]) for c, r in rows.items()} == {
        "C01": (1.0, 1.0, True, "measured"),
        "C02": (1.0, 1.0, True, "measured"),
        "C03": (0.46, 0.5, False, "measured"),
        "C04": (0.5, 0.5, True, "measured"),
        "C05": (0.88, 1.0, False, "measured"),
        "C06": (2.0, 2.0, True, "measured"),
        "C07": (1.0, 1.0, True, "measured"),
        "C08": (1.0, 1.0, True, "measured"),
        "C09": (0.96, 1.0, False, "measured"),
        "C10": (1.78, 2.0, False, "measured"),
        "C11": (1.0, 1.0, True, "measured"),
        "C12": (0.25, 0.5, False, "manual"),
        "C13": (0.0, 0.5, False, "manual"),
        "C14": (None, 0.5, False, "no data"),
    }
    assert (rows["C12"]["set_by"], rows["C12"]["set_at"]) == (
        "Phòng CĐS, Sở KH&CN",
        "2026-07-15T00:00:00.000+07:00",
    )
    assert rows["C11"]["name"] == "Thanh toán trực tuyến / online payment ratio"
    assert par7["unverified"] == list(rows)  # the shipped defaults are all unverified
    assert (rows["C05"]["previous_score"], rows["C10"]["previous_score"]) == (1.0, 2.0)


def test_par7_in_the_report_criterion_by_criterion(lacking):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((lacking / "egov-snapshot-2026Q3.html").read_text(encoding="utf-8"), "html.parser")
    rows = soup.select("#criteria-par7 tr[data-criterion]")
    assert [r["data-criterion"] for r in rows] == [f"C{i:02d}" for i in range(1, 15)]
    c12 = [td.get_text(" ", strip=True) for td in soup.select_one('tr[data-criterion="C12"]').find_all("td")]
    assert c12[2:6] == ["0,25", "0,50", "", "Nhập tay / manual: Phòng CĐS, Sở KH&CN, 2026-07-15"]
    assert soup.select_one('tr[data-criterion="C14"] td.input').get_text() == "Không có dữ liệu / no data"
    assert "unverified defaults" in soup.select_one("#criteria-par7").get_text()
    from openpyxl import load_workbook

    ws = load_workbook(lacking / "egov-snapshot-2026Q3.xlsx")["Tiêu chí - Criteria"]
    cells = {ws.cell(r, 1).value: [c.value for c in ws[r]] for r in range(1, ws.max_row + 1)}
    assert cells["C12"][2:6] == [0.25, 0.5, None, "Nhập tay / manual: Phòng CĐS, Sở KH&CN, 2026-07-15"]


# ------------------------------------------------------------------------ 6. national ranking, thresholds


def test_the_national_ranking_marks_the_province(lacking):
    from bs4 import BeautifulSoup

    doc = json.loads((lacking / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8"))
    nr = doc["national_ranking"]
    assert (nr["own"], nr["ranked"], len(nr["provinces"])) == ("H99", 34, 34)
    first, mine = nr["provinces"][0], next(r for r in nr["provinces"] if r["own"])
    assert (first["province"], first["rank"], first["total"]) == ("H06", 1, 90.53)
    # the province's national figure is its published total (78.64), rank 21 of 34, up from 24
    assert (mine["rank"], mine["total"], mine["previous_rank"], mine["rank_change"]) == (21, 78.64, 24, 3)
    assert mine["total"] == doc["scorecards"][0]["province"][0]["total"]
    assert mine["groups"] == {
        "CKMB": 16.6,
        "CLGQ": 8.51,
        "MDHL": 14.6,
        "MDSH": 15.03,
        "TDGQ": 15.43,
        "TTTT": 8.47,
    }
    soup = BeautifulSoup((lacking / "egov-snapshot-2026Q3.html").read_text(encoding="utf-8"), "html.parser")
    own = soup.select("#national tr.own")
    assert [r["data-province"] for r in own] == ["H99"]
    assert (
        soup.select_one("#national p.own")
        .get_text(" ", strip=True)
        .startswith("Tỉnh Mô Phỏng (H99): hạng / rank 21 / 34, kỳ trước / previous 24 (+3)")
    )
    rows = read_csv(lacking / "egov-snapshot-2026Q3-ranking.csv")
    assert (rows[20]["rank"], rows[20]["province"], rows[20]["own"], rows[20]["total"]) == (
        "21",
        "H99",
        "True",
        "78.64",
    )


def test_without_ranking_data_the_section_says_so(tmp_path):
    from bs4 import BeautifulSoup

    from exporter.snapshot.labels import NO_RANKING

    history = write_history(tmp_path / "h.sqlite", Province(national=False, end=dt.date(2026, 10, 1)))
    write_snapshot(history, tmp_path, "--quarter", "2026Q3", "--format", "json,html")
    doc = json.loads((tmp_path / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8"))
    assert (doc["national_ranking"]["provinces"], doc["national_ranking"]["own"]) == ([], None)
    soup = BeautifulSoup((tmp_path / "egov-snapshot-2026Q3.html").read_text(encoding="utf-8"), "html.parser")
    assert soup.select_one("#national p.empty").get_text() == NO_RANKING


def test_units_below_80_and_90_points(lacking):
    from bs4 import BeautifulSoup

    doc = json.loads((lacking / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8"))
    # communes ranked: H99.100 87.12, H99.102 76.86 (H99.101 has no total); department H99.1 72.16
    bands = [
        (b["level"], b["below"], b["count"], b["of"], b["previous_count"], b["units"])
        for b in doc["scorecards"][0]["thresholds"]
    ]
    assert bands == [
        ("commune", 80.0, 1, 2, 1, ["H99.102"]),
        ("commune", 90.0, 2, 2, 2, ["H99.100"]),  # listed once: between 80 and 90
        ("department", 80.0, 1, 1, 1, ["H99.1"]),
        ("department", 90.0, 1, 1, 1, []),
    ]
    soup = BeautifulSoup((lacking / "egov-snapshot-2026Q3.html").read_text(encoding="utf-8"), "html.parser")
    row = soup.select_one('table.bands tr[data-level="commune"][data-below="90"]')
    assert [td.get_text(" ", strip=True) for td in row.find_all("td")] == [
        "UBND cấp xã / Communes",
        "< 90",
        "2 / 2",
        "2",
        "80–90: UBND xã Hòa Phú (87,12)",
    ]
