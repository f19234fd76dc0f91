"""docs/scaling.md stays true: its Prometheus configurations pass ``promtool check config`` (the federation
and remote-write snippets merged into the provincial prometheus.yml they extend), and every flag its
``egov-exporter`` commands use exists."""

from __future__ import annotations

import re
import shutil
import subprocess

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
