"""Planned outages (``maintenance:`` in the configuration) exported as metrics.

Alert rules suppress the availability alerts of the targets a window covers with
``unless on(target) egov_maintenance_window_active == 1``; dashboards show the windows.  Whether a window is
active is decided at render time from the clock, so it needs no poll; the rendered /metrics bytes are
re-rendered at least once a second, so the flag is at most that late.

A window covers a target when both of its lists let the target through: ``systems`` (empty: every system)
and ``targets`` (empty: every target).  ``systems: [lgsp]`` covers every LGSP target; ``systems: [lgsp],
targets: [lgsp-version]`` only that one; a window with neither list covers every target.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector as PromCollector

from exporter.config import Config, MaintenanceWindow, TargetBase
from exporter.plugin import MetricSpec

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "egov_maintenance_window_active",
        "gauge",
        "1 while a configured maintenance window covering the target is in progress, else 0 (one series "
        "per window and covered target). Availability alerts are suppressed while it is 1.",
        ("window", "target", "system"),
        vi="đang trong thời gian bảo trì",
    ),
    MetricSpec(
        "egov_maintenance_window_start_timestamp_seconds",
        "gauge",
        "Start of a configured maintenance window, as a unix timestamp.",
        ("window",),
        vi="thời điểm bắt đầu bảo trì",
    ),
    MetricSpec(
        "egov_maintenance_window_end_timestamp_seconds",
        "gauge",
        "End of a configured maintenance window, as a unix timestamp.",
        ("window",),
        vi="thời điểm kết thúc bảo trì",
    ),
)


def covers(window: MaintenanceWindow, target: TargetBase) -> bool:
    """Whether ``window`` covers ``target`` (each empty list lets every target through)."""
    return (not window.systems or target.system in window.systems) and (
        not window.targets or target.name in window.targets
    )


def is_active(window: MaintenanceWindow, now: float) -> bool:
    """In progress at unix time ``now``: start inclusive, end exclusive."""
    return window.start.timestamp() <= now < window.end.timestamp()


class MaintenanceCollector(PromCollector):
    """A client_python collector: the windows of the running configuration, evaluated at render time."""

    def __init__(self, config: Callable[[], Config | None], clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock

    def collect(self) -> Iterable[GaugeMetricFamily]:
        cfg = self.config()
        windows = cfg.maintenance if cfg is not None else []
        if not windows:
            return
        spec = {s.name: s for s in METRICS}
        now = self.clock()
        active, start, end = (
            GaugeMetricFamily(name, spec[name].help, labels=list(spec[name].labels))
            for name in (s.name for s in METRICS)
        )
        assert cfg is not None
        # windows sharing a name are one series each: earliest start, latest end, active if any is
        by_name: dict[str, list[MaintenanceWindow]] = {}
        for w in windows:
            by_name.setdefault(w.name, []).append(w)
        for name, group in by_name.items():
            start.add_metric([name], min(w.start.timestamp() for w in group))
            end.add_metric([name], max(w.end.timestamp() for w in group))
            for t in cfg.targets:
                mine = [w for w in group if covers(w, t)]
                if mine:
                    active.add_metric(
                        [name, t.name, t.system], 1.0 if any(is_active(w, now) for w in mine) else 0.0
                    )
        yield active
        yield start
        yield end
