"""The scheduler, driven with a fake collector kind (registered through the ``kinds`` dict) that records
when and how many polls run at once: start spread, isolation of failures, concurrency limits, backoff,
and reloads."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit

import pytest
from waits import wait_until

from exporter.config import TargetBase, parse_config
from exporter.plugin import Collected, CollectError, Collector, Sample
from exporter.results import ResultStore
from exporter.scheduler import Scheduler, run_collector

T0 = 1_800_000_000.0


class Recorder:
    """What the fake collectors did: calls, concurrency (total and per host), first start, closes."""

    def __init__(self, hold: float = 0.0) -> None:
        self.hold = hold
        self.lock = threading.Lock()
        self.running = 0
        self.running_host: Counter = Counter()
        self.max_running = 0
        self.max_host: Counter = Counter()
        self.calls: Counter = Counter()
        self.first_start: dict[str, float] = {}
        self.behaviour: dict[str, Callable[[], Collected]] = {}
        self.closed: list[str] = []
        self.created: Counter = Counter()

    def collect(self, target) -> Collected:
        host = urlsplit(target.url).netloc
        with self.lock:
            self.running += 1
            self.running_host[host] += 1
            self.max_running = max(self.max_running, self.running)
            self.max_host[host] = max(self.max_host[host], self.running_host[host])
            self.calls[target.name] += 1
            self.first_start.setdefault(target.name, time.monotonic())
            n = self.calls[target.name]
        try:
            if self.hold:
                time.sleep(self.hold)
            fn = self.behaviour.get(target.name)
            if fn is not None:
                return fn()
            return Collected(samples=[Sample("egov_fake_polls", {}, n)])
        finally:
            with self.lock:
                self.running -= 1
                self.running_host[host] -= 1


def fake_kind(rec: Recorder) -> type[Collector]:
    class FakeConfig(TargetBase):
        kind: Literal["fake"] = "fake"

    class FakeCollector(Collector):
        kind = "fake"
        summary = "test double"
        Config = FakeConfig
        default_system = "portal"

        def __init__(self, target, ctx) -> None:
            super().__init__(target, ctx)
            if target.name.startswith("unstartable"):
                raise ValueError("cannot read profile gone.yaml")
            if target.name.startswith("cannot-start"):
                raise RuntimeError("the plugin's own check failed")
            rec.created[target.name] += 1

        def collect(self) -> Collected:
            return rec.collect(self.target)

        def close(self) -> None:
            rec.closed.append(self.target.name)

    return FakeCollector


def config(kind, targets: list[dict], **scheduler):
    sched = {"start_spread": "0s", **scheduler}
    items = [
        {
            "kind": "fake",
            "url": f"http://{t.pop('host', 'h1.example')}/{t['name']}",
            "interval": "1h",
            "jitter": 0,
            **t,
        }
        for t in targets
    ]
    return parse_config({"scheduler": sched, "targets": items}, kinds={"fake": kind}, env={})


class Harness:
    def __init__(self, hold: float = 0.0, clock=time.time) -> None:
        self.rec = Recorder(hold)
        self.kind = fake_kind(self.rec)
        self.store = ResultStore()
        self.sched = Scheduler(self.store, {"fake": self.kind}, clock=clock, rng=random.Random(7))

    def config(self, targets, **scheduler):
        return config(self.kind, [dict(t) for t in targets], **scheduler)

    def polled(self, names, times: int = 1, timeout: float = 5.0) -> bool:
        return wait_until(lambda: all(self.store.polls.get(n, 0) >= times for n in names), timeout, 0.01)


@pytest.fixture()
def harness():
    made: list[Harness] = []

    def make(**kw) -> Harness:
        h = Harness(**kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.sched.stop(timeout=2)


# ---------------------------------------------------------------------------------- first polls


def test_every_target_polled_soon_even_with_long_intervals(harness):
    h = harness()
    names = [f"t{i}" for i in range(20)]
    h.sched.apply(
        h.config([{"name": n, "interval": "1d", "timeout": "10s"} for n in names], start_spread="1s")
    )
    start = time.monotonic()
    h.sched.start()
    assert h.polled(names, timeout=5.0)
    firsts = sorted(h.rec.first_start.values())
    assert firsts[-1] - start < 1.0 + 2.0  # within the spread (and slack), not over the day-long interval
    assert firsts[-1] - firsts[0] > 0.3  # spread out, not all at once
    assert all(h.store.get(n).state == "up" for n in names)


# ------------------------------------------------------------------------------------- isolation


def test_exception_in_one_target_does_not_touch_another(harness):
    h = harness()

    def boom() -> Collected:
        raise RuntimeError("unexpected upstream shape")

    h.rec.behaviour["broken"] = boom
    h.sched.apply(h.config([{"name": "broken"}, {"name": "fine"}]))
    h.sched.start()
    assert h.polled(["broken", "fine"])
    broken, fine = h.store.get("broken"), h.store.get("fine")
    assert (broken.state, broken.reason) == ("down", "other")
    assert "RuntimeError: unexpected upstream shape" in broken.message
    assert (fine.state, fine.reason) == ("up", None)
    assert [(s.name, s.value) for s in fine.samples] == [("egov_fake_polls", 1.0)]
    snap = h.store.snapshot()
    assert snap["failures"]["broken"]["other"] == 1 and sum(snap["failures"]["fine"].values()) == 0


def test_collect_error_reason_and_retry_after_kept(harness):
    h = harness()

    def refused() -> Collected:
        raise CollectError("blocked", "WAF page", retry_after=42.0)

    h.rec.behaviour["waf"] = refused
    h.sched.apply(h.config([{"name": "waf"}]))
    h.sched.start()
    assert h.polled(["waf"])
    r = h.store.get("waf")
    assert (r.state, r.reason, r.message, r.retry_after) == ("down", "blocked", "WAF page", 42.0)


def test_run_collector_never_raises_and_normalises_state():
    rec = Recorder()
    kind = fake_kind(rec)
    cfg = config(kind, [{"name": "a"}, {"name": "b"}])
    rec.behaviour["a"] = lambda: Collected(state="weird")
    rec.behaviour["b"] = lambda: (_ for _ in ()).throw(KeyError("data"))

    class Client:
        stats = {"retries": 0}

    results = [run_collector(kind(t, None), t, Client(), clock=lambda: T0) for t in cfg.targets]
    assert [(r.state, r.reason, r.started) for r in results] == [("up", None, T0), ("down", "other", T0)]


# ----------------------------------------------------------------------------------- concurrency


def test_per_host_concurrency_respected(harness):
    h = harness(hold=0.15)
    names = [f"t{i}" for i in range(8)]
    targets = [{"name": n, "host": "h1.example"} for n in names] + [{"name": "other", "host": "h2.example"}]
    h.sched.apply(h.config(targets, per_host_concurrency=2, max_concurrency=16))
    h.sched.start()
    assert h.polled(names + ["other"])
    assert h.rec.max_host["h1.example"] == 2
    assert h.rec.max_running >= 2  # other hosts were not held up by the busy one


def test_global_concurrency_respected(harness):
    h = harness(hold=0.15)
    targets = [
        {"name": f"{host}-{i}", "host": host}
        for host in ("a.example", "b.example", "c.example")
        for i in range(4)
    ]
    h.sched.apply(h.config(targets, per_host_concurrency=4, max_concurrency=3))
    h.sched.start()
    assert h.polled([t["name"] for t in targets])
    assert h.rec.max_running == 3


# --------------------------------------------------------------------------------------- backoff


def test_retry_after_delays_next_poll(harness):
    h = harness(clock=lambda: T0)

    def slow_down() -> Collected:
        raise CollectError("http_status", "HTTP 503", retry_after=30.0)

    h.rec.behaviour["busy"] = slow_down
    h.sched.apply(
        h.config(
            [
                {"name": "busy", "interval": "200ms", "timeout": "100ms"},
                {"name": "calm", "interval": "200ms", "timeout": "100ms"},
            ]
        )
    )
    h.sched.start()
    assert h.polled(["busy", "calm"])
    assert h.store.get("busy").next_due == T0 + 30.0
    assert h.polled(["calm"], times=4)  # four intervals of the other target have passed...
    assert h.rec.calls["busy"] == 1  # ...while the one that was told to wait was not polled again


def test_blocked_backs_off_exponentially_then_resets(harness):
    h = harness(clock=lambda: T0)
    delays: list[float] = []
    h.store.add_listener(lambda name: delays.append(round(h.store.get(name).next_due - T0, 6)))
    blocked = {"on": True}

    def waf() -> Collected:
        if blocked["on"]:
            raise CollectError("blocked", "HTTP 429")
        return Collected()

    h.rec.behaviour["portal"] = waf
    h.sched.apply(h.config([{"name": "portal", "interval": "100ms", "timeout": "50ms"}], max_backoff="400ms"))
    h.sched.start()
    assert h.polled(["portal"], times=4)
    blocked["on"] = False
    n = h.store.polls["portal"]
    assert h.polled(["portal"], times=n + 1)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4]  # doubling, capped at max_backoff
    assert delays[n] == 0.1  # a success resets the backoff


# ---------------------------------------------------------------------------------------- reload


def test_reload_keeps_unchanged_and_forgets_removed(harness):
    h = harness()
    h.sched.apply(h.config([{"name": "keep"}, {"name": "drop"}, {"name": "change"}]))
    h.sched.start()
    assert h.polled(["keep", "drop", "change"])
    kept = h.store.get("keep")

    h.sched.apply(h.config([{"name": "keep"}, {"name": "change", "interval": "2h"}, {"name": "new"}]))
    assert h.polled(["new", "change"], times=1)
    assert h.store.get("drop") is None and "drop" not in h.store.snapshot()["failures"]
    assert h.store.get("keep") is kept and h.store.polls["keep"] == 1
    # built again to re-read what it reads (its profile), found unchanged: the running collector and its
    # schedule stay, the new one is closed unused
    assert h.rec.created["keep"] == 2 and h.rec.closed.count("keep") == 1
    assert sorted(h.rec.closed) == ["change", "drop", "keep"]  # replaced and removed collectors are closed
    assert h.rec.created["change"] == 2
    assert wait_until(lambda: h.store.polls.get("change") == 2, 5.0, 0.01)  # changed target polled anew
    assert [t.name for t in h.sched.targets()] == ["keep", "change", "new"]
    assert h.rec.calls["keep"] == 1


def test_reload_with_a_collector_that_cannot_start_keeps_the_running_config(harness):
    from exporter.config import ConfigError

    h = harness()
    first = h.config([{"name": "keep"}, {"name": "change"}])
    h.sched.apply(first)
    h.sched.start()
    assert h.polled(["keep", "change"])
    with pytest.raises(ConfigError) as err:
        h.sched.apply(
            h.config(
                [
                    {"name": "keep"},
                    {"name": "change", "interval": "2h"},
                    {"name": "unstartable"},
                    {"name": "cannot-start"},
                ]
            )
        )
    # every target that cannot start, named by its place: a ValueError is the configuration's (or its
    # profile's) mistake; anything else is the kind's own failure
    assert err.value.messages == [
        "targets[2]: cannot read profile gone.yaml",
        "targets[3]: the fake collector cannot start: RuntimeError: the plugin's own check failed",
    ]
    # nothing half-applied: the same targets, schedule and config; the collectors built for it closed
    assert h.sched.config is first
    assert [(t.name, t.interval) for t in h.sched.targets()] == [("keep", 3600.0), ("change", 3600.0)]
    assert h.rec.created["change"] == 2 and sorted(h.rec.closed) == ["change", "keep"]
    assert h.store.get("unstartable") is None
    assert h.sched.poll_now("keep").state == "up"  # the running config still polls


def test_poll_now_runs_configured_target_only(harness):
    h = harness()
    h.sched.apply(h.config([{"name": "a"}]))
    result = h.sched.poll_now("a", trace=[])
    assert result is not None and result.state == "up" and h.rec.calls["a"] == 1
    assert h.store.polls["a"] == 0  # /probe results are not stored
    assert h.sched.poll_now("nope") is None and "nope" not in h.rec.calls


def test_down_poll_keeps_last_good_values(harness):
    h = harness()
    state = {"fail": False}

    def flaky() -> Collected:
        if state["fail"]:
            raise CollectError("timeout", "no answer")
        return Collected(samples=[Sample("egov_fake_value", {}, 7.0)])

    h.rec.behaviour["f"] = flaky
    h.sched.apply(h.config([{"name": "f", "interval": "100ms", "timeout": "50ms"}]))
    h.sched.start()
    assert h.polled(["f"])
    good = h.store.get("f").last_success
    state["fail"] = True
    assert wait_until(lambda: h.store.get("f").state == "down", 5.0, 0.01)
    r = h.store.get("f")
    assert r.reason == "timeout" and r.last_success == good
    assert [(s.name, s.value) for s in r.samples] == [("egov_fake_value", 7.0)]


def test_failing_store_listener_does_not_stop_polling(harness):
    h = harness()

    def bad_listener(name: str) -> None:
        raise ValueError("a reader of the results failed")

    h.store.add_listener(bad_listener)
    h.sched.apply(h.config([{"name": "a", "interval": "100ms", "timeout": "50ms"}]))
    h.sched.start()
    assert h.polled(["a"], times=3)  # the target keeps its schedule and its worker slot is released


def test_lag_counts_time_spent_waiting_for_a_host_slot(harness):
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    h = harness(hold=0.2)
    h.sched = Scheduler(h.store, {"fake": h.kind}, rng=random.Random(7), registry=registry)
    names = ["a", "b", "c"]
    h.sched.apply(h.config([{"name": n} for n in names], per_host_concurrency=1))
    h.sched.start()
    assert h.polled(names)
    assert registry.get_sample_value("egov_exporter_scheduler_lag_seconds_count") == 3
    # b waited for a (>= 0.2 s), c for a and b (>= 0.4 s)
    assert registry.get_sample_value("egov_exporter_scheduler_lag_seconds_sum") >= 0.5


# ---------------------------------------------------------------- slow lane and overruns, on a fake clock


class FakeClock:
    """The scheduler's monotonic time, moved by the test (the scheduler is not started: the test calls
    ``tick`` as the timer thread would)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gate(rec: Recorder, name: str) -> threading.Event:
    """Make ``name``'s polls wait until the returned event is set (a hanging upstream)."""
    release = threading.Event()
    rec.behaviour[name] = lambda: (release.wait(10), Collected())[1]
    return release


def lanes(h: Harness) -> dict[str, bool | None]:
    """The lane of each running poll (True: slow), None for targets not running."""
    with h.sched._cond:
        return {n: (e.lane if e.running else None) for n, e in h.sched._entries.items()}


def fake_clock_harness(harness) -> tuple[Harness, FakeClock]:
    clock = FakeClock()
    h = harness()
    h.sched.monotonic = clock
    return h, clock


def test_a_poll_that_overruns_moves_to_the_slow_lane_and_frees_its_fast_slot(harness):
    h, clock = fake_clock_harness(harness)
    release = gate(h.rec, "hang")
    h.sched.apply(
        h.config(
            [{"name": "hang", "host": "a.example"}, {"name": "quick", "host": "b.example"}], max_concurrency=1
        )
    )
    h.sched.tick()  # both due now; one fast slot: "hang" starts, "quick" waits for the slot
    assert wait_until(lambda: h.rec.calls["hang"] == 1, 5, 0.01)
    assert lanes(h) == {"hang": False, "quick": None} and h.rec.calls["quick"] == 0

    clock.now += h.sched.overrun_after() - 0.01  # not yet overrunning: still holding the fast slot
    h.sched.tick()
    assert lanes(h) == {"hang": False, "quick": None}

    clock.now += 0.02  # past overrun_after(): the poll moves to the slow lane and "quick" gets the slot
    h.sched.tick()
    assert h.polled(["quick"])
    assert lanes(h)["hang"] is True and h.rec.calls["hang"] == 1
    assert h.sched._running == {False: 0, True: 1}
    release.set()
    assert h.polled(["hang"])
    assert h.sched._running == {False: 0, True: 0}


def test_overrun_after_follows_the_usual_poll_duration_within_its_bounds(harness):
    from exporter.scheduler import OVERRUN_MIN, SLOW_POLL

    h, _ = fake_clock_harness(harness)
    assert h.sched.overrun_after() == OVERRUN_MIN  # no poll measured yet
    h.sched._usual = 0.2
    assert h.sched.overrun_after() == pytest.approx(1.0)  # 5 x the usual 0.2 s
    h.sched._usual = 10.0
    assert h.sched.overrun_after() == SLOW_POLL  # never later than a slow poll


def test_a_target_whose_poll_timed_out_is_polled_in_the_slow_lane_next_time(harness):
    h, clock = fake_clock_harness(harness)
    h.rec.behaviour["flaky"] = lambda: (_ for _ in ()).throw(CollectError("timeout", "no answer within 10s"))
    h.sched.apply(h.config([{"name": "flaky", "interval": "1m"}]))
    h.sched.tick()
    assert h.polled(["flaky"])
    assert h.store.get("flaky").reason == "timeout"

    release = gate(h.rec, "flaky")
    clock.now += 61  # due again (interval 1 m, no jitter): into the slow lane's queue
    h.sched.tick()
    assert wait_until(lambda: h.rec.calls["flaky"] == 2, 5, 0.01)
    assert lanes(h) == {"flaky": True} and h.sched._running == {False: 0, True: 1}
    release.set()
    assert h.polled(["flaky"], times=2)
    # its next poll answered quickly: back to the fast lane after that
    release = gate(h.rec, "flaky")
    clock.now += 61
    h.sched.tick()
    assert wait_until(lambda: h.rec.calls["flaky"] == 3, 5, 0.01)
    assert lanes(h) == {"flaky": False}
    release.set()


def test_slow_lane_polls_never_take_the_fast_slots(harness):
    h, clock = fake_clock_harness(harness)
    releases = [gate(h.rec, f"slow{i}") for i in range(2)]
    targets = [{"name": f"slow{i}", "host": f"s{i}.example"} for i in range(2)]
    h.sched.apply(h.config([*targets, {"name": "fast", "host": "f.example"}], max_concurrency=2))
    for i in range(2):  # mark both as slow, as a timed-out or long poll does
        h.sched._entries[f"slow{i}"].slow = True
    h.sched.tick()
    # both slow polls run in the slow lane (its own 2 slots); the fast check is not held up behind them
    assert h.polled(["fast"])
    assert wait_until(lambda: h.rec.calls["slow0"] == h.rec.calls["slow1"] == 1, 5, 0.01)
    assert lanes(h) == {"slow0": True, "slow1": True, "fast": None}
    for r in releases:
        r.set()
    assert h.polled(["slow0", "slow1"])
