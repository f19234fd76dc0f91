"""Splitting one configuration's targets across N exporter instances (``--shard i/n``).

A target belongs to shard ``sha256(name) mod n`` (counted from 1), so every target is polled by exactly one
instance and the split only changes for targets whose name changes."""

from __future__ import annotations

import hashlib
import re


def shard_of(name: str, n: int) -> int:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def in_shard(name: str, i: int, n: int) -> bool:
    return shard_of(name, n) == i


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> (2, 3); ValueError with a one-line message otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--shard must be i/n with 1 <= i <= n, like 2/3, got {text!r}")
    return int(m.group(1)), int(m.group(2))
