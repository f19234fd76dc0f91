"""The composition root: the registry of collector kinds (the built-in ``collectors.KINDS`` plus
third-party kinds from the ``egov_exporter.collectors`` entry-point group, ``mykind = "mypkg.mod:MyCollector"``)
and the indicator engine's check of ``scoring:``.

The core (config, scheduler, fetch, results, exposition) never imports a kind or the engine: the CLI takes
both from here and hands them over (``App(path, kinds=..., check_scoring=...)``)."""

from __future__ import annotations

import functools
import logging
from importlib.metadata import entry_points
from typing import Any

from exporter.plugin import Collector

ENTRY_POINT_GROUP = "egov_exporter.collectors"
log = logging.getLogger("egov.registry")


@functools.lru_cache(maxsize=1)
def load_kinds() -> dict[str, type[Collector]]:
    from collectors import KINDS

    kinds = dict(KINDS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not stop the exporter: name it and go on
            log.error("collector plugin %s (%s) cannot be loaded: %s", ep.name, ep.value, exc)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Collector)) or cls.kind != ep.name:
            log.error("collector plugin %s (%s) is not a Collector with kind %r", ep.name, ep.value, ep.name)
            continue
        if ep.name in kinds:
            log.error("collector plugin %s (%s) would replace the built-in kind; ignored", ep.name, ep.value)
            continue
        kinds[ep.name] = cls
    return kinds


def scoring_check() -> Any:
    """The indicator engine's check of a configuration's ``scoring:`` section (None without the engine)."""
    try:
        from exporter.scoring import check_scoring
    except ModuleNotFoundError as exc:
        if exc.name == "exporter.scoring":
            return None
        raise
    return check_scoring
