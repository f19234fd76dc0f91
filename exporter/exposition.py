"""Exposition: the result cache rendered as Prometheus text / OpenMetrics.

Every series here is served from the cache the scheduler fills in the background, never by polling an
upstream during a scrape.  Rendering happens once per change of the cache (and at most once a second
for the age series); scrapes in between are served the rendered bytes.

The store's series are rendered by :meth:`StoreCollector.render`, which keeps each target's sample lines
until that target's result changes, so a render costs the targets polled since the last one plus a join;
the text is byte for byte what ``prometheus_client`` writes (``StoreCollector.collect`` still yields the
families, for ``registry.get_sample_value`` and any other reader).  When a render is slow (a large store),
:class:`MetricsCache` renders in a background thread, once a second at most while scrapes come, and a
scrape is answered with the last rendered bytes at once instead of waiting for the next render.
"""

from __future__ import annotations

import bisect
import logging
import math
import platform
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector as PromCollector
from prometheus_client.utils import floatToGoString

from exporter import __version__
from exporter.plugin import REASONS, STATES, MetricSpec, Sample
from exporter.results import ResultStore, TargetResult

log = logging.getLogger("egov.exposition")

CACHE_NOTE = " Served from the poll cache, not fetched at scrape time."

#: health series every target has, whatever its kind
HEALTH_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "egov_target_up",
        "gauge",
        "1 when the target's last poll succeeded (up or degraded), else 0; absent before its first poll "
        "(state unknown), so a restart is no outage." + CACHE_NOTE,
        vi="hệ thống hoạt động",
    ),
    MetricSpec(
        "egov_target_state",
        "gauge",
        "1 for the target's current state (up, degraded, down, unknown)." + CACHE_NOTE,
        ("state",),
        vi="trạng thái",
    ),
    MetricSpec(
        "egov_target_last_failure_info",
        "gauge",
        "1 while the target is down, with the reason of its latest failed poll (label reason, one of the "
        "fixed list); absent while it is up.",
        ("reason",),
        vi="lý do lỗi hiện tại",
    ),
    MetricSpec(
        "egov_target_down_since_seconds",
        "gauge",
        "While the target is down: when its current outage began (unix time of the first failed poll of "
        "the run); absent while it is up.",
        vi="mất kết nối từ lúc",
    ),
    MetricSpec(
        "egov_target_poll_duration_seconds",
        "gauge",
        "Duration of the target's last poll in seconds.",
        vi="thời gian thu thập",
    ),
    MetricSpec(
        "egov_target_last_poll_timestamp_seconds",
        "gauge",
        "When the target's last poll started.",
        vi="lần thu thập gần nhất",
    ),
    MetricSpec(
        "egov_target_last_success_timestamp_seconds",
        "gauge",
        "When the target's last successful poll finished; its values date from then.",
        vi="lần thu thập thành công gần nhất",
    ),
    MetricSpec(
        "egov_target_result_age_seconds",
        "gauge",
        "Age of the cached result at render time (scrapes are served from the cache).",
        vi="tuổi dữ liệu",
    ),
    MetricSpec(
        "egov_target_failures_total",
        "counter",
        "Failed polls of the target by reason.",
        ("reason",),
        vi="số lần lỗi",
    ),
    MetricSpec(
        "egov_target_retries_total",
        "counter",
        "Request retries spent polling the target.",
        vi="số lần thử lại",
    ),
    MetricSpec("egov_target_polls_total", "counter", "Polls of the target.", vi="số lần thu thập"),
    MetricSpec(
        "egov_target_extraction_skipped_total",
        "counter",
        "Metrics skipped because the upstream answer lacked their field (schema drift).",
        vi="số chỉ số thiếu trường dữ liệu",
    ),
    MetricSpec(
        "egov_target_info",
        "gauge",
        "Target metadata: kind and URL (without query or credentials).",
        ("kind", "url"),
        vi="thông tin mục tiêu",
    ),
)


def _family(spec: MetricSpec) -> Metric:
    base = spec.name[:-6] if spec.type == "counter" and spec.name.endswith("_total") else spec.name
    return Metric(base, spec.help, spec.type if spec.type != "info" else "gauge")


class _NotFast(Exception):
    """The store holds a name the fast renderer does not write like prometheus_client: use the slow path."""


#: names written unchanged by prometheus_client in both formats (':' is escaped in OpenMetrics sample names)
_PLAIN_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_AGE = "egov_target_result_age_seconds"
#: a render lets other threads run after this many re-formatted targets (and after each family)
_YIELD_EVERY = 8


#: names and label names checked against _PLAIN_NAME already
_PLAIN_NAMES: set[str] = set()


def _label_item(key: str, value: str) -> str:
    if key not in _PLAIN_NAMES:
        if not _PLAIN_NAME.match(key):
            raise _NotFast(key)
        _PLAIN_NAMES.add(key)
    if "\\" in value or "\n" in value or '"' in value:
        value = value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return f'{key}="{value}"'


def _labels_text(labels: dict[str, str]) -> str:
    """``{k="v",...}`` with keys sorted and values escaped, as prometheus_client writes them."""
    if not labels:
        return ""
    return "{" + ",".join(_label_item(k, v) for k, v in sorted(labels.items())) + "}"


class _LabelText:
    """The label texts of one target's samples: its own labels, formatted once, merged with each sample's
    (usually one more label, put in its sorted place)."""

    __slots__ = ("items", "keys", "plain", "texts")

    def __init__(self, base: dict[str, str]) -> None:
        self.keys = sorted(base)
        self.texts = [_label_item(k, base[k]) for k in self.keys]
        self.items = dict(zip(self.keys, self.texts))
        self.plain = "{" + ",".join(self.texts) + "}" if base else ""

    def text(self, extra: dict[str, str]) -> str:
        if not extra:
            return self.plain
        if len(extra) == 1:
            ((k, v),) = extra.items()
            if k not in self.items:
                i = bisect.bisect(self.keys, k)
                texts = self.texts
                return "{" + ",".join((*texts[:i], _label_item(k, v), *texts[i:])) + "}"
        merged = dict(self.items)
        for k, v in extra.items():
            merged[k] = _label_item(k, v)
        return "{" + ",".join(merged[k] for k in sorted(merged)) + "}"


def _value(value: float) -> str:
    """``floatToGoString(value)``: ``repr`` for the usual values, prometheus_client for the rest."""
    f = float(value)
    if -math.inf < f < 1e6:
        return repr(f)
    return floatToGoString(f)


def _go_float(value: float) -> str:
    """``floatToGoString(max(0.0, value))``; plain ``repr`` for the usual 0 <= value < 1e6."""
    if value <= 0.0:
        return "0.0"
    return repr(value) if value < 1e6 else floatToGoString(value)


def _headers(spec: MetricSpec, openmetrics: bool) -> str:
    """``# HELP``/``# TYPE`` lines of a store family, as prometheus_client writes them."""
    metric = _family(spec)
    if metric.type not in ("gauge", "counter") or metric.unit or not _PLAIN_NAME.match(metric.name):
        raise _NotFast(spec.name)
    doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    if openmetrics:
        doc = doc.replace('"', r"\"")
        return f"# HELP {metric.name} {doc}\n# TYPE {metric.name} {metric.type}\n"
    name = metric.name + "_total" if metric.type == "counter" else metric.name
    return f"# HELP {name} {doc}\n# TYPE {name} {metric.type}\n"


class StoreCollector(PromCollector):
    """A client_python collector building fresh families from the result store at each render."""

    def __init__(
        self,
        store: ResultStore,
        specs: Callable[[], dict[str, MetricSpec]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.specs = specs
        self.clock = clock
        #: the fast renderer's state (see render): per target, what its lines were rendered from
        self._pieces: dict[str, tuple[Any, ...]] = {}
        self._headers: dict[tuple[MetricSpec, bool], bytes] = {}
        self._render_lock = threading.Lock()

    def _all_specs(self) -> dict[str, MetricSpec]:
        specs = dict(self.specs())
        for spec in HEALTH_METRICS:
            specs[spec.name] = spec
        return specs

    @staticmethod
    def _fallback(name: str) -> MetricSpec:
        return MetricSpec(name, "counter" if name.endswith("_total") else "gauge", f"{name} (no description)")

    def collect(self) -> Iterable[Metric]:
        snap = self.store.snapshot()
        specs = self._all_specs()
        families: dict[str, Metric] = {}

        def add(name: str, labels: dict[str, str], value: float) -> None:
            fam = families.get(name)
            if fam is None:
                fam = families[name] = _family(specs.get(name) or self._fallback(name))
            fam.add_sample(name, labels, value)

        now = self.clock()
        for r in sorted(snap["results"], key=lambda r: r.target):
            base = {"target": r.target, "system": r.system, **r.labels}
            self._target_samples(
                r, snap, now, lambda name, extra, value, base=base: add(name, {**base, **extra}, value)
            )
        for source in sorted(snap["derived"]):
            for spec in snap["derived_specs"].get(source, ()):
                specs.setdefault(spec.name, spec)
            for s in snap["derived"][source]:
                add(s.name, s.labels, s.value)
        yield from families.values()

    # the fast renderer ---------------------------------------------------------------------
    def _target_pieces(
        self, r: TargetResult, snap: dict, labels: _LabelText
    ) -> list[tuple[str, str, tuple | None]]:
        """(family, text, None) for the lines of one target, in the order ``collect`` adds them, consecutive
        lines of a family joined; the age line, which changes with the clock, is (family, the line up to its
        value, (started, duration) of the result)."""
        pieces: list[tuple[str, str, tuple | None]] = []

        def add(name: str, extra: dict[str, str], value: float) -> None:
            if name not in _PLAIN_NAMES:
                if not _PLAIN_NAME.match(name):
                    raise _NotFast(name)
                _PLAIN_NAMES.add(name)
            if name == _AGE:
                pieces.append((name, f"{name}{labels.text(extra)} ", (r.started, r.duration)))
                return
            line = f"{name}{labels.text(extra)} {_value(value)}\n"
            if pieces and pieces[-1][0] == name and pieces[-1][2] is None:
                pieces[-1] = (name, pieces[-1][1] + line, None)
            else:
                pieces.append((name, line, None))

        self._target_samples(r, snap, 0.0, add)
        return pieces

    def render(self, openmetrics: bool = False) -> str:
        """The store's families in the text format (or OpenMetrics without ``# EOF``), identical to what
        ``prometheus_client`` writes for :meth:`collect`; raises _NotFast for names it does not handle."""
        return b"".join(self.render_chunks(openmetrics)).decode("utf-8")

    def render_chunks(self, openmetrics: bool = False) -> list[bytes]:
        """:meth:`render`, UTF-8 encoded, one chunk per family.

        Each family is kept as one text per target (``b""`` where the target has none), in target order, so
        a render re-formats the targets whose result changed and the age lines, and joins."""
        return [_join(part) for part in self.render_parts(openmetrics)]

    def render_parts(self, openmetrics: bool = False) -> list[bytes | list[bytes]]:
        """:meth:`render_chunks` before the join: a family's chunk is the list of its pieces (header, each
        target's lines), so that a caller can join, compress and drop one family at a time instead of holding
        every chunk and their concatenation at once.  The lists hold references to the kept texts (8 bytes
        a target and family), taken under the render lock; raises _NotFast before returning anything."""
        with self._render_lock:
            return self._render(openmetrics)

    def _reset(self, names: list[str]) -> None:
        self._names = names
        self._pos = {name: i for i, name in enumerate(names)}
        self._texts: dict[str, list[bytes]] = {}  # family -> text of each target
        self._seqs: list[tuple[str, ...]] = [()] * len(names)  # families of each target, in order
        self._ages: list[tuple[str, float, float] | None] = [None] * len(names)
        self._pieces = {}
        self._order: list[str] | None = None  # families in order of first appearance

    def _render(self, openmetrics: bool) -> list[bytes | list[bytes]]:
        snap = self.store.snapshot()
        results = sorted(snap["results"], key=lambda r: r.target)
        names = [r.target for r in results]
        if names != getattr(self, "_names", None):
            self._reset(names)
        polls = snap["polls"]
        texts, seqs, ages, cache = self._texts, self._seqs, self._ages, self._pieces
        n = len(names)
        changed = 0
        for i, r in enumerate(results):
            count = polls.get(r.target, 0)
            cached = cache.get(r.target)
            if (
                cached is not None
                and cached[0] is r
                and cached[1] == r.labels
                and cached[2] == r.system
                and cached[3] == count
            ):
                continue
            changed += 1
            if changed % _YIELD_EVERY == 0:
                time.sleep(0)  # let a scrape's thread have the GIL: a large render takes tens of ms
            if cached is not None and cached[1] == r.labels and cached[2] == r.system:
                labels = cached[4]
            else:
                labels = _LabelText({"target": r.target, "system": r.system, **r.labels})
            cache[r.target] = (r, dict(r.labels), r.system, count, labels)
            mine: dict[str, str] = {}
            ages[i] = None
            for name, text, since in self._target_pieces(r, snap, labels):
                if since is None:
                    mine[name] = mine.get(name, "") + text
                else:
                    mine.setdefault(name, "")
                    ages[i] = (text, since[0], since[1])
            seq = tuple(mine)
            for name in seqs[i]:
                if name not in mine:
                    texts[name][i] = b""
            for name, text in mine.items():
                column = texts.get(name)
                if column is None:
                    column = texts[name] = [b""] * n
                column[i] = text.encode("utf-8")
            if seq != seqs[i]:
                seqs[i] = seq
                self._order = None
        if self._order is None:
            seen: dict[str, None] = {}
            for seq in seqs:
                for name in seq:
                    if name not in seen:
                        seen[name] = None
            self._order = list(seen)
        specs = self._all_specs()
        family_spec = {name: specs.get(name) or self._fallback(name) for name in self._order}
        # series computed from other results come after the targets' (families in order of appearance)
        derived: dict[str, list[str]] = {}
        for source in sorted(snap["derived"]):
            for spec in snap["derived_specs"].get(source, ()):
                specs.setdefault(spec.name, spec)
            for s in snap["derived"][source]:
                if not _PLAIN_NAME.match(s.name):
                    raise _NotFast(s.name)
                if s.name not in derived:
                    derived[s.name] = []
                    if s.name not in family_spec:
                        family_spec[s.name] = specs.get(s.name) or self._fallback(s.name)
                derived[s.name].append(f"{s.name}{_labels_text(s.labels)} {_value(s.value)}\n")
        now = self.clock()
        out: list[bytes | list[bytes]] = []
        for name in [*self._order, *(d for d in derived if d not in texts)]:
            key = (family_spec[name], openmetrics)
            head = self._headers.get(key)
            if head is None:
                if len(self._headers) > 4096:
                    self._headers.clear()
                head = self._headers[key] = _headers(family_spec[name], openmetrics).encode("utf-8")
            if name == _AGE:
                body = "".join(f"{a[0]}{_go_float(now - a[1] - a[2])}\n" for a in ages if a is not None)
                part = [head, body.encode("utf-8")]
            else:
                part = [head, *texts.get(name, ())]
            if name in derived:
                part.append("".join(derived[name]).encode("utf-8"))
            out.append(part)
        return out

    @staticmethod
    def _target_samples(
        r: TargetResult, snap: dict, now: float, add: Callable[[str, dict, float], None]
    ) -> None:
        """Every sample of one target: its health series, then its collector's samples, as
        ``add(name, labels besides the target's own, value)``; the target's own labels are
        ``{"target": ..., "system": ..., **r.labels}`` and the labels given here take precedence."""
        none: dict[str, str] = {}
        if (
            r.state != "unknown"
        ):  # not polled yet: neither up nor down (a restart shows no dip, fires nothing)
            add("egov_target_up", none, 1.0 if r.state in ("up", "degraded") else 0.0)
        for state in (*STATES, "unknown"):
            add("egov_target_state", {"state": state}, 1.0 if r.state == state else 0.0)
        if r.state == "down":
            add("egov_target_last_failure_info", {"reason": r.reason or "other"}, 1.0)
            if r.down_since:
                add("egov_target_down_since_seconds", none, r.down_since)
        if r.started:
            add("egov_target_poll_duration_seconds", none, r.duration)
            add("egov_target_last_poll_timestamp_seconds", none, r.started)
            add(_AGE, none, max(0.0, now - r.started - r.duration))
        if r.last_success:
            add("egov_target_last_success_timestamp_seconds", none, r.last_success)
        failures = snap["failures"].get(r.target, {})
        for reason in REASONS:
            add("egov_target_failures_total", {"reason": reason}, failures.get(reason, 0))
        add("egov_target_retries_total", none, snap["retries"].get(r.target, 0))
        add("egov_target_polls_total", none, snap["polls"].get(r.target, 0))
        add("egov_target_extraction_skipped_total", none, snap["skips"].get(r.target, 0))
        add("egov_target_info", {"kind": r.kind, "url": r.url}, 1.0)
        for s in r.samples:
            add(s.name, s.labels, s.value)


#: the exporter's own behaviour
SELF_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "egov_exporter_build_info",
        "gauge",
        "Version of egov-exporter and of Python.",
        ("version", "python_version"),
    ),
    MetricSpec(
        "egov_exporter_config_last_reload_successful",
        "gauge",
        "1 when the last configuration (re)load succeeded.",
    ),
    MetricSpec(
        "egov_exporter_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the configuration was last loaded successfully.",
    ),
    MetricSpec("egov_exporter_targets", "gauge", "Configured targets by system.", ("system",)),
    MetricSpec(
        "egov_exporter_render_duration_seconds",
        "gauge",
        "Time spent rendering /metrics the last time the cache changed.",
    ),
    MetricSpec(
        "egov_exporter_scheduler_lag_seconds",
        "histogram",  # type: ignore[arg-type]
        "Delay between a poll's due time and its start (waiting for a worker or host slot).",
    ),
)


class SelfMetrics:
    """The exporter's own behaviour (client_python gauges in the exporter's own registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        spec = {s.name: s for s in SELF_METRICS}

        def gauge(name: str) -> Gauge:
            return Gauge(name, spec[name].help, list(spec[name].labels), registry=registry)

        self.build_info = gauge("egov_exporter_build_info")
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.reload_ok = gauge("egov_exporter_config_last_reload_successful")
        self.reload_time = gauge("egov_exporter_config_last_reload_success_timestamp_seconds")
        self.targets = gauge("egov_exporter_targets")
        self.render_seconds = gauge("egov_exporter_render_duration_seconds")


class _Group:
    """Some collectors of a registry, collected in order (what ``generate_latest`` needs of a registry)."""

    def __init__(self, collectors: list[Any]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


class Registry(CollectorRegistry):
    """prometheus_client's registry, which also keeps its collectors in the order they were registered
    (through the public ``register`` / ``unregister``), so that :func:`render_chunks` can render each one
    in turn."""

    def __init__(self) -> None:
        super().__init__(auto_describe=False)
        self.collectors: list[Any] = []
        self._order_lock = threading.Lock()

    def register(self, collector: Any) -> None:
        super().register(collector)
        with self._order_lock:
            self.collectors.append(collector)

    def unregister(self, collector: Any) -> None:
        super().unregister(collector)
        with self._order_lock:
            self.collectors.remove(collector)


def _join(part: bytes | list[bytes]) -> bytes:
    return part if isinstance(part, bytes) else b"".join(part)


def render_chunks(registry: CollectorRegistry, openmetrics: bool = False) -> list[bytes]:
    """``generate_latest(registry)`` (text or OpenMetrics) in pieces whose concatenation is byte for byte
    what it returns, with the result store's families written by the fast renderer of
    :class:`StoreCollector` and every other collector by prometheus_client (a registry other than
    :class:`Registry` is rendered by prometheus_client whole)."""
    return [_join(part) for part in render_parts(registry, openmetrics)]


def render_parts(registry: CollectorRegistry, openmetrics: bool = False) -> list[bytes | list[bytes]]:
    """:func:`render_chunks` with the store's families not yet joined (see StoreCollector.render_parts)."""
    generate = generate_openmetrics if openmetrics else generate_latest
    if not isinstance(registry, Registry):
        return [generate(registry)]
    collectors = registry.collectors
    out: list[bytes | list[bytes]] = []
    others: list[Any] = []

    def flush() -> None:
        if others:
            text = generate(_Group(list(others)))  # type: ignore[arg-type]
            out.append(text[:-6] if openmetrics else text)  # one "# EOF" at the very end
            others.clear()

    try:
        for collector in list(collectors):
            if isinstance(collector, StoreCollector):
                flush()
                out.extend(collector.render_parts(openmetrics))
            else:
                others.append(collector)
        flush()
    except _NotFast as exc:
        log.debug("rendering with prometheus_client: %s is not a plain name", exc)
        return [generate(registry)]
    if openmetrics:
        out.append(b"# EOF\n")
    return out


def render_registry(registry: CollectorRegistry, openmetrics: bool = False) -> bytes:
    """``generate_latest(registry)`` byte for byte, rendered by :func:`render_chunks`."""
    return b"".join(render_chunks(registry, openmetrics))


def _encode(parts: list[bytes | list[bytes]], gz: bool, level: int) -> tuple[bytes, int]:
    """The body of an answer made of ``parts`` (gzipped as one stream when ``gz``) and the length of the
    text.  No family's text is joined before it is needed: gzipped, one family at a time is joined and
    compressed; plain, the pieces are joined once into the body.  So a render holds the body (and one
    family), never every chunk and their concatenation at once."""
    size = 0
    if gz:
        packer = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: a gzip header and trailer
        out = []
        for i, part in enumerate(parts):
            chunk = _join(part)
            parts[i] = b""
            size += len(chunk)
            out.append(packer.compress(chunk))
            time.sleep(0)  # let a scrape's thread have the GIL between families
        out.append(packer.flush())
        return b"".join(out), size
    pieces: list[bytes] = []  # references to the kept texts, joined once into the body
    for part in parts:
        if isinstance(part, bytes):
            pieces.append(part)
        else:
            pieces.extend(part)
    body = b"".join(pieces)
    return body, len(body)


class MetricsCache:
    """Rendered /metrics bytes, re-rendered when the store changes or they are older than ``max_age``.

    A scrape gets cached bytes when they are current.  Otherwise, when the last rendered text was at most
    ``inline_bytes`` long (a small store, rendered in a few milliseconds) the scrape renders; when it was
    longer, the scrape gets the last rendered bytes at once, never waiting for a render, and a background
    thread renders the variants asked for (text or OpenMetrics, gzipped or not) shortly before the next
    scrape is expected: at 80 % of the usual time between scrapes, at most once every ``max_age`` seconds,
    while scrapes come (one in the last ``keep_warm`` seconds).  So a large store is rendered about once per
    scrape, and what a scrape gets is about a fifth of the scrape interval old (at least ``max_age``)."""

    #: texts up to this size are rendered by the scrape that needs them (~2,500 series)
    inline_bytes = 256 * 1024
    #: gzip level of compressed answers: the fastest, /metrics is text that compresses well anyway
    gzip_level = 1

    def __init__(
        self,
        registry: CollectorRegistry,
        store: ResultStore,
        self_metrics: SelfMetrics | None = None,
        max_age: float = 1.0,
        keep_warm: float = 300.0,
    ) -> None:
        self.registry = registry
        self.store = store
        self.self_metrics = self_metrics
        self.max_age = max_age
        self.keep_warm = keep_warm
        self._lock = threading.Lock()  # one render at a time
        self._cache: dict[tuple[bool, bool], tuple[int, float, bytes]] = {}
        self._size: dict[tuple[bool, bool], int] = {}  # size of the last text of each variant, unzipped
        self._asked: dict[tuple[bool, bool], float] = {}  # when each variant was last asked for
        self._gap: dict[tuple[bool, bool], float] = {}  # usual time between two scrapes of each variant
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    def _fresh(self, key: tuple[bool, bool], now: float) -> tuple[int, float, bytes] | None:
        entry = self._cache.get(key)
        if entry is not None and entry[0] == self.store.version and now - entry[1] < self.max_age:
            return entry
        return None

    def get(self, openmetrics: bool = False, gz: bool = False) -> bytes:
        key = (openmetrics, gz)
        now = time.monotonic()
        last = self._asked.get(key)
        if last is not None:
            gap = min(self.keep_warm, max(self.max_age, now - last))
            self._gap[key] = 0.7 * self._gap[key] + 0.3 * gap if key in self._gap else gap
        self._asked[key] = now
        entry = self._fresh(key, now)
        if entry is not None:
            return entry[2]
        stale = self._cache.get(key)
        if stale is None or self._size.get(key, 0) <= self.inline_bytes:
            with self._lock:  # if another scrape renders right now, its bytes will do
                entry = self._fresh(key, time.monotonic()) or self._render(key)
            return entry[2]
        self._start_thread()
        self._kick.set()
        return stale[2]

    def _render(self, key: tuple[bool, bool]) -> tuple[int, float, bytes]:
        """Render one variant (with ``_lock`` held)."""
        openmetrics, gz = key
        version = self.store.version
        t0 = time.monotonic()
        body, self._size[key] = _encode(render_parts(self.registry, openmetrics), gz, self.gzip_level)
        took = time.monotonic() - t0
        if self.self_metrics is not None:
            self.self_metrics.render_seconds.set(took)
        entry = self._cache[key] = (version, time.monotonic(), body)
        return entry

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._thread_lock:  # not _lock: a render may hold that one for a while
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="egov-render", daemon=True)
                    self._thread.start()

    def _due(self, key: tuple[bool, bool]) -> float:
        """When the background thread renders ``key`` next: shortly before its next scrape is expected (the
        one after, if that one has its render already), and not sooner than ``max_age`` after the last."""
        entry = self._cache.get(key)
        rendered = entry[1] if entry is not None else 0.0
        gap = self._gap.get(key, self.max_age)
        due = self._asked[key] + 0.8 * gap
        while due <= rendered:
            due += gap
        return max(rendered + self.max_age, min(due, rendered + gap))  # scrapes more often than max_age too

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            wanted = [key for key, at in list(self._asked.items()) if now - at < self.keep_warm]
            if not wanted:
                self._thread = None
                return  # nobody scrapes: stop; the next slow scrape starts the thread again
            wake = now + self.keep_warm
            for key in wanted:
                due = self._due(key)
                if due <= now:
                    try:
                        with self._lock:
                            self._render(key)
                    except Exception:  # keep serving the last bytes; the error shows in the log
                        log.exception("rendering /metrics failed")
                    due = self._due(key)
                wake = min(wake, due)
            self._kick.wait(max(0.01, wake - time.monotonic()))
            self._kick.clear()


def build_registry(
    store: ResultStore, specs: Callable[[], dict[str, MetricSpec]], clock: Callable[[], float] = time.time
) -> tuple[CollectorRegistry, SelfMetrics]:
    registry = Registry()
    registry.register(StoreCollector(store, specs, clock))
    ProcessCollector(registry=registry)
    return registry, SelfMetrics(registry)


def all_specs(kinds: dict[str, Any]) -> dict[str, MetricSpec]:
    """Every documented metric: health series and each kind's."""
    out = {s.name: s for s in HEALTH_METRICS}
    for cls in kinds.values():
        for spec in cls.describe():
            out.setdefault(spec.name, spec)
    return out


def samples_by_name(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for s in samples:
        out.setdefault(s.name, []).append(s)
    return out
