"""The README stays true to the code: its metrics reference is the generated one, its test command is the
one CI runs, and every flag it documents exists in --help."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from exporter import docs
from exporter.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_metrics_reference_is_current():
    start, end = README.index(docs.BEGIN), README.index(docs.END) + len(docs.END)
    assert README[start:end] == docs.render(), (
        "README metrics reference is stale: run python -m exporter.docs"
    )


def test_every_registered_metric_is_documented():
    from exporter.exposition import HEALTH_METRICS
    from exporter.registry import load_kinds

    names = {s.name for s in HEALTH_METRICS} | {s.name for k in load_kinds().values() for s in k.describe()}
    missing = [n for n in sorted(names) if f"`{n}`" not in README]
    assert not missing, missing


def test_ci_runs_the_readme_test_command():
    out = subprocess.run(
        ["awk", "/<!-- test-command -->/{getline; getline; print; exit}", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "pytest" in out and "pip install" in out
    assert "README.md" in (ROOT / ".ci" / "run").read_text()


def test_documented_flags_exist():
    parser = build_parser()
    helps = []
    for command in parser.commands.values():  # every subcommand
        helps.append(command.format_help())
    text = "\n".join(helps)
    flags = set(re.findall(r"`(--[a-z][a-z.\-]+)", README))
    flags |= {f.replace("--[no-]", "--") for f in re.findall(r"`(--\[no-\][a-z.\-]+)", README)}
    missing = [f for f in sorted(flags) if f not in text]
    assert not missing, missing
