"""Results: the latest outcome of every target's poll, and the counters behind the health metrics.

The scheduler writes here; exposition, the landing page, the scoring engine and history read from here.
Every scrape is served from this cache, never by polling upstream.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable

from exporter.plugin import REASONS, MetricSpec, Sample


@dataclasses.dataclass
class TargetResult:
    target: str
    system: str
    kind: str
    labels: dict[str, str]
    #: the target's URL without query or credentials (for egov_target_info and the landing page)
    url: str = ""
    #: "unknown" before the first poll, then "up", "degraded" or "down"
    state: str = "unknown"
    reason: str | None = None
    message: str = ""
    started: float = 0.0  # unix time the poll started
    duration: float = 0.0
    last_success: float | None = None
    #: when the current run of failed polls began (the first failed poll's start), None while up
    down_since: float | None = None
    samples: list[Sample] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    #: when the next poll is due (unix time), for the landing page
    next_due: float | None = None
    #: seconds the upstream asked us to wait (Retry-After), if it did
    retry_after: float | None = None
    #: retries spent in this poll
    retries: int = 0


log = logging.getLogger("egov.target")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    parts = [
        (seconds // 86400, "d"),
        (seconds // 3600 % 24, "h"),
        (seconds // 60 % 60, "m"),
        (seconds % 60, "s"),
    ]
    return "".join(f"{n}{u}" for n, u in parts if n) or "0s"


def _log_change(prev: TargetResult | None, new: TargetResult, redact: Callable[[str], str]) -> None:
    """One line when a target changes state: down with the reason and message; up again with how long it
    was down; degraded with why.  A first poll that finds the target up is not a change worth a line."""
    before = prev.state if prev is not None else "unknown"
    if new.state == before:
        return
    if new.state == "down":
        log.warning("target %s (%s) is down: %s: %s", new.target, new.system, new.reason, redact(new.message))
    elif before == "down":
        since = prev.down_since if prev is not None and prev.down_since else new.started
        log.info(
            "target %s (%s) is %s again after %s down%s",
            new.target,
            new.system,
            new.state,
            _duration(new.started + new.duration - since),
            f": {redact(new.message)}" if new.message else "",
        )
    elif new.state == "degraded":
        log.warning("target %s (%s) is degraded: %s", new.target, new.system, redact(new.message))
    elif before == "degraded":
        log.info("target %s (%s) is up again (no longer degraded)", new.target, new.system)


class ResultStore:
    """Thread-safe: results per target, counters per target, derived samples (scores) per source.

    ``version`` increases on every change so that readers (the exposition cache) know when to re-render.
    """

    def __init__(self) -> None:
        #: hides configured secrets in the messages this store logs (the App sets it on every load)
        self.redact: Callable[[str], str] = str
        self._lock = threading.RLock()
        self.results: dict[str, TargetResult] = {}
        self.failures: dict[str, dict[str, int]] = {}
        self.retries: dict[str, int] = {}
        self.polls: dict[str, int] = {}
        self.skips: dict[str, int] = {}
        #: samples computed from other results (indicator engine), by source name
        self.derived: dict[str, list[Sample]] = {}
        self.derived_specs: dict[str, tuple[MetricSpec, ...]] = {}
        self.version = 0
        self._listeners: list[Callable[[str], None]] = []

    # writers ---------------------------------------------------------------------------------
    def register(self, result: TargetResult) -> None:
        """Make a target known (state unknown) so its series exist from start-up; keeps old results."""
        with self._lock:
            old = self.results.get(result.target)
            if old is not None and old.kind == result.kind:
                old.labels, old.system = result.labels, result.system
            else:
                self.results[result.target] = result
            self.failures.setdefault(result.target, {r: 0 for r in REASONS})
            self.retries.setdefault(result.target, 0)
            self.polls.setdefault(result.target, 0)
            self.skips.setdefault(result.target, 0)
            self.version += 1

    def forget(self, names: Iterable[str]) -> None:
        with self._lock:
            for name in names:
                for table in (self.results, self.failures, self.retries, self.polls, self.skips):
                    table.pop(name, None)
            self.version += 1

    def record(self, result: TargetResult, retries: int = 0) -> None:
        with self._lock:
            if result.target not in self.failures:
                return  # target was removed by a reload while it was being polled
            prev = self.results.get(result.target)
            if result.state in ("up", "degraded"):
                result.last_success = result.started + result.duration
                result.down_since = None
            elif result.state == "down":
                result.down_since = (
                    prev.down_since if prev is not None and prev.down_since else result.started
                )
            if result.state not in ("up", "degraded") and prev is not None:
                result.last_success = prev.last_success
                if result.state == "down":
                    # keep serving the last good values; their age is egov_target_last_success_timestamp_seconds
                    result.samples = prev.samples
            if result.reason:
                self.failures[result.target][result.reason] += 1
            self.retries[result.target] += retries
            self.polls[result.target] += 1
            self.skips[result.target] += len(result.skipped)
            self.results[result.target] = result
            self.version += 1
        _log_change(prev, result, self.redact)
        for listener in list(self._listeners):
            try:
                listener(result.target)
            except Exception:  # a failing reader must not stop the target's polling (scheduler's thread)
                logging.getLogger("egov.results").exception(
                    "result listener %r failed for %s", listener, result.target
                )

    def set_derived(self, source: str, specs: tuple[MetricSpec, ...], samples: list[Sample]) -> None:
        with self._lock:
            self.derived[source] = samples
            self.derived_specs[source] = specs
            self.version += 1

    def add_listener(self, fn: Callable[[str], None]) -> None:
        self._listeners.append(fn)

    # readers ---------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """A consistent copy for one render: results, counters and derived samples."""
        with self._lock:
            return {
                "version": self.version,
                "results": list(self.results.values()),
                "failures": {k: dict(v) for k, v in self.failures.items()},
                "retries": dict(self.retries),
                "polls": dict(self.polls),
                "skips": dict(self.skips),
                "derived": {k: list(v) for k, v in self.derived.items()},
                "derived_specs": dict(self.derived_specs),
            }

    def get(self, name: str) -> TargetResult | None:
        with self._lock:
            return self.results.get(name)

    def samples(self, name_prefix: str = "") -> list[tuple[TargetResult, Sample]]:
        """Every current sample whose name starts with ``name_prefix``, with the result it came from."""
        with self._lock:
            return [
                (r, s) for r in self.results.values() for s in r.samples if s.name.startswith(name_prefix)
            ]
