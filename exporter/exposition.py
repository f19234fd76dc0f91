"""Exposition: the result cache rendered as Prometheus text / OpenMetrics.

Every series here is served from the cache the scheduler fills in the background, never by polling an
upstream during a scrape.  Rendering happens once per change of the cache (and at most once a second
for the age series); scrapes in between are served the rendered bytes.
"""

from __future__ import annotations

import gzip
import platform
import threading
import time
from typing import Any, Callable, Iterable

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector as PromCollector

from exporter import __version__
from exporter.plugin import REASONS, STATES, MetricSpec, Sample
from exporter.results import ResultStore, TargetResult

CACHE_NOTE = " Served from the poll cache, not fetched at scrape time."

#: health series every target has, whatever its kind
HEALTH_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("egov_target_up", "gauge", "1 when the target's last poll succeeded (up or degraded), else 0."
               + CACHE_NOTE, vi="hệ thống hoạt động"),
    MetricSpec("egov_target_state", "gauge", "1 for the target's current state (up, degraded, down, unknown)."
               + CACHE_NOTE, ("state",), vi="trạng thái"),
    MetricSpec("egov_target_poll_duration_seconds", "gauge", "Duration of the target's last poll in seconds.",
               vi="thời gian thu thập"),
    MetricSpec("egov_target_last_poll_timestamp_seconds", "gauge", "When the target's last poll started.",
               vi="lần thu thập gần nhất"),
    MetricSpec("egov_target_last_success_timestamp_seconds", "gauge",
               "When the target's last successful poll finished; its values date from then.",
               vi="lần thu thập thành công gần nhất"),
    MetricSpec("egov_target_result_age_seconds", "gauge",
               "Age of the cached result at render time (scrapes are served from the cache).",
               vi="tuổi dữ liệu"),
    MetricSpec("egov_target_failures_total", "counter", "Failed polls of the target by reason.", ("reason",),
               vi="số lần lỗi"),
    MetricSpec("egov_target_retries_total", "counter", "Request retries spent polling the target.",
               vi="số lần thử lại"),
    MetricSpec("egov_target_polls_total", "counter", "Polls of the target.", vi="số lần thu thập"),
    MetricSpec("egov_target_extraction_skipped_total", "counter",
               "Metrics skipped because the upstream answer lacked their field (schema drift).",
               vi="số chỉ số thiếu trường dữ liệu"),
    MetricSpec("egov_target_info", "gauge", "Target metadata: kind and URL (without query or credentials).",
               ("kind", "url"), vi="thông tin mục tiêu"),
)


def _family(spec: MetricSpec) -> Metric:
    base = spec.name[:-6] if spec.type == "counter" and spec.name.endswith("_total") else spec.name
    return Metric(base, spec.help, spec.type if spec.type != "info" else "gauge")


class StoreCollector(PromCollector):
    """A client_python collector building fresh families from the result store at each render."""

    def __init__(self, store: ResultStore, specs: Callable[[], dict[str, MetricSpec]],
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.specs = specs
        self.clock = clock

    def collect(self) -> Iterable[Metric]:
        snap = self.store.snapshot()
        specs = dict(self.specs())
        for spec in HEALTH_METRICS:
            specs[spec.name] = spec
        families: dict[str, Metric] = {}

        def add(name: str, labels: dict[str, str], value: float) -> None:
            fam = families.get(name)
            if fam is None:
                spec = specs.get(name) or MetricSpec(name, "counter" if name.endswith("_total") else "gauge",
                                                     f"{name} (no description)")
                fam = families[name] = _family(spec)
            fam.add_sample(name, labels, value)

        now = self.clock()
        for r in sorted(snap["results"], key=lambda r: r.target):
            self._health(r, snap, now, add)
            base = {"target": r.target, "system": r.system, **r.labels}
            for s in r.samples:
                add(s.name, {**base, **s.labels}, s.value)
        for source in sorted(snap["derived"]):
            for spec in snap["derived_specs"].get(source, ()):
                specs.setdefault(spec.name, spec)
            for s in snap["derived"][source]:
                add(s.name, s.labels, s.value)
        yield from families.values()

    @staticmethod
    def _health(r: TargetResult, snap: dict, now: float, add: Callable[[str, dict, float], None]) -> None:
        base = {"target": r.target, "system": r.system, **r.labels}
        add("egov_target_up", base, 1.0 if r.state in ("up", "degraded") else 0.0)
        for state in (*STATES, "unknown"):
            add("egov_target_state", {**base, "state": state}, 1.0 if r.state == state else 0.0)
        if r.started:
            add("egov_target_poll_duration_seconds", base, r.duration)
            add("egov_target_last_poll_timestamp_seconds", base, r.started)
            add("egov_target_result_age_seconds", base, max(0.0, now - r.started - r.duration))
        if r.last_success:
            add("egov_target_last_success_timestamp_seconds", base, r.last_success)
        for reason in REASONS:
            add("egov_target_failures_total", {**base, "reason": reason},
                snap["failures"].get(r.target, {}).get(reason, 0))
        add("egov_target_retries_total", base, snap["retries"].get(r.target, 0))
        add("egov_target_polls_total", base, snap["polls"].get(r.target, 0))
        add("egov_target_extraction_skipped_total", base, snap["skips"].get(r.target, 0))
        add("egov_target_info", {**base, "kind": r.kind, "url": r.url}, 1.0)


#: the exporter's own behaviour
SELF_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("egov_exporter_build_info", "gauge", "Version of egov-exporter and of Python.",
               ("version", "python_version")),
    MetricSpec("egov_exporter_config_last_reload_successful", "gauge",
               "1 when the last configuration (re)load succeeded."),
    MetricSpec("egov_exporter_config_last_reload_success_timestamp_seconds", "gauge",
               "When the configuration was last loaded successfully."),
    MetricSpec("egov_exporter_targets", "gauge", "Configured targets by system.", ("system",)),
    MetricSpec("egov_exporter_render_duration_seconds", "gauge",
               "Time spent rendering /metrics the last time the cache changed."),
    MetricSpec("egov_exporter_scheduler_lag_seconds", "histogram",  # type: ignore[arg-type]
               "Delay between a poll's due time and its start (waiting for a worker or host slot)."),
)


class SelfMetrics:
    """The exporter's own behaviour (client_python gauges in the exporter's own registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        spec = {s.name: s for s in SELF_METRICS}

        def gauge(name: str) -> Gauge:
            return Gauge(name, spec[name].help, list(spec[name].labels), registry=registry)

        self.build_info = gauge("egov_exporter_build_info")
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.reload_ok = gauge("egov_exporter_config_last_reload_successful")
        self.reload_time = gauge("egov_exporter_config_last_reload_success_timestamp_seconds")
        self.targets = gauge("egov_exporter_targets")
        self.render_seconds = gauge("egov_exporter_render_duration_seconds")


class MetricsCache:
    """Rendered /metrics bytes, re-rendered when the store changes or they are older than ``max_age``.

    While one render runs, other scrapes get the previous bytes instead of waiting."""

    def __init__(self, registry: CollectorRegistry, store: ResultStore, self_metrics: SelfMetrics | None = None,
                 max_age: float = 1.0) -> None:
        self.registry = registry
        self.store = store
        self.self_metrics = self_metrics
        self.max_age = max_age
        self._lock = threading.Lock()
        self._cache: dict[tuple[bool, bool], tuple[int, float, bytes]] = {}

    def get(self, openmetrics: bool = False, gz: bool = False) -> bytes:
        key = (openmetrics, gz)
        entry = self._cache.get(key)
        fresh = entry is not None and entry[0] == self.store.version and time.monotonic() - entry[1] < self.max_age
        if fresh:
            return entry[2]  # type: ignore[index]
        if not self._lock.acquire(blocking=entry is None):
            return entry[2]  # type: ignore[index]  # someone is rendering: serve the previous bytes
        try:
            version = self.store.version
            t0 = time.monotonic()
            body = (generate_openmetrics if openmetrics else generate_latest)(self.registry)
            if gz:
                body = gzip.compress(body, compresslevel=5)
            if self.self_metrics is not None:
                self.self_metrics.render_seconds.set(time.monotonic() - t0)
            self._cache[key] = (version, time.monotonic(), body)
            return body
        finally:
            self._lock.release()


def build_registry(store: ResultStore, specs: Callable[[], dict[str, MetricSpec]],
                   clock: Callable[[], float] = time.time) -> tuple[CollectorRegistry, SelfMetrics]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, specs, clock))
    ProcessCollector(registry=registry)
    return registry, SelfMetrics(registry)


def all_specs(kinds: dict[str, Any]) -> dict[str, MetricSpec]:
    """Every documented metric: health series and each kind's."""
    out = {s.name: s for s in HEALTH_METRICS}
    for cls in kinds.values():
        for spec in cls.describe():
            out.setdefault(spec.name, spec)
    return out


def samples_by_name(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for s in samples:
        out.setdefault(s.name, []).append(s)
    return out
