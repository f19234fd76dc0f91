"""The ``services`` kind on the real vendors' shapes, through the real HTTP client: VNPT iGate (profile
``igate``, the An Giang ``kgg`` family: three requests per period, bare JSON arrays, a Keycloak token of realm
``digo``, agencies joined by code and by name) and OpenCPS (profile ``opencps``: ``/o/rest/statistics`` with
the ``groupId`` header, ``data[]``, month 0 for the year).  Fixtures are in tests/fixtures/http/igate and
tests/fixtures/http/opencps, each folder's README naming the public source of its fields; expected values
are read from the fixtures with plain ``json``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from configs import checked_config
from httpstub import HttpStub, matchers

from collectors.services import ServicesCollector
from exporter.config import ConfigError
from exporter.fetch import HttpClient, _OAuth2Token
from exporter.plugin import CollectContext, CollectError
from exporter.registry import load_kinds

FIXTURES = Path(__file__).parent / "fixtures" / "http"
NOW = dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=7)))
T0 = NOW.timestamp()

API = "https://apidvc.angiang.example.gov.vn"
SSO = "https://ssodvc.angiang.example.gov.vn/auth/realms/digo/protocol/openid-connect/token"
AGENCY = "65f0a1b2c3d4e5f6a7b8c9d0"
IGATE_AUTH = {"type": "oauth2", "token_url": SSO, "client_id": "egov-exporter", "client_secret": "s3cr3t"}
STATISTIC = f"{API}/pa/dossier-statistic/--statistic-agency-kgg"
ONLINE = f"{API}/pa/kgg-dossier-statistic/--kgg-dossier-report-online"
DIGITIZE = f"{API}/pa/kgg-digitize/digitization-by-agency"
STARTS = {"month": "2026-11-01", "quarter": "2026-10-01", "year": "2026-01-01"}

OPENCPS = "https://dichvucong.example.gov.vn"
GROUP_ID = "35417"


def load(system: str, name: str):
    return json.loads((FIXTURES / system / name).read_text(encoding="utf-8"))


def key(name: str, **labels: str) -> tuple:
    return (name, tuple(sorted(labels.items())))


def samples(out) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in out.samples}


def services(out) -> dict[tuple, float]:
    return {k: v for k, v in samples(out).items() if k[0].startswith("egov_services_")}


def make(stub, trace: list | None = None, **kw) -> ServicesCollector:
    cfg = ServicesCollector.Config.model_validate(
        {"name": "dvc", "kind": "services", "system": "services", "url": API, "retries": 0, **kw}
    )
    return ServicesCollector(
        cfg, CollectContext(http=HttpClient(cfg, stub, clock=lambda: T0), clock=lambda: T0, trace=trace)
    )


def igate(stub, **kw) -> ServicesCollector:
    settings = {"agency_id": AGENCY, **kw.pop("profile_settings", {})}
    return make(
        stub,
        **{"profile": "igate", "auth": IGATE_AUTH, "periods": ["month", "year"], "profile_settings": settings}
        | kw,
    )


@pytest.fixture()
def rsps():
    _OAuth2Token.clear()
    with HttpStub(assert_all_requests_are_fired=True) as r:
        yield r
    _OAuth2Token.clear()


# ------------------------------------------------------------------------------------------ iGate


def stub_token(rsps) -> str:
    rsps.post(
        SSO,
        json=load("igate", "token.json"),
        match=[
            matchers.urlencoded_params_matcher(
                {"grant_type": "client_credentials", "client_id": "egov-exporter", "client_secret": "s3cr3t"}
            )
        ],
    )
    return load("igate", "token.json")["access_token"]


def stub_igate(rsps, token: str, period: str, which=("statistic", "online", "digitize"), **answers) -> None:
    """The three requests of one period, each with exactly the query iGate's public client sends (level ids
    left out: none is set)."""
    start = STARTS[period]
    bearer = matchers.header_matcher({"Authorization": f"Bearer {token}"})
    requests = {
        "statistic": (
            STATISTIC,
            {
                "agency-id": AGENCY,
                "from-date": f"{start}T00:00:00.000Z",
                "to-date": "2026-11-27T23:59:59.999Z",
                "suppended-cancelled": "true",
                "hide-agency-no-dossier": "false",
            },
            f"statistic-agency-kgg-{period}.json",
        ),
        "online": (
            ONLINE,
            {
                "from-applied-date": f"{start}T00:00:00.0Z",
                "to-applied-date": "2026-11-27T23:59:59.0Z",
                "agency-id": AGENCY,
                "is-ignore-free-dossier": "true",
            },
            f"report-online-{period}.json",
        ),
        "digitize": (
            DIGITIZE,
            {"from": f"{start}T00:00:00.000Z", "to": "2026-11-27T23:59:59.999Z", "ancestor-id": AGENCY},
            f"digitization-{period}.json",
        ),
    }
    for name in which:
        url, query, fixture = requests[name]
        answer = answers.get(name) or {"json": load("igate", fixture)}
        rsps.get(url, match=[matchers.query_param_matcher(query), bearer], **answer)


def igate_expected(period: str) -> dict[tuple, float]:
    """What the three answers of a period say, per the profile's rules."""
    out: dict[tuple, float] = {}
    for item in load("igate", f"statistic-agency-kgg-{period}.json"):
        unit = item["agency"]["code"]
        for field, channel in (("receivedOnline", "online"), ("receivedDirect", "direct")):
            out[key("egov_services_dossiers_received_total", unit=unit, period=period, channel=channel)] = (
                item[field]
            )
        out[key("egov_services_dossiers_completed_total", unit=unit, period=period, timeliness="in_time")] = (
            item["resolved"] - item["resolvedOverdue"]
        )
        out[key("egov_services_dossiers_completed_total", unit=unit, period=period, timeliness="late")] = (
            item["resolvedOverdue"]
        )
        out[key("egov_services_unit_info", unit=unit, unit_name=item["agency"]["name"])] = 1
    codes = {
        i["agency"]["name"]: i["agency"]["code"] for i in load("igate", f"statistic-agency-kgg-{period}.json")
    }
    for item in load("igate", f"report-online-{period}.json"):
        unit = codes.get(item["agency_name"])
        if unit is None:
            continue
        out[key("egov_services_dossiers_full_online_total", unit=unit, period=period)] = item[
            "phatsinh_toanphan_quantity"
        ]
        out[key("egov_services_dossiers_paid_online_total", unit=unit, period=period)] = item[
            "onlinepaid_quantity"
        ]
    for item in load("igate", f"digitization-{period}.json"):
        out[key("egov_services_dossiers_digitized_total", unit=item["agency"]["code"], period=period)] = item[
            "totalReceiverHavingFile"
        ]
    return out


def test_igate_three_reports_per_period_exact_values(rsps):
    token = stub_token(rsps)
    for period in ("month", "year"):
        stub_igate(rsps, token, period)
    trace: list = []
    out = igate(rsps, trace=trace).collect()
    assert out.state == "up"
    want = {**igate_expected("month"), **igate_expected("year")}
    for source in ("dossier-statistic", "online-report", "digitization"):
        want[key("egov_services_source_up", source=source)] = 1
    assert services(out) == want
    # a unit the online report names but no answer gives a code for is counted, not guessed
    assert out.skipped == [
        "unit 'Trung tâm Phục vụ hành chính công tỉnh': no code for this name in units (nor in the poll's "
        "other answers)"
    ]
    # in time = resolved - resolvedOverdue, e.g. Sở Tư pháp this month: 398 - 12
    assert (
        want[
            key("egov_services_dossiers_completed_total", unit="H01.13", period="month", timeliness="in_time")
        ]
        == 386
    )
    assert [e["request"].split("?")[0] for e in trace if "request" in e] == [
        f"GET {STATISTIC}",
        f"GET {STATISTIC}",
        f"GET {ONLINE}",
        f"GET {ONLINE}",
        f"GET {DIGITIZE}",
        f"GET {DIGITIZE}",
    ]


def test_igate_level_ids_are_sent_when_set(rsps):
    token = stub_token(rsps)
    ids = {
        "agency_level_0": "65f0a1b2c3d4e5f6a7b8c9d1",
        "procedure_level_4": "65f0a1b2c3d4e5f6a7b8c9d2",
        "digitization_levels": "65f0a1b2c3d4e5f6a7b8c9d3,65f0a1b2c3d4e5f6a7b8c9d4",
    }
    bearer = matchers.header_matcher({"Authorization": f"Bearer {token}"})
    rsps.get(
        STATISTIC,
        json=load("igate", "statistic-agency-kgg-month.json"),
        match=[
            bearer,
            matchers.query_param_matcher(
                {
                    "agency-id": AGENCY,
                    "from-date": "2026-11-01T00:00:00.000Z",
                    "to-date": "2026-11-27T23:59:59.999Z",
                    "agencyLevel0": ids["agency_level_0"],
                    "procedureLevel4": ids["procedure_level_4"],
                    "suppended-cancelled": "true",
                    "hide-agency-no-dossier": "false",
                }
            ),
        ],
    )
    rsps.get(
        DIGITIZE,
        json=load("igate", "digitization-month.json"),
        match=[
            bearer,
            matchers.query_param_matcher(
                {
                    "from": "2026-11-01T00:00:00.000Z",
                    "to": "2026-11-27T23:59:59.999Z",
                    "ancestor-id": AGENCY,
                    "list-level-id": ids["digitization_levels"],
                    "agency-level-0": ids["agency_level_0"],
                }
            ),
        ],
    )
    out = igate(rsps, periods=["month"], profile_settings={**ids, "online_path": ""}).collect()
    assert out.state == "up"
    names = {s.labels.get("source") for s in out.samples if s.name == "egov_services_source_up"}
    assert names == {"dossier-statistic", "digitization"}  # online_path "" turned that report off


def test_igate_another_province_prefix_moves_every_path(rsps):
    token = stub_token(rsps)
    bearer = matchers.header_matcher({"Authorization": f"Bearer {token}"})
    for url, fixture in (
        (f"{API}/pa/dossier-statistic/--statistic-agency-dni", "statistic-agency-kgg-month.json"),
        (f"{API}/pa/dni-dossier-statistic/--dni-dossier-report-online", "report-online-month.json"),
        (f"{API}/pa/dni-digitize/digitization-by-agency", "digitization-month.json"),
    ):
        rsps.get(url, json=load("igate", fixture), match=[bearer])
    out = igate(rsps, periods=["month"], profile_settings={"prefix": "dni"}).collect()
    assert services(out) == {
        **igate_expected("month"),
        **{
            key("egov_services_source_up", source=s): 1
            for s in ("dossier-statistic", "online-report", "digitization")
        },
    }


def test_igate_a_failing_report_is_attributed_to_its_source(rsps):
    token = stub_token(rsps)
    stub_igate(rsps, token, "month", which=("statistic", "online"))
    rsps.get(DIGITIZE, status=404, json={"status": 404, "error": "Not Found", "path": "/pa/kgg-digitize/x"})
    out = igate(rsps, periods=["month"]).collect()
    assert out.state == "degraded"
    assert out.message == f"source digitization failed (http_status): {DIGITIZE}?" + (
        "from=2026-11-01T00%3A00%3A00.000Z&to=2026-11-27T23%3A59%3A59.999Z&ancestor-id="
        + AGENCY
        + ": HTTP 404"
    )
    got = services(out)
    assert got[key("egov_services_source_up", source="digitization")] == 0
    assert got[key("egov_services_source_up", source="dossier-statistic")] == 1
    want = {
        k: v for k, v in igate_expected("month").items() if k[0] != "egov_services_dossiers_digitized_total"
    }
    assert {k: v for k, v in got.items() if k[0] != "egov_services_source_up"} == want


def test_igate_every_report_failing_downs_the_target_with_the_first_reason(rsps):
    token = stub_token(rsps)
    answers = {n: {"status": 500, "body": "error"} for n in ("statistic", "online", "digitize")}
    stub_igate(rsps, token, "month", **answers)
    with pytest.raises(CollectError) as info:
        igate(rsps, periods=["month"]).collect()
    assert info.value.reason == "http_status"
    assert info.value.message.startswith(f"every source failed: dossier-statistic: {STATISTIC}?")
    assert info.value.message.count("HTTP 500") == 3


def test_igate_a_refusal_ends_the_poll_at_once(rsps):
    token = stub_token(rsps)
    waf = (FIXTURES / "services" / "waf.html").read_text(encoding="utf-8")
    stub_igate(
        rsps, token, "month", which=("statistic",), statistic={"body": waf, "content_type": "text/html"}
    )
    with pytest.raises(CollectError) as info:
        igate(rsps, periods=["month"]).collect()
    assert info.value.reason == "blocked"  # and no request went to the other two reports (rsps would fail)


def test_igate_an_object_where_an_array_is_expected_is_a_parse_failure(rsps):
    token = stub_token(rsps)
    error = {"json": {"code": "ERR", "message": "agency not found"}}
    stub_igate(rsps, token, "month", statistic=error, online=error, digitize=error)
    with pytest.raises(CollectError) as info:
        igate(rsps, periods=["month"]).collect()
    assert info.value.reason == "parse"
    assert "dossier-statistic: no configured metric found in the answer" in info.value.message


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            {},
            "targets[0]: profile_settings.agency_id: required by profile 'igate' (the 24-hex id of the "
            "province's root agency in iGate (agency-id, ancestor-id))",
        ),
        (
            {"agency_id": "123"},
            "targets[0]: profile_settings.agency_id: must match '[0-9a-f]{24}', got '123'",
        ),
        (
            {"agency_id": AGENCY, "prefx": "dni"},
            "targets[0]: profile_settings.prefx: not a setting of profile "
            "'igate'; its settings: prefix, agency_id, statistic_path, online_path, digitize_path, agency_level_0, "
            "agency_level_1, agency_level_2, procedure_level_2, procedure_level_3, procedure_level_4, "
            "digitization_levels",
        ),
        (
            {"agency_id": AGENCY, "prefix": "KGG"},
            "targets[0]: profile_settings.prefix: must match '[a-z]{2,8}', got 'KGG'",
        ),
        (
            {"agency_id": AGENCY, "online_path": "pa/{province}/x"},
            "targets[0]: profile_settings.online_path: "
            "'pa/{province}/x' names no other setting of profile 'igate' ('province')",
        ),
    ],
)
def test_igate_settings_mistakes_are_reported_at_the_target(settings, message):
    with pytest.raises(ConfigError) as info:
        checked_config(
            {"targets": [{"name": "dvc", "kind": "services", "url": API, "profile_settings": settings}]},
            kinds=load_kinds(),
            env={},
        )
    assert info.value.messages == [message]


def test_igate_with_an_old_profile_name_says_what_it_became():
    with pytest.raises(ConfigError) as info:
        checked_config(
            {"targets": [{"name": "dvc", "kind": "services", "url": API, "profile": "igate-json"}]},
            kinds=load_kinds(),
            env={},
        )
    assert info.value.messages == [
        "targets[0]: unknown profile 'igate-json' for kind services (renamed example-json: it is a template, "
        "not VNPT iGate's API; for iGate use profile: igate with profile_settings); shipped: example-json, "
        "html-table, igate, opencps"
    ]


# ---------------------------------------------------------------------------------------- OpenCPS


def opencps(stub, **kw) -> ServicesCollector:
    return make(
        stub,
        **{
            "url": OPENCPS,
            "profile": "opencps",
            "periods": ["month", "year"],
            "profile_settings": {"group_id": GROUP_ID},
            "auth": {"type": "basic", "username": "thongke", "password": "p4ss"},
        }
        | kw,
    )


def stub_opencps(rsps, month: int, fixture: str, path: str = "/o/rest/statistics") -> None:
    rsps.get(
        OPENCPS + path,
        json=load("opencps", fixture),
        match=[
            matchers.query_param_matcher({"year": "2026", "month": str(month), "domain": "total"}),
            matchers.header_matcher({"groupId": GROUP_ID, "Authorization": "Basic dGhvbmdrZTpwNHNz"}),
        ],
    )


def opencps_expected() -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for period, fixture in (("month", "statistics-month.json"), ("year", "statistics-year.json")):
        for row in load("opencps", fixture)["data"]:
            unit = row.get("govAgencyCode")
            if not unit:
                continue  # the province's own row
            out[key("egov_services_unit_info", unit=unit, unit_name=row["govAgencyName"])] = 1
            for field, channel in (
                ("onlineCount", "online"),
                ("onegateCount", "direct"),
                ("fromViaPostalCount", "postal"),
            ):
                out[
                    key("egov_services_dossiers_received_total", unit=unit, period=period, channel=channel)
                ] = row[field]
            for field, timeliness in (
                ("betimesCount", "early"),
                ("ontimeCount", "on_time"),
                ("overtimeCount", "late"),
            ):
                out[
                    key(
                        "egov_services_dossiers_completed_total",
                        unit=unit,
                        period=period,
                        timeliness=timeliness,
                    )
                ] = row[field]
            if period == "month":  # the backlog is read once, from the first period's answer
                out[key("egov_services_dossiers_pending", unit=unit, timeliness="in_time")] = row[
                    "undueCount"
                ]
                out[key("egov_services_dossiers_pending", unit=unit, timeliness="overdue")] = row[
                    "overdueCount"
                ]
    out[key("egov_services_source_up", source="statistics")] = 1
    return out


def test_opencps_month_and_year_exact_values(rsps):
    stub_opencps(rsps, 11, "statistics-month.json")
    stub_opencps(rsps, 0, "statistics-year.json")  # a year is month 0
    out = opencps(rsps).collect()
    assert out.state == "up" and out.skipped == []
    assert services(out) == opencps_expected()


def test_opencps_newer_rest_base_is_a_setting(rsps):
    stub_opencps(rsps, 11, "statistics-month.json", path="/o/secure/rest/statistics")
    out = opencps(
        rsps,
        periods=["month"],
        profile_settings={"group_id": GROUP_ID, "path": "o/secure/rest/statistics"},
    )
    assert out.collect().state == "up"


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            {"periods": ["month", "quarter", "year"]},
            "targets[0]: periods: profile 'opencps' cannot answer quarter (it answers month, year): leave it out "
            "of periods",
        ),
        (
            {"profile_settings": {}},
            "targets[0]: profile_settings.group_id: required by profile 'opencps' (the Liferay site id (groupId "
            "header) of the province's OpenCPS site)",
        ),
        (
            {"profile_settings": {"group_id": "site-1"}},
            "targets[0]: profile_settings.group_id: must match '[0-9]+', got 'site-1'",
        ),
    ],
)
def test_opencps_configuration_mistakes(extra, message):
    target = {
        "name": "dvc",
        "kind": "services",
        "url": OPENCPS,
        "profile": "opencps",
        "profile_settings": {"group_id": 35417},
        "periods": ["month", "year"],
        **extra,
    }
    with pytest.raises(ConfigError) as info:
        checked_config({"targets": [target]}, kinds=load_kinds(), env={})
    assert info.value.messages == [message]


def test_opencps_site_id_may_be_written_as_a_number():
    target = {
        "name": "dvc",
        "kind": "services",
        "url": OPENCPS,
        "profile": "opencps",
        "profile_settings": {"group_id": 35417},
        "periods": ["month"],
    }
    config = checked_config({"targets": [target]}, kinds=load_kinds(), env={})
    assert config.targets[0].profile_settings == {"group_id": "35417"}


def test_a_profile_without_per_period_sources_takes_any_periods(tmp_path):
    profile = tmp_path / "backlog.yaml"
    profile.write_text(
        "sources: [{name: backlog, per_period: false, request: {path: x},\n"
        "           metrics: [{name: egov_services_dossiers_pending, path: '$[*]', labels: {unit: '@.code'}}]}]\n",
        encoding="utf-8",
    )
    target = {"name": "dvc", "kind": "services", "url": API, "profile_file": str(profile)}
    config = checked_config({"targets": [target]}, kinds=load_kinds(), env={})
    assert config.targets[0].periods == ["month", "quarter", "year"]
