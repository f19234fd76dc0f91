"""The collector plugin API: what a collector kind is, what it returns, how it fails.

A collector kind is one class in one module of ``collectors/``; ``collectors.KINDS`` maps each
``kind:`` to its class (third-party kinds arrive through the ``egov_exporter.collectors`` entry-point
group, see ``exporter.registry``).  Every kind has the same constructor shape::

    Kind(target: Kind.Config, ctx: CollectContext)

and one method, ``collect() -> Collected``.  ``collect`` raises :class:`CollectError` with a reason
from :data:`REASONS` when the target is down; anything else it raises is caught by the scheduler and
counted as reason ``other``: one target's failure never touches another's results.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, Literal

#: The fixed list of failure reasons (label ``reason`` of ``egov_target_failures_total``).
REASONS: tuple[str, ...] = (
    "timeout",
    "connect",
    "tls",
    "http_status",
    "parse",
    "condition",
    "auth",
    "blocked",
    "other",
)
#: Up / degraded / down (label ``state`` of ``egov_target_state``).
STATES: tuple[str, ...] = ("up", "degraded", "down")
#: The value of the ``system`` label on every per-target series.
SYSTEMS: tuple[str, ...] = ("portal", "lgsp", "documents", "services", "national")

MetricType = Literal["gauge", "counter", "info"]


@dataclasses.dataclass(frozen=True, slots=True)
class MetricSpec:
    """A documented metric a kind may emit.  ``labels`` lists the labels besides ``target``/``system``
    and the target's configured labels.  Counters are named with their ``_total`` suffix."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    vi: str = ""  # the Vietnamese term, for the metrics reference


@dataclasses.dataclass(slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclasses.dataclass(slots=True)
class Collected:
    """What one successful poll produced."""

    samples: list[Sample] = dataclasses.field(default_factory=list)
    #: "up" or "degraded" (a failed poll raises CollectError instead).
    state: str = "up"
    #: why the target is degraded (e.g. "response time 3.2s > 2s"); shown on / and /probe.
    message: str = ""
    #: extraction problems that skipped a metric without failing the target (counted).
    skipped: list[str] = dataclasses.field(default_factory=list)

    def add(self, name: str, value: float | None, /, **labels: str) -> None:  # labels may be "name"
        if value is not None:
            self.samples.append(Sample(name, labels, float(value)))


class CollectError(Exception):
    """The target is down for ``reason`` (one of REASONS)."""

    def __init__(
        self, reason: str, message: str, *, retry_after: float | None = None, retryable: bool = False
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown failure reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.retryable = retryable


@dataclasses.dataclass
class CollectContext:
    """What the scheduler hands a collector: its HTTP client, clock and logger (tests swap them)."""

    http: Any  # exporter.fetch.HttpClient
    clock: Callable[[], float] = time.time
    log: logging.Logger = dataclasses.field(default_factory=lambda: logging.getLogger("egov.collector"))
    #: when set, collectors append what they fetched and extracted (for /probe); secrets redacted later.
    trace: list[dict[str, Any]] | None = None

    def note(self, **entry: Any) -> None:
        if self.trace is not None:
            self.trace.append(entry)


class Collector:
    """Base class of every collector kind."""

    #: the ``kind:`` value in the configuration.
    kind: ClassVar[str] = ""
    #: one line for ``--help`` and the docs.
    summary: ClassVar[str] = ""
    #: the pydantic model of this kind's target configuration (subclass of config.TargetBase).
    Config: ClassVar[type]
    #: the ``system`` a target of this kind belongs to unless configured (None: must be configured).
    default_system: ClassVar[str | None] = None
    #: metrics this kind can emit, for the reference and for dashboard/rule checks.
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()

    def __init__(self, target: Any, ctx: CollectContext) -> None:
        self.target = target
        self.ctx = ctx

    def collect(self) -> Collected:  # pragma: no cover - abstract
        raise NotImplementedError

    def inputs(self) -> object:
        """What the collector read when it was built besides its target's configuration (e.g. its vendor
        profile), comparable with ``==``.  A reload builds every collector anew and keeps the running one
        (and its schedule) only when both the target's configuration and this are unchanged."""
        return None

    def close(self) -> None:
        """Release what the collector holds (called on reload/shutdown)."""

    @classmethod
    def describe(cls) -> Iterable[MetricSpec]:
        return cls.metrics


class KindTable(Mapping[str, type[Collector]]):
    """Collector kinds by name, each given as ``"package.module:Class"`` and imported when it is first asked
    for, so that a process loads the code (and the libraries) of the kinds its configuration uses only.
    Iterating gives the names without importing anything; ``values()``/``items()`` import every kind."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self._paths = dict(paths)
        self._classes: dict[str, type[Collector]] = {}

    def __getitem__(self, name: str) -> type[Collector]:
        cls = self._classes.get(name)
        if cls is None:
            path = self._paths[name]  # KeyError: no such kind
            module, _, attr = path.partition(":")
            cls = getattr(importlib.import_module(module), attr)
            if not (isinstance(cls, type) and issubclass(cls, Collector)) or cls.kind != name:
                raise TypeError(f"{path} is not the Collector of kind {name!r}")
            self._classes[name] = cls
        return cls

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        return f"KindTable({sorted(self._paths)})"
