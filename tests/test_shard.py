"""``--shard i/n``: parsing, and every target in exactly one shard."""

from __future__ import annotations

from collections import Counter

import pytest

from exporter.app import App
from exporter.registry import load_kinds, scoring_check
from exporter.shard import in_shard, parse_shard, shard_of


@pytest.mark.parametrize(
    "text,parsed", [("1/1", (1, 1)), ("2/3", (2, 3)), (" 3 / 3 ", (3, 3)), ("10/12", (10, 12))]
)
def test_parse_shard(text, parsed):
    assert parse_shard(text) == parsed


@pytest.mark.parametrize("bad", ["0/3", "4/3", "1/0", "a/b", "", "3", "1/3/5", "-1/3", "1.5/3"])
def test_parse_shard_errors(bad):
    with pytest.raises(ValueError) as info:
        parse_shard(bad)
    assert str(info.value) == f"--shard must be i/n with 1 <= i <= n, like 2/3, got {bad!r}"


def test_every_name_in_exactly_one_of_three_shards():
    names = [f"target-{i:03d}" for i in range(300)]
    for name in names:
        assert [i for i in (1, 2, 3) if in_shard(name, i, 3)] == [shard_of(name, 3)]
    sizes = Counter(shard_of(n, 3) for n in names)
    assert sorted(sizes) == [1, 2, 3] and all(size >= 60 for size in sizes.values())  # roughly even


def test_shard_is_stable_and_depends_on_the_name_only():
    assert [shard_of("portal-home", 3) for _ in range(5)] == [shard_of("portal-home", 3)] * 5
    assert all(shard_of(name, 1) == 1 for name in ("a", "b", "lgsp-stats"))


def test_app_polls_only_its_shard(tmp_path):
    names = [f"t{i:02d}" for i in range(30)]
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        "targets:\n"
        + "".join(
            f"  - {{name: {n}, kind: http, system: portal, url: 'http://127.0.0.1:9/{n}'}}\n" for n in names
        )
    )
    seen: list[str] = []
    for i in (1, 2, 3):
        app = App(str(cfg), kinds=load_kinds(), check_scoring=scoring_check(), shard=(i, 3))
        loaded = app.load()
        part = [t.name for t in loaded.targets]
        assert part == [n for n in names if shard_of(n, 3) == i]
        assert [t.name for t in app.scheduler.targets()] == part
        seen += part
    assert sorted(seen) == names
