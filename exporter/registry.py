"""The composition root: the registry of collector kinds (the built-in ``collectors.KINDS`` plus
third-party kinds from the ``egov_exporter.collectors`` entry-point group, ``mykind = "mypkg.mod:MyCollector"``)
and the indicator engine's check of ``scoring:``.

The core (config, scheduler, fetch, results, exposition) never imports a kind or the engine: the CLI takes
both from here and hands them over (``App(path, kinds=..., check_scoring=...)``)."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from exporter.plugin import Collector

ENTRY_POINT_GROUP = "egov_exporter.collectors"
log = logging.getLogger("egov.registry")


def _load_plugins(builtin: Mapping[str, Any]) -> dict[str, type[Collector]]:
    """The third-party kinds of the entry-point group; a broken one is logged and left out."""
    from importlib.metadata import entry_points

    kinds: dict[str, type[Collector]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not stop the exporter: name it and go on
            log.error("collector plugin %s (%s) cannot be loaded: %s", ep.name, ep.value, exc)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Collector)) or cls.kind != ep.name:
            log.error("collector plugin %s (%s) is not a Collector with kind %r", ep.name, ep.value, ep.name)
            continue
        if ep.name in builtin:
            log.error("collector plugin %s (%s) would replace the built-in kind; ignored", ep.name, ep.value)
            continue
        kinds[ep.name] = cls
    return kinds


class Kinds(Mapping[str, type[Collector]]):
    """The built-in kinds (imported when first used) and the third-party ones, whose entry points are read
    only when a configuration names a kind that is not built in, or when every kind is listed."""

    def __init__(self, builtin: Mapping[str, type[Collector]]) -> None:
        self._builtin = builtin
        self._plugins: dict[str, type[Collector]] | None = None
        self._lock = threading.Lock()

    def plugins(self) -> dict[str, type[Collector]]:
        with self._lock:
            if self._plugins is None:
                self._plugins = _load_plugins(self._builtin)
            return self._plugins

    def __getitem__(self, name: str) -> type[Collector]:
        if name in self._builtin:
            return self._builtin[name]
        return self.plugins()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._builtin or name in self.plugins()

    def __iter__(self) -> Iterator[str]:
        yield from self._builtin
        yield from self.plugins()

    def __len__(self) -> int:
        return len(self._builtin) + len(self.plugins())


@functools.lru_cache(maxsize=1)
def load_kinds() -> Kinds:
    from collectors import KINDS

    return Kinds(KINDS)


def scoring_check() -> Any:
    """The indicator engine's check of a configuration's ``scoring:`` section (None without the engine).
    The engine is imported by the first check that has something to check: a configuration without
    scorecards or manual values (an exporter that only polls) never loads it."""
    from importlib.util import find_spec

    if find_spec("exporter.scoring") is None:
        return None

    def check(scoring: Any, base_dir: Any) -> list[str]:
        if not scoring.scorecards and not scoring.manual:
            return []
        from exporter.scoring import check_scoring

        return check_scoring(scoring, base_dir)

    return check
