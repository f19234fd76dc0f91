"""pyproject.toml's package data: every glob matches files, and every data file of a package is packaged."""

from __future__ import annotations

import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
    "package-data"
]


def test_every_package_data_glob_matches_a_file():
    empty = [f"{pkg}/{g}" for pkg, globs in DATA.items() for g in globs if not list((ROOT / pkg).glob(g))]
    assert empty == []


def test_every_data_file_of_a_package_is_packaged():
    tracked = subprocess.run(
        ["git", "ls-files", *DATA], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    left_out = []
    for name in tracked:
        pkg, _, rest = name.partition("/")
        if name.endswith(".py") or "/tests/" in name or name.endswith("README.md"):
            continue
        if not any(fnmatch(rest, g) for g in DATA[pkg]):
            left_out.append(name)
    assert left_out == []
