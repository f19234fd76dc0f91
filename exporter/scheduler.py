"""Background polling: every target on its own interval (with jitter), results into the store.

* First polls are spread over ``scheduler.start_spread`` seconds after start-up, not over the interval.
* At most ``max_concurrency`` polls run at once, and at most ``per_host_concurrency`` against one host;
  a target whose host is busy waits for a slot without holding a worker.
* A poll's exception is the target's failure only (reason ``other`` unless a CollectError says better).
* 429/503 with ``Retry-After`` delay the next poll; consecutive ``blocked`` failures back off
  exponentially up to ``max_backoff``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable
from urllib.parse import urlsplit

from prometheus_client import Histogram

from exporter.config import Config, TargetBase
from exporter.fetch import HttpClient, SessionPool, public_url
from exporter.plugin import CollectContext, CollectError, Collector
from exporter.results import ResultStore, TargetResult

log = logging.getLogger("egov.scheduler")


class _Entry:
    __slots__ = ("target", "collector", "client", "host", "generation", "blocked_streak", "running")

    def __init__(self, target: TargetBase, collector: Collector, client: HttpClient, generation: int) -> None:
        self.target = target
        self.collector = collector
        self.client = client
        self.host = urlsplit(target.url).netloc
        self.generation = generation
        self.blocked_streak = 0
        self.running = False


def run_collector(collector: Collector, target: TargetBase, client: HttpClient,
                  clock: Callable[[], float] = time.time) -> TargetResult:
    """Poll one target once and turn whatever happens into a TargetResult (never raises)."""
    result = TargetResult(target=target.name, system=target.system, kind=target.kind, labels=dict(target.labels),
                          url=public_url(target.url))
    result.started = clock()
    t0 = time.monotonic()
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
        log.warning("target %s: collector %s failed: %s: %s", target.name, target.kind, type(exc).__name__, exc)
        result.state, result.reason = "down", "other"
        result.message = f"collector error: {type(exc).__name__}: {exc}"
    result.duration = time.monotonic() - t0
    result.retries = client.stats["retries"] - retries_before
    return result


class Scheduler:
    def __init__(self, store: ResultStore, kinds: dict[str, type[Collector]], *,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 registry: Any = None) -> None:
        self.store = store
        self.kinds = kinds
        self.clock = clock
        self.rng = rng or random.Random()
        self.sessions = SessionPool()
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._generation = itertools.count(1)
        self._cond = threading.Condition()
        self._running = 0
        self._per_host: dict[str, int] = {}
        self._waiting: list[str] = []  # names whose host (or the pool) was full when due
        self._stop = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.config: Config | None = None
        from exporter.exposition import SELF_METRICS

        lag = next(s for s in SELF_METRICS if s.name == "egov_exporter_scheduler_lag_seconds")
        self.lag = Histogram(lag.name, lag.help, buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120), registry=registry)

    # configuration -------------------------------------------------------------------------
    def apply(self, config: Config) -> None:
        """Start polling ``config``'s targets; on reload keep the schedule of unchanged targets."""
        self.sessions.pool_size = config.scheduler.per_host_concurrency
        now = time.monotonic()
        with self._cond:
            old = self._entries
            new: dict[str, _Entry] = {}
            for target in config.targets:
                prev = old.get(target.name)
                if prev is not None and prev.target == target:
                    new[target.name] = prev
                    continue
                client = HttpClient(target, self.sessions, self.clock)
                ctx = CollectContext(http=client, clock=self.clock,
                                     log=logging.getLogger(f"egov.collector.{target.kind}"))
                collector = self.kinds[target.kind](target, ctx)
                entry = _Entry(target, collector, client, next(self._generation))
                new[target.name] = entry
                self.store.register(TargetResult(target=target.name, system=target.system, kind=target.kind,
                                                 labels=dict(target.labels), url=public_url(target.url)))
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
        self._pool = ThreadPoolExecutor(max_workers=self.config.scheduler.max_concurrency,
                                        thread_name_prefix="egov-poll")
        self._thread = threading.Thread(target=self._loop, name="egov-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout)
        if self._pool:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for entry in self._entries.values():
            entry.collector.close()
        self.sessions.close()

    # running -------------------------------------------------------------------------------
    def _can_run(self, entry: _Entry) -> bool:
        assert self.config is not None
        return (self._running < self.config.scheduler.max_concurrency
                and self._per_host.get(entry.host, 0) < self.config.scheduler.per_host_concurrency)

    def _dispatch(self, entry: _Entry, due: float) -> None:
        entry.running = True
        self._running += 1
        self._per_host[entry.host] = self._per_host.get(entry.host, 0) + 1
        self.lag.observe(max(0.0, time.monotonic() - due))
        assert self._pool is not None
        self._pool.submit(self._poll, entry)

    def _loop(self) -> None:
        with self._cond:
            while not self._stop:
                now = time.monotonic()
                # targets that waited for a slot go first, in the order they became due
                still_waiting = []
                for name in self._waiting:
                    entry = self._entries.get(name)
                    if entry is None or entry.running:
                        continue
                    if self._can_run(entry):
                        self._dispatch(entry, now)
                    else:
                        still_waiting.append(name)
                self._waiting = still_waiting
                while self._heap and self._heap[0][0] <= now:
                    due, _, name, generation = heapq.heappop(self._heap)
                    entry = self._entries.get(name)
                    if entry is None or entry.generation != generation or entry.running:
                        continue
                    if self._can_run(entry):
                        self._dispatch(entry, due)
                    else:
                        self._waiting.append(name)
                timeout = (self._heap[0][0] - now) if self._heap else 1.0
                self._cond.wait(max(0.005, min(timeout, 1.0)))

    def _poll(self, entry: _Entry) -> None:
        result = run_collector(entry.collector, entry.target, entry.client, self.clock)
        target = entry.target
        assert self.config is not None
        delay = target.interval * (1 + self.rng.uniform(-target.jitter, target.jitter))
        if result.reason == "blocked":
            entry.blocked_streak += 1
            delay = max(delay, min(self.config.scheduler.max_backoff,
                                   target.interval * 2 ** (entry.blocked_streak - 1)))
        elif result.state != "down":
            entry.blocked_streak = 0
        if result.retry_after:
            delay = max(delay, min(result.retry_after, self.config.scheduler.max_backoff))
        now = time.monotonic()
        result.next_due = self.clock() + delay
        with self._cond:
            current = self._entries.get(target.name) is entry
            if current:
                self.store.record(result, retries=result.retries)
                heapq.heappush(self._heap, (now + delay, next(self._seq), target.name, entry.generation))
            entry.running = False
            self._running -= 1
            self._per_host[entry.host] -= 1
            self._cond.notify_all()

    def poll_now(self, name: str, trace: list | None = None) -> TargetResult | None:
        """Poll one configured target now, in the caller's thread (for /probe); not stored."""
        with self._cond:
            entry = self._entries.get(name)
        if entry is None:
            return None
        client = HttpClient(entry.target, self.sessions, self.clock)
        ctx = CollectContext(http=client, clock=self.clock, trace=trace,
                             log=logging.getLogger(f"egov.collector.{entry.target.kind}"))
        collector = self.kinds[entry.target.kind](entry.target, ctx)
        try:
            return run_collector(collector, entry.target, client, self.clock)
        finally:
            collector.close()

    def targets(self) -> list[TargetBase]:
        with self._cond:
            return [e.target for e in self._entries.values()]
