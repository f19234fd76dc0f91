"""The running exporter: config -> scheduler -> collectors -> results -> exposition (and the engine,
history and the landing page that read the results).  The HTTP server and the CLI drive this object."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from exporter.config import Config, ConfigError, ScoringCheck, load_config
from exporter.exposition import MetricsCache, all_specs, build_registry
from exporter.maintenance import MaintenanceCollector
from exporter.plugin import SYSTEMS, MetricSpec
from exporter.results import ResultStore
from exporter.scheduler import Scheduler

log = logging.getLogger("egov")


class Redactor:
    """Replaces every configured secret in text shown to people (probe output, pages, messages)."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self.secrets = [s for s in (secrets or []) if len(s) >= 3]

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "<redacted>")
        return text


class App:
    def __init__(
        self,
        config_path: str,
        *,
        kinds: Mapping[str, type],
        check_scoring: ScoringCheck | None = None,
        shard: tuple[int, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config_path = config_path
        self.shard = shard
        self.clock = clock
        self.kinds = kinds  # a kind is looked up (and a lazy one imported) when a configuration uses it
        self.check_scoring = check_scoring
        self.store = ResultStore()
        self._specs: dict[str, MetricSpec] = all_specs({})
        self.registry, self.self_metrics = build_registry(self.store, lambda: self._specs, clock)
        # planned outages, evaluated at render time (suppress availability alerts; see exporter/maintenance.py)
        self.registry.register(MaintenanceCollector(lambda: self.config, clock))
        self.scheduler = Scheduler(self.store, self.kinds, clock=clock, registry=self.registry)
        self.cache = MetricsCache(self.registry, self.store, self.self_metrics)
        self.config: Config | None = None
        self.redact = Redactor()
        self.started = clock()
        self._reload_lock = threading.Lock()
        #: extra sections of the landing page: callables returning HTML (the indicator engine adds one)
        self.page_sections: list[Callable[[], str]] = []
        #: called with the new config after every successful (re)load
        self.on_config: list[Callable[[Config], None]] = []
        #: called by stop(), after the scheduler stopped (e.g. the history writer's last write)
        self.on_stop: list[Callable[[], None]] = []

    # configuration -------------------------------------------------------------------------
    def _select_shard(self, config: Config) -> Config:
        if self.shard is None:
            return config
        from exporter.shard import in_shard

        i, n = self.shard
        return config.model_copy(update={"targets": [t for t in config.targets if in_shard(t.name, i, n)]})

    def load(self) -> Config:
        """Load (or reload) the configuration.  On error the last good config keeps running; the
        errors are raised and counted in egov_exporter_config_last_reload_successful, and a reload's are
        logged too (the first load's are printed by the caller, once)."""
        with self._reload_lock:
            try:
                config = self._select_shard(
                    load_config(self.config_path, kinds=self.kinds, check_scoring=self.check_scoring)
                )
                self.scheduler.apply(config)
            except ConfigError as exc:
                self.self_metrics.reload_ok.set(0)
                # every line names the file, as check-config's do (the reload answer and the log show them)
                messages = [
                    line if line.startswith(self.config_path) else f"{self.config_path}: {line}"
                    for line in exc.messages
                ]
                if self.config is not None:  # a first load's errors are the caller's to print (once)
                    for line in messages:
                        log.error("config reload rejected, keeping the running one: %s", line)
                raise ConfigError(messages) from None
            self.config = config
            self.redact = Redactor(config.secrets())
            self.store.redact = self.redact
            # the series of the kinds in use (only those can be in the results)
            specs = all_specs({kind: self.kinds[kind] for kind in sorted({t.kind for t in config.targets})})
            for target in config.targets:
                for spec in getattr(target, "metrics", None) or ():
                    if hasattr(spec, "name") and hasattr(spec, "help"):
                        specs.setdefault(
                            spec.name,
                            MetricSpec(
                                spec.name, spec.type, spec.help or f"{spec.name} (from the configuration)"
                            ),
                        )
            self._specs = specs
            # the known systems always (0 when none is configured), systems of the configuration's own too; a
            # system no longer configured is dropped
            counts = Counter(t.system for t in config.targets)
            self.self_metrics.targets.clear()
            for system in sorted(set(SYSTEMS) | set(counts)):
                self.self_metrics.targets.labels(system).set(counts.get(system, 0))
            self.self_metrics.reload_ok.set(1)
            self.self_metrics.reload_time.set(self.clock())
            for hook in list(self.on_config):  # a hook may add hooks (a part attached now): not run twice
                hook(config)
            log.info("config loaded from %s: %d targets", self.config_path, len(config.targets))
            return config

    def start(self) -> None:
        if self.config is None:
            self.load()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        for hook in self.on_stop:
            hook()

    # reading -------------------------------------------------------------------------------
    def ready(self) -> bool:
        """Ready once every target has been polled at least once."""
        return self.config is not None and all(r.state != "unknown" for r in self.store.snapshot()["results"])

    def probe(self, name: str) -> dict[str, Any] | None:
        """Poll one configured target now and describe what was fetched and extracted (redacted)."""
        trace: list[dict[str, Any]] = []
        result = self.scheduler.poll_now(name, trace=trace)
        if result is None:
            return None
        out = {
            "target": result.target,
            "kind": result.kind,
            "system": result.system,
            "state": result.state,
            "reason": result.reason,
            "message": result.message,
            "duration_seconds": round(result.duration, 4),
            "fetched": trace,
            "skipped": result.skipped,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in result.samples],
        }
        return _redact_tree(out, self.redact)


def _redact_tree(obj: Any, redact: Redactor) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: _redact_tree(v, redact) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact_tree(v, redact) for v in obj]
    return obj
