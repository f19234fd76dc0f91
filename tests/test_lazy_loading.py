"""What a running exporter loads is what its configuration uses: a kind's code when a target has that kind,
the indicator engine when there are scorecards or manual values, the history writer (and SQLite) when
history is enabled.  Memory is the reason (issue 15): each of these is megabytes of modules."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exporter.app import App
from exporter.cli import _attach_extensions
from exporter.plugin import Collector, KindTable
from exporter.registry import Kinds, load_kinds, scoring_check

ROOT = Path(__file__).resolve().parent.parent

HEAVY = (
    "collectors.",
    "exporter.scoring",
    "exporter.history",
    "exporter.simulator.",
    "sqlite3",
    "bs4",
    "openpyxl",
    "jsonpath_ng",
)

JSON_ONLY = """\
history:
  enabled: {history}
  path: {tmp}/history.sqlite
scoring:
  scorecards: {scorecards}
targets:
  - name: stats
    kind: json
    system: services
    url: http://127.0.0.1:9/stats
    metrics:
      - {{name: egov_bench_received, path: $.received}}
"""

LOADED = textwrap.dedent(
    """\
    import json, sys
    from exporter.app import App
    from exporter.cli import _attach_extensions, build_parser
    from exporter.registry import load_kinds, scoring_check

    build_parser().parse_args(["run", "--config.file", sys.argv[1]])  # as main() does, help not shown
    app = App(sys.argv[1], kinds=load_kinds(), check_scoring=scoring_check())
    app.load()
    _attach_extensions(app)
    print(json.dumps(sorted(m for m in sys.modules if m.startswith(tuple(sys.argv[2:])))))
    """
)


def loaded_modules(config: Path) -> set[str]:
    """The modules of HEAVY a fresh interpreter holds after loading ``config`` as ``run`` does."""
    out = subprocess.run(
        [sys.executable, "-c", LOADED, str(config), *HEAVY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(out.stdout))


def write(tmp_path: Path, *, history: bool, scorecards: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(JSON_ONLY.format(history=str(history).lower(), scorecards=scorecards, tmp=tmp_path))
    return path


def test_an_exporter_polling_json_loads_its_kind_only(tmp_path):
    modules = loaded_modules(write(tmp_path, history=False, scorecards="[]"))
    kinds = {m.split(".")[1] for m in modules if m.startswith("collectors.")}
    assert "json" in kinds
    assert not kinds & {"portal", "lgsp", "documents", "services", "qd766", "html"}, kinds
    assert not {
        m for m in modules if m.startswith(("exporter.scoring", "exporter.history", "sqlite3", "bs4"))
    }
    # the command line is built by every process: the simulate command's flags, not the simulator
    assert {m for m in modules if m.startswith("exporter.simulator.")} <= {"exporter.simulator.faults"}


def test_the_help_still_lists_every_kind(capsys):
    from exporter.cli import main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "collector kinds (the targets[].kind key):" in out
    for kind in ("http", "json", "html", "portal", "lgsp", "documents", "services", "qd766"):
        assert f"\n  {kind} " in out


def test_scorecards_and_history_load_the_engine_and_the_writer(tmp_path):
    modules = loaded_modules(
        write(tmp_path, history=True, scorecards="[indicators/qd766.yaml, indicators/par7.yaml]")
    )
    assert {"exporter.scoring.live", "exporter.history.writer", "sqlite3"} <= modules


def test_a_reload_that_asks_for_them_attaches_the_engine_and_the_history(tmp_path):
    path = write(tmp_path, history=False, scorecards="[]")
    app = App(str(path), kinds=load_kinds(), check_scoring=scoring_check())
    app.load()
    _attach_extensions(app)
    try:
        assert not hasattr(app, "scoring") and not hasattr(app, "history")
        assert app.page_sections == []
        write(tmp_path, history=True, scorecards="[indicators/qd766.yaml]")
        app.load()
        assert [c.scorecard for c in app.scoring.cards] == ["qd766"]
        assert str(app.history.path) == f"{tmp_path}/history.sqlite"  # configured and writing
        assert len(app.page_sections) == 2  # the engine's section and the history's
        app.load()  # a third load attaches nothing twice
        assert len(app.page_sections) == 2
    finally:
        app.stop()


class _Fake(Collector):
    kind = "fake"


def test_a_kind_table_imports_a_kind_when_it_is_asked_for():
    table = KindTable({"fake": f"{__name__}:_Fake", "gone": "no_such_module_anywhere:Collector"})
    assert sorted(table) == ["fake", "gone"] and len(table) == 2 and "gone" in table  # nothing imported
    assert table["fake"] is _Fake
    with pytest.raises(ModuleNotFoundError):
        table["gone"]
    with pytest.raises(KeyError):
        table["other"]
    assert table.get("other") is None
    with pytest.raises(TypeError, match="is not the Collector of kind 'json'"):
        KindTable({"json": f"{__name__}:_Fake"})["json"]


def test_the_registry_lists_every_built_in_kind_and_finds_an_unknown_one_missing():
    kinds = load_kinds()
    assert isinstance(kinds, Kinds)
    assert {"http", "json", "html", "portal", "lgsp", "documents", "services", "qd766"} <= set(kinds)
    assert kinds["services"].kind == "services"
    assert kinds.get("no-such-kind") is None and "no-such-kind" not in kinds


def test_no_scoring_section_is_checked_without_the_engine():
    check = scoring_check()

    class Empty:
        scorecards: list[str] = []
        manual: list[object] = []

    assert check(Empty(), ROOT) == []


@pytest.mark.parametrize("command", ["run", "demo", "simulate", "check-config"])
def test_a_commands_help_lists_no_kinds(capsys, command):
    from exporter.cli import main

    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--" in out and "collector kinds" not in out
