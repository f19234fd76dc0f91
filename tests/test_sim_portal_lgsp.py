"""The ``portal`` and ``lgsp`` kinds against the real simulator over loopback, through the real HttpClient
(OAuth2 client credentials included): every value equals what the simulated world says, and the
simulator's fault modes give the right reasons."""

from __future__ import annotations

import datetime as dt

import pytest

from collectors.lgsp import LgspCollector, app_key
from collectors.portal import PortalCollector
from exporter.fetch import HttpClient, SessionPool, _OAuth2Token
from exporter.plugin import CollectContext, CollectError
from exporter.simulator import Simulator, World
from exporter.simulator.lgsp import CLIENT_ID, CLIENT_SECRET, ES_INDICES, ES_PASSWORD, ES_USER, LgspSystem
from exporter.simulator.portal import MENU, PortalSystem, instance_id
from exporter.simulator.world import TZ

#: a Friday morning and a Monday morning (the weekend's articles, "Hôm qua" and relative dates differ)
INSTANTS = [dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ), dt.datetime(2026, 11, 30, 8, 5, 30, tzinfo=TZ)]


@pytest.fixture(scope="module", params=INSTANTS, ids=["friday", "monday"])
def simulator(request):
    """A simulator whose world stands still at one instant (so the test and the server agree on 'now')."""
    world = World(units=100, seed=766, start=request.param, clock=lambda: 1_000_000.0)
    running = Simulator(world, systems=[PortalSystem, LgspSystem])
    running.start("127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture()
def sim(simulator):
    """The simulator, with no fault and no cached token at the start of each test."""
    _OAuth2Token.clear()
    yield simulator
    simulator.set_fault("all", "none")
    _OAuth2Token.clear()


def make(cls, sim, sessions=None, **kw):
    now = sim.world.now().timestamp()
    cfg = cls.Config.model_validate(
        {"name": "t", "kind": cls.kind, "system": cls.default_system, "retries": 0, "timeout": "5s", **kw}
    )
    client = HttpClient(cfg, sessions or SessionPool(), clock=lambda: now)
    return cls(cfg, CollectContext(http=client, clock=lambda: now))


def samples(collected) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in collected.samples}


def key(name: str, **labels: str) -> tuple:
    return name, tuple(sorted(labels.items()))


def lgsp_auth(sim, secret: str = CLIENT_SECRET, scopes=("apim:api_view", "apim:app_import_export")) -> dict:
    return {
        "type": "oauth2",
        "token_url": f"{sim.base_url}/lgsp/oauth2/token",
        "client_id": CLIENT_ID,
        "client_secret": secret,
        "scopes": list(scopes),
    }


def analytics(sim, password: str = ES_PASSWORD) -> dict:
    """The simulated analytics store (Elasticsearch of the ELK analytics), with its own credentials."""
    return {
        "url": f"{sim.base_url}/lgsp/es/",
        "auth": {"type": "basic", "username": ES_USER, "password": password},
    }


# -------------------------------------------------------------------------------------- portal


@pytest.mark.parametrize("slug", ["", "van-phong-ubnd-tinh", "so-tu-phap", "so-tai-chinh", "so-ngoai-vu"])
def test_portal_values_equal_the_world(sim, slug):
    portal: PortalSystem = sim.systems["portal"]
    site = portal.sites[slug]
    now = sim.world.now()
    url = f"{sim.base_url}/portal/{slug}" if slug else f"{sim.base_url}/portal/"
    # the default profile (liferay) with the site's news Asset Publisher instance and, where the site has one,
    # its Q&A page
    settings = {"instance": instance_id(slug), **({"qa_page": "hoi-dap"} if site.has_qa else {})}
    out = make(PortalCollector, sim, url=url, profile_settings=settings).collect()
    got = samples(out)
    assert out.state == "up" and out.skipped == []
    # sections: the site's menu, plus the contact link every footer has
    menu = {name for name, _, _ in MENU if name in site.sections} | {"contact"}
    present = {
        k[1][0][1] for k, v in got.items() if k[0] == "egov_portal_required_section_present" and v == 1
    }
    assert present == menu
    assert got[key("egov_portal_required_sections_present")] == len(menu)
    # freshness: the moments the printed dates name (a date without a time is its midnight, "2 giờ trước"
    # counts whole hours back)
    shown = [a.shown_at for a in portal.articles(slug, now)]
    assert got[key("egov_portal_newest_article_timestamp_seconds")] == max(shown)
    assert got[key("egov_portal_newest_article_age_seconds")] == max(0.0, now.timestamp() - max(shown))
    for days in (7, 30):
        expected = sum(1 for t in shown if t >= now.timestamp() - days * 86400)
        assert got[key("egov_portal_articles_published", window=f"{days}d")] == expected
    if site.has_qa:
        received, answered = portal.questions(slug, now)
        assert got[key("egov_portal_questions_received_total")] == received
        assert got[key("egov_portal_questions_answered_total")] == answered
    else:  # without qa_page the liferay profile reads no Q&A
        assert key("egov_portal_questions_received_total") not in got


def test_portal_news_pages_are_the_asset_publishers_own(sim):
    """Another instance id's paging parameter is ignored, as Liferay does: every page is the first one, the
    walk stops at the repeat and only 20 articles are seen."""
    portal: PortalSystem = sim.systems["portal"]
    now = sim.world.now()
    url = f"{sim.base_url}/portal/"
    wrong = make(PortalCollector, sim, url=url, profile_settings={"instance": "abc123"}).collect()
    right = make(PortalCollector, sim, url=url, profile_settings={"instance": instance_id("")}).collect()
    shown = [a.shown_at for a in portal.articles("", now)]
    within_30d = sum(1 for t in shown if t >= now.timestamp() - 30 * 86400)
    assert within_30d > 20
    assert samples(right)[key("egov_portal_articles_published", window="30d")] == within_30d
    assert samples(wrong)[key("egov_portal_articles_published", window="30d")] == 20


def test_portal_date_styles_are_all_exercised():
    """The sites above print dates in every style the simulator has (so the test covers each parser)."""
    portal = PortalSystem(World(units=100, seed=766, start=INSTANTS[0], clock=lambda: 0.0))
    styles = {portal.sites[s].style for s in ("", "van-phong-ubnd-tinh", "so-tu-phap", "so-tai-chinh")}
    assert styles == {"province", "dmy", "dmy_time", "long"}
    shown = [a.shown for a in portal.articles("", INSTANTS[0], limit=40)]
    assert any("giờ trước" in s for s in shown) and any(s.startswith("Hôm qua") for s in shown)
    assert any(s.startswith("Thứ ") for s in shown)


# ---------------------------------------------------------------------------------------- lgsp


def test_lgsp_values_equal_the_world(sim):
    lgsp: LgspSystem = sim.systems["lgsp"]
    shared = LgspSystem.shared_data_applications()
    collector = make(
        LgspCollector,
        sim,
        url=f"{sim.base_url}/lgsp/",
        auth=lgsp_auth(sim),
        shared_data_applications=shared,
        national_platform_url="ndxp/1.0/health",
        analytics=analytics(sim),
    )
    out = collector.collect()
    got = samples(out)
    assert out.state == "up" and out.skipped == []
    assert got[key("egov_lgsp_gateway_info", version="WSO2 API Manager-4.2.0")] == 1
    assert got[key("egov_lgsp_gateway_ready")] == 1
    for status in ("APPROVED", "CREATED", "REJECTED"):
        assert got[key("egov_lgsp_applications", status=status)] == sum(
            1 for a in lgsp.applications() if a["status"] == status
        )
    assert got[key("egov_lgsp_apis_published")] == sum(
        1 for a in lgsp.apis() if a["lifeCycleStatus"] == "PUBLISHED"
    )
    approved = {app_key(a["name"]) for a in lgsp.applications() if a["status"] == "APPROVED"}
    assert got[key("egov_lgsp_applications_connected")] == len(approved)
    assert (
        got[key("egov_lgsp_shared_data_applications_connected")]
        == lgsp.connected_shared()
        == sum(1 for name in shared if app_key(name) in approved)
    )
    assert got[key("egov_lgsp_shared_data_applications")] == len(shared)
    for period in ("month", "quarter", "year"):
        usage = [
            u for u in lgsp.usage(period) if u.requests
        ]  # Elasticsearch has no bucket without a document
        assert {
            k[1][0][1] for k in got if k[0] == "egov_lgsp_api_requests_total" and k[1][1][1] == period
        } == {u.api for u in usage}
        for u in usage:
            assert got[key("egov_lgsp_api_requests_total", api=u.api, period=period)] == u.requests
            assert got[key("egov_lgsp_api_faults_total", api=u.api, period=period)] == u.faults
            if u.requests:
                assert got[key("egov_lgsp_api_latency_seconds", api=u.api, period=period)] == pytest.approx(
                    u.latency_ms / 1000
                )
    assert got[key("egov_lgsp_national_platform_up")] == 1
    # the statistics grow over the periods: a month is part of its quarter, a quarter of its year
    for u_month, u_year in zip(lgsp.usage("month"), lgsp.usage("year"), strict=True):
        assert u_month.requests <= u_year.requests
    # one token for the poll, reused by the next poll
    assert collector.ctx.http.stats["token_requests"] == 1
    collector.collect()
    assert collector.ctx.http.stats["token_requests"] == 1


def test_lgsp_scopes_are_the_ones_wso2_checks(sim):
    """apim:app_manage (a Developer Portal scope) does not open the admin API's application list."""
    collector = make(
        LgspCollector,
        sim,
        url=f"{sim.base_url}/lgsp/",
        auth=lgsp_auth(sim, scopes=("apim:api_view", "apim:app_manage")),
    )
    with pytest.raises(CollectError) as info:
        collector.collect()
    assert info.value.reason == "auth"
    assert info.value.message.endswith(
        "/lgsp/api/am/admin/v4/applications?limit=50&offset=0: HTTP 403 Forbidden"
    )


def test_lgsp_analytics_store_needs_its_own_credentials(sim):
    collector = make(
        LgspCollector,
        sim,
        url=f"{sim.base_url}/lgsp/",
        auth=lgsp_auth(sim),
        periods=["month"],
        analytics=analytics(sim, password="wrong"),
    )
    with pytest.raises(CollectError) as info:
        collector.collect()
    assert info.value.reason == "auth"
    assert f"/lgsp/es/{ES_INDICES}/_search" in info.value.message


def test_lgsp_shared_data_from_the_report_payload(sim, tmp_path):
    profile = tmp_path / "report.yaml"
    profile.write_text(
        """
version: {path: services/Version, regex: '<return>([^<]+)</return>'}
shared_data: {path: api/lgsp/v1/bao-cao/ung-dung-chia-se, connected: $.data.soUngDungDaKetNoi,
              expected: $.data.tongSoUngDungCanKetNoi}
""",
        "utf-8",
    )
    got = samples(
        make(
            LgspCollector, sim, url=f"{sim.base_url}/lgsp", auth=lgsp_auth(sim), profile_file=str(profile)
        ).collect()
    )
    lgsp: LgspSystem = sim.systems["lgsp"]
    assert got[key("egov_lgsp_shared_data_applications_connected")] == lgsp.connected_shared()
    assert got[key("egov_lgsp_shared_data_applications")] == len(lgsp.shared_data_applications())


# ---------------------------------------------------------------------------------- fault modes


@pytest.mark.parametrize(
    "system,mode,reason",
    [
        ("portal", "5xx", "http_status"),
        ("portal", "waf", "blocked"),
        ("portal", "forbidden", "blocked"),
        ("portal", "429", "blocked"),
        ("portal", "wrong_content_type", "parse"),
        ("portal", "redirect_loop", "http_status"),
        ("portal", "missing_fields", "parse"),
        ("lgsp", "5xx", "http_status"),
        ("lgsp", "waf", "blocked"),
        ("lgsp", "unauthorized", "auth"),
        ("lgsp", "wrong_content_type", "parse"),
        ("lgsp", "malformed", "parse"),
        ("lgsp", "missing_fields", "parse"),
    ],
)
def test_fault_modes_give_their_reason(sim, system, mode, reason):
    if system == "portal":
        collector = make(
            PortalCollector,
            sim,
            url=f"{sim.base_url}/portal/",
            profile_settings={"instance": instance_id("")},
        )
    else:
        collector = make(
            LgspCollector,
            sim,
            url=f"{sim.base_url}/lgsp/",
            auth=lgsp_auth(sim),
            periods=["month"],
            analytics=analytics(sim),
        )
    collector.collect()  # a good poll first: the LGSP token is cached, so the fault hits the APIs themselves
    assert sim.set_fault(system, mode) is None
    with pytest.raises(CollectError) as info:
        collector.collect()
    assert info.value.reason == reason, info.value.message


def test_changed_layout_keeps_the_targets_up_and_counts_the_drift(sim):
    lgsp_collector = make(
        LgspCollector,
        sim,
        url=f"{sim.base_url}/lgsp/",
        auth=lgsp_auth(sim),
        periods=["month"],
        analytics=analytics(sim),
    )
    lgsp_collector.collect()  # the token is cached before the layout changes
    sim.set_fault("portal", "changed_layout")
    sim.set_fault("lgsp", "changed_layout")
    portal = make(
        PortalCollector, sim, url=f"{sim.base_url}/portal/", profile_settings={"instance": instance_id("")}
    ).collect()
    # the menu (now divs, renamed classes, no header/nav) is still read on the whole page; the article list's
    # selectors no longer match
    assert samples(portal)[key("egov_portal_required_sections_present")] == len(MENU) + 1
    assert sorted(s.split(":")[0] for s in portal.skipped) == sorted(
        ["egov_portal_newest_article_timestamp_seconds", "egov_portal_articles_published"]
    )
    lgsp = lgsp_collector.collect()
    # the SOAP version answer is XML, untouched; every JSON list moved
    assert samples(lgsp)[key("egov_lgsp_gateway_info", version="WSO2 API Manager-4.2.0")] == 1
    assert [s.split(":")[0] for s in lgsp.skipped] == [
        "egov_lgsp_apis_published",
        "egov_lgsp_applications_connected",
        "egov_lgsp_api_requests_total",
    ]


def test_wrong_client_secret_is_auth(sim):
    collector = make(LgspCollector, sim, url=f"{sim.base_url}/lgsp/", auth=lgsp_auth(sim, "wrong-secret"))
    with pytest.raises(CollectError) as info:
        collector.collect()
    assert info.value.reason == "auth"


def test_without_a_token_the_management_apis_refuse(sim):
    collector = make(LgspCollector, sim, url=f"{sim.base_url}/lgsp/")
    with pytest.raises(CollectError) as info:
        collector.collect()
    assert info.value.reason == "auth" and "401" in info.value.message
