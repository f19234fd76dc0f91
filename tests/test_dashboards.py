"""Dashboards as code: the committed JSON is what the Python generates (deterministically), every dashboard
and panel follows the house rules (bilingual titles, units, descriptions, $datasource, no datasource uid,
stable dashboard uids), and the deployment bundle (Grafana provisioning, Prometheus, Alertmanager,
docker-compose.yml) points at files that exist and is valid for promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards.grafana import build, common, overview

ROOT = Path(__file__).resolve().parent.parent
JSON_DIR = ROOT / "dashboards" / "grafana" / "json"
UIDS = {
    "egov-overview",
    "egov-portal",
    "egov-lgsp",
    "egov-documents",
    "egov-services",
    "egov-qd766",
    "egov-par7",
}
DASHBOARDS = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(JSON_DIR.glob("*.json"))}
PANELS = [(uid, p) for uid, d in DASHBOARDS.items() for p in d["panels"] if p["type"] != "row"]
VI = re.compile(r"[À-ỹĐđ]")


def test_committed_json_is_what_the_python_generates():
    assert build.stale() == [], "dashboards/grafana/json is stale: run python -m dashboards.grafana.build"
    assert build.main(["--check"]) == 0


def test_generation_is_deterministic():
    assert build.render() == build.render()


def test_a_changed_dashboard_makes_the_json_stale(monkeypatch):
    original = overview.build
    monkeypatch.setattr(overview, "build", lambda: original().title("Changed / Changed"))
    assert build.stale() == ["egov-overview.json"]
    assert build.main(["--check"]) == 1


def test_every_dashboard_has_a_stable_uid_and_bilingual_title():
    assert set(DASHBOARDS) == UIDS
    for uid, d in DASHBOARDS.items():
        assert d["uid"] == uid
        vi, _, en = d["title"].partition(" / ")
        assert VI.search(vi) and en and not VI.search(en), d["title"]
        assert d["description"] and d["timezone"] == "Asia/Ho_Chi_Minh"
        assert "egov" in d["tags"]


def test_datasource_is_a_variable_and_no_uid_is_hard_coded():
    for uid, d in DASHBOARDS.items():
        variables = {v["name"]: v for v in d["templating"]["list"]}
        assert (
            variables["datasource"]["type"] == "datasource"
            and variables["datasource"]["query"] == "prometheus"
        )

        def walk(node, where):
            if isinstance(node, dict):
                if "datasource" in node and isinstance(node["datasource"], dict):
                    assert node["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
                for k, v in node.items():
                    walk(v, f"{where}.{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}[{i}]")

        walk(d, uid)


@pytest.mark.parametrize("uid, panel", PANELS, ids=lambda x: x if isinstance(x, str) else x["title"])
def test_every_panel_has_bilingual_title_unit_description_and_queries(uid, panel):
    vi, _, en = panel["title"].partition(" / ")
    assert VI.search(vi) and en, panel["title"]
    assert len(panel["description"]) > 20
    assert panel["fieldConfig"]["defaults"].get("unit"), f"{uid}: {panel['title']} has no unit"
    assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
    refs = [t["refId"] for t in panel["targets"]]
    assert len(refs) == len(set(refs))


def test_rows_are_bilingual_and_panels_fit_the_grid():
    for uid, d in DASHBOARDS.items():
        rows = [p for p in d["panels"] if p["type"] == "row"]
        assert rows, uid
        for p in d["panels"]:
            if p["type"] == "row":
                assert VI.search(p["title"]) and " / " in p["title"]
            assert 0 <= p["gridPos"]["x"] and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24


def test_unit_and_period_variables_where_units_are_shown():
    for uid in ("egov-services", "egov-documents", "egov-qd766"):
        names = {v["name"] for v in DASHBOARDS[uid]["templating"]["list"]}
        assert {"datasource", "unit", "period"} <= names, uid
        unit = next(v for v in DASHBOARDS[uid]["templating"]["list"] if v["name"] == "unit")
        assert (
            unit["includeAll"] and unit["allValue"] == ".*" and "label_values(" in json.dumps(unit["query"])
        )
    # every $unit in a query is a regex match, so "All" (.*) works
    for d in DASHBOARDS.values():
        for p in d["panels"]:
            for t in p.get("targets", []):
                assert 'unit="$unit"' not in t["expr"] and 'target="$target"' not in t["expr"], t["expr"]


def test_thresholds_in_dashboards_come_from_the_thresholds_file():
    th = yaml.safe_load((ROOT / "rules" / "thresholds.yaml").read_text(encoding="utf-8"))
    targets = yaml.safe_load((ROOT / "indicators" / "targets.yaml").read_text(encoding="utf-8"))["targets"]
    services = DASHBOARDS["egov-services"]
    payment = next(p for p in services["panels"] if p["title"].startswith("Thanh toán trực tuyến"))
    steps = payment["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[1]["value"] == targets["online_payment"]["ratio"] == 0.8  # national targets: targets.yaml
    assert common.national_target("online_dossiers") == targets["online_dossiers"]["ratio"]
    assert "min" not in th["national_targets"]["targets"]["online_payment"]  # no second copy of the level


# ------------------------------------------------------------------------------------- deployment


COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_runs_the_whole_bundle_and_mounts_files_that_exist():
    services = COMPOSE["services"]
    assert set(services) == {"exporter", "simulator", "prometheus", "alertmanager", "grafana"}
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
        image = svc.get("image", "")
        built_here = svc.get("build") or image == services["exporter"]["image"]
        assert built_here or re.search(r":v?\d", image), f"{name}: pin the image version ({image})"
    assert (
        services["simulator"]["network_mode"] == "service:exporter"
    )  # the simulator listens on loopback only
    assert any(v.startswith("./rules:") for v in services["prometheus"]["volumes"])
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"] if v.startswith("."))
    assert mounts["./dashboards/grafana/json"] == "/var/lib/grafana/dashboards/egov"
    assert mounts["./dashboards/grafana/provisioning"] == "/etc/grafana/provisioning"


def test_grafana_provisioning_points_at_the_dashboards():
    prov = ROOT / "dashboards" / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] and "uid" not in source
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((prov / "dashboards" / "egov.yml").read_text(encoding="utf-8"))["providers"]
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards/egov"
    home = COMPOSE["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == "/var/lib/grafana/dashboards/egov/egov-overview.json"


def test_prometheus_config_loads_the_rules_and_passes_promtool(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install Debian's prometheus package"
    cfg = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    thresholds = yaml.safe_load((ROOT / "rules" / "thresholds.yaml").read_text(encoding="utf-8"))
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert jobs[thresholds["exporter_job"]]["static_configs"][0]["targets"] == ["exporter:9877"]
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    # the container paths of the rules, pointed at the repository's rules for the check
    cfg["rule_files"] = [f.replace("/etc/prometheus/rules", str(ROOT / "rules")) for f in cfg["rule_files"]]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    out = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    n_files = len(list((ROOT / "rules" / "recording").glob("*.yml"))) + len(
        list((ROOT / "rules" / "alerts").glob("*.yml"))
    )
    assert f"SUCCESS: {n_files} rule files found" in out.stdout


def test_alertmanager_config_routes_and_inhibits_existing_alerts():
    am = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    receivers = {r["name"] for r in am["receivers"]}
    assert am["route"]["receiver"] in receivers
    assert all(r["receiver"] in receivers for r in am["route"]["routes"])
    alerts = {
        r["alert"]
        for p in (ROOT / "rules" / "alerts").glob("*.yml")
        for g in yaml.safe_load(p.read_text(encoding="utf-8"))["groups"]
        for r in g["rules"]
    }
    for rule in am["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            m = re.fullmatch(r'alertname(=~?)"(.+)"', matcher)
            if m:
                names = m.group(2).split("|")
                assert set(names) <= alerts, matcher
