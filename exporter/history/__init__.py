"""Embedded history: the exporter records indicator values, scores and each target's availability in a
local SQLite file, the default source of ``egov-exporter snapshot``.  See :mod:`exporter.history.store`
for the file and :mod:`exporter.history.writer` for the thread that fills it."""

from exporter.history.store import SCHEMA_VERSION, HistoryDB, HistoryError
from exporter.history.writer import METRICS, HistoryWriter, attach, collect_samples

__all__ = [
    "METRICS",
    "SCHEMA_VERSION",
    "HistoryDB",
    "HistoryError",
    "HistoryWriter",
    "attach",
    "collect_samples",
]
