"""Maintenance windows exported as metrics: which targets a window covers, when it is active, the full
render (linted by promtool) and a reload that changes the windows."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import textwrap

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import App
from exporter.config import parse_config
from exporter.maintenance import MaintenanceCollector, covers, is_active
from exporter.registry import load_kinds, scoring_check

TZ = dt.timezone(dt.timedelta(hours=7))
START = dt.datetime(2026, 11, 28, 22, 0, tzinfo=TZ)
END = dt.datetime(2026, 11, 29, 2, 0, tzinfo=TZ)

TARGETS = [
    {"name": "portal-home", "kind": "http", "system": "portal", "url": "http://127.0.0.1:9/portal/"},
    {"name": "lgsp-version", "kind": "http", "system": "lgsp", "url": "http://127.0.0.1:9/lgsp/v"},
    {"name": "lgsp-apis", "kind": "http", "system": "lgsp", "url": "http://127.0.0.1:9/lgsp/apis"},
    {"name": "services-home", "kind": "http", "system": "services", "url": "http://127.0.0.1:9/services/"},
]


def config(*windows: dict):
    return parse_config({"targets": TARGETS, "maintenance": list(windows)}, kinds=load_kinds(), env={})


def window(**kw):
    return {"name": "w", "start": START.isoformat(), "end": END.isoformat(), **kw}


@pytest.mark.parametrize(
    "systems, targets, covered",
    [
        ([], [], {"portal-home", "lgsp-version", "lgsp-apis", "services-home"}),
        (["lgsp"], [], {"lgsp-version", "lgsp-apis"}),
        (["lgsp", "portal"], [], {"lgsp-version", "lgsp-apis", "portal-home"}),
        ([], ["services-home"], {"services-home"}),
        (["lgsp"], ["lgsp-version"], {"lgsp-version"}),
        (["portal"], ["lgsp-version"], set()),  # both lists must let a target through
    ],
)
def test_which_targets_a_window_covers(systems, targets, covered):
    cfg = config(window(systems=systems, targets=targets))
    assert {t.name for t in cfg.targets if covers(cfg.maintenance[0], t)} == covered


@pytest.mark.parametrize(
    "at, active",
    [
        (START - dt.timedelta(seconds=1), False),
        (START, True),  # start inclusive
        (START + dt.timedelta(hours=2), True),
        (END - dt.timedelta(seconds=1), True),
        (END, False),  # end exclusive
        (END + dt.timedelta(days=1), False),
    ],
)
def test_active_between_start_and_end(at, active):
    w = config(window()).maintenance[0]
    assert is_active(w, at.timestamp()) is active


def samples(collector) -> dict[tuple, float]:
    out = {}
    for fam in collector.collect():
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_collector_series_and_values():
    cfg = config(
        window(name="nang-cap-lgsp", systems=["lgsp"]), window(name="dvc", targets=["services-home"])
    )
    inside = (START + dt.timedelta(minutes=30)).timestamp()
    got = samples(MaintenanceCollector(lambda: cfg, clock=lambda: inside))
    assert got == {
        (
            "egov_maintenance_window_active",
            (("system", "lgsp"), ("target", "lgsp-version"), ("window", "nang-cap-lgsp")),
        ): 1.0,
        (
            "egov_maintenance_window_active",
            (("system", "lgsp"), ("target", "lgsp-apis"), ("window", "nang-cap-lgsp")),
        ): 1.0,
        (
            "egov_maintenance_window_active",
            (("system", "services"), ("target", "services-home"), ("window", "dvc")),
        ): 1.0,
        (
            "egov_maintenance_window_start_timestamp_seconds",
            (("window", "nang-cap-lgsp"),),
        ): START.timestamp(),
        ("egov_maintenance_window_start_timestamp_seconds", (("window", "dvc"),)): START.timestamp(),
        ("egov_maintenance_window_end_timestamp_seconds", (("window", "nang-cap-lgsp"),)): END.timestamp(),
        ("egov_maintenance_window_end_timestamp_seconds", (("window", "dvc"),)): END.timestamp(),
    }
    after = samples(MaintenanceCollector(lambda: cfg, clock=lambda: END.timestamp() + 60))
    assert {k: v for k, v in after.items() if k[0] == "egov_maintenance_window_active"} == {
        k: 0.0 for k in got if k[0] == "egov_maintenance_window_active"
    }


def test_windows_sharing_a_name_merge_into_one_series_each():
    later_start, later_end = END + dt.timedelta(days=7), END + dt.timedelta(days=7, hours=4)
    cfg = config(
        window(name="monthly", systems=["portal"]),
        window(name="monthly", systems=["portal"], start=later_start.isoformat(), end=later_end.isoformat()),
    )
    got = samples(
        MaintenanceCollector(lambda: cfg, clock=lambda: (later_start + dt.timedelta(hours=1)).timestamp())
    )
    assert got == {
        (
            "egov_maintenance_window_active",
            (("system", "portal"), ("target", "portal-home"), ("window", "monthly")),
        ): 1.0,
        ("egov_maintenance_window_start_timestamp_seconds", (("window", "monthly"),)): START.timestamp(),
        ("egov_maintenance_window_end_timestamp_seconds", (("window", "monthly"),)): later_end.timestamp(),
    }


def test_no_windows_no_series():
    assert samples(MaintenanceCollector(lambda: config(), clock=lambda: START.timestamp())) == {}
    assert samples(MaintenanceCollector(lambda: None, clock=lambda: START.timestamp())) == {}


CONFIG = textwrap.dedent("""\
    targets:
      - {name: portal-home, kind: http, system: portal, url: "http://127.0.0.1:9/portal/"}
      - {name: lgsp-version, kind: http, system: lgsp, url: "http://127.0.0.1:9/lgsp/v"}
    maintenance:
      - name: nang-cap-lgsp
        start: 2026-11-28T22:00:00+07:00
        end: 2026-11-29T02:00:00+07:00
        systems: [lgsp]
""")


def render(app: App) -> str:
    return generate_latest(app.registry).decode()


def test_full_render_of_the_app_lints_clean_and_follows_reload(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    now = [(START + dt.timedelta(hours=1)).timestamp()]
    app = App(str(path), kinds=load_kinds(), check_scoring=scoring_check(), clock=lambda: now[0])
    app.load()
    text = render(app)
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    active = [(s.labels, s.value) for s in fams["egov_maintenance_window_active"].samples]
    assert active == [({"window": "nang-cap-lgsp", "target": "lgsp-version", "system": "lgsp"}, 1.0)]
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install Debian's prometheus package"
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
    )
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), (
        lint.stdout + lint.stderr
    ).decode()

    # a reload that moves the window to cover the portal instead
    path.write_text(CONFIG.replace("systems: [lgsp]", "systems: [portal]"), encoding="utf-8")
    app.load()
    fams = {f.name: f for f in text_string_to_metric_families(render(app))}
    assert [(s.labels["target"], s.value) for s in fams["egov_maintenance_window_active"].samples] == [
        ("portal-home", 1.0)
    ]
    now[0] = END.timestamp()
    fams = {f.name: f for f in text_string_to_metric_families(render(app))}
    assert [(s.labels["target"], s.value) for s in fams["egov_maintenance_window_active"].samples] == [
        ("portal-home", 0.0)
    ]
