"""Shared test plumbing (kept generic): fixture paths and logging hygiene."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """``exporter.cli.main`` points the root logger at the (captured) stderr of the test that called it;
    put the handlers back so later tests never log into a closed capture stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
