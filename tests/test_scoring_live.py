"""The engine attached to a running exporter: it recomputes off the poll thread when results arrive, publishes
derived series (766 computed beside published, PAR 7, gaps, ranks) that render and lint clean, adds a landing
page section, and follows configuration reloads.  Upstream: the simulated national portal on loopback."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from waits import wait_until

from exporter.app import App
from exporter.registry import load_kinds, scoring_check
from exporter.scoring.live import attach
from exporter.server import render_landing
from exporter.simulator import Simulator, World
from exporter.simulator.national import NationalSystem
from exporter.simulator.world import ROOT_DEPARTMENT_ID

CONFIG = """
scheduler:
  start_spread: 100ms
scoring:
  scorecards: [indicators/qd766.yaml, indicators/par7.yaml]
  manual:
    - {{criterion: C03, value: true, set_by: Phòng CĐS, set_at: 2026-10-15}}
    - {{criterion: C12, value: {c12}, set_by: Phòng CĐS, set_at: 2026-10-15}}
targets:
  - name: dvcqg
    kind: qd766
    url: {base}/national
    root_department_id: {root}
    periods: [month, quarter]
    pause: 0s
    interval: 1h
    timeout: 20s
"""


def derived(app) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in app.store.snapshot()["derived"].get("scoring", [])
    }


@pytest.fixture()
def stack(tmp_path):
    sim = Simulator(World(units=30), systems=[NationalSystem])
    base = sim.start("127.0.0.1", 0)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(base=base, root=ROOT_DEPARTMENT_ID, c12=0.5), encoding="utf-8")
    app = App(str(config), kinds=load_kinds(), check_scoring=scoring_check())
    app.load()
    live = attach(app)
    try:
        yield app, live, config, base
    finally:
        live.stop()
        app.stop()
        sim.stop()


def test_par7_manual_values_show_before_the_first_poll(stack):
    app, _live, _config, _base = stack
    assert wait_until(lambda: ("egov_par7_criterion_score", (("criterion", "C03"),)) in derived(app), 10)
    got = derived(app)
    assert got[("egov_par7_criterion_score", (("criterion", "C12"),))] == 0.25
    assert got[("egov_par7_criterion_data_available", (("criterion", "C09"),))] == 0  # no services target
    assert got[("egov_par7_score", ())] == 0.75
    assert not any(name.startswith("egov_qd766_score") for name, _ in got)


def test_scores_ranks_gaps_after_a_poll_and_a_clean_exposition(stack):
    app, live, _config, _base = stack
    app.start()
    assert wait_until(
        lambda: any(
            n == "egov_qd766_total_score" and ("source", "computed") in labels for n, labels in derived(app)
        ),
        30,
    ), "no computed 766 score"
    got = derived(app)
    published = {
        (s.labels["unit"], s.labels["group"], s.labels["period"]): s.value
        for s in app.store.get("dvcqg").samples
        if s.name == "egov_qd766_score" and s.labels.get("source") == "published"
    }
    computed = {
        (dict(labels)["unit"], dict(labels)["group"], dict(labels)["period"]): v
        for (n, labels), v in got.items()
        if n == "egov_qd766_score" and ("source", "computed") in labels
    }
    assert len(published) == 2 * 30 * 6 and len(computed) == 2 * (30 * 5 + 1)
    assert {k: published[k] for k in computed} == computed
    ranks = [
        v
        for (n, labels), v in got.items()
        if n == "egov_qd766_total_rank"
        and ("source", "published") in labels
        and ("period", "month") in labels
    ]
    assert sorted(ranks) == sorted([*range(1, 6), *range(1, 25)])  # 5 departments, 24 communes
    assert any(n == "egov_qd766_indicator_events_needed" for n, _ in got)
    assert threading.current_thread().name != "egov-scoring" and live._thread.name == "egov-scoring"
    body = app.cache.get()
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install Debian's prometheus package"
    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=120)
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint.stderr.decode()[
        :2000
    ]
    text = body.decode()
    assert "# HELP egov_par7_score Total score" in text and "# TYPE egov_qd766_indicator_ratio gauge" in text
    page = render_landing(app)
    for words in (
        "Decision 766",
        "Gap to target",
        "more online payments",
        "Units ranked by total",
        "PAR Index component 7",
        "criteria at maximum",
        "manual: Phòng CĐS, 2026-10-15",
        "no data",
        # words, not codes: groups and indicators by their names, the target's source beside it
        "Công khai, minh bạch / publicity and transparency",
        "Hồ sơ thanh toán trực tuyến / dossiers paid online",
        "mục tiêu / target <code>online_payment</code>",
        "tháng này / this month",
    ):
        assert words in page, words
    import re

    assert not re.search(r"<td>[A-Z][A-Z_]{6,}</td>", page)  # an indicator id is never a cell's only text
    assert "<code>SO_HOA_GIAY_TO_GIAI_QUYET</code>" in page  # it stands beside the name instead


def test_a_reload_brings_new_manual_values(stack):
    app, _live, config, base = stack
    assert wait_until(
        lambda: derived(app).get(("egov_par7_criterion_score", (("criterion", "C12"),))) == 0.25, 10
    )
    config.write_text(CONFIG.format(base=base, root=ROOT_DEPARTMENT_ID, c12=1), encoding="utf-8")
    app.load()
    assert wait_until(
        lambda: derived(app).get(("egov_par7_criterion_score", (("criterion", "C12"),))) == 0.5, 10
    )


def test_a_reload_with_a_broken_scorecard_is_refused(stack, tmp_path):
    app, _live, config, base = stack
    broken = Path(__file__).parent / "fixtures" / "scorecards" / "bad-sum.yaml"
    config.write_text(
        CONFIG.format(base=base, root=ROOT_DEPARTMENT_ID, c12=0.5).replace(
            "scorecards: [indicators/qd766.yaml, indicators/par7.yaml]",
            f"scorecards: [indicators/qd766.yaml, {broken}]",
        ),
        encoding="utf-8",
    )
    from exporter.config import ConfigError

    with pytest.raises(ConfigError) as err:
        app.load()
    assert [m.removeprefix(f"{config}: ") for m in err.value.messages] == [
        f"scoring.scorecards[1]: {broken}: groups' maxima add up to 98, expected total_max 100"
    ]
    assert [c.scorecard for c in app.scoring.cards] == ["qd766", "par7"]  # the last good ones keep running
