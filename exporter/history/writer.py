"""The history writer: a background thread that records, every ``history.interval``, the value of each
series of the configured families (indicators, scores, availability) into the history file.

It never runs in a poll or a scrape: polls only bump per-target counters (the store listener, O(1)), and
the thread takes one consistent copy of the result store per interval.  Each target's availability for
an interval is the share of that interval's polls that succeeded (its current state when it was not
polled), recorded as ``egov_target_up`` with the labels ``/metrics`` gives it.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector as PromCollector

from exporter.history.store import HistoryDB, HistoryError
from exporter.plugin import MetricSpec

log = logging.getLogger("egov.history")

#: how often old rows are pruned (retention)
PRUNE_EVERY = 86400.0
_UP_STATES = ("up", "degraded")


class FamilyFilter:
    """Which metric names are recorded: shell-style patterns (``egov_qd766_*``), cached per name."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._cache: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        hit = self._cache.get(name)
        if hit is None:
            hit = self._cache[name] = any(fnmatch.fnmatchcase(name, p) for p in self.patterns)
        return hit


def collect_samples(
    snapshot: dict[str, Any], want: Callable[[str], bool], polls: dict[str, list[float]]
) -> list[tuple[str, dict[str, str], float]]:
    """The series to record from one store snapshot, labelled exactly as ``/metrics`` labels them."""
    out: list[tuple[str, dict[str, str], float]] = []
    for r in snapshot["results"]:
        base = {"target": r.target, "system": r.system, **r.labels}
        counts = polls.get(r.target)
        if r.state != "unknown" or counts:
            if want("egov_target_up"):
                up = counts[1] / counts[0] if counts else (1.0 if r.state in _UP_STATES else 0.0)
                out.append(("egov_target_up", base, up))
            if want("egov_target_state"):
                for state in ("up", "degraded", "down", "unknown"):
                    out.append(
                        ("egov_target_state", {**base, "state": state}, 1.0 if r.state == state else 0.0)
                    )
            if want("egov_target_poll_duration_seconds") and (counts or r.started):
                out.append(
                    (
                        "egov_target_poll_duration_seconds",
                        base,
                        counts[2] / counts[0] if counts else r.duration,
                    )
                )
        for s in r.samples:
            if want(s.name):
                out.append((s.name, {**base, **s.labels}, s.value))
    for source in sorted(snapshot["derived"]):
        for s in snapshot["derived"][source]:
            if want(s.name):
                out.append((s.name, dict(s.labels), s.value))
    return out


class HistoryWriter:
    """Owns the history file while the exporter runs.  ``configure`` (at start and on every reload)
    starts, restarts or stops the thread; ``on_poll`` is the result-store listener."""

    def __init__(self, store: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.settings: Any = None  # the HistoryConfig in force (None: disabled)
        self.path: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._polls_lock = threading.Lock()
        self._polls: dict[str, list[float]] = {}
        self._want = FamilyFilter(())
        # health, for egov_exporter_history_* and the landing page
        self.writes = 0
        self.errors = 0
        self.rows = 0
        self.last_write: float | None = None
        self.last_duration = 0.0
        self.last_ok: bool | None = None
        self.last_error = ""

    # ------------------------------------------------------------------------------ wiring
    def on_poll(self, target: str) -> None:
        """Result-store listener, on the poll's thread: count the poll, nothing else."""
        if self.settings is None:
            return
        r = self.store.get(target)
        if r is None:
            return
        with self._polls_lock:
            c = self._polls.get(target)
            if c is None:
                c = self._polls[target] = [0, 0, 0.0]
            c[0] += 1
            c[1] += r.state in _UP_STATES
            c[2] += r.duration

    def configure(self, config: Any) -> None:
        settings = config.history if config.history.enabled else None
        if settings == self.settings and (settings is None or (self._thread and self._thread.is_alive())):
            return
        previous, self._thread = self._thread, None
        self._stop.set()  # the old thread writes its last tick and closes the file
        self.settings = settings
        if settings is None:
            self.path = None
            return
        self.path = settings.path
        self._want = FamilyFilter(settings.families)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(settings, self._stop, previous), name="egov-history", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write a last tick and close the file (on shutdown)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # ------------------------------------------------------------------------------ the thread
    def _run(self, settings: Any, stop: threading.Event, previous: threading.Thread | None) -> None:
        if previous is not None:
            previous.join()
        try:
            db = HistoryDB(settings.path)
            db.check()
        except HistoryError as exc:
            self._failed(str(exc) + "; history is not being recorded")
            return
        log.info(
            "recording history in %s every %gs (retention %gd)",
            settings.path,
            settings.interval,
            settings.retention / 86400,
        )
        interval = float(settings.interval)
        next_prune = 0.0
        last_ts = 0
        try:
            while True:
                now = self.clock()
                due = (math.floor(now / interval) + 1) * interval
                if stop.wait(max(0.0, due - now)):
                    break
                last_ts = self.tick(db, max(int(due), last_ts + 1), int(interval)) or last_ts
                if self.clock() >= next_prune:
                    next_prune = self.clock() + PRUNE_EVERY
                    self._prune(db, self.clock() - settings.retention)
            # shutting down or reconfigured: what was polled since the last tick is kept too
            ts = int(self.clock())
            if ts > last_ts:
                self.tick(db, ts, int(interval))
        finally:
            db.close()

    def tick(self, db: HistoryDB, ts: int, interval: int = 0) -> int | None:
        """Write one tick at ``ts``; returns ``ts`` when written.  Never raises."""
        with self._polls_lock:
            polls, self._polls = self._polls, {}
        t0 = time.monotonic()
        try:
            samples = collect_samples(self.store.snapshot(), self._want, polls)
            self.rows += db.write_tick(ts, samples, interval)
        except HistoryError as exc:
            self._failed(str(exc))
            return None
        self.writes += 1
        self.last_write = self.clock()
        self.last_duration = time.monotonic() - t0
        if self.last_ok is False:
            log.info("history file %s: writing again", db.path)
        self.last_ok = True
        return ts

    def _prune(self, db: HistoryDB, before: float) -> None:
        try:
            n = db.prune(before)
        except HistoryError as exc:
            self._failed(str(exc))
            return
        if n:
            log.info("history file %s: pruned %d rows older than the retention", db.path, n)

    def _failed(self, message: str) -> None:
        self.errors += 1
        if message != self.last_error or self.last_ok is not False:
            log.error("%s", message)  # once per distinct problem, not every interval
        self.last_error = message
        self.last_ok = False


#: the history writer's own metrics (for the README's reference)
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "egov_exporter_history_enabled",
        "gauge",
        "1 when the embedded history (history.enabled) is being recorded.",
        vi="lưu lịch sử",
    ),
    MetricSpec(
        "egov_exporter_history_writes_total",
        "counter",
        "Intervals written to the history file.",
        vi="số lần ghi lịch sử",
    ),
    MetricSpec(
        "egov_exporter_history_write_errors_total",
        "counter",
        "Failures to open or write the history file (see the log).",
        vi="số lần ghi lịch sử lỗi",
    ),
    MetricSpec(
        "egov_exporter_history_rows_written_total",
        "counter",
        "Rows written to the history file (only changed values are written).",
        vi="số dòng đã ghi",
    ),
    MetricSpec(
        "egov_exporter_history_last_write_successful",
        "gauge",
        "1 when the last attempt to write the history file succeeded.",
        vi="lần ghi gần nhất thành công",
    ),
    MetricSpec(
        "egov_exporter_history_last_write_timestamp_seconds",
        "gauge",
        "When an interval was last written to the history file.",
        vi="thời điểm ghi gần nhất",
    ),
    MetricSpec(
        "egov_exporter_history_last_write_duration_seconds",
        "gauge",
        "Time the last history write took.",
        vi="thời gian ghi gần nhất",
    ),
)


class HistoryMetrics(PromCollector):
    """``egov_exporter_history_*``: is history being written?"""

    def __init__(self, writer: HistoryWriter) -> None:
        self.writer = writer
        self.specs = {s.name: s for s in METRICS}

    def _family(self, name: str, value: float) -> Any:
        spec = self.specs[name]
        if spec.type == "counter":
            return CounterMetricFamily(name.removesuffix("_total"), spec.help, value=value)
        return GaugeMetricFamily(name, spec.help, value=value)

    def collect(self) -> Iterable[Any]:
        w = self.writer
        yield self._family("egov_exporter_history_enabled", 1.0 if w.settings is not None else 0.0)
        yield self._family("egov_exporter_history_writes_total", w.writes)
        yield self._family("egov_exporter_history_write_errors_total", w.errors)
        yield self._family("egov_exporter_history_rows_written_total", w.rows)
        if w.last_ok is not None:
            yield self._family("egov_exporter_history_last_write_successful", 1.0 if w.last_ok else 0.0)
        if w.last_write is not None:
            yield self._family("egov_exporter_history_last_write_timestamp_seconds", w.last_write)
            yield self._family("egov_exporter_history_last_write_duration_seconds", w.last_duration)


def page_section(writer: HistoryWriter) -> str:
    """The landing page's history line: where, how often, last write, and how to take a snapshot."""
    from html import escape

    if writer.settings is None:
        return "<h2>History</h2><p>Embedded history is off (<code>history.enabled: false</code>).</p>"
    import datetime as dt

    from exporter.snapshot.periods import TZ

    now = dt.datetime.fromtimestamp(writer.clock(), TZ)
    when = (
        dt.datetime.fromtimestamp(writer.last_write, TZ).strftime("%Y-%m-%d %H:%M:%S")
        if writer.last_write
        else "not yet"
    )
    quarter = f"{now.year}Q{(now.month - 1) // 3 + 1}"
    problem = f'<p style="color:#b3261e">{escape(writer.last_error)}</p>' if writer.last_ok is False else ""
    return (
        f"<h2>History</h2><p>Recording every {writer.settings.interval:g}s into "
        f"<code>{escape(writer.settings.path)}</code>: {writer.writes} intervals written, last {escape(when)}."
        f" Quarterly report: <code>egov-exporter snapshot --quarter {quarter} --history.file "
        f"{escape(writer.settings.path)}</code></p>{problem}"
    )


def attach(app: Any) -> HistoryWriter:
    """Record history for a running App: called by the CLI after the first successful config load."""
    writer = HistoryWriter(app.store, clock=app.clock)
    app.store.add_listener(writer.on_poll)
    app.on_config.append(writer.configure)
    app.registry.register(HistoryMetrics(writer))
    stop_hooks = getattr(app, "on_stop", None)
    if stop_hooks is not None:
        stop_hooks.append(writer.stop)
    app.history = writer
    app.page_sections.append(lambda: page_section(writer))
    if app.config is not None:
        writer.configure(app.config)
    return writer
