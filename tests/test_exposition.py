"""Exposition: the result cache rendered as Prometheus text and OpenMetrics, parsed back sample by sample,
and linted with ``promtool check metrics``."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from collectors.http import HTTP_METRICS
from exporter.exposition import MetricsCache, all_specs, build_registry
from exporter.plugin import REASONS, MetricSpec, Sample
from exporter.registry import load_kinds
from exporter.results import ResultStore, TargetResult

T0 = 1_800_000_000.0


def result(name: str, system: str = "portal", **kw) -> TargetResult:
    base = {
        "target": name,
        "system": system,
        "kind": "http",
        "labels": {"unit": "H44"},
        "url": f"https://{name}.example.vn/",
    }
    return TargetResult(**{**base, **kw})


@pytest.fixture()
def store():
    s = ResultStore()
    for name, system in (
        ("portal-home", "portal"),
        ("lgsp-gw", "lgsp"),
        ("dvc-stats", "services"),
        ("new-one", "documents"),
    ):
        s.register(result(name, system))
    s.record(
        result(
            "portal-home",
            state="up",
            started=T0 - 30,
            duration=1.5,
            samples=[
                Sample("egov_target_http_status_code", {}, 200),
                Sample("egov_target_http_response_seconds", {}, 1.25),
            ],
        )
    )
    s.record(
        result(
            "lgsp-gw",
            "lgsp",
            state="degraded",
            started=T0 - 10,
            duration=0.5,
            message="slow",
            samples=[Sample("egov_lgsp_api_calls_total", {"api": "dvc-hoso"}, 15230)],
            skipped=["egov_lgsp_apps: nothing at $.apps"],
        ),
        retries=2,
    )
    s.record(result("dvc-stats", "services", state="down", reason="timeout", started=T0 - 5, duration=10.0))
    s.record(result("dvc-stats", "services", state="down", reason="blocked", started=T0 - 2, duration=0.2))
    return s


SPECS = {
    **all_specs({}),
    **{s.name: s for s in HTTP_METRICS},
    "egov_lgsp_api_calls_total": MetricSpec(
        "egov_lgsp_api_calls_total", "counter", "API calls through LGSP.", ("api",)
    ),
}


def render(store, openmetrics: bool = False) -> str:
    registry, self_metrics = build_registry(store, lambda: SPECS, clock=lambda: T0)
    self_metrics.reload_ok.set(1)
    return MetricsCache(registry, store, self_metrics).get(openmetrics=openmetrics).decode()


def samples_of(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def families_of(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def key(name: str, **labels: str) -> tuple:
    return name, tuple(sorted(labels.items()))


def test_health_samples_exact(store):
    got = samples_of(render(store))
    home = {"target": "portal-home", "system": "portal", "unit": "H44"}
    lgsp = {"target": "lgsp-gw", "system": "lgsp", "unit": "H44"}
    dvc = {"target": "dvc-stats", "system": "services", "unit": "H44"}
    new = {"target": "new-one", "system": "documents", "unit": "H44"}
    assert got[key("egov_target_up", **home)] == 1
    assert got[key("egov_target_up", **lgsp)] == 1  # degraded is up
    assert got[key("egov_target_up", **dvc)] == 0
    assert key("egov_target_up", **new) not in got  # not polled yet: neither up nor down
    for labels, state in ((home, "up"), (lgsp, "degraded"), (dvc, "down"), (new, "unknown")):
        for s in ("up", "degraded", "down", "unknown"):
            assert got[key("egov_target_state", **labels, state=s)] == (1 if s == state else 0)
    assert got[key("egov_target_poll_duration_seconds", **home)] == 1.5
    assert got[key("egov_target_last_poll_timestamp_seconds", **home)] == T0 - 30
    assert got[key("egov_target_last_success_timestamp_seconds", **home)] == T0 - 28.5
    assert got[key("egov_target_result_age_seconds", **home)] == 28.5
    assert got[key("egov_target_retries_total", **lgsp)] == 2
    assert got[key("egov_target_polls_total", **dvc)] == 2
    assert got[key("egov_target_extraction_skipped_total", **lgsp)] == 1
    assert got[key("egov_target_info", **home, kind="http", url="https://portal-home.example.vn/")] == 1
    assert key("egov_target_last_success_timestamp_seconds", **dvc) not in got  # never succeeded
    assert key("egov_target_poll_duration_seconds", **new) not in got
    # the current failure: its reason and when the outage began (the first of the two failed polls)
    assert got[key("egov_target_last_failure_info", **dvc, reason="blocked")] == 1
    assert got[key("egov_target_down_since_seconds", **dvc)] == T0 - 5
    for labels in (home, lgsp, new):  # none while up, degraded or not polled yet
        assert not [
            k
            for k in got
            if k[0].startswith("egov_target_last_failure") and dict(k[1])["target"] == labels["target"]
        ]
        assert key("egov_target_down_since_seconds", **labels) not in got


def test_state_changes_are_logged_once_each(caplog):
    s = ResultStore()
    s.register(result("api", "lgsp"))
    caplog.set_level("INFO", logger="egov.target")
    s.record(result("api", "lgsp", state="up", started=T0, duration=1.0))  # first poll up: no line
    s.record(
        result(
            "api",
            "lgsp",
            state="down",
            reason="timeout",
            message="no answer within 10s",
            started=T0 + 60,
            duration=10.0,
        )
    )
    s.record(
        result(
            "api", "lgsp", state="down", reason="connect", message="refused", started=T0 + 120, duration=0.1
        )
    )
    s.record(result("api", "lgsp", state="up", started=T0 + 244.5, duration=0.5))
    s.record(
        result(
            "api", "lgsp", state="degraded", message="response time 3.2s > 2s", started=T0 + 300, duration=3.2
        )
    )
    s.record(result("api", "lgsp", state="up", started=T0 + 360, duration=0.4))
    assert [r.getMessage() for r in caplog.records] == [
        "target api (lgsp) is down: timeout: no answer within 10s",
        "target api (lgsp) is up again after 3m5s down",  # from the first failed poll's start to recovery
        "target api (lgsp) is degraded: response time 3.2s > 2s",
        "target api (lgsp) is up again (no longer degraded)",
    ]
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO", "WARNING", "INFO"]


def test_failures_total_has_every_reason(store):
    got = samples_of(render(store))
    for name, system in (("portal-home", "portal"), ("dvc-stats", "services"), ("new-one", "documents")):
        values = {
            r: got[key("egov_target_failures_total", target=name, system=system, unit="H44", reason=r)]
            for r in REASONS
        }
        expected = {r: 0.0 for r in REASONS}
        if name == "dvc-stats":
            expected.update(timeout=1.0, blocked=1.0)
        assert values == expected


def test_collector_samples_carry_target_and_configured_labels(store):
    got = samples_of(render(store))
    assert (
        got[key("egov_lgsp_api_calls_total", target="lgsp-gw", system="lgsp", unit="H44", api="dvc-hoso")]
        == 15230
    )
    assert got[key("egov_target_http_status_code", target="portal-home", system="portal", unit="H44")] == 200
    assert (
        got[key("egov_target_http_response_seconds", target="portal-home", system="portal", unit="H44")]
        == 1.25
    )


def test_types_and_help(store):
    fams = families_of(render(store))
    assert fams["egov_target_up"].type == "gauge"
    assert "Served from the poll cache" in fams["egov_target_up"].documentation
    assert "Served from the poll cache" in fams["egov_target_state"].documentation
    assert fams["egov_target_failures"].type == "counter"
    assert fams["egov_lgsp_api_calls"].type == "counter"
    assert fams["egov_lgsp_api_calls"].documentation == "API calls through LGSP."
    assert fams["egov_exporter_build_info"].type == "gauge"
    assert fams["egov_exporter_config_last_reload_successful"].samples[0].value == 1


def test_down_target_keeps_serving_last_values_with_their_age():
    s = ResultStore()
    s.register(result("p"))
    s.record(
        result("p", state="up", started=T0 - 100, duration=1, samples=[Sample("egov_portal_articles", {}, 9)])
    )
    s.record(result("p", state="down", reason="connect", started=T0 - 10, duration=1))
    got = samples_of(render(s))
    labels = {"target": "p", "system": "portal", "unit": "H44"}
    assert got[key("egov_target_up", **labels)] == 0
    assert got[key("egov_portal_articles", **labels)] == 9
    assert got[key("egov_target_last_success_timestamp_seconds", **labels)] == T0 - 99


def test_derived_samples_rendered_with_their_help(store):
    spec = MetricSpec("egov_indicator_score", "gauge", "Score of an indicator.", ("indicator",))
    store.set_derived("scoring", (spec,), [Sample("egov_indicator_score", {"indicator": "TDGQ"}, 19.5)])
    text = render(store)
    assert samples_of(text)[key("egov_indicator_score", indicator="TDGQ")] == 19.5
    assert families_of(text)["egov_indicator_score"].documentation == "Score of an indicator."


def test_cache_rerenders_when_store_changes(store):
    registry, _ = build_registry(store, lambda: SPECS, clock=lambda: T0)
    cache = MetricsCache(registry, store, max_age=3600)
    first = cache.get()
    assert cache.get() is first  # unchanged store: the same bytes
    store.record(result("new-one", "documents", state="up", started=T0, duration=0.1))
    again = cache.get()
    assert again is not first
    assert (
        samples_of(again.decode())[key("egov_target_up", target="new-one", system="documents", unit="H44")]
        == 1
    )


def without_process(body: bytes) -> list[bytes]:
    """The lines that do not change between two renders (process CPU time and memory do)."""
    return [line for line in body.splitlines() if b"process_" not in line and b"render_duration" not in line]


def test_gzip_and_openmetrics_variants(store):
    registry, _ = build_registry(store, lambda: SPECS, clock=lambda: T0)
    cache = MetricsCache(registry, store)
    plain = cache.get()
    assert without_process(gzip.decompress(cache.get(gz=True))) == without_process(plain)
    om = cache.get(openmetrics=True)
    assert om.endswith(b"# EOF\n")
    assert without_process(gzip.decompress(cache.get(openmetrics=True, gz=True))) == without_process(om)
    fams = {f.name: f for f in parse_openmetrics(om.decode())}
    up = {tuple(sorted(s.labels.items())): s.value for s in fams["egov_target_up"].samples}
    assert up[(("system", "portal"), ("target", "portal-home"), ("unit", "H44"))] == 1
    assert fams["egov_target_failures"].type == "counter"


def test_no_timestamps_on_samples(store):
    for family in text_string_to_metric_families(render(store)):
        assert all(s.timestamp is None for s in family.samples)


def test_all_specs_documents_every_kind():
    specs = all_specs(load_kinds())
    for spec in HTTP_METRICS:
        assert specs[spec.name] == spec
    assert "egov_target_up" in specs and "egov_target_failures_total" in specs
    assert all(s.name.endswith("_total") for s in specs.values() if s.type == "counter")


def test_promtool_check_metrics_is_clean(store):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found on PATH: install the Debian package 'prometheus' (CI does)"
    spec = MetricSpec("egov_indicator_score", "gauge", "Score of an indicator.", ("indicator",))
    store.set_derived("scoring", (spec,), [Sample("egov_indicator_score", {"indicator": "TDGQ"}, 19.5)])
    text = render(store)
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    report = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0 and report.strip() == "", report
