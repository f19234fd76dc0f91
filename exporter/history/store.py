"""The history file: a SQLite database (WAL) of time series sampled at regular ticks.

Layout (schema version 1, ``PRAGMA user_version``):

* ``series(id, name, labels)``: one row per time series; ``labels`` is canonical JSON (sorted keys).
* ``ticks(ts, interval, series, changed)``: one row per written interval (unix seconds): the instants at
  which every recorded series was observed.
* ``samples(series_id, ts, value)``: a row only when a series' value changed since its previous row, or
  the series (re)appeared; ``value`` NULL marks that the series disappeared at that tick (like a
  Prometheus staleness marker).  The value of a series at a tick is its last row at or before the tick.
  NaN is stored as the text ``'NaN'`` (SQLite would turn it into NULL).

Reading the samples back at every tick gives exactly what a Prometheus scraping at those instants would
hold, so ``egov-exporter snapshot`` computes the same figures from either.

One process writes a file at a time (``<file>-lock``); snapshots read it while it is written.
Each tick is one transaction: a crash or ``kill -9`` loses at most the tick being written, and SQLite's
WAL never leaves a half-written transaction behind.  ``synchronous=FULL`` (the default) also survives a
power cut; bulk loads may pass ``synchronous="NORMAL"``.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from exporter import __version__

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, one writer is the operator's business
    fcntl = None  # type: ignore[assignment]

#: (version, statements): applied in order, each version in one transaction with its user_version.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE series (id INTEGER PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL,"
            " UNIQUE (name, labels))",
            "CREATE TABLE ticks (ts INTEGER PRIMARY KEY, interval INTEGER NOT NULL,"
            " series INTEGER NOT NULL, changed INTEGER NOT NULL)",
            "CREATE TABLE samples (series_id INTEGER NOT NULL REFERENCES series (id), ts INTEGER NOT NULL,"
            " value REAL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
_OUR_TABLES = {"meta", "series", "ticks", "samples"}

Labels = tuple[tuple[str, str], ...]


class HistoryError(Exception):
    """A history file that cannot be used; the message is one line and names the file."""


def labels_key(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _encode(value: float) -> float | str:
    return "NaN" if math.isnan(value) else value


def _decode(value: float | str | None) -> float | None:
    if isinstance(value, str):
        return math.nan
    return value


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


class HistoryDB:
    """One history file.  Writing is single-threaded (the writer thread, or a bulk load); reading may
    happen from another process at the same time (WAL)."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        readonly: bool = False,
        synchronous: str = "FULL",
        migrations: Sequence[tuple[int, Sequence[str]]] = MIGRATIONS,
    ) -> None:
        self.path = str(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        if readonly and not Path(self.path).exists():
            raise HistoryError(f"history file {self.path} does not exist")
        self._lock_fd: int | None = None
        if not readonly:
            self._take_lock()
        try:
            if readonly:
                uri = "file:" + Path(self.path).resolve().as_posix() + "?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 5000")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute(f"PRAGMA synchronous = {'NORMAL' if synchronous == 'NORMAL' else 'FULL'}")
            self.version = self._migrate(migrations)
        except sqlite3.Error as exc:
            self._release_lock()
            raise self._error(exc) from None
        except (OSError, HistoryError) as exc:
            self._release_lock()
            if isinstance(exc, HistoryError):
                raise
            raise HistoryError(f"history file {self.path}: {exc.strerror or exc}") from None
        # writer state: series ids and the last value written for each (None: disappeared)
        self._ids: dict[tuple[str, Labels], int] = {}
        self._last: dict[int, float | None] = {}
        self._last_tick: int | None = None
        self._loaded = False

    # --------------------------------------------------------------------------------- one writer
    def _take_lock(self) -> None:
        """One writer per file: an exclusive lock on ``<file>-lock`` (released when the process dies, even
        by kill -9).  Readers (snapshots) need no lock."""
        if fcntl is None:  # pragma: no cover - not POSIX
            return
        lock = self.path + "-lock"
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise HistoryError(
                f"history file {self.path}: cannot create {lock}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise HistoryError(
                f"history file {self.path} is in use by another egov-exporter (its lock {lock} is "
                "held); give each exporter its own history.path"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None

    # --------------------------------------------------------------------------------- errors
    def _error(self, exc: BaseException) -> HistoryError:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
            return HistoryError(
                f"history file {self.path} is corrupt or not a SQLite database ({text}); "
                "move it away to start a new one"
            )
        return HistoryError(f"history file {self.path}: {text}")

    def _migrate(self, migrations: Sequence[tuple[int, Sequence[str]]]) -> int:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        latest = migrations[-1][0]
        if version > latest:
            raise HistoryError(
                f"history file {self.path} has schema version {version}, newer than this "
                f"egov-exporter {__version__} knows ({latest}); use a newer egov-exporter"
            )
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and tables:
            raise HistoryError(
                f"history file {self.path} is a SQLite database but not an egov-exporter "
                f"history (tables: {', '.join(sorted(tables))})"
            )
        if version > 0 and not _OUR_TABLES <= tables:
            raise HistoryError(f"history file {self.path} lacks the tables of schema version {version}")
        if version == latest:
            return version
        if self.readonly and version == 0:
            raise HistoryError(f"history file {self.path} is empty (the exporter has not written to it yet)")
        if self.readonly:
            raise HistoryError(
                f"history file {self.path} has schema version {version}; open it once with "
                f"the exporter (or without read-only) to upgrade it to {latest}"
            )
        for target, statements in migrations:
            if target <= version:
                continue
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    self.conn.execute(statement)
                if version == 0:
                    self.conn.execute(
                        "INSERT INTO meta VALUES ('created_at', ?), ('created_by', ?)",
                        (str(int(time.time())), f"egov-exporter {__version__}"),
                    )
                self.conn.execute(f"PRAGMA user_version = {int(target)}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            version = target
        return version

    def check(self) -> None:
        """Raise HistoryError unless SQLite's quick integrity check passes."""
        try:
            result = self.conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        if result != "ok":
            raise HistoryError(
                f"history file {self.path} is corrupt ({' '.join(str(result).split())}); move it "
                "away to start a new one"
            )

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
        self._release_lock()

    # --------------------------------------------------------------------------------- writing
    def _load_state(self) -> None:
        """Series ids and each series' last value, so that writing continues the change-only rows."""
        ids: dict[tuple[str, Labels], int] = {}
        for sid, name, labels in self.conn.execute("SELECT id, name, labels FROM series"):
            ids[(name, labels_key(json.loads(labels)))] = sid
        last: dict[int, float | None] = {}
        for sid, value, ts in self.conn.execute(
            "SELECT id, (SELECT value FROM samples WHERE series_id = id ORDER BY ts DESC LIMIT 1),"
            " (SELECT ts FROM samples WHERE series_id = id ORDER BY ts DESC LIMIT 1) FROM series"
        ):
            if ts is not None:
                last[sid] = _decode(value)
        self._ids, self._last = ids, last
        self._last_tick = self.conn.execute("SELECT MAX(ts) FROM ticks").fetchone()[0]
        self._loaded = True

    def write_tick(
        self, ts: int, samples: Iterable[tuple[str, dict[str, str], float]], interval: int = 0
    ) -> int:
        """Record every series' value at ``ts`` (unix seconds) in one transaction; series not in
        ``samples`` that were present before are marked gone.  Returns the number of rows written."""
        with self._lock:
            try:
                if not self._loaded:
                    self._load_state()
                return self._write(int(ts), samples, int(interval))
            except sqlite3.Error as exc:
                self._loaded = False  # re-read the state from the file next time
                raise self._error(exc) from None

    def _write(self, ts: int, samples: Iterable[tuple[str, dict[str, str], float]], interval: int) -> int:
        if self._last_tick is not None and ts <= self._last_tick:
            raise HistoryError(
                f"history file {self.path}: tick {ts} is not after the last one "
                f"({self._last_tick}); the clock went backwards?"
            )
        current: dict[int, float] = {}
        new_series: dict[tuple[str, Labels], str] = {}
        pending: dict[tuple[str, Labels], float] = {}
        for name, labels, value in samples:
            key = (name, labels_key(labels))
            sid = self._ids.get(key)
            if sid is None:
                new_series[key] = json.dumps(
                    labels, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                )
                pending[key] = float(value)
            else:
                current[sid] = float(value)
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        added: dict[tuple[str, Labels], int] = {}
        try:
            for key, labels_json in new_series.items():
                cur = conn.execute("INSERT INTO series (name, labels) VALUES (?, ?)", (key[0], labels_json))
                added[key] = cur.lastrowid
                current[cur.lastrowid] = pending[key]
            rows = [
                (sid, ts, _encode(v))
                for sid, v in current.items()
                if sid not in self._last or not _same(self._last[sid], v)
            ]
            rows += [(sid, ts, None) for sid, v in self._last.items() if v is not None and sid not in current]
            conn.executemany("INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?)", rows)
            conn.execute(
                "INSERT INTO ticks (ts, interval, series, changed) VALUES (?, ?, ?, ?)",
                (ts, interval, len(current), len(rows)),
            )
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        self._ids.update(added)
        for sid, _ts, value in rows:
            self._last[sid] = _decode(value)
        self._last_tick = ts
        return len(rows)

    def prune(self, before: float) -> int:
        """Forget what is older than ``before``: ticks and rows, keeping each series' newest row before
        it (the value still in force).  Returns the number of sample rows deleted."""
        cutoff = int(before)
        with self._lock:
            try:
                conn = self.conn
                conn.execute("BEGIN IMMEDIATE")
                try:
                    n = conn.execute(
                        "DELETE FROM samples WHERE ts < :c AND ts < (SELECT MAX(s2.ts) FROM samples s2"
                        " WHERE s2.series_id = samples.series_id AND s2.ts < :c)",
                        {"c": cutoff},
                    ).rowcount
                    n += conn.execute(
                        "DELETE FROM samples WHERE ts < ? AND value IS NULL", (cutoff,)
                    ).rowcount
                    conn.execute("DELETE FROM ticks WHERE ts < ?", (cutoff,))
                    conn.execute(
                        "DELETE FROM series WHERE NOT EXISTS "
                        "(SELECT 1 FROM samples WHERE series_id = series.id)"
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                self._loaded = False
                return n
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    # --------------------------------------------------------------------------------- reading
    def _query(self, sql: str, params: Sequence | dict = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def tick_range(self) -> tuple[int, int, int] | None:
        """(first tick, last tick, number of ticks), or None when nothing was written."""
        first, last, n = self._query("SELECT MIN(ts), MAX(ts), COUNT(*) FROM ticks")[0]
        return None if n == 0 else (first, last, n)

    def ticks(self, lo: float, hi: float) -> list[int]:
        """Ticks with lo < ts <= hi, in order."""
        return [
            r[0] for r in self._query("SELECT ts FROM ticks WHERE ts > ? AND ts <= ? ORDER BY ts", (lo, hi))
        ]

    def series(self, name: str) -> list[tuple[int, dict[str, str]]]:
        return [
            (sid, json.loads(labels))
            for sid, labels in self._query(
                "SELECT id, labels FROM series WHERE name = ? ORDER BY id", (name,)
            )
        ]

    def values_at(self, ids: Sequence[int], ts: int) -> dict[int, float | None]:
        """Each series' value at tick ``ts`` (its last row at or before it; None when absent)."""
        out: dict[int, float | None] = {}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for sid, value in self._query(
                "SELECT id, (SELECT value FROM samples WHERE series_id = id AND ts <= ? ORDER BY ts DESC "
                f"LIMIT 1) FROM series WHERE id IN ({marks})",
                (ts, *chunk),
            ):
                out[sid] = _decode(value)
        return out

    def changes(self, ids: Sequence[int], lo: float, hi: float) -> Iterator[tuple[int, int, float | None]]:
        """Rows of the given series with lo < ts <= hi, ordered by series then time."""
        for chunk in _chunks(sorted(ids), 500):
            marks = ",".join("?" * len(chunk))
            for sid, ts, value in self._query(
                f"SELECT series_id, ts, value FROM samples WHERE series_id IN ({marks}) AND ts > ? AND ts <= ?"
                " ORDER BY series_id, ts",
                (*chunk, lo, hi),
            ):
                yield sid, ts, _decode(value)

    def stats(self) -> dict[str, int]:
        series, samples = self._query("SELECT (SELECT COUNT(*) FROM series), (SELECT COUNT(*) FROM samples)")[
            0
        ]
        return {"series": series, "samples": samples}


def _chunks(seq: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    seq = list(seq)
    for i in range(0, len(seq), n):
        yield seq[i : i + n]
