"""A configuration checked as ``check-config`` and the exporter check it: validated, then every target's
collector built (which reads its vendor profile)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.config import Config, parse_config
from exporter.fetch import SessionPool
from exporter.scheduler import build_collectors


def checked_config(data: Any, *, kinds: Mapping[str, type], **kw: Any) -> Config:
    """Raises ConfigError with the problems of the configuration and of the profiles it names."""
    config = parse_config(data, kinds=kinds, **kw)
    for _client, collector in build_collectors(config, kinds, SessionPool()).values():
        collector.close()
    return config
