"""The simulated document-management system and public-service portal, and the ``documents``/``services``
collectors against them over loopback: every value the collectors expose equals what the World says (the
public-service portal answering as VNPT iGate: the ``igate`` profile reads it), numerators never exceed
denominators, counters grow through office hours and reset with their period, the Keycloak token endpoint
(realm ``digo``) issues and checks bearer tokens, and fault modes give the right reason."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest

from collectors.documents import DocumentsCollector
from collectors.services import ServicesCollector
from exporter.fetch import HttpClient, _OAuth2Token
from exporter.plugin import CollectContext, CollectError
from exporter.simulator import Simulator, World
from exporter.simulator import documents as sim_documents
from exporter.simulator import services as sim_services
from exporter.simulator.documents import DocumentsSystem
from exporter.simulator.reports import parse_day, reporting_period
from exporter.simulator.services import ServicesSystem
from exporter.simulator.world import TZ

#: a Friday afternoon, so today's activity is well under way
START = dt.datetime(2026, 11, 27, 14, 30, tzinfo=TZ)
PERIODS = ["month", "quarter", "year"]
LEVELS = {"DEPARTMENT": "province", "COMMUNE": "commune"}


class Clock:
    """The one clock of the world and the collectors (frozen unless a test moves it)."""

    def __init__(self, start: dt.datetime) -> None:
        self.t = start.timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += dt.timedelta(**delta).total_seconds()


@pytest.fixture(scope="module")
def simulated():
    clock = Clock(START)
    world = World(units=100, seed=766, start=START, clock=clock)
    sim = Simulator(world, systems=[DocumentsSystem, ServicesSystem])
    base = sim.start("127.0.0.1", 0)
    try:
        yield sim, base, clock
    finally:
        sim.stop()


@pytest.fixture()
def province(simulated):
    """The module's simulator, its clock back at START, no fault, request counters and tokens cleared."""
    sim, base, clock = simulated
    clock.t = START.timestamp()
    for name in sim.systems:
        sim.set_fault(name, "none")
    sim.requests = {name: 0 for name in sim.systems}
    _OAuth2Token.clear()
    yield sim, base, clock
    _OAuth2Token.clear()


def collector(cls, base: str, clock: Clock, **kw):
    cfg = cls.Config.model_validate(
        {
            "name": f"sim-{cls.kind}",
            "kind": cls.kind,
            "system": cls.kind,
            "url": f"{base}/{cls.kind}",
            "retries": 0,
            "timeout": "5s",
            "periods": PERIODS,
            **({"profile": "example-json"} if cls is DocumentsCollector else {}),
            **kw,
        }
    )
    return cls(cfg, CollectContext(http=HttpClient(cfg, clock=clock), clock=clock))


def igate(base: str, clock: Clock, secret: str = sim_services.CLIENT_SECRET, **kw) -> ServicesCollector:
    auth = {
        "type": "oauth2",
        "token_url": f"{base}/services{sim_services.TOKEN_PATH}",
        "client_id": sim_services.CLIENT_ID,
        "client_secret": secret,
    }
    settings = {"prefix": sim_services.PREFIX, "agency_id": sim_services.AGENCY_ID}
    return collector(
        ServicesCollector, base, clock, profile="igate", profile_settings=settings, auth=auth, **kw
    )


def by_key(collected) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in collected.samples}


def key(name: str, **labels: str) -> tuple:
    return (name, tuple(sorted(labels.items())))


def igate_truth(world: World) -> dict[tuple, float]:
    """What iGate's three reports tell of the World: received online / direct, resolved in time / late,
    full-process online, paid online, digitized (iGate gives no fee count, no postal split, no backlog)."""
    out: dict[tuple, float] = {
        key("egov_services_source_up", source=s): 1
        for s in ("dossier-statistic", "online-report", "digitization")
    }
    for unit in world.children:
        out[key("egov_services_unit_info", unit=unit.code, unit_name=unit.name)] = 1
        for period in PERIODS:
            f = sim_services.figures(world, unit, period)
            labels = {"unit": unit.code, "period": period}
            for channel in ("online", "direct"):
                out[key("egov_services_dossiers_received_total", channel=channel, **labels)] = f[channel]
            out[key("egov_services_dossiers_completed_total", timeliness="in_time", **labels)] = (
                f["early"] + f["on_time"]
            )
            out[key("egov_services_dossiers_completed_total", timeliness="late", **labels)] = f["late"]
            for name in ("full_online", "paid_online", "digitized"):
                out[key(f"egov_services_dossiers_{name}_total", **labels)] = f[name]
    return out


def services_truth(world: World) -> dict[tuple, float]:
    """What the public table tells of the World (with its fee columns)."""
    out: dict[tuple, float] = {key("egov_services_source_up", source="public-table"): 1}
    for unit in world.children:
        out[key("egov_services_unit_info", unit=unit.code, unit_name=unit.name)] = 1
        for n, period in enumerate(PERIODS):
            f = sim_services.figures(world, unit, period)
            u = unit.code
            for channel in ("online", "direct", "postal"):
                out[key("egov_services_dossiers_received_total", unit=u, period=period, channel=channel)] = f[
                    channel
                ]
            for t in ("early", "on_time", "late"):
                out[key("egov_services_dossiers_completed_total", unit=u, period=period, timeliness=t)] = f[t]
            out[key("egov_services_dossiers_full_online_total", unit=u, period=period)] = f["full_online"]
            out[key("egov_services_dossiers_with_fee_total", unit=u, period=period)] = f["with_fee"]
            out[key("egov_services_dossiers_paid_online_total", unit=u, period=period)] = f["paid_online"]
            if n == 0:
                out[key("egov_services_dossiers_pending", unit=u, timeliness="in_time")] = f[
                    "pending_in_time"
                ]
                out[key("egov_services_dossiers_pending", unit=u, timeliness="overdue")] = f[
                    "pending_overdue"
                ]
    return out


def documents_truth(world: World) -> dict[tuple, float]:
    out: dict[tuple, float] = {key("egov_documents_national_axis_up"): 1}
    for period in PERIODS:
        axis = {"sent": 0, "received": 0}
        for unit in world.children:
            f = sim_documents.figures(world, unit, period)
            labels = {"unit": unit.code, "level": LEVELS[unit.level], "period": period}
            out[key("egov_documents_unit_info", unit=unit.code, unit_name=unit.name)] = 1
            for channel in ("electronic", "paper"):
                out[key("egov_documents_sent_total", channel=channel, **labels)] = f[f"sent_{channel}"]
                out[key("egov_documents_received_total", channel=channel, **labels)] = f[
                    f"received_{channel}"
                ]
            out[key("egov_documents_signed_total", **labels)] = f["signed"]
            out[key("egov_documents_work_files_total", **labels)] = f["work_files"]
            out[key("egov_documents_work_files_online_total", **labels)] = f["work_files_online"]
            axis["sent"] += f["axis_sent"]
            axis["received"] += f["axis_received"]
        for direction, value in axis.items():
            out[key("egov_documents_national_axis_exchanged_total", period=period, direction=direction)] = (
                value
            )
    return out


def data(collected, prefix: str) -> dict[tuple, float]:
    return {k: v for k, v in by_key(collected).items() if k[0].startswith(prefix)}


# ------------------------------------------------------------------------ collectors vs the World


def test_services_igate_equals_the_world(province):
    sim, base, clock = province
    out = igate(base, clock).collect()
    assert out.state == "up" and out.skipped == []
    assert data(out, "egov_services_") == igate_truth(sim.world)
    # the World's own counters, independently of the simulator's figures(): iGate's received is them
    system = sim.systems["services"]
    for unit in sim.world.children[:5]:
        for period in PERIODS:
            item = system.statistic_item(unit, sim_services.figures(sim.world, unit, period))
            assert item["received"] == sim.world.count(unit, "svc.received", sim_services.PER_DAY, period)


def test_services_public_table_equals_the_world(province):
    sim, base, clock = province
    out = collector(ServicesCollector, base, clock, profile="html-table").collect()
    assert out.state == "up" and out.skipped == []
    assert data(out, "egov_services_") == services_truth(sim.world)


def test_documents_equal_the_world(province):
    sim, base, clock = province
    out = collector(DocumentsCollector, base, clock).collect()
    assert out.state == "up" and out.skipped == []
    assert {k: v for k, v in data(out, "egov_documents_").items() if k[0] != "egov_documents_source_up"} == (
        documents_truth(sim.world)
    )
    got = by_key(out)
    unit = sim.world.children[0]
    sent = sum(
        got[key("egov_documents_sent_total", unit=unit.code, level="province", period="year", channel=c)]
        for c in ("electronic", "paper")
    )
    assert sent == sim.world.count(unit, "doc.sent", sim_documents.SENT_PER_DAY, "year")


def test_igate_asks_three_reports_per_period_after_one_token(province):
    sim, base, clock = province
    out = igate(base, clock, periods=["month", "year"]).collect()
    assert out.state == "up"
    assert sim.requests["services"] == 1 + 3 * 2  # the token, then three reports for each period


# ------------------------------------------------------------------ how the simulated figures move


def test_numerators_never_exceed_denominators(province):
    sim, _, _ = province
    for unit in sim.world.children:
        for period in PERIODS:
            s = sim_services.figures(sim.world, unit, period)
            assert s["paid_online"] <= s["with_fee"] <= s["received"]
            assert s["full_online"] <= s["online"] <= s["received"]
            assert s["digitized"] <= s["received"]
            assert s["early"] + s["on_time"] + s["late"] == s["completed"] <= s["received"]
            assert s["online"] + s["direct"] + s["postal"] == s["received"]
            d = sim_documents.figures(sim.world, unit, period)
            assert d["signed"] <= d["sent_electronic"] <= d["sent"]
            assert d["received_electronic"] <= d["received"]
            assert d["work_files_online"] <= d["work_files"]


def test_counters_grow_through_the_day_and_reset_with_the_period(province):
    sim, base, clock = province
    collect = collector(DocumentsCollector, base, clock, periods=["month", "quarter"]).collect
    before = data(collect(), "egov_documents_sent_total")
    clock.advance(hours=2)  # 16:30 on a working day
    later = data(collect(), "egov_documents_sent_total")
    assert all(later[k] >= v for k, v in before.items())
    assert sum(later.values()) > sum(before.values())
    clock.advance(days=4)  # Tuesday 1 December: a new month, the same quarter
    december = data(collect(), "egov_documents_sent_total")
    month = {k: v for k, v in december.items() if dict(k[1])["period"] == "month"}
    quarter = {k: v for k, v in december.items() if dict(k[1])["period"] == "quarter"}
    assert sum(month.values()) < sum(v for k, v in later.items() if dict(k[1])["period"] == "month")
    assert all(v >= later[k] for k, v in quarter.items())


# ------------------------------------------------------------------------------------- the token


def test_wrong_client_secret_is_an_auth_failure(province):
    _, base, clock = province
    with pytest.raises(CollectError) as info:
        igate(base, clock, secret="not-the-secret").collect()
    assert info.value.reason == "auth"
    assert info.value.message == "token endpoint refused the client credentials (HTTP 401)"


def test_statistics_need_a_valid_bearer_token(province):
    _, base, _ = province
    url = (
        f"{base}/services{sim_services.STATISTIC_PATH}?agency-id={sim_services.AGENCY_ID}"
        "&from-date=2026-11-01T00:00:00.000Z&to-date=2026-11-27T23:59:59.999Z"
    )
    for headers in ({}, {"Authorization": "Bearer forged-token"}):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5)
        assert info.value.code == 401
        assert "invalid_token" in info.value.headers["WWW-Authenticate"]


def test_tokens_expire(province):
    sim, base, clock = province
    token_url = f"{base}/services{sim_services.TOKEN_PATH}"
    form = (
        f"grant_type=client_credentials&client_id={sim_services.CLIENT_ID}"
        f"&client_secret={sim_services.CLIENT_SECRET}"
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(token_url, data=form), timeout=5) as resp:
        token = json.loads(resp.read())["access_token"]
    url = (
        f"{base}/services{sim_services.DIGITIZE_PATH}?ancestor-id={sim_services.AGENCY_ID}"
        "&from=2026-11-01T00:00:00.000Z&to=2026-11-27T23:59:59.999Z"
    )
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert len(json.loads(resp.read())) == len(sim.world.children)
    clock.advance(seconds=sim_services.TOKEN_LIFETIME + 1)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 401


# ------------------------------------------------------------------------------ fault modes


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("waf", "blocked"),
        ("malformed", "parse"),
        ("changed_layout", "parse"),
        ("missing_fields", "parse"),
        ("wrong_content_type", "parse"),
        ("5xx", "http_status"),
        ("429", "blocked"),
    ],
)
@pytest.mark.parametrize("kind", ["documents", "services-api", "services-table"])
def test_fault_modes_give_their_reason(province, kind, mode, reason):
    sim, base, clock = province
    make = {
        "documents": lambda: collector(DocumentsCollector, base, clock, periods=["month"]),
        "services-api": lambda: igate(base, clock, periods=["month"]),
        "services-table": lambda: collector(
            ServicesCollector, base, clock, profile="html-table", periods=["month"]
        ),
    }[kind]
    if kind == "services-api":
        make().collect()  # a token is cached before the fault, as in a running exporter
    sim.set_fault(kind.split("-")[0], mode)
    with pytest.raises(CollectError) as info:
        make().collect()
    assert info.value.reason == reason, info.value.message


def test_hang_is_a_timeout(province):
    sim, base, clock = province
    sim.set_fault("documents", "hang")
    with pytest.raises(CollectError) as info:
        collector(
            DocumentsCollector, base, clock, periods=["month"], timeout="500ms", interval="1m"
        ).collect()
    assert info.value.reason == "timeout"


# ------------------------------------------------------------------------ the reporting period


@pytest.mark.parametrize(
    "first, last, period",
    [
        ("2026-11-01", "2026-11-27", "month"),
        ("01/10/2026", "27/11/2026", "quarter"),
        ("2026-01-01T00:00:00+07:00", "2026-11-27", "year"),
        ("2026-11-01", None, "month"),
        ("2026-11-02", "2026-11-27", None),  # not a period's first day
        ("2026-12-01", "2026-11-27", None),  # ends before it starts
        ("2026-07-01", "2026-11-27", None),  # not a quarter any more
        ("yesterday", "2026-11-27", None),
    ],
)
def test_reporting_period_of_a_range(first, last, period):
    assert reporting_period(first, last, START) == period


def test_an_accelerated_simulator_answers_its_own_period():
    """The demo's simulated clock runs ahead: the exporter's November is answered with the simulated month."""
    simulated_now = dt.datetime(2026, 12, 3, 9, 0, tzinfo=TZ)
    assert reporting_period("01/11/2026", "30/11/2026", simulated_now) == "month"
    assert reporting_period("01/10/2026", "30/11/2026", simulated_now) == "quarter"
    assert parse_day("31/02/2026") is None


def test_a_range_that_is_no_period_is_refused(province):
    _, base, _ = province
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(
            f"{base}/documents/api/v1/thong-ke/van-ban?tuNgay=15/11/2026&denNgay=27/11/2026", timeout=5
        )
    assert info.value.code == 400
    assert json.loads(info.value.read())["maLoi"] == 400
