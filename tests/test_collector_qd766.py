"""qd766: the national portal's Decision 766 evaluation API, on the real captures and on unhappy answers.

Bodies are stored files: the real payloads in tests/fixtures/dvcqg-766 (with the exact request bodies of
manifest.m0.json) and small variants in tests/fixtures/http/national.  Expected values are read from the
fixture JSON by the test itself, never from the collector.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from configs import checked_config
from httpstub import POST, HttpStub, matchers

import collectors
from collectors.qd766 import QD766_METRICS, Qd766Collector, period_request
from exporter.config import ConfigError
from exporter.exposition import StoreCollector, all_specs
from exporter.fetch import HttpClient, TransportError
from exporter.plugin import CollectContext, CollectError
from exporter.results import ResultStore, TargetResult

FIX = Path(__file__).parent / "fixtures"
REAL = FIX / "dvcqg-766"
NAT = FIX / "http" / "national"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ROOT_ID = "019d2be3-6a88-732b-8b17-b68020c8553a"
PORTAL = "https://dichvucong.gov.vn"
API = PORTAL + "/api/v1/reporting/evaluation/"
#: when the captures were taken: month 8 of 2026
AUGUST = dt.datetime(2026, 8, 20, 10, 0, tzinfo=TZ).timestamp()
TREES = ("dvc-progress-tree", "formality-online-payment-tree", "provide-online-tree")
ALL = (*TREES, "dossier-digitized", "transparency", "handling-satisfaction")
GROUP = {
    "dvc-progress-tree": "TDGQ",
    "formality-online-payment-tree": "TTTT",
    "provide-online-tree": "CLGQ",
    "dossier-digitized": "MDSH",
    "transparency": "CKMB",
    "handling-satisfaction": "MDHL",
}


def target(**extra):
    raw = {
        "name": "dvcqg",
        "kind": "qd766",
        "url": PORTAL,
        "root_department_id": ROOT_ID,
        "periods": ["month"],
        "pause": "0s",
        "retries": 0,
        "province_ranking": False,  # the ranking has tests of its own (test_collector_qd766_ranking.py)
        **extra,
    }
    return checked_config({"targets": [raw]}, kinds=collectors.KINDS, env={}).targets[0]


def collector(stub, t, clock=lambda: AUGUST):
    return Qd766Collector(t, CollectContext(http=HttpClient(t, stub, clock=clock), clock=clock))


def manifest_payload(endpoint: str, scope: str = "all") -> dict:
    manifest = json.loads((REAL / "manifest.m0.json").read_text(encoding="utf-8"))
    return next(c["payload"] for c in manifest["captures"] if c["file"] == f"{endpoint}/month-{scope}.json")


def stub(
    rs,
    endpoint: str,
    path: Path,
    *,
    status: int = 201,
    content_type: str = "application/json; charset=utf-8",
    match=(),
):
    rs.add(
        POST,
        API + endpoint,
        body=path.read_bytes(),
        status=status,
        content_type=content_type,
        match=list(match),
    )


def values(out) -> dict[tuple, float]:
    got = {}
    for s in out.samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        assert key not in got, f"duplicate sample {key}"
        got[key] = s.value
    return got


def v(table, name, /, **labels):
    return table.get((name, tuple(sorted(labels.items()))))


def load(endpoint: str, scope: str = "all") -> dict:
    return json.loads((REAL / endpoint / f"month-{scope}.json").read_text(encoding="utf-8"))["data"]


# ------------------------------------------------------------------------------ configuration


def test_the_configuration_of_the_issue_works_as_written():
    cfg = checked_config(
        {
            "targets": [
                {
                    "name": "dvcqg",
                    "kind": "qd766",
                    "url": PORTAL,
                    "root_department_id": ROOT_ID,
                    "periods": ["month", "quarter", "year"],
                }
            ]
        },
        kinds=collectors.KINDS,
        env={},
    )
    t = cfg.targets[0]
    assert (t.system, t.interval, t.timeout, t.pause, t.periods) == (
        "national",
        3600.0,
        120.0,
        1.0,
        ["month", "quarter", "year"],
    )
    assert [e.name for e in Qd766Collector(t, CollectContext(http=None)).endpoints] == list(ALL)


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            {"root_department_id": "H44"},
            "targets[0].root_department_id: must be a UUID like "
            "019d2be3-6a88-732b-8b17-b68020c8553a, got 'H44'",
        ),
        (
            {"periods": ["week"]},
            "targets[0].periods[0]: must be one of 'month', 'quarter' or 'year', got \"week\"",
        ),
        ({"periods": ["month", "month"]}, "targets[0].periods: period month is listed twice"),
        (
            {"endpoints": ["transparancy"]},
            "targets[0]: unknown endpoint 'transparancy'; the profile has "
            "dvc-progress-tree, formality-online-payment-tree, provide-online-tree, "
            "dossier-digitized, transparency, handling-satisfaction",
        ),
        (
            {"endpoints": ["transparency", "handling-satisfaction"]},
            "targets[0]: transparency, handling-satisfaction name units by departmentId only: also poll "
            "one of dvc-progress-tree, formality-online-payment-tree, provide-online-tree, "
            "dossier-digitized, which give the departmentCode",
        ),
        ({"profile": "nope"}, "targets[0]: unknown profile 'nope' for kind qd766; shipped: dvcqg"),
    ],
)
def test_configuration_mistakes_are_reported_with_their_place(extra, message):
    raw = {"name": "dvcqg", "kind": "qd766", "url": PORTAL, "root_department_id": ROOT_ID, **extra}
    with pytest.raises(ConfigError) as err:
        checked_config({"targets": [raw]}, kinds=collectors.KINDS, env={})
    assert err.value.messages == [message]


def test_periods_are_the_current_calendar_ones_in_vietnam():
    # 2026-09-30 20:00 UTC is already 1 October in Hanoi
    now = dt.datetime(2026, 9, 30, 20, 0, tzinfo=dt.UTC)
    assert period_request(now, "month")[:2] == (
        {"timeType": "month", "year": 2026, "month": 10},
        {"fromDate": "2026-10-01", "toDate": "2026-10-31"},
    )
    assert period_request(now, "quarter")[:2] == (
        {"timeType": "quarter", "year": 2026, "quarter": 4},
        {"fromDate": "2026-10-01", "toDate": "2026-12-31"},
    )
    assert period_request(now, "year")[:2] == (
        {"timeType": "year", "year": 2026},
        {"fromDate": "2026-01-01", "toDate": "2026-12-31"},
    )
    assert period_request(now, "month")[2] == dt.datetime(2026, 10, 1, tzinfo=TZ)


# ------------------------------------------------------------------------------ the real captures


@pytest.fixture(scope="module")
def august():
    """One round over the six real month-all captures, each request matched to the manifest's exact body."""
    t = target()
    with HttpStub(assert_all_requests_are_fired=True) as rs:
        for endpoint in ALL:
            stub(
                rs,
                endpoint,
                REAL / endpoint / "month-all.json",
                match=[matchers.json_params_matcher(manifest_payload(endpoint))],
            )
        out = collector(rs, t).collect()
        order = [call.request.url.rsplit("/", 1)[1] for call in rs.calls]
    return out, values(out), order


def test_trees_are_polled_first_and_bodies_are_the_manifests(august):
    out, _table, order = august
    assert order == list(ALL)  # json_params_matcher already checked each body against manifest.m0.json
    assert out.state == "up" and out.skipped == []


def test_tree_scores_and_raw_counts_are_the_payloads(august):
    _out, table, _ = august
    fields = {
        "dvc-progress-tree": (
            {"received": "totalReceived", "on_time": "totalOnTime", "completed": "totalCompleted"},
            {"received": "totalReceived", "on_time": "totalOnTime", "overdue": "totalOverdue"},
            ("totalScore", "totalMaxScore"),
            ("score", "maxScore"),
        ),
        "formality-online-payment-tree": (
            {
                "with_fee": "totalDossierFinancialObligation",
                "paid_online": "totalDossierOnlinePaymentSuccess",
                "fee_procedures": "totalFeeFormality",
                "fee_procedures_distinct": "totalFeeDossierFormalityDistinct",
                "fee_procedures_paid_online": "totalDossierOnlineFormalityPaymentSuccess",
                "fee_procedures_with_dossiers": "totalFeeDossierFormality",
            },
            None,
            ("totalScore", "totalMaxScore"),
            ("totalScore", "totalMaxScore"),
        ),
        "provide-online-tree": (
            {
                "procedures_authority": "authorityCount",
                "procedures_full_online": "fullCount",
                "procedures_partial_online": "partialCount",
                "online_services": "onlineServiceTotal",
                "online_services_used": "onlineDossierCount",
                "dossiers_online": "channelOnlineSum",
                "dossiers_direct": "channelDirectSum",
                "dossiers_postal": "channelPostalSum",
                "online_dossiers_on_time": "onlineOnTimeSum",
                "online_dossiers_overdue": "onlineOverdueSum",
            },
            {},
            ("totalScore", "totalMaxScore"),
            ("totalScore", "totalMaxScore"),
        ),
    }
    checked = 0
    for endpoint, (parent_counts, child_counts, parent_score, child_score) in fields.items():
        data = load(endpoint)
        group = GROUP[endpoint]
        child_counts = parent_counts if child_counts is None else child_counts
        for node, counts, (score, top) in [(data["parent"], parent_counts, parent_score)] + [
            (c, child_counts, child_score) for c in data["children"]
        ]:
            unit = node["departmentCode"]
            labels = {"unit": unit, "group": group, "period": "month"}
            assert v(table, "egov_qd766_score", **labels, source="published") == node[score]
            assert v(table, "egov_qd766_max_score", **labels) == node[top]
            for label, field in counts.items():
                assert v(table, "egov_qd766_figure", **labels, field=label) == node[field], (
                    endpoint,
                    unit,
                    label,
                )
                checked += 1
            if not counts:  # provide-online-tree children publish no counts
                assert not any(
                    k[0] == "egov_qd766_figure" and ("unit", unit) in k[1] and ("group", "CLGQ") in k[1]
                    for k in table
                )
    assert checked == 164 * 3 + 164 * 6 + 10
    assert v(table, "egov_qd766_figure", unit="H44", group="TDGQ", period="month", field="received") == 184513


def test_metrics_rows_are_joined_to_unit_codes_and_exact(august):
    _out, table, _ = august
    codes = {c["departmentId"]: c["departmentCode"] for c in load("dvc-progress-tree")["children"]}
    codes[ROOT_ID] = "H44"
    n = 0
    for endpoint in ("dossier-digitized", "transparency", "handling-satisfaction"):
        data = load(endpoint)
        for row in [data["overview"]] + data["evaluation"]:
            unit = codes[row["departmentId"]]
            if "departmentCode" in row:
                assert row["departmentCode"] == unit
            labels = {"unit": unit, "group": GROUP[endpoint], "period": "month"}
            assert v(table, "egov_qd766_score", **labels, source="published") == row["totalScore"]
            for m in row["metrics"]:
                ml = {**labels, "metric": m["code"]}
                assert v(table, "egov_qd766_metric_numerator", **ml) == m["numerator"]
                assert v(table, "egov_qd766_metric_denominator", **ml) == m["denominator"]
                assert v(table, "egov_qd766_metric_score", **ml) == m["score"]
                expect_ratio = m["ratio"] / 100 if m["numerator"] is None and m["ratio"] is not None else None
                assert v(table, "egov_qd766_metric_ratio", **ml) == expect_ratio
                assert (
                    v(table, "egov_qd766_metric_max_score", group=GROUP[endpoint], metric=m["code"])
                    == m["maxScore"]
                )
                n += 1
    assert n == 164 * (7 + 4 + 5)
    # transparency gives only departmentId: Văn phòng UBND tỉnh is H44.01 through the trees
    assert (
        v(table, "egov_qd766_score", unit="H44.01", group="CKMB", period="month", source="published") == 1.96
    )


def test_units_levels_and_round_metadata(august):
    out, table, _ = august
    info = [s for s in out.samples if s.name == "egov_qd766_unit_info"]
    levels: dict[str, int] = {}
    for s in info:
        levels[s.labels["level"]] = levels.get(s.labels["level"], 0) + 1
    assert levels == {"province": 1, "department": 15, "commune": 148}
    assert v(table, "egov_qd766_unit_info", unit="H44", unit_name="UBND tỉnh Phú Thọ", level="province") == 1
    assert (
        v(
            table,
            "egov_qd766_unit_info",
            unit="H44.01",
            unit_name="Văn phòng UBND Tỉnh - Tỉnh Phú Thọ",
            level="department",
        )
        == 1
    )
    for endpoint in ALL:
        assert v(table, "egov_qd766_schema_drift", endpoint=endpoint) == 0
        assert v(table, "egov_qd766_request_duration_seconds", endpoint=endpoint, period="month") >= 0
    assert (
        v(table, "egov_qd766_period_start_timestamp_seconds", period="month")
        == dt.datetime(2026, 8, 1, tzinfo=TZ).timestamp()
    )
    assert v(table, "egov_target_http_status_code") == 201
    assert (
        v(
            table,
            "egov_qd766_metric_info",
            group="MDHL",
            metric="PETITION_PROCESSING_ON_TIME",
            name="Tỷ lệ PAKN xử lý đúng hạn",
        )
        == 1
    )


def test_formality_scope_sends_each_endpoints_own_key():
    t = target(
        formality_id="019d2bfd-8e22-77ef-819f-e49460350904",
        endpoints=["dvc-progress-tree", "dossier-digitized", "transparency"],
    )
    with HttpStub(assert_all_requests_are_fired=True) as rs:
        for endpoint in ("dvc-progress-tree", "dossier-digitized", "transparency"):
            stub(
                rs,
                endpoint,
                REAL / endpoint / "month-formality.json",
                match=[matchers.json_params_matcher(manifest_payload(endpoint, "formality"))],
            )
        out = collector(rs, t).collect()
    table = values(out)
    parent = load("dvc-progress-tree", "formality")["parent"]
    assert (
        v(table, "egov_qd766_figure", unit="H44", group="TDGQ", period="month", field="on_time")
        == parent["totalOnTime"]
    )
    assert "formalityID" in manifest_payload("dossier-digitized", "formality")


def test_paged_endpoint_is_read_page_by_page():
    t = target(endpoints=["dvc-progress-tree", "transparency"], page_size=2)
    with HttpStub(assert_all_requests_are_fired=True) as rs:
        stub(rs, "dvc-progress-tree", NAT / "tree-small.json")
        for page in (1, 2):
            stub(
                rs,
                "transparency",
                NAT / f"transparency-page-{page}.json",
                match=[
                    matchers.json_params_matcher({"currentPage": page, "pageSize": 2}, strict_match=False)
                ],
            )
        out = collector(rs, t).collect()
    table = values(out)
    pages = [
        json.loads((NAT / f"transparency-page-{p}.json").read_text(encoding="utf-8"))["data"] for p in (1, 2)
    ]
    tree = json.loads((NAT / "tree-small.json").read_text(encoding="utf-8"))["data"]
    codes = {c["departmentId"]: c["departmentCode"] for c in tree["children"]}
    rows = pages[0]["evaluation"] + pages[1]["evaluation"]
    known = [r for r in rows if r["departmentId"] in codes]
    assert len(known) == 3 and len(rows) == 4
    for r in known:
        assert (
            v(
                table,
                "egov_qd766_score",
                unit=codes[r["departmentId"]],
                group="CKMB",
                period="month",
                source="published",
            )
            == r["totalScore"]
        )
    assert (
        v(table, "egov_qd766_score", unit="H44", group="CKMB", period="month", source="published")
        == pages[0]["overview"]["totalScore"]
    )
    # the fourth row's unit is not in the (trimmed) tree: skipped and said so, not guessed
    assert out.skipped == [
        "transparency (month): 1 units have no departmentCode and are unknown to the tree endpoints"
    ]


# ------------------------------------------------------------------------------ unhappy answers


def _run(t, stubs):
    with HttpStub(assert_all_requests_are_fired=True) as rs:
        for endpoint, path, kwargs in stubs:
            if isinstance(path, Exception):
                rs.add(POST, API + endpoint, body=path)
            else:
                stub(rs, endpoint, path, **kwargs)
        try:
            return collector(rs, t).collect(), len(rs.calls)
        except CollectError as exc:
            return exc, len(rs.calls)


HTML = {"content_type": "text/html; charset=utf-8"}
TWO = ["dvc-progress-tree", "transparency"]

# (case, stubs in order, expected reason or None for up, requests made)
UNHAPPY = [
    ("5xx", [("dvc-progress-tree", NAT / "maintenance.html", {"status": 500, **HTML})], "http_status", 1),
    ("timeout", [("dvc-progress-tree", TransportError("timeout"), {})], "timeout", 1),
    ("waf page", [("dvc-progress-tree", NAT / "waf.html", {"status": 200, **HTML})], "blocked", 1),
    (
        "waf page mid-round stops the round",
        [
            ("dvc-progress-tree", NAT / "tree-small.json", {}),
            ("transparency", NAT / "waf.html", {"status": 200, **HTML}),
        ],
        "blocked",
        2,
    ),
    ("429", [("dvc-progress-tree", NAT / "error-code.json", {"status": 429})], "blocked", 1),
    ("403", [("dvc-progress-tree", NAT / "maintenance.html", {"status": 403, **HTML})], "blocked", 1),
    ("malformed body", [("dvc-progress-tree", NAT / "malformed.json", {})], "parse", 1),
    (
        "html where json expected",
        [("dvc-progress-tree", NAT / "maintenance.html", {"status": 200, **HTML})],
        "parse",
        1,
    ),
    ("upstream error code", [("dvc-progress-tree", NAT / "error-code.json", {})], "parse", 1),
    (
        "no data in any answer",
        [("dvc-progress-tree", NAT / "no-data.json", {}), ("transparency", NAT / "no-data.json", {})],
        "parse",
        2,
    ),
]


@pytest.mark.parametrize("case, stubs, reason, calls", UNHAPPY, ids=[u[0] for u in UNHAPPY])
def test_unusable_answers_fail_the_round_with_their_reason(case, stubs, reason, calls):
    result, made = _run(target(endpoints=TWO), stubs)
    assert isinstance(result, CollectError), result
    assert (result.reason, made) == (reason, calls), result.message


def test_no_data_message_names_what_is_missing():
    result, _ = _run(
        target(endpoints=TWO),
        [("dvc-progress-tree", NAT / "no-data.json", {}), ("transparency", NAT / "no-data.json", {})],
    )
    assert result.message == (
        "no evaluation data in any answer (missing: dvc-progress-tree parent, children; "
        "transparency overview, evaluation, pagination)"
    )


def test_missing_fields_skip_those_metrics_and_count_as_drift():
    out, _ = _run(
        target(endpoints=TWO),
        [
            ("dvc-progress-tree", NAT / "tree-missing-fields.json", {}),
            ("transparency", REAL / "transparency" / "month-all.json", {}),
        ],
    )
    table = values(out)
    tree = json.loads((NAT / "tree-missing-fields.json").read_text(encoding="utf-8"))["data"]
    assert out.state == "up"
    assert v(table, "egov_qd766_schema_drift", endpoint="dvc-progress-tree") == 2
    assert v(table, "egov_qd766_schema_drift", endpoint="transparency") == 0
    # the trimmed tree names 3 of the 163 units: transparency's other rows cannot be given a code
    assert sorted(out.skipped) == [
        "dvc-progress-tree: children[].totalOnTime missing",
        "dvc-progress-tree: parent.totalCompleted missing",
        "transparency (month): 160 units have no departmentCode and are unknown to the tree endpoints",
    ]
    lost = tree["children"][1]["departmentCode"]
    assert v(table, "egov_qd766_figure", unit=lost, group="TDGQ", period="month", field="on_time") is None
    assert (
        v(table, "egov_qd766_figure", unit=lost, group="TDGQ", period="month", field="received")
        == tree["children"][1]["totalReceived"]
    )
    assert v(table, "egov_qd766_figure", unit="H44", group="TDGQ", period="month", field="completed") is None
    assert (
        v(table, "egov_qd766_score", unit="H44", group="TDGQ", period="month", source="published")
        == tree["parent"]["totalScore"]
    )


def test_changed_layout_is_drift_and_the_other_endpoints_still_count():
    # the tree endpoint renamed parent/children: no unit codes from it; dossier-digitized still gives them
    t = target(endpoints=["dvc-progress-tree", "dossier-digitized"])
    out, _ = _run(
        t,
        [
            ("dvc-progress-tree", NAT / "tree-changed-layout.json", {}),
            ("dossier-digitized", REAL / "dossier-digitized" / "month-all.json", {}),
        ],
    )
    table = values(out)
    assert v(table, "egov_qd766_schema_drift", endpoint="dvc-progress-tree") == 2
    assert sorted(out.skipped) == ["dvc-progress-tree: children missing", "dvc-progress-tree: parent missing"]
    assert not any(k[0] == "egov_qd766_score" and ("group", "TDGQ") in k[1] for k in table)
    assert (
        v(table, "egov_qd766_score", unit="H44", group="MDSH", period="month", source="published")
        == load("dossier-digitized")["overview"]["totalScore"]
    )


def test_unit_codes_are_remembered_between_rounds():
    t = target(endpoints=TWO)
    with HttpStub(assert_all_requests_are_fired=True) as rs:
        c = collector(rs, t)
        stub(rs, "dvc-progress-tree", NAT / "tree-small.json")
        stub(rs, "transparency", NAT / "transparency-page-1.json")
        stub(rs, "dvc-progress-tree", NAT / "tree-changed-layout.json")
        stub(rs, "transparency", NAT / "transparency-page-1.json")
        c.collect()
        second = values(c.collect())
    row = json.loads((NAT / "transparency-page-1.json").read_text(encoding="utf-8"))["data"]["evaluation"][0]
    assert (
        v(second, "egov_qd766_score", unit="H44.03", group="CKMB", period="month", source="published")
        == row["totalScore"]
    )


# ------------------------------------------------------------------------------ exposition


def test_full_exposition_of_the_kind_passes_promtool(august, tmp_path):
    out, _table, _ = august
    store = ResultStore()
    result = TargetResult(
        target="dvcqg",
        system="national",
        kind="qd766",
        labels={"province": "H44"},
        url=PORTAL,
        state="up",
        started=AUGUST,
        duration=1.0,
        samples=out.samples,
    )
    store.register(result)
    store.record(result)
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, lambda: all_specs(collectors.KINDS), clock=lambda: AUGUST + 5))
    body = generate_latest(registry)
    text = body.decode()
    assert "# HELP egov_qd766_score Decision 766 group score of a unit" in text
    assert (
        'egov_qd766_score{group="TDGQ",period="month",province="H44",source="published",system="national",'
        'target="dvcqg",unit="H44"} 15.68' in text
    )
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install Debian's prometheus package"
    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint.stderr.decode()[
        :2000
    ]


def test_every_metric_is_documented_and_produced(august):
    """Every documented metric but the ranking's (produced by test_collector_qd766_ranking.py)."""
    out, _table, _ = august
    documented = {s.name for s in QD766_METRICS} - {
        "egov_qd766_province_score",
        "egov_qd766_province_rank",
        "egov_qd766_province_info",
    }
    assert all(s.vi and s.help and s.name.startswith("egov_qd766_") for s in QD766_METRICS)
    assert documented == {s.name for s in out.samples if s.name.startswith("egov_qd766_")}
