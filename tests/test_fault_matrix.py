"""The fault matrix: every upstream fault x every collector kind, against a real exporter process.

Two identical simulated provinces, A and B (every system the simulator serves, plus a small ``generic``
system for the generic json/html kinds), run in this process over HTTPS with certificates made at run
time; the exporter runs as a subprocess (``python -m exporter``) with short intervals and timeouts.  Its
targets are the shipped ``config.yaml``'s (one per kind, profile and system) plus, for kinds the shipped
file does not use, those of :func:`_generic` -- once against A (names ending ``.a``) and once against B
(``.b``).  A third, never-faulted simulator serves a ``control`` target.

The rows run in pairs (:data:`SLOTS`): one fault switched on for every system of A, another for every
system of B, at once.  For every target of every kind the test then asserts:

* the first poll that started after the switch ends with the state and ``reason`` of :func:`expected`
  (or ``up`` with schema-drift skips counted) -- polls are told apart on /metrics (:class:`PollLog`);
* ``/metrics`` keeps answering quickly (a scraper thread runs throughout: 95 % under 2 s, none over 10 s,
  bounds that only catch a scrape blocked by a poll) and never errs;
* the control target keeps polling (its poll counter advances) and stays up;
* memory stays bounded (VmRSS/VmHWM of the exporter from /proc), 100 MB bodies included;

then switches both faults off and asserts every target recovers on its own.  A kind of
``collectors.KINDS`` without expected outcomes in :data:`KIND_OUTCOMES`, or a simulated system no target
polls, fails the first test.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import ROOT, ExporterProcess, TargetView, free_port, wait_for

from collectors import KINDS
from exporter.plugin import REASONS
from exporter.simulator import Simulator, World
from exporter.simulator.server import Reply, Request

pytestmark = pytest.mark.e2e

INTERVAL = "2s"
TIMEOUT = "2s"
SLOW_DELAY = 1.1  # seconds the 'slow' row adds to each answer (> DEGRADED_AFTER, < TIMEOUT)
DEGRADED_AFTER = "700ms"  # well above a normal answer's time on a busy 2-core machine
HUGE = 100 * 1000 * 1000  # the 100 MB body
SCRAPE_BOUND = 2.0  # 95% of scrapes faster than this (a scrape blocked by a poll would wait TIMEOUT)
SCRAPE_LIMIT = 10.0  # and none slower (a busy CI machine may stall one scrape now and then)
ROW_TIMEOUT = 60.0
PER_HOST = 8  # scheduler.per_host_concurrency: a province's targets are all on its simulator's host


# ------------------------------------------------------------------------- a generic simulated system


class GenericSystem:
    """A JSON statistics API and an HTML statistics page, for the generic json/html/http kinds.  The page
    has its update date near the top and its table at the end (as real pages do), so half a page keeps
    the first value and loses the second."""

    name = "generic"
    UNITS = (("H99.1", 1234), ("H99.2", 56), ("H99.100", 7))

    def __init__(self, world: World) -> None:
        self.world = world

    def handle(self, req: Request) -> Reply | None:
        if req.path == "/stats.json":
            return Reply.json(
                {
                    "code": "OK",
                    "data": {
                        "received": sum(n for _, n in self.UNITS),
                        "units": [
                            {"code": code, "online": f"{n:,}".replace(",", ".")} for code, n in self.UNITS
                        ],
                    },
                }
            )
        if req.path == "/stats.html":
            rows = "".join(
                f"<tr class='unit'><td class='code'>{c}</td><td class='total'>{n:,}</td></tr>".replace(
                    ",", "."
                )
                for c, n in self.UNITS
            )
            menu = "".join(f"<li><a href='/muc-{i}'>Mục {i}</a></li>" for i in range(40))
            return Reply.html(
                f"<!doctype html><html><head><title>Thống kê hồ sơ</title></head><body>"
                f"<p class='updated'>Cập nhật ngày 27/11/2026</p><ul class='menu'>{menu}</ul>"
                f"<table id='stats'><tr><th>Đơn vị</th><th>Tổng</th></tr>{rows}</table></body></html>"
            )
        if req.path in ("/", ""):
            return Reply.html("<!doctype html><html><body><h1>generic</h1></body></html>")
        return None


def _generic(base: str) -> dict[str, list[dict[str, Any]]]:
    """Targets for kinds the shipped config.yaml does not use (and a condition for the http kind)."""
    return {
        "json": [
            {
                "name": "matrix-json",
                "kind": "json",
                "system": "services",
                "url": f"{base}/generic/stats.json",
                "metrics": [
                    {"name": "egov_matrix_dossiers_received", "path": "$.data.received"},
                    {
                        "name": "egov_matrix_dossiers_online",
                        "path": "$.data.units[*]",
                        "value": "@.online",
                        "labels": {"unit": "@.code"},
                    },
                ],
            }
        ],
        "html": [
            {
                "name": "matrix-html",
                "kind": "html",
                "system": "portal",
                "url": f"{base}/generic/stats.html",
                "metrics": [
                    {"name": "egov_matrix_updated_day", "select": "p.updated", "regex": r"(\d+)/"},
                    {
                        "name": "egov_matrix_unit_dossiers",
                        "select": "table#stats tr.unit",
                        "value": "css:td.total",
                        "labels": {"unit": "css:td.code"},
                    },
                ],
            }
        ],
        "http": [
            {
                "name": "matrix-http-condition",
                "kind": "http",
                "system": "portal",
                "url": f"{base}/generic/stats.html",
                "body_must_match": ["Thống kê hồ sơ"],
            }
        ],
    }


# ---------------------------------------------------------------------------------- expectations


@dataclasses.dataclass(frozen=True)
class Outcome:
    state: str  # up, degraded, down
    reason: str | None = None  # a REASON when down; "skipped" when up with schema-drift skips counted

    def __str__(self) -> str:
        return self.state + (f"/{self.reason}" if self.reason else "")


UP, DEGRADED = Outcome("up"), Outcome("degraded")
SKIPPED = Outcome("up", "skipped")


def down(reason: str) -> Outcome:
    assert reason in REASONS
    return Outcome("down", reason)


#: faults of the transport and of HTTP: the same outcome whatever the kind
TRANSPORT: dict[str, Outcome] = {
    "connection_refused": down("connect"),
    "dns_failure": down("connect"),
    "hang": down("timeout"),
    "trickle": down("timeout"),
    "slow_headers": down("timeout"),
    "slow": DEGRADED,
    "5xx": down("http_status"),
    "503": down("http_status"),
    "429": down("blocked"),
    "waf": down("blocked"),
    "forbidden": down("blocked"),  # down("auth") for a target with credentials: see expected()
    "unauthorized": down("auth"),
    "redirect_loop": down("http_status"),
    "tls_expired": down("tls"),
    "tls_self_signed": down("tls"),
    "tls_wrong_host": down("tls"),
    "tls_expiring": DEGRADED,
    "truncated": down("connect"),
    "huge": down("parse"),
    "huge_chunked": down("parse"),
}

#: faults of the content: what each kind makes of an answer it cannot (fully) read.  A kind missing here
#: fails test_every_kind_and_system_is_in_the_matrix.
CONTENT = ("malformed", "wrong_content_type", "missing_fields", "changed_layout")
KIND_OUTCOMES: dict[str, dict[str, Outcome]] = {
    # availability only: the answer arrived with 2xx (conditions are stripped from the shipped targets)
    "http": {"malformed": UP, "wrong_content_type": UP, "missing_fields": UP, "changed_layout": UP},
    "json": {
        "malformed": down("parse"),
        "wrong_content_type": down("parse"),
        "missing_fields": down("parse"),
        "changed_layout": down("parse"),
    },
    # half a page keeps the update date and loses the table: up, the lost metric counted as skipped
    "html": {
        "malformed": SKIPPED,
        "wrong_content_type": down("parse"),
        "missing_fields": down("parse"),
        "changed_layout": down("parse"),
    },
    # half a page or a new layout still shows some sections and dates: up, what is lost counted as skipped
    "portal": {
        "malformed": SKIPPED,
        "wrong_content_type": down("parse"),
        "missing_fields": down("parse"),
        "changed_layout": SKIPPED,
    },
    # a new JSON layout loses the management APIs' figures but not the gateway version (Carbon's XML)
    "lgsp": {
        "malformed": down("parse"),
        "wrong_content_type": down("parse"),
        "missing_fields": down("parse"),
        "changed_layout": SKIPPED,
    },
    "documents": {
        "malformed": down("parse"),
        "wrong_content_type": down("parse"),
        "missing_fields": down("parse"),
        "changed_layout": down("parse"),
    },
    "services": {
        "malformed": down("parse"),
        "wrong_content_type": down("parse"),
        "missing_fields": down("parse"),
        "changed_layout": down("parse"),
    },
    "qd766": {
        "malformed": down("parse"),
        "wrong_content_type": down("parse"),
        "missing_fields": down("parse"),
        "changed_layout": down("parse"),
    },
}
#: per-target exceptions to the kind's outcome
TARGET_OUTCOMES: dict[str, dict[str, Outcome]] = {
    # body_must_match on the page title: the title survives half a page and a new layout
    "matrix-http-condition": {
        "malformed": UP,
        "wrong_content_type": down("condition"),
        "missing_fields": down("condition"),
        "changed_layout": UP,
    },
}


def _base_name(target: str) -> str:
    """The shipped target's name of a province's copy (``portal-main.a`` -> ``portal-main``)."""
    return target[:-2] if target.endswith((".a", ".b")) else target


def expected(fault: str, target: dict[str, Any]) -> Outcome:
    out = TARGET_OUTCOMES.get(_base_name(target["name"]), {}).get(fault)
    if out is not None:
        return out
    if fault in TRANSPORT:
        if fault == "forbidden" and target.get("auth"):
            return down("auth")
        return TRANSPORT[fault]
    return KIND_OUTCOMES[target["kind"]][fault]


# ------------------------------------------------------------------------------------ the stack


_SIM_URL = re.compile(r"\$\{EGOV_SIM_URL(?::-[^}]*)?\}")


def _with_base(obj: Any, base: str) -> Any:
    if isinstance(obj, str):
        return _SIM_URL.sub(base, obj)
    if isinstance(obj, dict):
        return {k: _with_base(v, base) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_with_base(v, base) for v in obj]
    return obj


def matrix_targets(base: str) -> list[dict[str, Any]]:
    """The shipped config.yaml's targets (with their URLs on ``base``), plus EXTRA targets for kinds it
    lacks; conditions that would turn a content fault into 'condition' are stripped from the shipped
    http targets (the matrix adds its own condition target)."""
    from exporter.simulator import system_classes

    served = {cls.name for cls in system_classes()}
    shipped = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    # a target of a system the simulator does not serve (yet) cannot be faulted: it is left out, and
    # test_every_kind_and_system_is_in_the_matrix fails if that leaves a kind without a target
    targets, seen = [], set()
    for t in shipped["targets"]:
        t = _with_base(t, base)
        if t.get("kind") not in KINDS or _system_of(t["url"]) not in served:
            continue
        # one target per kind, profile and system: more of the same (department sub-sites) add time only
        field = KINDS[t["kind"]].Config.model_fields.get("profile")
        key = (
            t["kind"],
            t.get("profile", field.default if field else None),
            t.get("profile_file"),
            t.get("system") or _system_of(t["url"]),
        )
        if key not in seen:
            seen.add(key)
            targets.append(t)
    for t in targets:
        if t["kind"] == "http":
            t.pop("body_must_match", None)
            t.pop("body_must_not_match", None)
    have = {t["kind"] for t in targets}
    for kind, extra in _generic(base).items():
        if kind not in have or kind == "http":
            targets.extend(extra)
    return targets


def _system_of(url: str) -> str:
    """The simulated system a URL on the simulator points at (its first path segment)."""
    return url.split("/")[3] if url.count("/") >= 3 else ""


def write_config(path: Path, targets: list[dict[str, Any]], control_url: str) -> None:
    """The exporter's configuration: ``targets`` (already named and pointed at their province, with
    their CA file) with the matrix's timings, and the control target."""
    shipped = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    out = []
    for t in targets:
        t = dict(t)
        t.update(interval=INTERVAL, timeout=TIMEOUT, retries=0, jitter=0, degraded_after=DEGRADED_AFTER)
        # fewer requests per poll, so that a poll fits in a few seconds under every fault
        if isinstance(t.get("periods"), list):
            t["periods"] = t["periods"][:1]
        if "pause" in t:
            t["pause"] = "0s"
        if "page_size" in t:
            t["page_size"] = 200
        out.append(t)
    out.append(
        {
            "name": "control",
            "kind": "http",
            "system": "national",
            "url": control_url,
            "interval": INTERVAL,
            "timeout": TIMEOUT,
            "retries": 0,
        }
    )
    cfg = {
        "scheduler": {
            "max_concurrency": 64,
            "per_host_concurrency": PER_HOST,
            "start_spread": "200ms",
            "max_backoff": "2s",
        },
        "defaults": {"labels": shipped.get("defaults", {}).get("labels", {})},
        "history": {"enabled": False},
        "targets": out,
    }
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")


def province_targets(province: str, sim: Simulator) -> list[dict[str, Any]]:
    """The matrix targets against one simulated province, named ``<name>.<province>``."""
    out = []
    for t in matrix_targets(sim.base_url):
        t = {**t, "name": f"{t['name']}.{province}"}
        t["tls"] = {**t.get("tls", {}), "ca_file": sim.tls.ca_file}
        out.append(t)
    return out


class Scraper(threading.Thread):
    """Scrapes /metrics every 100 ms for the whole matrix, keeping each scrape's latency and errors."""

    def __init__(self, exporter: ExporterProcess) -> None:
        super().__init__(name="matrix-scraper", daemon=True)
        self.exporter = exporter
        self.samples: list[tuple[float, float, str | None]] = []  # (when, seconds, error)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            t0 = time.monotonic()
            try:
                status, body = self.exporter.get("/metrics", timeout=10)
                error = None if status == 200 and b"egov_target_up" in body else f"HTTP {status}"
            except OSError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.samples.append((t0, time.monotonic() - t0, error))

    def window(self, start: float, end: float) -> list[tuple[float, float, str | None]]:
        return [s for s in self.samples if start <= s[0] <= end]


@dataclasses.dataclass
class Province:
    """One simulated province: its simulator (port kept across a stop) and its targets."""

    name: str
    sim: Simulator
    port: int
    targets: list[dict[str, Any]]

    @property
    def names(self) -> list[str]:
        return [t["name"] for t in self.targets]


@dataclasses.dataclass
class Stack:
    provinces: dict[str, Province]
    control: Simulator
    config: Path
    exporter: ExporterProcess
    scraper: Scraper
    tmp: Path
    results: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    not_up: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [n for p in self.provinces.values() for n in p.names]

    def targets(self) -> list[dict[str, Any]]:
        return [t for p in self.provinces.values() for t in p.targets]

    def write(self, targets: list[dict[str, Any]] | None = None) -> None:
        write_config(self.config, targets or self.targets(), self.control.base_url + "/generic/")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("matrix")
    from exporter.simulator import system_classes

    provinces: dict[str, Province] = {}
    control = Simulator(World(), systems=[GenericSystem])
    control.start("127.0.0.1", 0)
    for name in ("a", "b"):
        sim = Simulator(World(speed=60), systems=[*system_classes(), GenericSystem])
        sim.enable_tls(str(tmp / f"tls-{name}"))
        port = free_port()
        sim.start("127.0.0.1", port)
        provinces[name] = Province(name, sim, port, province_targets(name, sim))
    config = tmp / "config.yaml"
    st = Stack(provinces, control, config, None, None, tmp)  # type: ignore[arg-type]
    st.write()
    st.exporter = ExporterProcess.serve(config, tmp / "exporter.log", "--log.level", "info")
    st.scraper = Scraper(st.exporter)
    st.scraper.start()
    try:
        try:
            wait_for(lambda: all_up(st), 60, "every matrix target up before the matrix")
        except AssertionError:
            raise AssertionError(
                f"targets not up at start: {st.not_up}\n{st.exporter.output()[-2000:]}"
            ) from None
        st.results["baseline"] = {"rss_kib": st.exporter.rss_kib(), "hwm_kib": st.exporter.peak_rss_kib()}
        yield st
    finally:
        st.scraper.stop.set()
        st.scraper.join(5)
        st.exporter.stop()
        for p in provinces.values():
            p.sim.stop()
        control.stop()


def all_up(st: Stack) -> TargetView | None:
    view = st.exporter.targets()
    st.not_up = {n: view.state.get(n) for n in [*st.names, "control"] if view.state.get(n) != "up"}
    return view if not st.not_up else None


# ------------------------------------------------------------------------------------ the faults


Switch = Callable[[Stack, Province], None]


def _sim_fault(mode: str, **params: Any) -> tuple[Switch, Switch]:
    def on(st: Stack, p: Province) -> None:
        assert p.sim.set_fault("all", mode, **params) is None

    def off(st: Stack, p: Province) -> None:
        assert p.sim.set_fault("all", "none") is None

    return on, off


def _cert(mode: str) -> tuple[Switch, Switch]:
    def on(st: Stack, p: Province) -> None:
        assert p.sim.set_cert(mode) is None

    def off(st: Stack, p: Province) -> None:
        assert p.sim.set_cert("good") is None

    return on, off


def _refuse_on(st: Stack, p: Province) -> None:
    """The server goes away: nothing listens on its port, its open connections are closed."""
    server = p.sim.server
    assert server is not None
    server.shutdown()
    server.server_close()
    server.close_connections()


def _refuse_off(st: Stack, p: Province) -> None:
    p.sim.start("127.0.0.1", p.port)


def _reload(st: Stack, targets: list[dict[str, Any]]) -> None:
    st.write(targets)
    status, body = st.exporter.get("/-/reload", method="POST", data=b"")
    assert status == 200, body


def _dns_on(st: Stack, p: Province) -> None:
    """The province's host name stops resolving (a name under .invalid never does, RFC 6761)."""
    good = f"127.0.0.1:{p.port}"
    moved = json.loads(json.dumps(p.targets).replace(good, f"egov-sim.invalid:{p.port}"))
    _reload(st, [t for q in st.provinces.values() for t in (moved if q is p else q.targets)])


def _dns_off(st: Stack, p: Province) -> None:
    _reload(st, st.targets())


FAULTS: dict[str, tuple[Switch, Switch]] = {
    "connection_refused": (_refuse_on, _refuse_off),
    "dns_failure": (_dns_on, _dns_off),
    "hang": _sim_fault("hang"),
    "trickle": _sim_fault("trickle"),
    "slow_headers": _sim_fault("slow_headers"),
    "slow": _sim_fault("slow", delay=SLOW_DELAY),
    "5xx": _sim_fault("5xx"),
    "503": _sim_fault("503"),
    "429": _sim_fault("429"),
    "waf": _sim_fault("waf"),
    "forbidden": _sim_fault("forbidden"),
    "unauthorized": _sim_fault("unauthorized"),
    "redirect_loop": _sim_fault("redirect_loop"),
    "tls_expired": _cert("expired"),
    "tls_self_signed": _cert("self_signed"),
    "tls_wrong_host": _cert("wrong_host"),
    "tls_expiring": _cert("expiring"),
    "malformed": _sim_fault("malformed"),
    "truncated": _sim_fault("truncated"),
    "huge": _sim_fault("huge", size=HUGE),
    "huge_chunked": _sim_fault("huge", size=HUGE, chunked=1),
    "wrong_content_type": _sim_fault("wrong_content_type"),
    "missing_fields": _sim_fault("missing_fields"),
    "changed_layout": _sim_fault("changed_layout"),
}

#: the rows in pairs: (the fault of province A, the fault of province B), switched on at once
SLOTS: list[tuple[str, str]] = [
    ("connection_refused", "hang"),
    ("dns_failure", "trickle"),
    ("slow_headers", "5xx"),
    ("503", "slow"),
    ("429", "tls_expired"),
    ("tls_self_signed", "waf"),
    ("forbidden", "tls_wrong_host"),
    ("tls_expiring", "unauthorized"),
    ("redirect_loop", "malformed"),
    ("huge", "truncated"),
    ("wrong_content_type", "huge_chunked"),
    ("missing_fields", "changed_layout"),
]


# ------------------------------------------------------------------------------------- the tests


def test_every_kind_and_system_is_in_the_matrix():
    """A new kind or simulated system cannot skip the matrix: it needs a target and expected outcomes."""
    from exporter.simulator import system_classes

    targets = matrix_targets("https://127.0.0.1:1")
    kinds = {t["kind"] for t in targets}
    missing_target = sorted(set(KINDS) - kinds)
    assert not missing_target, f"kinds with no target in config.yaml or EXTRA_TARGETS: {missing_target}"
    missing_row = sorted(k for k in KINDS if set(CONTENT) - set(KIND_OUTCOMES.get(k, {})))
    assert not missing_row, f"kinds without expected outcomes in KIND_OUTCOMES: {missing_row}"
    served = {cls.name for cls in system_classes()} | {GenericSystem.name}
    polled = {_system_of(t["url"]) for t in targets}
    assert served <= polled, f"simulated systems no matrix target polls: {sorted(served - polled)}"
    assert set(FAULTS) == set(TRANSPORT) | set(CONTENT)
    paired = [f for slot in SLOTS for f in slot]
    assert sorted(paired) == sorted(FAULTS), "every fault in exactly one slot"
    for fault in FAULTS:  # every target has an outcome for every fault
        for t in targets:
            assert isinstance(expected(fault, t), Outcome)


class PollLog:
    """Each target's polls as /metrics reveals them.

    Between two scrapes in which a target's poll counter grew by one, the failure reason whose counter
    grew (if any), the state and the skip counter's growth are that one poll's outcome, and
    egov_target_last_poll_timestamp_seconds is when it started.  When it grew by k > 1 (a slow scrape),
    the last of those polls is still known when all k had one outcome: one reason grew by k, or none grew
    and the state is up or degraded (with skips: when all k started after the switch, ``since``).  So a
    row is decided by the first poll that started after the fault was switched on, never by one that
    straddled the switch."""

    def __init__(self, view: TargetView, since: float) -> None:
        self.prev = view
        self.since = since
        self.polls: dict[
            str, list[tuple[float, Outcome, float]]
        ] = {}  # target -> [(started, outcome, skips)]

    def update(self, view: TargetView) -> None:
        prev = self.prev
        for name, n in view.polls.items():
            k = n - prev.polls.get(name, n)
            if k < 1:
                continue
            grew = {r: view.failures[name][r] - prev.failures.get(name, {}).get(r, 0) for r in REASONS}
            grew = {r: g for r, g in grew.items() if g}
            skips = view.skips.get(name, 0) - prev.skips.get(name, 0)
            state = view.state.get(name, "unknown")
            if state == "down" and len(grew) == 1 and list(grew.values())[0] == k:
                outcome = Outcome(state, next(iter(grew)))
            elif (
                state in ("up", "degraded")
                and not grew
                and (k == 1 or not skips or prev.started.get(name, 0) >= self.since)
            ):
                # (k polls all after the switch meet the same fault: skips in one are skips in all)
                outcome = Outcome(state, "skipped" if skips and state == "up" else None)
            else:
                continue  # several polls with different outcomes: the next scrape will tell
            self.polls.setdefault(name, []).append((view.started.get(name, 0.0), outcome, skips))
        self.prev = view

    def first_after(self, name: str, since: float) -> Outcome | None:
        return next((o for started, o, _ in self.polls.get(name, ()) if started >= since), None)


def _pending(log: PollLog, want: dict[str, Outcome], since: float) -> dict[str, str]:
    """Targets whose first poll after ``since`` is not known yet or not the expected outcome."""
    out = {}
    for name, exp in want.items():
        got = log.first_after(name, since)
        if got != exp:
            out[name] = str(got) if got else "no poll attributed yet"
    return out


@pytest.mark.parametrize("slot", SLOTS, ids=["|".join(slot) for slot in SLOTS])
def test_faults(stack: Stack, slot: tuple[str, str]):
    st = stack
    faults = dict(zip(st.provinces, slot))  # province -> fault
    want = {t["name"]: expected(faults[p.name], t) for p in st.provinces.values() for t in p.targets}
    try:
        before = wait_for(lambda: all_up(st), ROW_TIMEOUT, f"every target up before {slot}")
    except AssertionError:
        raise AssertionError(f"targets not up before {slot}: {st.not_up}") from None
    t_on = time.monotonic()
    hwm_before = st.exporter.peak_rss_kib()
    switched = []
    try:
        for p in st.provinces.values():
            FAULTS[faults[p.name]][0](st, p)
            switched.append(p)
        wall_on = time.time()  # polls that started after this met the faults from their first byte
        log = PollLog(before, wall_on)
        seen: dict[str, Any] = {}

        def reached() -> TargetView | None:
            view = st.exporter.targets()
            assert view.state.get("control") == "up", (
                f"control target {view.state.get('control')} under {slot}"
            )
            log.update(view)
            seen["pending"] = _pending(log, want, wall_on)
            return view if not seen["pending"] else None

        try:
            view = wait_for(reached, ROW_TIMEOUT, f"the outcomes of {slot}", step=0.25)
        except AssertionError:
            raise AssertionError(
                f"{slot}: first poll after the switch not the expected outcome: "
                + json.dumps(
                    {n: f"{faults[n[-1]]}: want {want[n]}, got {p}" for n, p in seen["pending"].items()},
                    ensure_ascii=False,
                    indent=1,
                )
            ) from None
        t_reached = time.monotonic()
        rss_under_fault = st.exporter.rss_kib()
        hwm_under_fault = st.exporter.peak_rss_kib()
    finally:
        for p in switched:
            FAULTS[faults[p.name]][1](st, p)
    t_off, wall_off = time.monotonic(), time.time()

    def recovered() -> TargetView | None:
        v = st.exporter.targets()
        return (
            v if all(v.state.get(n) == "up" and v.started.get(n, 0) >= wall_off for n in st.names) else None
        )

    try:
        after = wait_for(recovered, ROW_TIMEOUT, f"recovery of every target after {slot}", step=0.25)
    except AssertionError:
        view = st.exporter.targets()
        raise AssertionError(
            f"no recovery after {slot}: "
            f"{ {n: view.state.get(n) for n in st.names if view.state.get(n) != 'up'} }"
        ) from None
    t_recovered = time.monotonic()

    scrapes = st.scraper.window(t_on, t_recovered)
    errors = [s for s in scrapes if s[2]]
    assert scrapes and not errors, f"/metrics failed under {slot}: {errors[:3]}"
    latencies = sorted(s[1] for s in scrapes)
    slowest, p95 = latencies[-1], latencies[int(0.95 * (len(latencies) - 1))]
    # a scrape that waits for a poll would wait up to the poll's timeout in every row with a slow upstream:
    # most scrapes must be quick, and none slower than a stalled poll could explain
    assert p95 < SCRAPE_BOUND and slowest < SCRAPE_LIMIT, (
        f"/metrics p95 {p95:.2f}s, max {slowest:.2f}s under {slot}: blocked by a poll?"
    )
    control_polls = after.polls["control"] - before.polls["control"]
    assert control_polls >= 2, f"the control target stopped polling under {slot}"
    for p in st.provinces.values():
        st.results[faults[p.name]] = {
            "province": p.name,
            "paired_with": faults["b" if p.name == "a" else "a"],
            "outcomes": {_base_name(n): str(want[n]) for n in p.names},
            "seconds_to_outcome": round(t_reached - t_on, 2),
            "seconds_to_recover": round(t_recovered - t_off, 2),
            "scrapes": len(scrapes),
            "scrape_max_ms": round(slowest * 1000, 1),
            "scrape_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "scrape_p95_ms": round(p95 * 1000, 1),
            "control_polls": control_polls,
            "rss_kib": rss_under_fault,
            "hwm_before_kib": hwm_before,
            "hwm_kib": hwm_under_fault,
        }
    if any(f.startswith("huge") for f in slot):
        # a body announced larger than max_body_size (10 MiB) is refused unread; one without a length is
        # read until the cap: at most per_host_concurrency polls per simulator hold up to 10 MiB each,
        # whatever the number of targets -- never one 100 MB body per target
        grew_mib = (hwm_under_fault - hwm_before) / 1024
        bound = PER_HOST * 10 * 1.5 + 32
        assert grew_mib < bound, f"peak RSS grew {grew_mib:.0f} MiB under 100 MB bodies (bound {bound:.0f})"


def test_memory_bounded_and_no_traceback(stack: Stack):
    """After every row: memory within a generous bound of the start, and nothing crashed in the log.
    Writes the matrix report (rows x outcome, timings, scrape latency, memory) first."""
    st = stack
    base = st.results["baseline"]
    end_rss = st.exporter.rss_kib()
    report = {
        "baseline": base,
        "end_rss_kib": end_rss,
        "peak_rss_kib": st.exporter.peak_rss_kib(),
        "targets": sorted({_base_name(n) for n in st.names}),
        **st.results,
    }
    out = st.tmp / "fault-matrix.json"
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"\nfault matrix report: {out}")
    for fault, r in st.results.items():
        if fault == "baseline":
            continue
        outcomes = ", ".join(sorted({f"{n}={o}" for n, o in r["outcomes"].items()}))
        print(
            f"{fault:20} {r['seconds_to_outcome']:5.1f}s -> outcome, recovered in {r['seconds_to_recover']:4.1f}s, "
            f"scrape p50 {r['scrape_p50_ms']:6.1f} ms max {r['scrape_max_ms']:6.1f} ms, "
            f"RSS {r['rss_kib'] // 1024} MiB, peak {r['hwm_kib'] // 1024} MiB | {outcomes}"
        )
    rows = [r for k, r in st.results.items() if k != "baseline"]
    assert len(rows) == len(FAULTS), "run the whole matrix (the rows share one exporter)"
    assert (end_rss - base["rss_kib"]) / 1024 < 150, f"RSS grew from {base['rss_kib']} to {end_rss} KiB"
    log = st.exporter.output()
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
    assert st.exporter.alive()
