"""The ``documents`` kind on stored bodies: the eOffice-like statistics API per period (June 2025, before
the two-level reform, so district units still appear), the national document axis link check, unhappy
answers as table rows, config defaults, and a full exposition linted by promtool.

Expected values are read from the fixtures with plain ``json``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from configs import checked_config
from httpstub import HttpStub, matchers
from prometheus_client.parser import text_string_to_metric_families

from collectors.documents import DocumentsCollector
from exporter.config import ConfigError
from exporter.exposition import MetricsCache, all_specs, build_registry
from exporter.fetch import HttpClient, TransportError
from exporter.plugin import CollectContext, CollectError
from exporter.registry import load_kinds
from exporter.results import ResultStore, TargetResult

BODIES = Path(__file__).parent / "fixtures" / "http" / "documents"
URL = "https://qlvb.phutho.gov.vn/eoffice"
STATS = URL + "/api/v1/thong-ke/van-ban"
AXIS = URL + "/api/v1/lien-thong/trang-thai"
NOW = dt.datetime(2025, 6, 20, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
T0 = NOW.timestamp()
FIRST_DAYS = {"month": "01/06/2025", "quarter": "01/04/2025", "year": "01/01/2025"}
#: how the payload writes government levels, and the label values the exporter uses (documented in HELP)
LEVELS = {"TW": "central", "TINH": "province", "HUYEN": "district", "XA": "commune"}


def load(name: str):
    return json.loads((BODIES / name).read_text(encoding="utf-8"))


def body(name: str) -> bytes:
    return (BODIES / name).read_bytes()


def make(stub, **kw) -> DocumentsCollector:
    cfg = DocumentsCollector.Config.model_validate(
        {
            "name": "qlvb",
            "kind": "documents",
            "system": "documents",
            "url": URL,
            "retries": 0,
            "periods": ["month"],
            "profile": "example-json",
            **kw,
        }
    )
    return DocumentsCollector(
        cfg, CollectContext(http=HttpClient(cfg, stub, clock=lambda: T0), clock=lambda: T0)
    )


def data_samples(collected) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in collected.samples
        if s.name.startswith("egov_documents_") and s.name != "egov_documents_source_up"
    }


def key(name: str, **labels: str) -> tuple:
    return (name, tuple(sorted(labels.items())))


def expected(files: dict[str, str], axis_up: float | None = 1.0) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for period, file in files.items():
        data = load(file)["duLieu"]
        for u in data["donVi"]:
            unit, level = u["maDonVi"], LEVELS[u["cap"]]
            out[key("egov_documents_unit_info", unit=unit, unit_name=u["tenDonVi"])] = 1
            for channel, field in (("electronic", "dienTu"), ("paper", "giay")):
                out[
                    key("egov_documents_sent_total", unit=unit, level=level, period=period, channel=channel)
                ] = u["vanBanDi"][field]
                out[
                    key(
                        "egov_documents_received_total",
                        unit=unit,
                        level=level,
                        period=period,
                        channel=channel,
                    )
                ] = u["vanBanDen"][field]
            out[key("egov_documents_signed_total", unit=unit, level=level, period=period)] = u["vanBanDi"][
                "kySo"
            ]
            out[key("egov_documents_work_files_total", unit=unit, level=level, period=period)] = u[
                "hoSoCongViec"
            ]["tong"]
            out[key("egov_documents_work_files_online_total", unit=unit, level=level, period=period)] = u[
                "hoSoCongViec"
            ]["xuLyTrenMang"]
        out[key("egov_documents_national_axis_exchanged_total", period=period, direction="sent")] = data[
            "trucLienThong"
        ]["guiDi"]
        out[key("egov_documents_national_axis_exchanged_total", period=period, direction="received")] = data[
            "trucLienThong"
        ]["nhanVe"]
    if axis_up is not None:
        out[key("egov_documents_national_axis_up")] = axis_up
    return out


@pytest.fixture()
def rsps():
    with HttpStub(assert_all_requests_are_fired=True) as r:
        yield r


def stub_stats(rsps, period: str = "month", **kw) -> None:
    if "body" not in kw:
        kw["body"] = body(f"van-ban-{period}.json")
        kw.setdefault("content_type", "application/json; charset=utf-8")
    rsps.get(
        STATS,
        match=[matchers.query_param_matcher({"tuNgay": FIRST_DAYS[period], "denNgay": "20/06/2025"})],
        **kw,
    )


def stub_axis(rsps, name: str = "axis-up.json", **kw) -> None:
    if "body" not in kw:
        kw["body"] = body(name)
        kw.setdefault("content_type", "application/json")
    rsps.get(AXIS, **kw)


# ---------------------------------------------------------------------------------------- happy path


def test_periods_levels_and_axis(rsps):
    stub_stats(rsps, "month")
    stub_stats(rsps, "quarter")
    stub_axis(rsps)
    out = make(rsps, periods=["month", "quarter"]).collect()
    assert out.state == "up" and out.skipped == []
    assert data_samples(out) == expected({"month": "van-ban-month.json", "quarter": "van-ban-quarter.json"})
    levels = {dict(k[1])["level"] for k in data_samples(out) if k[0] == "egov_documents_sent_total"}
    assert levels == {"province", "district", "commune"}  # June 2025: three local levels still


def test_numerators_within_denominators(rsps):
    stub_stats(rsps)
    stub_axis(rsps)
    got = data_samples(make(rsps).collect())
    units = {dict(k[1])["unit"]: dict(k[1])["level"] for k in got if k[0] == "egov_documents_signed_total"}
    for unit, level in units.items():

        def v(name, unit=unit, level=level, **labels):
            return got[key(f"egov_documents_{name}", unit=unit, level=level, period="month", **labels)]

        assert v("signed_total") <= v("sent_total", channel="electronic")
        assert v("work_files_online_total") <= v("work_files_total")


@pytest.mark.parametrize(
    "stub, up",
    [
        (lambda r: stub_axis(r, "axis-down.json"), 0),
        (lambda r: stub_axis(r, status=503, body="Service Unavailable", content_type="text/plain"), 0),
        (lambda r: stub_axis(r, body=TransportError("connect", "cannot connect: connection refused")), 0),
        (lambda r: stub_axis(r, body=body("waf.html"), content_type="text/html"), 0),
    ],
    ids=["reported down", "check 503", "check unreachable", "check blocked"],
)
def test_axis_down_or_unreachable_keeps_the_target_up(rsps, stub, up):
    stub_stats(rsps)
    stub(rsps)
    out = make(rsps).collect()
    assert out.state == "up"
    assert data_samples(out) == expected({"month": "van-ban-month.json"}, axis_up=up)


def test_missing_fields_skip_only_those_metrics(rsps):
    stub_stats(rsps, body=body("van-ban-missing-fields.json"), content_type="application/json")
    stub_axis(rsps)
    out = make(rsps).collect()
    assert out.state == "up"
    want = expected({"month": "van-ban-month.json"})
    # H44.42 lost hoSoCongViec, H44.21 its level, the answer its national-axis block
    for name in ("work_files_total", "work_files_online_total"):
        del want[key(f"egov_documents_{name}", unit="H44.42", level="province", period="month")]
    want = {
        k: v
        for k, v in want.items()
        if dict(k[1]).get("unit") != "H44.21" and k[0] != "egov_documents_national_axis_exchanged_total"
    }
    assert data_samples(out) == want
    no_level = "label level missing at @.cap"
    assert sorted(out.skipped) == sorted(
        [
            "egov_documents_work_files_total: no number at @.hoSoCongViec.tong (got 'None')",
            "egov_documents_work_files_online_total: no number at @.hoSoCongViec.xuLyTrenMang (got 'None')",
            *(
                f"egov_documents_{name}: {no_level}"
                for name in (
                    "sent_total",
                    "sent_total",
                    "received_total",
                    "received_total",
                    "signed_total",
                    "work_files_total",
                    "work_files_online_total",
                )
            ),
            "egov_documents_national_axis_exchanged_total: nothing at $.duLieu.trucLienThong",
            "egov_documents_national_axis_exchanged_total: nothing at $.duLieu.trucLienThong",
        ]
    )


# ------------------------------------------------------------------------------------ unhappy rows

FAILURES = {
    "5xx": (
        dict(
            status=500,
            body=b"<html><body><h1>500 Internal Server Error</h1></body></html>",
            content_type="text/html",
        ),
        "http_status",
    ),
    "timeout": (dict(body=TransportError("timeout")), "timeout"),
    "WAF page": (dict(body=body("waf.html"), content_type="text/html"), "blocked"),
    "403 firewall": (
        dict(status=403, body=b"<html><body>403 Forbidden</body></html>", content_type="text/html"),
        "blocked",
    ),
    "malformed body": (dict(body=body("malformed.json"), content_type="application/json"), "parse"),
    "changed layout": (
        dict(body=body("van-ban-changed-layout.json"), content_type="application/json"),
        "parse",
    ),
    "HTML instead of JSON": (
        dict(
            body="<!doctype html><html><body><h1>Bảo trì hệ thống</h1></body></html>".encode(),
            content_type="text/html",
        ),
        "parse",
    ),
}


@pytest.mark.parametrize("case", FAILURES)
def test_unusable_statistics_fail_with_reason(rsps, case):
    kw, reason = FAILURES[case]
    stub_stats(rsps, **kw)  # the axis is not asked: the poll stops at the first unusable answer
    with pytest.raises(CollectError) as info:
        make(rsps).collect()
    assert info.value.reason == reason, info.value.message


def test_changed_layout_message(rsps):
    stub_stats(rsps, body=body("van-ban-changed-layout.json"), content_type="application/json")
    with pytest.raises(CollectError) as info:
        make(rsps).collect()
    assert info.value.message == (
        "document-statistics: no configured metric found in the answer: "
        "egov_documents_sent_total: nothing at $.duLieu.donVi[*]"
    )


def test_a_failing_later_period_fails_the_poll(rsps):
    """Half the periods would be a misleading answer: the poll fails and the last good values stay served."""
    stub_stats(rsps, "month")
    stub_stats(rsps, "quarter", status=502, body=b"Bad Gateway", content_type="text/plain")
    with pytest.raises(CollectError) as info:
        make(rsps, periods=["month", "quarter"]).collect()
    assert info.value.reason == "http_status"
    assert info.value.message == f"{STATS}?tuNgay=01%2F04%2F2025&denNgay=20%2F06%2F2025: HTTP 502"


# --------------------------------------------------------------------------------- configuration


def test_without_a_profile_the_target_is_refused_with_a_hint():
    with pytest.raises(ConfigError) as info:
        checked_config(
            {"targets": [{"name": "d", "kind": "documents", "url": URL}]}, kinds=load_kinds(), env={}
        )
    assert info.value.messages == [
        "targets[0]: profile: the documents kind has no default profile: name a shipped one (profile: "
        "example-json is a documented template) or write your own (profile_file:)"
    ]
    with pytest.raises(ConfigError) as info:
        checked_config(
            {"targets": [{"name": "d", "kind": "documents", "url": URL, "profile": "eoffice-json"}]},
            kinds=load_kinds(),
            env={},
        )
    assert info.value.messages == [
        "targets[0]: unknown profile 'eoffice-json' for kind documents (renamed example-json: it is a "
        "template (no public statistics API of iOffice/eOffice/VOffice exists)); shipped: example-json"
    ]


def test_defaults_system_profile_and_periods():
    cfg = checked_config(
        {"targets": [{"name": "d", "kind": "documents", "url": URL, "profile": "example-json"}]},
        kinds=load_kinds(),
        env={},
    )
    target = cfg.targets[0]
    assert target.system == "documents" and target.periods == ["month", "quarter", "year"]
    assert [s.name for s in target.load_profile().sources] == ["document-statistics", "national-axis"]


def test_year_period_asks_from_the_first_of_january(rsps):
    stub_stats(rsps, "year", body=body("van-ban-quarter.json"), content_type="application/json")
    stub_axis(rsps)
    out = make(rsps, periods=["year"]).collect()
    got = data_samples(out)
    assert (
        got[key("egov_documents_national_axis_exchanged_total", period="year", direction="sent")]
        == load("van-ban-quarter.json")["duLieu"]["trucLienThong"]["guiDi"]
    )


# ------------------------------------------------------------------------------------ exposition


def test_full_exposition_passes_promtool(rsps):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found on PATH: install the Debian package 'prometheus' (CI does)"
    stub_stats(rsps, "month")
    stub_stats(rsps, "quarter")
    stub_axis(rsps)
    out = make(rsps, periods=["month", "quarter"]).collect()
    store = ResultStore()
    result = TargetResult(
        target="qlvb",
        system="documents",
        kind="documents",
        labels={"province": "H44"},
        url=URL,
        state=out.state,
        started=T0,
        duration=0.3,
        samples=out.samples,
    )
    store.register(result)
    store.record(result)
    registry, self_metrics = build_registry(store, lambda: all_specs(load_kinds()), clock=lambda: T0)
    text = MetricsCache(registry, store, self_metrics).get().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    sent = families["egov_documents_sent"]
    assert sent.type == "counter" and "district (data before the 2025 reform)" in sent.documentation
    first = load("van-ban-month.json")["duLieu"]["donVi"][2]
    sample = next(
        s
        for s in sent.samples
        if s.labels["unit"] == first["maDonVi"]
        and s.labels["period"] == "month"
        and s.labels["channel"] == "paper"
    )
    assert sample.value == first["vanBanDi"]["giay"] and sample.labels["level"] == LEVELS[first["cap"]]
    assert families["egov_documents_national_axis_up"].type == "gauge"
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    report = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0 and report.strip() == "", report
