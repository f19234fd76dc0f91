"""The bundle's rules: promtool check and unit tests, conventions (mixin style), coverage of every alert
firing and not firing, thresholds in one place (generated alerts not stale, strict thresholds file)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from rules import build

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
ALERT_FILES = sorted((RULES / "alerts").glob("*.yml"))
RECORDING_FILES = sorted((RULES / "recording").glob("*.yml"))
TEST_FILES = sorted((RULES / "tests").glob("*.yml"))
#: the availability alerts a maintenance window suppresses
AVAILABILITY = ("EgovTargetDown", "EgovTargetSlow", "EgovTargetDataStale", "EgovTargetBlocked")


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: install Debian's prometheus package (the README's test command does)"
    return path


def load(paths):
    return [
        (p, g, r)
        for p in paths
        for g in yaml.safe_load(p.read_text(encoding="utf-8"))["groups"]
        for r in g["rules"]
    ]


ALERTS = [r for _, _, r in load(ALERT_FILES)]
RECORDING = [r for _, _, r in load(RECORDING_FILES)]


def test_promtool_check_rules_is_clean():
    files = [str(p) for p in ALERT_FILES + RECORDING_FILES]
    assert len(ALERT_FILES) >= 5 and len(RECORDING_FILES) >= 2
    out = subprocess.run([promtool(), "check", "rules", *files], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "WARNING" not in out.stdout + out.stderr, out.stdout + out.stderr


def test_promtool_unit_tests_pass():
    assert TEST_FILES
    out = subprocess.run(
        [promtool(), "test", "rules", *map(str, TEST_FILES)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=RULES / "tests",
    )
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]
    assert out.stdout.count("SUCCESS") == len(TEST_FILES), out.stdout


def test_committed_alert_rules_are_generated_from_the_thresholds():
    assert build.stale_files() == [], "rules/alerts is stale: run python -m rules.build"
    assert build.main(["--check"]) == 0


def test_a_changed_threshold_makes_the_committed_rules_stale(tmp_path):
    text = (
        (RULES / "thresholds.yaml").read_text(encoding="utf-8").replace("down_for: 5m ", "down_for: 7m ", 1)
    )
    path = tmp_path / "thresholds.yaml"
    path.write_text(text, encoding="utf-8")
    th = build.load_thresholds(path)
    assert th.availability.down_for == "7m"
    assert build.stale_files(th=th) == ["availability.yml"]
    out = tmp_path / "alerts"
    assert build.main(["--thresholds", str(path), "--out", str(out)]) == 0
    down = next(r for _, _, r in load(sorted(out.glob("*.yml"))) if r["alert"] == "EgovTargetDown")
    assert down["for"] == "7m"


def test_for_override_only_for_test_copies(tmp_path):
    assert build.main(["--out", str(tmp_path), "--for", "1s"]) == 0
    rules = [r for _, _, r in load(sorted(tmp_path.glob("*.yml")))]
    assert {r["for"] for r in rules} == {"1s"}
    assert len(rules) == len(ALERTS)
    assert {r["for"] for r in ALERTS} != {"1s"}  # the shipped rules keep their real for:


def test_dashboard_links_come_from_the_grafana_url_setting(tmp_path, capsys):
    assert {r["annotations"]["dashboard"].split("/d/")[0] for r in ALERTS} == {
        yaml.safe_load((RULES / "thresholds.yaml").read_text(encoding="utf-8"))["grafana_url"]
    }
    assert build.main(["--out", str(tmp_path), "--grafana-url", "https://grafana.tinh.gov.vn/"]) == 0
    rules = [r for _, _, r in load(sorted(tmp_path.glob("*.yml")))]
    assert len(rules) == len(ALERTS)
    assert {r["annotations"]["dashboard"].split("/d/")[0] for r in rules} == {"https://grafana.tinh.gov.vn"}
    down = next(r for r in rules if r["alert"] == "EgovTargetDown")
    assert down["annotations"]["dashboard"] == (
        "https://grafana.tinh.gov.vn/d/egov-overview?var-target={{ $labels.target }}"
    )
    assert build.main(["--out", str(tmp_path), "--grafana-url", "grafana.tinh.gov.vn"]) == 1
    assert capsys.readouterr().err.strip() == (
        "--grafana-url must be an http:// or https:// URL, got 'grafana.tinh.gov.vn'"
    )


@pytest.mark.parametrize(
    "edit, message",
    [
        (("grafana_url:", "grafana_link:"), "grafana_url: required\n{path}: grafana_link: unknown key"),
        (
            ("grafana_url: http://localhost:3000", "grafana_url: localhost:3000"),
            "grafana_url: must be an http:// or https:// URL, got 'localhost:3000'",
        ),
        (
            ("down_for: 5m ", "down_for: soon "),
            "availability.down_for: must be a Prometheus duration like 30s, 5m or 1h, got 'soon'",
        ),
        (
            ("    services: 30\n", "    services: -1\n"),
            "availability.slow_seconds: must be a number of seconds > 0, got -1",
        ),
        (
            ("    max_drop: 0.25\n", "    max_drop: 1.5\n"),
            "rate_drops.online_payment.max_drop: Input should be less than 1",
        ),
        (
            ("    online_dossiers:", "    online_dosiers:"),
            "national_targets.targets: unknown indicator 'online_dosiers'; "
            "known: online_dossiers, online_payment, full_process_online, "
            "digitized_dossiers, documents_electronic, procedures_online, "
            "work_files_online",
        ),
        (
            ("  period: month\n", "  period: week\n"),
            "national_targets.period: must be month, quarter or year, got 'week'",
        ),
    ],
)
def test_bad_thresholds_are_reported_with_their_place(tmp_path, edit, message):
    text = (RULES / "thresholds.yaml").read_text(encoding="utf-8")
    assert edit[0] in text
    path = tmp_path / "thresholds.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(build.ThresholdsError) as err:
        build.load_thresholds(path)
    assert str(err.value) == f"{path}: {message}".replace("{path}", str(path))
    assert build.main(["--thresholds", str(path), "--check"]) == 1


# ---------------------------------------------------------------------------------------- conventions


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_alert_follows_the_mixin_conventions(rule):
    assert re.fullmatch(r"Egov[A-Z][A-Za-z]+", rule["alert"])
    assert re.fullmatch(r"\d+[smhd]", rule["for"])
    assert rule["labels"]["severity"] in ("critical", "warning")
    ann = rule["annotations"]
    assert set(ann) == {"summary", "description", "dashboard"}
    assert "{{ $labels." in ann["summary"] + ann["description"]
    assert ann["dashboard"].startswith(build.load_thresholds().grafana_url + "/d/egov-")
    uid = re.match(r".*/d/([\w-]+)", ann["dashboard"]).group(1)
    assert (ROOT / "dashboards" / "grafana" / "json" / f"{uid}.json").is_file(), f"no dashboard {uid}"


def test_availability_alerts_are_suppressed_by_maintenance_windows():
    for rule in ALERTS:
        suppressed = "unless on(target) egov_maintenance_window_active == 1" in rule["expr"]
        assert suppressed == (rule["alert"] in AVAILABILITY), rule["alert"]


def test_recording_rule_names_follow_level_metric_operation():
    names = [r["record"] for r in RECORDING]
    assert len(names) == len(set(names)), "a recording rule is defined twice"
    mine = [
        r["record"]
        for _, _, r in load(
            [RULES / "recording" / "availability.yml", RULES / "recording" / "province-ratios.yml"]
        )
    ]
    for name in mine:
        assert re.fullmatch(r"(target|target_unit|system):egov_[a-z0-9_]+:[a-z0-9_]+", name), name


# ------------------------------------------------------------------------------------------- coverage


def _unit_tests():
    """(alert name, fired severities, times it was asserted silent) over every promtool test file."""
    fired: dict[str, set[str]] = {}
    silent: dict[str, int] = {}
    maintenance: set[str] = set()
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            series = " ".join(s["series"] for s in test.get("input_series", []))
            for case in test.get("alert_rule_test", []):
                name = case["alertname"]
                if case.get("exp_alerts"):
                    fired.setdefault(name, set()).update(
                        a["exp_labels"]["severity"] for a in case["exp_alerts"]
                    )
                else:
                    silent[name] = silent.get(name, 0) + 1
                if "egov_maintenance_window_active" in series:
                    maintenance.add(name)
    return fired, silent, maintenance


def test_every_alert_is_tested_firing_and_not_firing():
    fired, silent, _ = _unit_tests()
    for rule in ALERTS:
        assert rule["labels"]["severity"] in fired.get(rule["alert"], set()), f"{rule['alert']} never fires"
        assert silent.get(rule["alert"], 0) >= 1, f"{rule['alert']} is never shown silent"


def test_maintenance_windows_and_volume_guards_are_tested():
    _, _, maintenance = _unit_tests()
    assert set(AVAILABILITY) <= maintenance
    rates = yaml.safe_load((RULES / "tests" / "rates.test.yml").read_text(encoding="utf-8"))
    names = " ".join(t["name"] for t in rates["tests"])
    for alert, *_ in build.RATE_DROPS:
        assert alert in {c["alertname"] for t in rates["tests"] for c in t["alert_rule_test"]}
    assert "quiet" in names and "holiday" in names  # the guard on this week's and last week's volume


def test_promtool_test_catches_a_wrong_expectation(tmp_path):
    """The unit tests are not vacuous: a changed expectation fails."""
    src = (RULES / "tests" / "content.test.yml").read_text(encoding="utf-8")
    bad = src.replace("3.083 days", "4 days").replace("../alerts/", str(RULES / "alerts") + "/")
    assert bad != src
    path = tmp_path / "bad.test.yml"
    path.write_text(bad, encoding="utf-8")
    out = subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0 and "FAILED" in out.stdout + out.stderr
