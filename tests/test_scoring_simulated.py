"""The simulated national portal (exporter/simulator/national.py) on loopback: the real API's shapes and
request handling, and — through the qd766 collector and the engine — computed == published for every unit,
group and period of the simulated province, at the start of a period, mid-period and later."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import requests

import collectors
from collectors.qd766 import Qd766Collector
from exporter.config import parse_config
from exporter.fetch import HttpClient
from exporter.plugin import CollectContext
from exporter.scoring.engine import build_index, evaluate
from exporter.scoring.scorecard import load_scorecard
from exporter.simulator import Simulator, World
from exporter.simulator.national import NationalSystem
from exporter.simulator.world import PROVINCE_CODE, ROOT_DEPARTMENT_ID, TZ

ROOT = Path(__file__).resolve().parent.parent
QD766 = load_scorecard(ROOT / "indicators" / "qd766.yaml")
API = "/national/api/v1/reporting/evaluation/"
NOW = dt.datetime(2026, 11, 20, 15, 30, tzinfo=TZ)


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.t = start.timestamp()

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def sim():
    clock = Clock(NOW)
    simulator = Simulator(World(units=40, start=NOW, clock=clock), systems=[NationalSystem])
    base = simulator.start("127.0.0.1", 0)
    http = requests.Session()
    http.trust_env = False
    try:
        yield simulator, base, clock, http
    finally:
        http.close()
        simulator.stop()


def post(http, base, endpoint, **body):
    payload = {
        "rootDepartmentId": ROOT_DEPARTMENT_ID,
        "currentPage": 1,
        "pageSize": 200,
        "timeType": "month",
        "year": 2026,
        "month": 11,
        **body,
    }
    return http.post(base + API + endpoint, json=payload, timeout=10)


def test_tree_endpoint_answers_201_with_the_real_shape(sim):
    simulator, base, _clock, http = sim
    r = post(http, base, "dvc-progress-tree")
    assert r.status_code == 201 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert (body["code"], body["message"]) == ("OK", "OK")
    parent, children = body["data"]["parent"], body["data"]["children"]
    assert parent["departmentCode"] == PROVINCE_CODE and parent["departmentId"] == ROOT_DEPARTMENT_ID
    assert len(children) == 39  # every unit, whatever the page size: trees are not paged
    assert {c["level"] for c in children} == {"PROVINCE", "COMMUNE"}
    assert parent["totalReceived"] == sum(c["totalReceived"] for c in children)
    assert parent["totalOnTime"] == sum(c["totalOnTime"] for c in children)
    assert set(children[0]) >= {
        "departmentId",
        "departmentName",
        "departmentCode",
        "level",
        "totalReceived",
        "totalOnTime",
        "totalOverdue",
        "score",
        "maxScore",
    }


def test_metrics_endpoints_page_and_name_units_like_the_real_api(sim):
    simulator, base, _clock, http = sim
    first = post(http, base, "transparency", pageSize=15).json()["data"]
    last = post(http, base, "transparency", pageSize=15, currentPage=3).json()["data"]
    assert first["pagination"] == {"total": 39, "currentPage": 1, "pageSize": 15, "totalPages": 3}
    assert len(first["evaluation"]) == 15 and len(last["evaluation"]) == 9
    assert first["overview"]["departmentId"] == ROOT_DEPARTMENT_ID
    assert "departmentCode" not in first["evaluation"][0]  # transparency names units by departmentId only
    digitized = post(http, base, "dossier-digitized").json()["data"]
    assert digitized["evaluation"][0]["departmentCode"].startswith(PROVINCE_CODE + ".")
    assert [m["code"] for m in digitized["overview"]["metrics"]][-1] == "ELECTRONIC_CERTIFIED_COPY"
    satisfaction = http.post(
        base + API + "handling-satisfaction",
        timeout=10,
        json={
            "rootDepartmentId": ROOT_DEPARTMENT_ID,
            "fromDate": "2026-11-01",
            "toDate": "2026-11-30",
            "currentPage": 1,
            "pageSize": 200,
        },
    ).json()["data"]
    assert (
        satisfaction["overview"]["totalDossiers"]
        == post(http, base, "dvc-progress-tree").json()["data"]["parent"]["totalReceived"]
    )


@pytest.mark.parametrize(
    "body, status",
    [
        ({"rootDepartmentId": "019d2be3-6a88-732b-8b17-b68020c8553a"}, 400),  # another province
        ({"timeType": "week"}, 400),
        ({"month": 13}, 400),
        ({"year": "soon"}, 400),
    ],
)
def test_bad_requests_are_400(sim, body, status):
    _simulator, base, _clock, http = sim
    r = post(http, base, "dvc-progress-tree", **body)
    assert r.status_code == status and r.json()["code"] == "BAD_REQUEST"


def test_unknown_endpoint_and_get_are_404(sim):
    _simulator, base, _clock, http = sim
    assert http.post(base + API + "nope", json={}, timeout=5).status_code == 404
    assert http.get(base + API + "transparency", timeout=5).status_code == 404
    assert http.get(base + "/national/", timeout=5).status_code == 200


def test_periods_past_current_and_future(sim):
    _simulator, base, clock, http = sim

    def received(**kw) -> int:
        return post(http, base, "dvc-progress-tree", **kw).json()["data"]["parent"]["totalReceived"]

    now = received()
    assert now > 0
    assert received(month=12) == 0  # has not started
    october = received(month=10)
    clock.t += 3 * 3600  # the afternoon goes on
    assert received() > now  # this month grows
    assert received(month=10) == october > 0  # a finished month does not
    assert received(timeType="quarter", quarter=4) >= received()
    assert received(timeType="year") > received(timeType="quarter", quarter=4)


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(2026, 10, 1, 6, 0, tzinfo=TZ),  # a new month, quarter: nothing received yet
        dt.datetime(2026, 8, 20, 10, 30, tzinfo=TZ),
        NOW,
    ],
)
def test_collector_and_engine_reproduce_the_simulated_published_scores(when):
    clock = Clock(when)
    simulator = Simulator(World(units=60, start=when, clock=clock), systems=[NationalSystem])
    base = simulator.start("127.0.0.1", 0)
    try:
        raw = {
            "name": "dvcqg",
            "kind": "qd766",
            "url": base + "/national",
            "root_department_id": ROOT_DEPARTMENT_ID,
            "pause": "0s",
            "page_size": 25,
            "timeout": "10s",
        }
        t = parse_config({"targets": [raw]}, kinds=collectors.KINDS, env={}).targets[0]
        out = Qd766Collector(t, CollectContext(http=HttpClient(t, clock=clock), clock=clock)).collect()
        requests_made = simulator.requests["national"]
    finally:
        simulator.stop()
    # 3 periods x (3 trees + 3 x 3 pages + the national ranking)
    assert out.skipped == [] and requests_made == 3 * (3 + 3 * 3 + 1)
    e = evaluate(QD766, build_index((s.name, s.labels, s.value) for s in out.samples))
    published = {(k, g): v for (s, k, g), v in e.groups.items() if s == "published"}
    computed = {(k, g): v for (s, k, g), v in e.groups.items() if s == "computed"}
    assert len(published) == 3 * 60 * 6
    assert {g for _k, g in published.keys() - computed.keys()} == {"CLGQ"}  # units publish no CLGQ counts
    assert len(computed) == 3 * (60 * 5 + 1)
    assert {kg: published[kg] for kg in computed} == computed
    assert {k: v for (s, k), v in e.totals.items() if s == "computed"} == {
        k: v for (s, k), v in e.totals.items() if s == "published" and k[0] == PROVINCE_CODE
    }
