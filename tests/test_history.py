"""The embedded history file: change-only rows, stale markers, schema versions and migrations, retention,
corrupt files, and the writer thread fed by the result store."""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from exporter.config import HISTORY_FAMILIES, parse_config
from exporter.history import HistoryDB, HistoryError, HistoryWriter, attach, collect_samples
from exporter.history.store import MIGRATIONS
from exporter.history.writer import FamilyFilter
from exporter.plugin import Sample
from exporter.results import ResultStore, TargetResult


def rows(db: HistoryDB) -> list[tuple]:
    return db.conn.execute(
        "SELECT s.name, s.labels, r.ts, r.value FROM samples r JOIN series s ON s.id = r.series_id"
        " ORDER BY r.ts, s.name, s.labels"
    ).fetchall()


def test_only_changes_are_written_and_gone_series_are_marked(tmp_path):
    db = HistoryDB(tmp_path / "h.sqlite")
    assert db.write_tick(100, [("m", {"unit": "A"}, 1.0), ("m", {"unit": "B"}, 2.0)], 100) == 2
    assert db.write_tick(200, [("m", {"unit": "A"}, 1.0), ("m", {"unit": "B"}, 3.0)], 100) == 1
    assert db.write_tick(300, [("m", {"unit": "A"}, 1.0)], 100) == 1  # B disappeared
    assert db.write_tick(400, [("m", {"unit": "A"}, 1.0), ("m", {"unit": "B"}, 3.0)], 100) == 1  # B is back
    assert rows(db) == [
        ("m", '{"unit":"A"}', 100, 1.0),
        ("m", '{"unit":"B"}', 100, 2.0),
        ("m", '{"unit":"B"}', 200, 3.0),
        ("m", '{"unit":"B"}', 300, None),
        ("m", '{"unit":"B"}', 400, 3.0),
    ]
    (a, _), (b, _) = db.series("m")
    assert db.values_at([a, b], 250) == {a: 1.0, b: 3.0}
    assert db.values_at([a, b], 350) == {a: 1.0, b: None}
    assert db.ticks(100, 400) == [200, 300, 400]
    assert db.tick_range() == (100, 400, 4)
    assert db.conn.execute("SELECT ts, interval, series, changed FROM ticks WHERE ts = 300").fetchone() == (
        300,
        100,
        1,
        1,
    )


def test_reopening_continues_without_rewriting_unchanged_values(tmp_path):
    path = tmp_path / "h.sqlite"
    db = HistoryDB(path)
    db.write_tick(100, [("m", {}, 5.0), ("n", {"x": "ô"}, 1.5)])
    db.close()
    db = HistoryDB(path)
    assert db.write_tick(200, [("m", {}, 5.0), ("n", {"x": "ô"}, 2.5)]) == 1
    assert rows(db)[-1] == ("n", '{"x":"ô"}', 200, 2.5)
    with pytest.raises(HistoryError, match=r"tick 200 is not after the last one \(200\)"):
        db.write_tick(200, [])


def test_nan_and_infinities_round_trip(tmp_path):
    db = HistoryDB(tmp_path / "h.sqlite")
    db.write_tick(10, [("nan", {}, math.nan), ("inf", {}, math.inf), ("ninf", {}, -math.inf)])
    db.write_tick(20, [("nan", {}, math.nan), ("inf", {}, math.inf), ("ninf", {}, -math.inf)])
    assert db.stats() == {"series": 3, "samples": 3}  # NaN == NaN for change detection, not a new row
    ids = {name: db.series(name)[0][0] for name in ("nan", "inf", "ninf")}
    values = db.values_at(list(ids.values()), 20)
    assert (
        math.isnan(values[ids["nan"]]) and values[ids["inf"]] == math.inf and values[ids["ninf"]] == -math.inf
    )


def test_new_file_is_wal_with_the_current_schema(tmp_path):
    db = HistoryDB(tmp_path / "h.sqlite")
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == MIGRATIONS[-1][0] == db.version
    assert db.meta()["created_by"].startswith("egov-exporter ")


def test_migration_path_upgrades_an_old_file_in_place(tmp_path):
    path = tmp_path / "h.sqlite"
    db = HistoryDB(path)
    db.write_tick(100, [("m", {}, 1.0)])
    db.close()
    v2 = (
        *MIGRATIONS,
        (
            2,
            (
                "CREATE TABLE notes (ts INTEGER PRIMARY KEY, text TEXT)",
                "INSERT INTO meta VALUES ('upgraded', 'yes')",
            ),
        ),
    )
    with pytest.raises(HistoryError) as exc:
        HistoryDB(path, readonly=True, migrations=v2)
    assert str(exc.value) == (
        f"history file {path} has schema version 1; open it once with the exporter "
        "(or without read-only) to upgrade it to 2"
    )
    db = HistoryDB(path, migrations=v2)
    assert db.version == 2 and db.meta()["upgraded"] == "yes"
    assert rows(db) == [("m", "{}", 100, 1.0)]
    db.close()
    with pytest.raises(HistoryError) as exc:
        HistoryDB(path)  # this exporter only knows version 1
    assert str(exc.value) == (
        f"history file {path} has schema version 2, newer than this egov-exporter "
        "0.1.0 knows (1); use a newer egov-exporter"
    )


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "h.sqlite"
    HistoryDB(path).close()
    broken = (*MIGRATIONS, (2, ("CREATE TABLE notes (x)", "THIS IS NOT SQL")))
    with pytest.raises(HistoryError, match="syntax error"):
        HistoryDB(path, migrations=broken)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'notes'").fetchone() is None


@pytest.mark.parametrize(
    "content, message",
    [
        (
            b"this is not a database, just text\n" * 200,
            "history file {path} is corrupt or not a SQLite database (file is not a database); move it away to start "
            "a new one",
        ),
        (None, "history file {path} is a SQLite database but not an egov-exporter history (tables: other)"),
    ],
)
def test_unusable_files_give_one_clear_line(tmp_path, content, message):
    path = tmp_path / "h.sqlite"
    if content is None:
        sqlite3.connect(path).execute("CREATE TABLE other (x)")
    else:
        path.write_bytes(content)
    for readonly in (False, True):
        with pytest.raises(HistoryError) as exc:
            HistoryDB(path, readonly=readonly)
        assert str(exc.value) == message.format(path=path)


def test_damaged_pages_are_found_by_the_check(tmp_path):
    path = tmp_path / "h.sqlite"
    db = HistoryDB(path)
    for t in range(1, 200):
        db.write_tick(t, [("m", {"unit": f"U{i}"}, float(t * i)) for i in range(50)])
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page : 3 * page + 2000] = b"\xff" * 2000  # smash a b-tree page in the middle of the file
    path.write_bytes(bytes(data))
    with pytest.raises(HistoryError) as exc:
        db = HistoryDB(path)
        db.check()
    assert str(exc.value).startswith(f"history file {path} is corrupt")
    assert "\n" not in str(exc.value)


def test_retention_keeps_the_value_still_in_force(tmp_path):
    db = HistoryDB(tmp_path / "h.sqlite")
    db.write_tick(100, [("steady", {}, 7.0), ("moving", {}, 1.0), ("gone", {}, 1.0)])
    db.write_tick(200, [("steady", {}, 7.0), ("moving", {}, 2.0)])
    db.write_tick(300, [("steady", {}, 7.0), ("moving", {}, 3.0)])
    assert db.prune(250) == 3  # moving@100, gone@100 (superseded), gone@200 (its stale marker)
    assert db.ticks(0, 1000) == [300]
    assert [name for name in ("steady", "moving", "gone") if db.series(name)] == ["steady", "moving"]
    ids = [db.series("steady")[0][0], db.series("moving")[0][0]]
    assert db.values_at(ids, 300) == {ids[0]: 7.0, ids[1]: 3.0}
    assert (
        db.write_tick(400, [("steady", {}, 7.0), ("moving", {}, 3.0)]) == 0
    )  # state reloaded after the prune


# ------------------------------------------------------------------------------------------- writer


def result(
    target: str,
    state: str,
    samples: list[Sample],
    duration: float = 0.5,
    system: str = "services",
    labels: dict | None = None,
) -> TargetResult:
    return TargetResult(
        target=target,
        system=system,
        kind="json",
        labels=labels or {"province": "H99"},
        url="http://x",
        state=state,
        started=1000.0,
        duration=duration,
        samples=samples,
        reason=None if state != "down" else "timeout",
    )


def test_samples_are_labelled_like_metrics_and_filtered_by_family():
    store = ResultStore()
    store.register(result("svc", "unknown", []))
    store.record(
        result(
            "svc",
            "up",
            [
                Sample(
                    "egov_services_dossiers_received_total",
                    {"unit": "H99.1", "period": "month", "channel": "online"},
                    12.0,
                ),
                Sample("egov_target_http_status_code", {}, 200.0),
            ],
        )
    )
    store.set_derived(
        "scoring",
        (),
        [
            Sample(
                "egov_qd766_score",
                {"unit": "H99", "group": "TTTT", "period": "month", "source": "computed"},
                7.5,
            )
        ],
    )
    out = collect_samples(store.snapshot(), FamilyFilter(HISTORY_FAMILIES), {"svc": [4, 3, 2.0]})
    base = {"target": "svc", "system": "services", "province": "H99"}
    assert out == [
        ("egov_target_up", base, 0.75),  # 3 of the interval's 4 polls succeeded
        *[
            ("egov_target_state", {**base, "state": s}, 1.0 if s == "up" else 0.0)
            for s in ("up", "degraded", "down", "unknown")
        ],
        ("egov_target_poll_duration_seconds", base, 0.5),  # mean of the interval's polls
        (
            "egov_services_dossiers_received_total",
            {**base, "unit": "H99.1", "period": "month", "channel": "online"},
            12.0,
        ),
        ("egov_qd766_score", {"unit": "H99", "group": "TTTT", "period": "month", "source": "computed"}, 7.5),
    ]


def test_a_target_not_polled_yet_has_no_availability_sample():
    store = ResultStore()
    store.register(result("new", "unknown", []))
    assert collect_samples(store.snapshot(), FamilyFilter(HISTORY_FAMILIES), {}) == []


def test_writer_counts_polls_through_the_store_listener(tmp_path):
    store = ResultStore()
    store.register(result("svc", "unknown", []))
    config = parse_config(
        {"history": {"path": str(tmp_path / "h.sqlite"), "families": ["egov_target_up"]}}, kinds={}
    )
    writer = HistoryWriter(store, clock=lambda: 5000.0)
    store.add_listener(writer.on_poll)
    writer.settings = config.history  # what configure() sets, without starting the thread
    writer._want = FamilyFilter(config.history.families)
    for state in ("up", "down", "up", "degraded"):
        store.record(result("svc", state, []))
    db = HistoryDB(tmp_path / "h.sqlite")
    assert writer.tick(db, 3600, 3600) == 3600
    assert writer.tick(db, 7200, 3600) == 7200  # no poll since: the current state
    assert rows(db) == [
        ("egov_target_up", '{"province":"H99","system":"services","target":"svc"}', 3600, 0.75),
        ("egov_target_up", '{"province":"H99","system":"services","target":"svc"}', 7200, 1.0),
    ]
    assert (writer.writes, writer.errors, writer.last_ok, writer.last_write) == (2, 0, True, 5000.0)


def _wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _app(tmp_path: Path, history: str, clock=time.time) -> object:
    from exporter.app import App
    from exporter.registry import load_kinds, scoring_check

    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"history:\n{history}", encoding="utf-8")
    app = App(str(cfg), kinds=load_kinds(), check_scoring=scoring_check(), clock=clock)
    app.load()
    return app


def test_attach_records_in_the_background_and_writes_a_last_tick_on_stop(tmp_path):
    path = tmp_path / "hist" / "h.sqlite"
    shift = [0.0]
    app = _app(
        tmp_path,
        f"  path: {path}\n  interval: 1s\n  families: [egov_par7_*]\n",
        clock=lambda: time.time() + shift[0],
    )
    app.store.set_derived("scoring", (), [Sample("egov_par7_score", {}, 11.5)])
    writer = attach(app)
    app.start()
    try:
        assert _wait(lambda: writer.writes >= 2)
    finally:
        shift[0] = 30.0  # the stop comes well after the last tick
        app.stop()
    assert not writer._thread.is_alive()
    db = HistoryDB(path, readonly=True)
    assert db.tick_range()[2] == writer.writes >= 3  # the thread's ticks, then one on stop
    assert rows(db)[0][:2] == ("egov_par7_score", "{}") and [r[3] for r in rows(db)] == [11.5]
    text = generate_latest(app.registry).decode()
    assert f"egov_exporter_history_writes_total {float(writer.writes)}" in text
    page = app.page_sections[-1]()
    assert f"<code>{path}</code>: {writer.writes} intervals written" in page
    assert (
        f"egov-exporter snapshot --quarter {time.gmtime(time.time() + shift[0] + 7 * 3600).tm_year}Q" in page
    )
    assert "egov_exporter_history_last_write_successful 1.0" in text
    assert "egov_exporter_history_enabled 1.0" in text


def test_reload_can_turn_history_off(tmp_path):
    app = _app(tmp_path, f"  path: {tmp_path / 'h.sqlite'}\n  interval: 1s\n")
    writer = attach(app)
    thread = writer._thread
    assert thread.is_alive()
    (tmp_path / "config.yaml").write_text("history:\n  enabled: false\n", encoding="utf-8")
    app.load()
    assert writer.settings is None
    assert _wait(lambda: not thread.is_alive())
    assert "egov_exporter_history_enabled 0.0" in generate_latest(app.registry).decode()
    assert app.page_sections[-1]() == (
        "<h2>History</h2><p>Embedded history is off (<code>history.enabled: false</code>).</p>"
    )


def test_a_corrupt_file_at_start_is_one_log_line_and_the_exporter_goes_on(tmp_path, caplog):
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"garbage" * 1000)
    app = _app(tmp_path, f"  path: {path}\n  interval: 1s\n")
    with caplog.at_level(logging.ERROR, logger="egov.history"):
        writer = attach(app)
        assert _wait(lambda: writer.errors == 1)
        writer._thread.join(5)
    messages = [r.getMessage() for r in caplog.records if r.name == "egov.history"]
    assert messages == [
        f"history file {path} is corrupt or not a SQLite database (file is not a database); "
        "move it away to start a new one; history is not being recorded"
    ]
    assert all(r.exc_info is None for r in caplog.records)
    text = generate_latest(app.registry).decode()
    assert "egov_exporter_history_write_errors_total 1.0" in text
    assert "egov_exporter_history_last_write_successful 0.0" in text
    assert path.read_bytes() == b"garbage" * 1000  # never overwritten


@pytest.mark.parametrize(
    "history, message",
    [
        ({"interval": "500ms"}, "history: interval must be at least 1s, got 0.5s"),
        ({"retention": "1m"}, "history: retention (60s) must not be shorter than interval (300s)"),
        (
            {"families": ["egov ok"]},
            'history.families: "egov ok" is not a metric name or a pattern like egov_qd766_*',
        ),
        ({"path": " "}, "history.path: must be a file path, got an empty string"),
        ({"famillies": []}, 'history.famillies: unknown key (did you mean "families"?)'),
    ],
)
def test_history_config_mistakes(history, message):
    from exporter.config import ConfigError

    with pytest.raises(ConfigError) as exc:
        parse_config({"history": history}, kinds={})
    assert exc.value.messages == [message]


def test_history_metrics_pass_promtool(tmp_path):
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed (Debian package prometheus)")
    app = _app(tmp_path, f"  path: {tmp_path / 'h.sqlite'}\n  interval: 1s\n")
    writer = attach(app)
    try:
        assert _wait(lambda: writer.writes >= 1)
        text = generate_latest(app.registry)
    finally:
        app.stop()
    from exporter.history import METRICS

    assert all(f"# HELP {s.name} {s.help}" in text.decode() for s in METRICS)
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert (check.returncode, check.stdout, check.stderr) == (0, b"", b"")


def test_one_writer_per_file(tmp_path, caplog):
    path = tmp_path / "h.sqlite"
    first = HistoryDB(path)
    first.write_tick(100, [("m", {}, 1.0)])
    with pytest.raises(HistoryError) as exc:
        HistoryDB(path)
    assert str(exc.value) == (
        f"history file {path} is in use by another egov-exporter (its lock {path}-lock is "
        "held); give each exporter its own history.path"
    )
    reader = HistoryDB(path, readonly=True)  # snapshots read while the exporter writes
    assert reader.tick_range() == (100, 100, 1)
    first.close()
    HistoryDB(path).close()  # free again once the writer closed it

    # two exporters (here two Apps in one process) pointed at the same file: the second says so, once
    app1 = _app(
        tmp_path / "a" if (tmp_path / "a").mkdir() is None else tmp_path, f"  path: {path}\n  interval: 1s\n"
    )
    app2 = _app(
        tmp_path / "b" if (tmp_path / "b").mkdir() is None else tmp_path, f"  path: {path}\n  interval: 1s\n"
    )
    with caplog.at_level(logging.ERROR, logger="egov.history"):
        w1 = attach(app1)
        assert _wait(lambda: w1.writes >= 1)
        w2 = attach(app2)
        assert _wait(lambda: w2.errors == 1)
        w2._thread.join(5)
    try:
        assert [r.getMessage() for r in caplog.records if r.name == "egov.history"] == [
            f"history file {path} is in use by another egov-exporter (its lock {path}-lock is held); give each "
            "exporter its own history.path; history is not being recorded"
        ]
    finally:
        app1.stop()


def test_a_file_being_created_reads_as_empty(tmp_path):
    path = tmp_path / "h.sqlite"
    sqlite3.connect(path).execute("PRAGMA user_version").fetchone()  # created, no schema yet
    path.write_bytes(b"")
    with pytest.raises(HistoryError) as exc:
        HistoryDB(path, readonly=True)
    assert str(exc.value) == f"history file {path} is empty (the exporter has not written to it yet)"
