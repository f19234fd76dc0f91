"""docs/scaling.md stays true: its Prometheus configurations pass ``promtool check config`` (the federation
and remote-write snippets merged into the provincial prometheus.yml they extend), and every flag its
``egov-exporter`` commands use exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from harness import ROOT, run_cli

DOC = ROOT / "docs" / "scaling.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_prometheus_configurations_pass_promtool(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found on PATH: install the Debian package 'prometheus' (CI does)"
    docs = [yaml.safe_load(b) for b in _blocks("yaml")]
    assert len(docs) == 3, (
        "expected the provincial prometheus.yml, the federation and the remote-write blocks"
    )
    base, federation, remote = docs
    assert {"global", "scrape_configs", "rule_files"} <= set(base)
    rules = tmp_path / "rules"
    rules.mkdir()
    for f in (ROOT / "rules" / "recording").glob("*.yml"):
        shutil.copy(f, rules / f.name)
    base["rule_files"] = [str(rules / "*.yml")]  # the shipped rules, where the doc puts /etc/prometheus/...
    for name, extra in (("provincial", {}), ("federation", federation), ("remote-write", remote)):
        cfg = dict(base)
        if "scrape_configs" in extra:
            cfg["scrape_configs"] = base["scrape_configs"] + extra["scrape_configs"]
        for key in set(extra) - {"scrape_configs"}:
            cfg[key] = extra[key]
        path = tmp_path / f"{name}.yml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        proc = subprocess.run(
            [promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"


def test_every_flag_of_the_documented_commands_exists():
    text = DOC.read_text(encoding="utf-8").replace("\\\n", " ")
    commands = re.findall(r"egov-exporter ((?:snapshot )?--[^\n`]*)", text)
    assert len(commands) >= 5
    helps = {"run": run_cli("run", "--help").stdout, "snapshot": run_cli("snapshot", "--help").stdout}
    for cmd in commands:
        which = "snapshot" if cmd.startswith("snapshot") else "run"
        for flag in re.findall(r"(--[a-z][a-z.-]*)", cmd):
            assert flag in helps[which], f"docs/scaling.md: {which} has no flag {flag} (in: {cmd.strip()})"


# ------------------------------------------ the nationwide recipe: units and flags as the test runs them

SYSTEMD = ROOT / "deploy" / "systemd"
VM_DIR = ROOT / "deploy" / "victoria-metrics"


def _flags(command: str) -> set[str]:
    return {m for m in re.findall(r"(?:^|\s)(--?[a-zA-Z][\w.-]*)", command)}


def _exec_start(unit: Path) -> str:
    text = unit.read_text(encoding="utf-8").replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return line.removeprefix("ExecStart=")


def test_the_units_run_the_flags_the_nationwide_test_runs():
    """deploy/systemd/*.service and the VictoriaMetrics ARGS use the same flags as tests/test_nationwide.py
    (values differ: ports, paths, and intervals of seconds in the test)."""
    from pathlib import Path as P

    import test_nationwide as t

    def run(argv: list[str]) -> set[str]:
        return _flags(" ".join(argv[1:] if argv[0].startswith("/") else argv)) - t.TEST_ONLY_FLAGS

    x = P("x")
    args = (ROOT / "deploy" / "victoria-metrics" / "victoria-metrics.default").read_text(encoding="utf-8")
    (vm_args,) = re.findall(r'^ARGS="(.*)"$', args, flags=re.M)
    assert _flags(vm_args) == run(t.vm_argv(x, "a"))
    assert _flags(_exec_start(SYSTEMD / "vmagent-egov@.service")) == run(t.vmagent_argv(x, 0, ["u"], x, "a"))
    assert _flags(_exec_start(SYSTEMD / "vmalert-egov.service")) == run(t.vmalert_argv(x, "u", "u", "a"))
    exporter = _exec_start(SYSTEMD / "egov-exporter@.service").split("egov-exporter", 1)[1]
    assert _flags(exporter) == run(t.exporter_argv(x, "a", 1))
    assert "-promscrape.cluster.membersCount=2" in _exec_start(SYSTEMD / "vmagent-egov@.service")
    assert f"/{t.SHARDS}" in exporter
    for unit in sorted(SYSTEMD.glob("*.service")):
        binary = _exec_start(unit).split()[0]
        assert binary in ("/usr/bin/vmagent", "/usr/bin/vmalert", "/usr/local/bin/egov-exporter"), unit.name


def test_vmagent_scrape_configuration_passes_its_dry_run():
    from engines import VMAGENT, require

    require(VMAGENT)
    proc = subprocess.run(
        [
            VMAGENT,
            f"-promscrape.config={VM_DIR / 'vmagent-scrape.yml'}",
            "-promscrape.config.dryRun",
            "-loggerLevel=ERROR",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_digest_unit_uses_existing_flags():
    text = (SYSTEMD / "egov-digest.service").read_text(encoding="utf-8").replace("\\\n", " ")
    helps = run_cli("digest", "--help").stdout
    for flag in _flags(_exec_start(SYSTEMD / "egov-digest.service").split("egov-exporter", 1)[1]):
        assert flag in helps, f"egov-digest.service: digest has no flag {flag}"
    assert "OnCalendar=Mon" in (SYSTEMD / "egov-digest.timer").read_text(encoding="utf-8")
    assert "--week" in text
