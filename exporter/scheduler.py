"""Background polling: every target on its own interval (with jitter), results into the store.

* First polls are spread over ``scheduler.start_spread`` seconds after start-up, not over the interval.
* At most ``max_concurrency`` polls run at once, and at most ``per_host_concurrency`` against one host;
  a target whose host is busy waits for a slot without holding a worker.
* Slow polls have slots of their own: a target whose last poll took longer than :data:`SLOW_POLL` seconds
  (or timed out) is polled in the *slow lane*, which has another ``max_concurrency`` slots, and a poll that
  runs much longer than polls usually take here (:meth:`Scheduler.overrun_after`) moves there.  Statistics calls that take tens of seconds and
  upstreams that hang until the timeout never hold the slots of the fast checks, so they delay no one
  else's poll.  (The per-host limit counts both lanes.)
* A poll's exception is the target's failure only (reason ``other`` unless a CollectError says better).
* 429/503 with ``Retry-After`` delay the next poll; consecutive ``blocked`` failures back off
  exponentially up to ``max_backoff``.

Workers take due polls themselves: a timer thread moves due targets into the ready queues and hands each
poll that can start to an idle worker (or a new one); a worker that finishes a poll takes the next ready
one without handing over to another thread.
Due targets are ordered by due time, per lane; a target whose host is full waits in that host's queue and
goes back to the ready queue when a poll of that host ends (no scanning of everything that waits).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Histogram

from exporter.config import Config, ConfigError, TargetBase
from exporter.fetch import HttpClient, SessionPool, public_url
from exporter.plugin import CollectContext, CollectError, Collector
from exporter.results import ResultStore, TargetResult

log = logging.getLogger("egov.scheduler")

#: a poll longer than this (seconds), or one that timed out, puts its target in the slow lane
SLOW_POLL = 2.0
#: a running poll moves to the slow lane after this many times the usual fast poll's duration...
OVERRUN_FACTOR = 5.0
#: ... but not before this many seconds, nor after SLOW_POLL seconds
OVERRUN_MIN = 0.25
#: the timer thread handles due polls in batches at most this often (seconds)
TICK = 0.01

_Item = tuple[float, int, str, int]  # (due, seq, target name, generation)
_Ready = tuple[float, int, str, int, str]  # (due, seq, target name, generation, host)


class _Worker:
    """A polling thread's mailbox: an idle worker blocks on its own lock until a poll is handed to it
    (no condition variable, and the worker does not take the scheduler's lock to start that poll)."""

    __slots__ = ("entry", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.entry: _Entry | None = None

    def hand(self, entry: _Entry | None) -> None:
        self.entry = entry
        self.lock.release()

    def wait(self) -> _Entry | None:
        self.lock.acquire()
        entry, self.entry = self.entry, None
        return entry


class _Entry:
    __slots__ = (
        "target",
        "collector",
        "client",
        "host",
        "generation",
        "blocked_streak",
        "running",
        "slow",
        "lane",
        "started",
    )

    def __init__(self, target: TargetBase, collector: Collector, client: HttpClient, generation: int) -> None:
        self.target = target
        self.collector = collector
        self.client = client
        self.host = urlsplit(target.url).netloc
        self.generation = generation
        self.blocked_streak = 0
        self.running = False
        #: the last poll was slow: the next one goes to the slow lane
        self.slow = False
        #: the lane of the running poll (True: slow) and when it started (monotonic)
        self.lane = False
        self.started = 0.0


def run_collector(
    collector: Collector,
    target: TargetBase,
    client: HttpClient,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> TargetResult:
    """Poll one target once and turn whatever happens into a TargetResult (never raises).  ``clock`` gives
    the poll's wall time (``started``), ``monotonic`` its duration."""
    result = TargetResult(
        target=target.name,
        system=target.system,
        kind=target.kind,
        labels=dict(target.labels),
        url=public_url(target.url),
    )
    result.started = clock()
    t0 = monotonic()
    retries_before = client.stats["retries"]
    try:
        collected = collector.collect()
        result.state = collected.state if collected.state in ("up", "degraded") else "up"
        result.message = collected.message
        result.samples = collected.samples
        result.skipped = collected.skipped
    except CollectError as exc:
        result.state, result.reason, result.message = "down", exc.reason, exc.message
        result.retry_after = exc.retry_after
    except Exception as exc:  # a bug or an unforeseen answer in one collector: that target only
        log.warning(
            "target %s: collector %s failed: %s: %s", target.name, target.kind, type(exc).__name__, exc
        )
        result.state, result.reason = "down", "other"
        result.message = f"collector error: {type(exc).__name__}: {exc}"
    result.duration = monotonic() - t0
    result.retries = client.stats["retries"] - retries_before
    return result


def build_collectors(
    config: Config,
    kinds: Mapping[str, type[Collector]],
    sessions: SessionPool,
    clock: Callable[[], float] = time.time,
) -> dict[str, tuple[HttpClient, Collector]]:
    """Build every target's HTTP client and collector (a collector reads its vendor profile now).

    Raises ConfigError naming each target whose collector cannot be built: a ValueError from the kind is a
    problem of the configuration or of a file it names (``targets[2]: unknown profile 'x' ...``); anything
    else is the kind's own failure (``targets[2]: the lgsp collector cannot start: ...``)."""
    built: dict[str, tuple[HttpClient, Collector]] = {}
    errors: list[str] = []
    for target in config.targets:
        client = HttpClient(target, sessions, clock)
        ctx = CollectContext(http=client, clock=clock, log=logging.getLogger(f"egov.collector.{target.kind}"))
        try:
            built[target.name] = (client, kinds[target.kind](target, ctx))
        except ValueError as exc:
            errors.append(f"{config.place(target.name)}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a plugin's failure is the config's problem
            errors.append(
                f"{config.place(target.name)}: the {target.kind} collector cannot start: "
                f"{type(exc).__name__}: {exc}"
            )
    if errors:
        for _client, collector in built.values():
            collector.close()
        raise ConfigError(errors)
    return built


class Scheduler:
    def __init__(
        self,
        store: ResultStore,
        kinds: dict[str, type[Collector]],
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        registry: Any = None,
    ) -> None:
        """``clock`` is wall time (results' timestamps), ``monotonic`` the scheduler's own time (due times,
        durations, overruns): tests give both, and drive the timer with :meth:`tick`."""
        self.store = store
        self.kinds = kinds
        self.clock = clock
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self.sessions = SessionPool()
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._generation = itertools.count(1)
        self._cond = threading.Condition()  # the timer thread waits on it
        #: due polls not started yet, by lane (False: fast, True: slow), ordered by due time; a host has at
        #: most as many there as it has free slots, so every poll in them can start when a lane slot is free
        self._ready: dict[bool, list[_Ready]] = {False: [], True: []}
        self._queued: dict[str, int] = {}  # polls of each host in the ready queues
        #: due polls waiting for a slot of their host, by host, in due order
        self._parked: dict[str, deque[_Ready]] = {}
        self._running: dict[bool, int] = {False: 0, True: 0}
        self._per_host: dict[str, int] = {}
        #: fast-lane polls by the time they become slow: (when, seq, entry, started)
        self._overrun: list[tuple[float, int, _Entry, float]] = []
        self._timer_wake = 0.0  # when the timer thread looks next
        self._usual = 0.0  # moving average of the duration of fast-lane polls (seconds; 0: none yet)
        self._workers = 0
        self._idle: list[_Worker] = []  # workers waiting for a poll, the last to finish on top
        self._stop = False
        self._thread: threading.Thread | None = None
        self.config: Config | None = None
        from exporter.exposition import SELF_METRICS

        lag = next(s for s in SELF_METRICS if s.name == "egov_exporter_scheduler_lag_seconds")
        self.lag = Histogram(
            lag.name, lag.help, buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120), registry=registry
        )

    # configuration -------------------------------------------------------------------------
    def apply(self, config: Config) -> None:
        """Start polling ``config``'s targets; on reload keep the schedule of unchanged targets."""
        # every target's collector is built first (reading its profile again): one that cannot start (a
        # profile gone or broken, a plugin's own check) rejects the whole config, and the running one stays;
        # a target whose configuration and profile are unchanged keeps its collector and its schedule
        built = build_collectors(config, self.kinds, self.sessions, self.clock)
        old = self._entries
        for target in config.targets:
            prev = old.get(target.name)
            if (
                prev is not None
                and prev.target == target
                and prev.collector.inputs() == built[target.name][1].inputs()
            ):
                built.pop(target.name)[1].close()
        self.sessions.pool_size = config.scheduler.per_host_concurrency
        now = self.monotonic()
        with self._cond:
            old = self._entries
            new: dict[str, _Entry] = {}
            for target in config.targets:
                prev = old.get(target.name)
                if target.name not in built:
                    new[target.name] = prev
                    continue
                client, collector = built[target.name]
                entry = _Entry(target, collector, client, next(self._generation))
                new[target.name] = entry
                self.store.register(
                    TargetResult(
                        target=target.name,
                        system=target.system,
                        kind=target.kind,
                        labels=dict(target.labels),
                        url=public_url(target.url),
                    )
                )
                due = now + self.rng.uniform(0, config.scheduler.start_spread)
                heapq.heappush(self._heap, (due, next(self._seq), target.name, entry.generation))
                if prev is not None:
                    prev.collector.close()
            removed = [name for name in old if name not in new]
            for name in removed:
                old[name].collector.close()
            self._entries = new
            self.config = config
            self._cond.notify_all()
        if removed:
            self.store.forget(removed)

    def start(self) -> None:
        assert self.config is not None, "apply() a config first"
        self._thread = threading.Thread(target=self._loop, name="egov-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            while self._idle:
                self._idle.pop().hand(None)
        if self._thread:
            self._thread.join(timeout)
        for entry in self._entries.values():
            entry.collector.close()
        self.sessions.close()

    # running (everything below runs with the lock held, except the poll itself) --------------
    def _loop(self) -> None:
        """The timer thread: :meth:`tick`, then sleep until the next thing is due."""
        with self._cond:
            while not self._stop:
                now = self.monotonic()
                self._cond.wait(self.tick() - now)

    def tick(self) -> float:
        """One turn of the timer: due targets to the ready queues, fast-lane polls that overran to the slow
        lane (freeing their fast slot), every poll that can start handed to a worker.  Returns when to look
        next (monotonic).  Tests call it with the scheduler not started and a clock of their own."""
        with self._cond:
            now = self.monotonic()
            heap = self._heap
            while heap and heap[0][0] <= now:
                item = heapq.heappop(heap)
                entry = self._entries.get(item[2])
                if entry is None or entry.generation != item[3] or entry.running:
                    continue  # removed, replaced, or still running (it reschedules itself)
                self._enqueue((*item, entry.host), entry)
            overrun = self._overrun
            while overrun and overrun[0][0] <= now:
                item = heapq.heappop(overrun)
                entry = item[2]
                if self._overruns(item) and self._running[True] < self._cap():
                    entry.lane = True
                    self._running[False] -= 1
                    self._running[True] += 1
            self._wake_workers()
            while overrun and not self._overruns(overrun[0]):
                heapq.heappop(overrun)  # finished polls: do not wake up for them
            wake = min(heap[0][0] if heap else now + 1.0, overrun[0][0] if overrun else now + 1.0, now + 1.0)
            self._timer_wake = wake = max(wake, now + TICK)
            return wake

    def overrun_after(self) -> float:
        """How long a fast-lane poll runs before it moves to the slow lane (and frees its fast slot):
        OVERRUN_FACTOR times the usual duration of fast polls, between OVERRUN_MIN and SLOW_POLL seconds."""
        return min(SLOW_POLL, max(OVERRUN_MIN, OVERRUN_FACTOR * self._usual))

    @staticmethod
    def _overruns(item: tuple[float, int, _Entry, float]) -> bool:
        entry = item[2]
        return entry.running and not entry.lane and entry.started == item[3]

    def _cap(self) -> int:
        assert self.config is not None
        return self.config.scheduler.max_concurrency

    def _wake_workers(self) -> None:
        """Start every ready poll that has a free slot: handed to an idle worker, or to a new one."""
        limit = 2 * self._cap()  # both lanes full
        while not self._stop and (self._idle or self._workers < limit):
            entry = self._take()
            if entry is None:
                return
            if self._idle:
                self._idle.pop().hand(entry)
            else:
                self._workers += 1
                threading.Thread(
                    target=self._worker, args=(_Worker(), entry), name="egov-poll", daemon=True
                ).start()

    def _enqueue(self, item: _Ready, entry: _Entry) -> None:
        """Into the ready queue of the entry's lane if its host has a slot for it, else into the host's queue."""
        host = item[4]
        if (
            self._per_host.get(host, 0) + self._queued.get(host, 0)
            >= self.config.scheduler.per_host_concurrency
        ):  # type: ignore[union-attr]
            self._parked.setdefault(host, deque()).append(item)
        else:
            self._queued[host] = self._queued.get(host, 0) + 1
            heapq.heappush(self._ready[entry.slow], item)

    def _take(self) -> _Entry | None:
        """The next ready poll that has a slot in its lane and its host, started; None if there is none."""
        cap = self._cap()
        per_host = self.config.scheduler.per_host_concurrency  # type: ignore[union-attr]
        while True:
            fast, slow = self._ready[False], self._ready[True]
            fast_ok = bool(fast) and self._running[False] < cap
            slow_ok = bool(slow) and self._running[True] < cap
            if fast_ok and (not slow_ok or fast[0][0] <= slow[0][0]):
                lane, item = False, heapq.heappop(fast)
            elif slow_ok:
                lane, item = True, heapq.heappop(slow)
            else:
                return None
            host = item[4]
            self._queued[host] -= 1
            entry = self._entries.get(item[2])
            if entry is None or entry.generation != item[3] or entry.running:
                self._unpark(host)
                continue
            if self._per_host.get(host, 0) >= per_host:  # per_host_concurrency was lowered by a reload
                self._parked.setdefault(host, deque()).appendleft(item)
                continue
            now = self.monotonic()
            entry.running, entry.lane, entry.started = True, lane, now
            self._running[lane] += 1
            self._per_host[entry.host] = self._per_host.get(entry.host, 0) + 1
            self.lag.observe(max(0.0, now - item[0]))  # time spent due: waiting for a worker or a slot
            if not lane:
                when = now + self.overrun_after()
                heapq.heappush(self._overrun, (when, next(self._seq), entry, now))
                if when < self._timer_wake - TICK:
                    self._timer_wake = when
                    self._cond.notify()
            return entry

    def _worker(self, me: _Worker, entry: _Entry | None) -> None:
        """Poll what is handed over; after a poll, take the next ready one, or wait to be handed one."""
        while entry is not None:
            result = run_collector(entry.collector, entry.target, entry.client, self.clock, self.monotonic)
            with self._cond:
                self._finish(entry, result)
                entry = None if self._stop else self._take()  # the next poll, on this same thread
                if entry is not None:
                    self._wake_workers()  # and other workers only if more polls can start now
                elif not self._stop:
                    self._idle.append(me)
                else:
                    self._workers -= 1
                    return
            if entry is None:
                entry = me.wait()  # None: the scheduler stopped
        with self._cond:
            self._workers -= 1

    def _next_delay(self, entry: _Entry, result: TargetResult) -> float:
        target = entry.target
        assert self.config is not None
        delay = target.interval * (1 + self.rng.uniform(-target.jitter, target.jitter))
        if result.reason == "blocked":
            entry.blocked_streak += 1
            delay = max(
                delay,
                min(self.config.scheduler.max_backoff, target.interval * 2 ** (entry.blocked_streak - 1)),
            )
        elif result.state != "down":
            entry.blocked_streak = 0
        if result.retry_after:
            delay = max(delay, min(result.retry_after, self.config.scheduler.max_backoff))
        result.next_due = self.clock() + delay
        return delay

    def _finish(self, entry: _Entry, result: TargetResult) -> None:
        target = entry.target
        delay = self._next_delay(entry, result)
        entry.slow = result.duration > SLOW_POLL or result.reason == "timeout"
        if not entry.lane and result.reason != "timeout":
            self._usual = result.duration if not self._usual else 0.95 * self._usual + 0.05 * result.duration
        if self._entries.get(target.name) is entry:
            try:
                self.store.record(result, retries=result.retries)
            except Exception:  # a failing reader of the results must not stop the polling
                log.exception("target %s: recording the result failed", target.name)
            due = self.monotonic() + delay
            heapq.heappush(self._heap, (due, next(self._seq), target.name, entry.generation))
            if due < self._timer_wake - TICK:
                self._timer_wake = due
                self._cond.notify()
        entry.running = False
        self._running[entry.lane] -= 1
        self._per_host[entry.host] -= 1
        self._unpark(entry.host)

    def _unpark(self, host: str) -> None:
        """A slot of ``host`` is free: its longest-waiting poll goes to the ready queue."""
        parked = self._parked.get(host)
        while parked:
            item = parked.popleft()
            waiting = self._entries.get(item[2])
            if waiting is not None and waiting.generation == item[3] and not waiting.running:
                self._enqueue(item, waiting)
                break
        if parked is not None and not parked:
            del self._parked[host]

    def poll_now(self, name: str, trace: list | None = None) -> TargetResult | None:
        """Poll one configured target now, in the caller's thread (for /probe); not stored."""
        with self._cond:
            entry = self._entries.get(name)
        if entry is None:
            return None
        client = HttpClient(entry.target, self.sessions, self.clock)
        ctx = CollectContext(
            http=client,
            clock=self.clock,
            trace=trace,
            log=logging.getLogger(f"egov.collector.{entry.target.kind}"),
        )
        collector = self.kinds[entry.target.kind](entry.target, ctx)
        try:
            return run_collector(collector, entry.target, client, self.clock)
        finally:
            collector.close()

    def targets(self) -> list[TargetBase]:
        with self._cond:
            return [e.target for e in self._entries.values()]
