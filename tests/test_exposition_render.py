"""The fast renderer of /metrics writes exactly what prometheus_client writes, and a large store's scrape is
answered from the last rendered bytes without waiting for a render."""

from __future__ import annotations

import random
import time

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporter.exposition import MetricsCache, Registry, StoreCollector, all_specs, render_registry
from exporter.plugin import MetricSpec, Sample
from exporter.results import ResultStore, TargetResult

T0 = 1_800_000_000.0
SPECS = {
    **all_specs({}),
    "egov_unit_value": MetricSpec("egov_unit_value", "gauge", 'Value "per unit"\\ of\na target.', ("unit",)),
    "egov_calls_total": MetricSpec("egov_calls_total", "counter", "Calls.", ("api",)),
}


def result(i: int, **kw) -> TargetResult:
    base = {
        "target": f"t{i:04d}",
        "system": ("portal", "lgsp", "services")[i % 3],
        "kind": "json",
        "labels": {"unit": f"H{i % 7}", "note": 'quote " back \\ new\nline'} if i % 5 == 0 else {},
        "url": f"https://h{i}.example.vn/api",
    }
    return TargetResult(**{**base, **kw})


def polled(i: int, rng: random.Random) -> TargetResult:
    state = rng.choice(["up", "up", "degraded", "down"])
    r = result(
        i,
        state=state,
        reason=rng.choice(["timeout", "blocked", "parse"]) if state == "down" else None,
        started=T0 - rng.uniform(0, 3600),
        duration=rng.choice([0.0, 0.05, 12.5, 1e-7]),
    )
    r.samples = [
        Sample("egov_target_http_status_code", {}, rng.choice([200, 503])),
        Sample("egov_calls_total", {"api": "hồ-sơ"}, rng.randint(0, 10**12)),
        *[
            Sample(
                "egov_unit_value",
                {"unit": f"U{u}"},
                rng.choice([0, 1, -2.5, 1e6, 3.2e-9, float("inf"), float("nan"), 123456789.0]),
            )
            for u in range(rng.randint(0, 4))
        ],
        Sample("egov_undocumented", {"k": "v"}, 1.0),
    ]
    return r


def make(n: int = 40, seed: int = 7) -> tuple[ResultStore, CollectorRegistry, random.Random]:
    rng = random.Random(seed)
    store = ResultStore()
    for i in range(n):
        store.register(result(i))
    for i in range(n):
        if i % 4:
            store.record(polled(i, rng), retries=rng.randint(0, 3))
    registry = Registry()
    Gauge("egov_first", "registered before the store", registry=registry).set(1)
    registry.register(StoreCollector(store, lambda: SPECS, clock=lambda: T0))
    Counter("egov_after", "registered after the store", ["x"], registry=registry).labels("a").inc(2)
    return store, registry, rng


@pytest.mark.parametrize("openmetrics", [False, True])
def test_identical_to_prometheus_client(openmetrics):
    store, registry, rng = make()
    generate = generate_openmetrics if openmetrics else generate_latest
    assert render_registry(registry, openmetrics) == generate(registry)
    for _round in range(3):  # results change, targets come and go: the kept lines follow
        for i in rng.sample(range(40), 12):
            store.record(polled(i, rng))
        store.forget([f"t{rng.randrange(40):04d}"])
        store.register(result(100 + _round))
        store.set_derived(
            "scoring",
            (MetricSpec("egov_score", "gauge", "Score."),),
            [
                Sample("egov_score", {"indicator": "TDGQ"}, 19.5 + _round),
                Sample("egov_target_up", {"target": "x", "system": "portal"}, 1.0),
            ],
        )
        assert render_registry(registry, openmetrics) == generate(registry)


def test_reload_changing_labels_rerenders():
    store, registry, _ = make(5)
    render_registry(registry)
    store.register(result(1, labels={"unit": "H99"}))  # a reload gives the target new labels, same result
    assert render_registry(registry) == generate_latest(registry)
    assert b'target="t0001",unit="H99"' in render_registry(registry)


def test_names_the_fast_path_does_not_write_fall_back():
    store, registry, _ = make(3)
    r = result(0, state="up", started=T0 - 5, duration=1.0)
    r.samples = [Sample("egov_odd", {"1bad-label": "x"}, 1.0)]
    store.record(r)
    assert render_registry(registry) == generate_latest(registry)


def big_store(n: int) -> tuple[ResultStore, CollectorRegistry]:
    store = ResultStore()
    rng = random.Random(1)
    for i in range(n):
        store.register(result(i))
        store.record(polled(i, rng))
    registry = Registry()
    registry.register(StoreCollector(store, lambda: SPECS, clock=time.time))
    return store, registry


def test_large_store_scrape_served_without_waiting_then_refreshed():
    store, registry = big_store(400)
    cache = MetricsCache(registry, store, max_age=0.2)
    first = cache.get(openmetrics=True)
    assert len(first) > MetricsCache.inline_bytes  # large enough to be rendered in the background
    rng = random.Random(2)
    store.record(polled(3, rng))
    t0 = time.monotonic()
    again = cache.get(openmetrics=True)
    assert again is first and time.monotonic() - t0 < 0.05  # the last bytes, at once
    deadline = time.monotonic() + 10
    while cache.get(openmetrics=True) is first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cache.get(openmetrics=True) is not first  # the background render caught up


def test_small_store_scrape_is_always_current():
    store, registry = big_store(5)
    cache = MetricsCache(registry, store, max_age=3600)
    first = cache.get()
    store.record(polled(2, random.Random(3)))
    assert cache.get() is not first
