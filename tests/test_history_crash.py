"""kill -9 while the history is being written: every committed tick survives, the file passes SQLite's
integrity check, and writing carries on where it stopped.  Real processes, real SIGKILL."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from exporter.history import HistoryDB, HistoryError

ROOT = Path(__file__).resolve().parent.parent
SERIES = 20000  # large ticks, so that a kill lands in the middle of a transaction

WRITER = textwrap.dedent(f"""
    import sys
    from exporter.history import HistoryDB, HistoryError
    db = HistoryDB(sys.argv[1])
    t = int(sys.argv[2])
    while True:
        db.write_tick(t, [("m", {{"unit": f"U{{i}}"}}, float((t * 7919 + i * 31) % 1000)) for i in range({SERIES})])
        print(t, flush=True)
        t += 1
""")


def expected(t: int, i: int) -> float:
    return float((t * 7919 + i * 31) % 1000)


def _kill_after(path: Path, first: int, commits: int) -> list[int]:
    """Start a writer at tick ``first``; SIGKILL it once ``commits`` ticks were reported committed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(first)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    done: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(done) < commits and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            done.append(int(line))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert len(done) == commits, proc.stderr.read()
    return done


def test_kill_9_loses_no_committed_tick_and_never_corrupts(tmp_path):
    path = tmp_path / "h.sqlite"
    committed: list[int] = []
    first = 1
    for _round in range(3):
        committed += _kill_after(path, first, commits=6)
        db = HistoryDB(path)  # what the exporter does when it starts again
        assert db.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ticks = db.ticks(0, 10**9)
        # every reported commit is there; at most the tick in flight when killed is there unreported
        assert set(committed) <= set(ticks)
        assert set(ticks) - set(committed) <= {committed[-1] + 1}
        ids = sorted(db.series("m"), key=lambda s: int(s[1]["unit"][1:]))
        assert len(ids) == SERIES
        for t in (ticks[0], committed[-1], ticks[-1]):
            values = db.values_at([sid for sid, _ in ids], t)
            assert [values[sid] for sid, _ in ids] == [expected(t, i) for i in range(SERIES)]
        first = ticks[-1] + 1
        db.close()
    assert len(committed) == 18


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.mark.e2e
def test_kill_9_of_the_real_exporter_keeps_its_history(tmp_path):
    from exporter.simulator import Simulator, World

    sim = Simulator(World(units=10))
    url = sim.start("127.0.0.1", 0)
    history = tmp_path / "egov-history.sqlite"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        textwrap.dedent(f"""
        scheduler: {{start_spread: 1s}}
        history: {{interval: 1s}}
        targets:
          - {{name: portal-home, kind: http, system: portal, url: "{url}/portal/", interval: 1s, timeout: 1s}}
          - {{name: lgsp-version, kind: http, system: lgsp, url: "{url}/lgsp/services/Version", interval: 1s,
              timeout: 1s}}
    """),
        encoding="utf-8",
    )
    # the relative history.path is taken from the working directory
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", str(cfg), "--web.listen-address", "127.0.0.1:0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen: list[int] = []
    try:

        def enough() -> bool:
            try:
                db = HistoryDB(history, readonly=True)
            except HistoryError:  # not there yet, or being created
                return False
            try:
                seen[:] = db.ticks(0, 10**10)
            finally:
                db.close()
            return len(seen) >= 4

        assert _wait(enough, 60), proc.stderr.read1().decode() if proc.poll() is not None else "no ticks"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        sim.stop()
    db = HistoryDB(history)
    assert db.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert set(seen) <= set(db.ticks(0, 10**10))
    up = {labels["target"]: sid for sid, labels in db.series("egov_target_up")}
    assert sorted(up) == ["lgsp-version", "portal-home"]
    assert db.values_at(list(up.values()), seen[-1]) == {sid: 1.0 for sid in up.values()}
    db.close()

    # and a snapshot of those minutes reads it (a --from/--to range around now)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter",
            "snapshot",
            "--from",
            str(today - dt.timedelta(days=1)),
            "--to",
            str(today),
            "--history.file",
            str(history),
            "--format",
            "json",
            "--output-dir",
            str(tmp_path / "out"),
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    import json

    doc = json.loads(Path(out.stdout.strip()).read_text(encoding="utf-8"))
    assert {t["target"]: t["availability"] for t in doc["availability"]["targets"]} == {
        "lgsp-version": 1.0,
        "portal-home": 1.0,
    }
    assert "Traceback" not in out.stderr
