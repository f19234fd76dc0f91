"""qd766's national ranking of all 34 provinces: the portal's report service (``POST /jsp/rest.jsp``, form field
``params``), once per period, through the real HTTP client, on answers written from the public field lists
(tests/fixtures/http/national-ranking/README.md names the source): the exact request of each period, every
province's published group scores, total and rank as exposed, values given as strings or numbers, a list or a
``{"data": [...]}`` answer, what an unreadable ranking does (degraded, the evaluation figures kept), a refusal,
``province_ranking: false``, and the simulator's ranking read by the same collector."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from configs import checked_config
from httpstub import HttpStub

import collectors
from collectors.qd766 import Qd766Collector
from exporter.fetch import HttpClient
from exporter.plugin import CollectContext, CollectError
from exporter.simulator import Simulator, World
from exporter.simulator.national import PROVINCES, NationalSystem
from exporter.simulator.world import PROVINCE_CODE, ROOT_DEPARTMENT_ID

FIX = Path(__file__).parent / "fixtures"
RANKING = FIX / "http" / "national-ranking"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ROOT_ID = "019d2be3-6a88-732b-8b17-b68020c8553a"
PORTAL = "https://dichvucong.gov.vn"
TREE = PORTAL + "/api/v1/reporting/evaluation/dvc-progress-tree"
REPORT = PORTAL + "/jsp/rest.jsp"
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
GROUPS = ("CKMB", "TDGQ", "CLGQ", "TTTT", "MDHL", "MDSH")


def target(url: str = PORTAL, root: str = ROOT_ID, **extra):
    raw = {
        "name": "dvcqg",
        "kind": "qd766",
        "url": url,
        "root_department_id": root,
        "endpoints": ["dvc-progress-tree"],
        "periods": ["month", "quarter", "year"],
        "pause": "0s",
        "retries": 0,
        **extra,
    }
    return checked_config({"targets": [raw]}, kinds=collectors.KINDS, env={}).targets[0]


def collector(stub, t, now: float = NOW.timestamp()):
    return Qd766Collector(t, CollectContext(http=HttpClient(t, stub, clock=lambda: now), clock=lambda: now))


def values(out) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in out.samples}


def key(metric: str, /, **labels: str) -> tuple:
    return (metric, tuple(sorted(labels.items())))


def params_of(call) -> dict:
    form = parse_qs(call.request.body if isinstance(call.request.body, str) else call.request.body.decode())
    assert list(form) == ["params"]
    return json.loads(form["params"][0])


def expected(rows: list[dict], period: str) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for row in rows:
        code = row["MA_COQUAN"]
        out[key("egov_qd766_province_info", province=code, name=row["TEN"])] = 1
        out[key("egov_qd766_province_rank", province=code, period=period)] = float(row["ROW_STT"])
        for group in GROUPS:
            out[key("egov_qd766_province_score", province=code, group=group, period=period)] = float(
                row[group]
            )
        out[key("egov_qd766_province_score", province=code, group="total", period=period)] = float(
            row["TONG_SCORE"]
        )
    return out


def ranking_only(out) -> dict[tuple, float]:
    return {k: v for k, v in values(out).items() if k[0].startswith("egov_qd766_province_")}


@pytest.fixture()
def rsps():
    with HttpStub(assert_all_requests_are_fired=True) as r:
        tree = (FIX / "dvcqg-766" / "dvc-progress-tree" / "month-all.json").read_bytes()
        for _ in range(3):
            r.post(TREE, body=tree, status=201, content_type="application/json")
        yield r


def serve_ranking(rsps, month=None, quarter=None, year=None) -> None:
    """The month's ranking as a list, the quarter's and the year's as {"data": [...]}, served as a JSP does
    (text/html)."""
    month_rows = {"body": (RANKING / "report-tinh-766-month.json").read_bytes()}
    other_rows = {"body": (RANKING / "report-tinh-766-quarter-data.json").read_bytes()}
    for answer in (month or month_rows, quarter or other_rows, year or other_rows):
        rsps.post(REPORT, **{"content_type": "text/html;charset=UTF-8", **answer})


def test_every_province_of_every_period_exactly_as_published(rsps):
    serve_ranking(rsps)
    out = collector(rsps, target()).collect()
    assert out.state == "up", out.message
    month = json.loads((RANKING / "report-tinh-766-month.json").read_text(encoding="utf-8"))
    others = json.loads((RANKING / "report-tinh-766-quarter-data.json").read_text(encoding="utf-8"))["data"]
    want = {**expected(month, "month"), **expected(others, "quarter"), **expected(others, "year")}
    assert ranking_only(out) == want
    assert len({k[1] for k in want if k[0] == "egov_qd766_province_info"}) == PROVINCES == 34
    # the province of the evaluation API (H44) is among them, so the two join on its code
    assert key("egov_qd766_province_rank", province="H44", period="month") in want
    # one request per period, the form as the portal's own pages send it, after that period's endpoints
    calls = [c for c in rsps.calls if c.request.url == REPORT]
    assert [params_of(c) for c in calls] == [
        {
            "type": "ref",
            "service": "report_tinh_766_service",
            "p_nam": 2026,
            "p_tinh_id": 0,
            "p_huyen_id": "",
            "p_6thang": 0,
            "p_quy": quarter,
            "p_thang": month_no,
            "p_loaidonvi": 1,
            "loaichitieu": 0,
            "pageIndex": 1,
            "pageSize": 100,
            "p_default": 0,
        }
        for quarter, month_no in ((0, 11), (4, 0), (0, 0))
    ]
    for c in calls:
        assert c.request.headers["Content-Type"] == "application/x-www-form-urlencoded; charset=UTF-8"
        assert c.request.headers["X-Requested-With"] == "XMLHttpRequest"
    assert [c.request.url for c in rsps.calls] == [TREE, REPORT] * 3
    assert values(out)[key("egov_qd766_schema_drift", endpoint="ranking")] == 0


def test_an_unreadable_ranking_degrades_and_keeps_the_evaluation(rsps):
    serve_ranking(
        rsps,
        month={"body": b'{"error": "loi he thong"}'},
        quarter={"status": 500, "body": b"<html><body>Error</body></html>"},
        year={"body": b"not json at all"},
    )
    out = collector(rsps, target()).collect()
    assert out.state == "degraded"
    assert out.message.startswith(
        'ranking (month): expected a list of provinces or {"data": [...]}, got dict; ranking (quarter): '
        "http_status: https://dichvucong.gov.vn/jsp/rest.jsp: HTTP 500; ranking (year): parse: "
    )
    assert ranking_only(out) == {}
    assert values(out)[key("egov_qd766_score", unit="H44", group="TDGQ", period="month", source="published")]


def test_missing_fields_are_schema_drift(rsps):
    rows = json.loads((RANKING / "report-tinh-766-month.json").read_text(encoding="utf-8"))
    for row in rows[:5]:
        del row["MDSH"]
    serve_ranking(rsps, month={"json": rows})
    out = collector(rsps, target()).collect()
    assert out.state == "up"
    assert values(out)[key("egov_qd766_schema_drift", endpoint="ranking")] == 1
    assert "ranking: rows[].MDSH missing in 5 rows" in out.skipped
    got = ranking_only(out)
    assert (
        key("egov_qd766_province_score", province=rows[0]["MA_COQUAN"], group="MDSH", period="month")
        not in got
    )
    assert got[
        key("egov_qd766_province_score", province=rows[5]["MA_COQUAN"], group="MDSH", period="month")
    ] == (float(rows[5]["MDSH"]))


def test_a_refusal_ends_the_round():
    waf = (FIX / "http" / "national" / "waf.html").read_bytes()
    with HttpStub(assert_all_requests_are_fired=True) as rsps:
        rsps.post(
            TREE, body=(FIX / "dvcqg-766" / "dvc-progress-tree" / "month-all.json").read_bytes(), status=201
        )
        rsps.post(REPORT, body=waf, content_type="text/html")
        with pytest.raises(CollectError) as info:
            collector(rsps, target()).collect()
    assert info.value.reason == "blocked"


def test_province_ranking_false_asks_nothing_of_the_report_service():
    with HttpStub(assert_all_requests_are_fired=True) as rsps:
        rsps.post(
            TREE, body=(FIX / "dvcqg-766" / "dvc-progress-tree" / "month-all.json").read_bytes(), status=201
        )
        out = collector(rsps, target(periods=["month"], province_ranking=False)).collect()
    assert out.state == "up" and ranking_only(out) == {}


def test_the_simulators_ranking_reads_as_the_real_one():
    """The simulated report service answers the same shape: 34 provinces, the simulated one with the total
    of the scores its evaluation endpoints publish."""
    start = dt.datetime(2026, 11, 27, 14, 30, tzinfo=TZ)
    world = World(units=30, seed=766, start=start, clock=lambda: start.timestamp())
    sim = Simulator(world, systems=[NationalSystem])
    base = sim.start("127.0.0.1", 0)
    try:
        t = target(url=f"{base}/national", root=ROOT_DEPARTMENT_ID, endpoints=[], periods=["month", "year"])
        out = collector(None, t, now=start.timestamp()).collect()  # the real transport: libcurl
    finally:
        sim.stop()
    assert out.state == "up", out.message
    got = values(out)
    national: NationalSystem = sim.systems["national"]
    for period, first in (
        ("month", dt.datetime(2026, 11, 1, tzinfo=TZ)),
        ("year", dt.datetime(2026, 1, 1, tzinfo=TZ)),
    ):
        rows = national.ranking(period, first)
        assert {
            k[1]
            for k in ranking_only(out)
            if k[0] == "egov_qd766_province_rank" and dict(k[1])["period"] == period
        } == {(("period", period), ("province", r["MA_COQUAN"])) for r in rows}
        assert sorted(
            v for k, v in got.items() if k[0] == "egov_qd766_province_rank" and dict(k[1])["period"] == period
        ) == list(range(1, PROVINCES + 1))
        # the simulated province's total is the sum of its published group scores
        published = sum(
            v
            for k, v in got.items()
            if k[0] == "egov_qd766_score"
            and dict(k[1])
            == {"unit": PROVINCE_CODE, "group": dict(k[1])["group"], "period": period, "source": "published"}
        )
        total = got[key("egov_qd766_province_score", province=PROVINCE_CODE, group="total", period=period)]
        assert total == pytest.approx(published, abs=0.011)
