"""The indicator engine attached to the running exporter.

``attach(app)`` (called by the CLI when this module exists):

* loads the configured scorecards and manual values, and again after every successful reload;
* listens to the result store: when a poll's results arrive, a background thread (never the poll's own)
  waits ``DEBOUNCE`` seconds for more to come, then evaluates every scorecard over the current samples and
  publishes the series with ``store.set_derived("scoring", ...)``;
* adds a section to the landing page: Decision 766 scores (published, computed, provincial), the gap to
  target, units ranked, and PAR Index component 7 criterion by criterion.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from exporter import words
from exporter.domain import TZ
from exporter.plugin import Sample
from exporter.scoring import Manual, ScorecardError, load_scoring
from exporter.scoring.engine import Evaluation, build_index, evaluate, target_ratio
from exporter.scoring.scorecard import Scorecard

log = logging.getLogger("egov.scoring")
#: seconds to wait after a result for more before recomputing (polls often finish in bursts)
DEBOUNCE = 0.5
#: at most one evaluation per this many seconds (period-to-date figures move slowly; an evaluation of a
#: province of 164 units over three periods takes about half a second)
MIN_INTERVAL = 5.0
SOURCE_NAME = "scoring"


def store_samples(snapshot: dict[str, Any]) -> Iterable[tuple[str, dict[str, str], float]]:
    """What the scorecards read: every target's samples with its labels, and egov_target_up."""
    for r in snapshot["results"]:
        base = {"target": r.target, "system": r.system, **r.labels}
        if r.state != "unknown":
            yield "egov_target_up", base, 1.0 if r.state in ("up", "degraded") else 0.0
        for s in r.samples:
            yield s.name, {**base, **s.labels}, s.value


class LiveScoring:
    def __init__(self, app: Any, debounce: float = DEBOUNCE, min_interval: float = MIN_INTERVAL) -> None:
        self.app = app
        self.debounce = debounce
        self.min_interval = min_interval
        #: metric names the scorecards read, and the last state seen per target (for egov_target_up)
        self.inputs: set[str] = set()
        self._states: dict[str, str] = {}
        self.cards: list[Scorecard] = []
        self.manual: dict[str, dict[str, Manual]] = {}
        #: the last evaluation of each scorecard, and the unit names seen (for the landing page)
        self.latest: list[Evaluation] = []
        self.units: dict[str, tuple[str, str]] = {}
        self.computed_at: float | None = None
        self.problems: list[str] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # wiring ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self.app.config is not None:
            self.configure(self.app.config)
        self.app.on_config.append(self.configure)
        self.app.store.add_listener(self._changed)
        self.app.page_sections.append(self.section)
        self._thread = threading.Thread(target=self._run, name="egov-scoring", daemon=True)
        self._thread.start()
        self._wake.set()  # manual values and scorecard maxima show before the first poll

    def configure(self, config: Any) -> None:
        base = Path(config.source).resolve().parent if getattr(config, "source", "") else Path(".")
        try:
            cards, manual = load_scoring(config.scoring, base)
        except ScorecardError as exc:  # parse_config rejects these; a file changed since is kept as it was
            for line in exc.messages:
                log.error("scoring: %s", line)
            self.problems = exc.messages
            return
        with self._lock:
            self.cards, self.manual, self.problems = cards, manual, []
            self.inputs = {name for card in cards for name in input_names(card)}
        self._wake.set()

    def _changed(self, target: str) -> None:
        """A poll finished (in the poll's thread): wake the evaluation when it may change a score."""
        result = self.app.store.get(target)
        if result is None:
            return
        kind = self.app.kinds.get(result.kind)
        produces = {s.name for s in kind.describe()} if kind is not None else set()
        moved = self._states.get(target) != result.state
        self._states[target] = result.state
        if produces & self.inputs or (moved and "egov_target_up" in self.inputs) or not produces:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.wait(self.debounce):
                return
            self._wake.clear()
            try:
                self.recompute()
            except Exception:  # a bug in a scorecard's evaluation must not stop later ones
                log.exception("scoring: evaluation failed")
            if self._stop.wait(self.min_interval):
                return

    # computing -------------------------------------------------------------------------------
    def recompute(self) -> list[Evaluation]:
        with self._lock:
            cards, manual = list(self.cards), dict(self.manual)
        snap = self.app.store.snapshot()
        index = build_index(store_samples(snap))
        evaluations = [evaluate(card, index, manual.get(card.scorecard)) for card in cards]
        samples: list[Sample] = []
        for e in evaluations:
            samples.extend(e.samples())
        specs = tuple(spec for e in evaluations for spec in e.specs())
        units = {
            labels["unit"]: (labels.get("unit_name", ""), labels.get("level", ""))
            for labels, _v in index.get("egov_qd766_unit_info", ())
        }
        self.app.store.set_derived(SOURCE_NAME, specs, samples)
        self.latest, self.units, self.computed_at = evaluations, units, time.time()
        return evaluations

    # the landing page ------------------------------------------------------------------------
    def section(self) -> str:
        parts = ["<h2>Indicators / Chỉ số đánh giá</h2>"]
        if self.problems:
            parts.append(
                "<p style='color:#cf222e'>Scorecards not loaded: "
                + "<br>".join(html.escape(p) for p in self.problems)
                + "</p>"
            )
        if self.computed_at is None:
            parts.append("<p>Not computed yet.</p>")
            return "\n".join(parts)
        for e in self.latest:
            if e.card.by:
                parts.append(render_units(e, self.units))
            else:
                parts.append(render_overall(e))
        return "\n".join(parts)

    def stop(self) -> None:
        """End the recompute thread (it is a daemon: the process does not wait for it)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def input_names(card: Scorecard) -> set[str]:
    """Every metric name a scorecard reads."""
    names = set()
    for g in card.groups:
        for ind in g.indicators:
            for inputs in ind.inputs.values():
                names |= {sel.name for sel in (inputs.numerator, inputs.denominator, inputs.value) if sel}
    if card.published is not None:
        names.add(card.published.score.name)
    if card.ranking is not None and card.ranking.info is not None:
        names.add(card.ranking.info.name)
    return names


def attach(app: Any) -> LiveScoring:
    live = LiveScoring(app)
    live.start()
    app.scoring = live
    return live


# ------------------------------------------------------------------------------------ rendering
#
# Words, not codes: groups and indicators by their names (code beside), units by name, sources and periods
# in words; a row without a total says which groups it lacks.  Tables sit in a scrolling box so that a
# phone shows every column.

_PERIOD_ORDER = {"month": 0, "quarter": 1, "year": 2}


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _table(head: str, rows: list[str], css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<div class="scroll"><table{cls}><tr>{head}</tr>{"".join(rows)}</table></div>'


def _key_text(card: Scorecard, key: tuple[str, ...], units: dict[str, tuple[str, str]]) -> str:
    """``UBND tỉnh Mô Phỏng (H99) · tháng này / this month``"""
    parts = []
    for label, value in zip(card.by, key, strict=True):
        if label == "unit":
            name = units.get(value, ("", ""))[0]
            parts.append(f"{name} ({value})" if name else value)
        elif label == "period":
            parts.append(words.both(words.PERIODS, value))
        else:
            parts.append(value)
    return " · ".join(parts)


def _group_head(card: Scorecard) -> str:
    return "".join(
        f"<th>{html.escape(g.code)} <small>/{_num(g.max)}</small><br>"
        f"<small>{html.escape(g.name)}</small></th>"
        for g in card.groups
    )


#: what the sources of a per-unit scorecard mean, under its table
SOURCES_NOTE = (
    "Nguồn / sources: công bố = điểm Cổng DVC quốc gia công bố / published by the national portal; "
    "tính lại = tính lại từ số liệu công bố / computed from the published counts; số liệu tỉnh = tính từ hệ "
    "thống của tỉnh, trước khi công bố / provincial: from the province's own system, before publication. "
    "Tổng điểm cần đủ mọi nhóm / a total needs every group."
)


def _by_period(
    card: Scorecard, keys: list[tuple[str, ...]], units: dict[str, tuple[str, str]]
) -> list[tuple[str, list[tuple[str, ...]]]]:
    """Keys grouped under a heading each: the period in words (and the unit, when there are several)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for key in keys:
        out.setdefault(_key_text(card, key, units), []).append(key)
    return list(out.items())


def render_units(e: Evaluation, units: dict[str, tuple[str, str]]) -> str:
    """A per-unit scorecard (Decision 766): the province's scores by source, its gaps, units ranked."""
    card = e.card
    by = card.by
    ui = by.index("unit") if "unit" in by else None
    pi = by.index("period") if "period" in by else None
    esc = html.escape
    groups = [g.code for g in card.groups]
    keys = sorted({k for (_s, k, _g) in e.groups}, key=lambda k: tuple(map(str, k)))
    provinces = [k for k in keys if ui is not None and units.get(k[ui], ("", ""))[1] == "province"]
    if not provinces:  # without unit metadata (no qd766 target): the first few keys
        provinces = keys[:6]
    out = [f"<h3>{esc(card.title or card.scorecard)}</h3>"]
    if not keys:
        out.append("<p>No data yet: no target provides this scorecard's metrics.</p>")
        return "\n".join(out)
    rows = []
    province_keys = sorted(provinces, key=lambda k: _PERIOD_ORDER.get(k[pi], 9) if pi is not None else 0)
    width = len(groups) + 2
    for heading, keys_of in _by_period(card, province_keys, units):
        block = []
        for key in keys_of:
            for source in e.sources:
                values = [e.groups.get((source, key, g)) for g in groups]
                if all(v is None for v in values):
                    continue  # nothing from this source for this unit and period: no row
                total = e.totals.get((source, key))
                lacking = [g for g, v in zip(groups, values, strict=True) if v is None]
                if total is None and lacking:
                    total_cell = f"– <small>(thiếu / missing {', '.join(lacking)})</small>"
                else:
                    total_cell = f"<b>{_num(total)}</b> / {_num(card.total_max)}"
                cells = "".join(f'<td class="num">{_num(v)}</td>' for v in values)
                block.append(
                    f"<tr><td>{esc(words.both(words.SOURCES, source))}</td>{cells}<td>{total_cell}</td></tr>"
                )
        if block:
            rows.append(f'<tr class="sub"><th colspan="{width}">{esc(heading)}</th></tr>')
            rows.extend(block)
    out.append(_table("<th>nguồn / source</th>" + _group_head(card) + "<th>tổng / total</th>", rows))
    out.append(f"<p><small>{esc(SOURCES_NOTE)}</small></p>")
    out.append(render_gaps(e, province_keys, units))
    out.append(render_ranking(e, units))
    return "\n".join(out)


def _target_text(ind: Any) -> str:
    """The target and where it comes from: a national target (indicators/targets.yaml) or full points."""
    value = _pct(target_ratio(ind))
    if ind.gap is not None and ind.gap.target_key:
        return f"{value} <small>mục tiêu / target <code>{html.escape(ind.gap.target_key)}</code></small>"
    return f"{value} <small>đủ điểm / full points</small>"


def render_gaps(
    e: Evaluation, keys: list[tuple[str, ...]], units: dict[str, tuple[str, str]] | None = None
) -> str:
    """Each indicator of the province against its target: ratio, target (and where it comes from),
    points, and how many more events this period reach it."""
    esc = html.escape
    units = units or {}
    by_key: dict[tuple[str, ...], list[str]] = {}
    for (source, key, group, code), r in sorted(
        e.indicators.items(),
        key=lambda kv: (kv[0][2], kv[0][3], e.sources.index(kv[0][0]) if kv[0][0] in e.sources else 9),
    ):
        if key not in keys or r.origin.startswith("fallback"):
            continue
        g = e.card.group(group)
        ind = next(i for i in g.indicators if i.code == code) if g else None
        if ind is None or ind.gap is None:
            continue
        need = ""
        if r.events_needed:
            need = f"{r.events_needed:,} more {esc(ind.gap.events)}"
        elif r.events_needed == 0 or (r.gap_ratio == 0):
            need = "reached / đã đạt"
        elif r.gap_ratio:
            need = "not reachable by new events alone"
        by_key.setdefault(key, []).append(
            f"<tr><td>{esc(ind.name or code)} <small>{esc(group)} · <code>{esc(code)}</code></small></td>"
            f'<td data-label="nguồn / source">{esc(words.both(words.SOURCES, source))}</td>'
            f'<td class="num" data-label="tỷ lệ / ratio">{_pct(r.ratio)}</td>'
            f'<td data-label="mục tiêu / target">{_target_text(ind)}</td>'
            f'<td class="num" data-label="điểm / points">{_num(r.points)} / {_num(ind.max)}</td>'
            f'<td data-label="cần thêm / needed">{need}</td></tr>'
        )
    rows = []
    for heading, keys_of in _by_period(e.card, [k for k in keys if k in by_key], units):
        rows.append(f'<tr class="sub"><th colspan="6">{esc(heading)}</th></tr>')
        for key in keys_of:
            rows.extend(by_key[key])
    if not rows:
        return ""
    return "<h4>Gap to target / Khoảng cách tới chỉ tiêu</h4>" + _table(
        "<th>chỉ tiêu / indicator</th><th>nguồn / source</th><th>tỷ lệ / ratio</th><th>mục tiêu / target</th>"
        "<th>điểm / points</th><th>cần thêm trong kỳ / needed this period</th>",
        rows,
        "cards",
    )


def render_ranking(e: Evaluation, units: dict[str, tuple[str, str]], show: int = 5) -> str:
    """Best and worst units by total per level, for the first period and source that has totals."""
    esc = html.escape
    card = e.card
    if "unit" not in card.by or not e.ranks:
        return ""
    ui = card.by.index("unit")
    boards: dict[tuple, list[tuple[int, tuple[str, ...]]]] = {}
    for (source, key, group), (rank, _n, level) in e.ranks.items():
        if group is None:
            rest = tuple(v for i, v in enumerate(key) if i != ui)
            boards.setdefault((source, rest, level), []).append((rank, key))
    if not boards:
        return ""
    order = {s: i for i, s in enumerate(e.sources)}
    chosen = sorted(boards, key=lambda b: (order.get(b[0], 9), [_PERIOD_ORDER.get(v, 9) for v in b[1]], b[2]))
    source, rest = chosen[0][0], chosen[0][1]
    rest_text = " · ".join(words.both(words.PERIODS, v) for v in rest)
    out = [
        "<h4>Units ranked by total / Xếp hạng đơn vị theo tổng điểm "
        f"({esc(words.both(words.SOURCES, source))}, "
        f"{esc(rest_text)})</h4>"
    ]
    for board in [b for b in chosen if b[0] == source and b[1] == rest]:
        rows = sorted(boards[board])
        picked = rows if len(rows) <= 2 * show else rows[:show] + [None] + rows[-show:]  # type: ignore[list-item]
        lines = []
        for item in picked:
            if item is None:
                lines.append("<tr><td colspan='4'>…</td></tr>")
                continue
            rank, key = item
            unit = key[ui]
            lines.append(
                f'<tr><td class="num">{rank}</td><td>{esc(unit)}</td>'
                f"<td>{esc(units.get(unit, ('', ''))[0])}</td>"
                f'<td class="num">{_num(e.totals.get((source, key)))}</td></tr>'
            )
        level = words.both(words.LEVELS, board[2]) if board[2] else "all units / mọi đơn vị"
        out.append(
            f"<p><b>{esc(level)}</b>: {len(rows)} đơn vị / units</p>"
            + _table("<th>hạng / rank</th><th>mã / unit</th><th>tên / name</th><th>tổng / total</th>", lines)
        )
    return "\n".join(out)


def render_overall(e: Evaluation) -> str:
    """A scorecard without units (PAR 7): criterion by criterion."""
    esc = html.escape
    card = e.card
    source = card.sources[0].name
    key: tuple[str, ...] = ()
    rows = []
    at_max = 0
    for g in card.groups:
        score = e.groups.get((source, key, g.code))
        full = score is not None and score >= g.max - 1e-9
        at_max += full
        manual = e.manual.get(g.code)
        if manual is not None:
            when = dt.datetime.fromtimestamp(manual.set_at, TZ).strftime("%Y-%m-%d")
            how = f"manual: {esc(manual.set_by)}, {when}"
        elif score is None:
            how = "<span style='color:#cf222e'>no data / không có dữ liệu</span>"
        else:
            how = "measured / đo"
        ratios = []
        for ind in g.indicators:
            r = e.indicators.get((source, key, g.code, ind.code))
            if r is not None:
                ratios.append(_pct(r.ratio))
        flag = "" if g.verified and card.verified else " <small>(unverified)</small>"
        rows.append(
            f"<tr><td>{esc(g.code)}</td><td>{esc(g.name)}{flag}</td><td>{', '.join(ratios) or '–'}</td>"
            f'<td class="num">{_num(score)} / {_num(g.max)}</td><td>{"✓" if full else ""}'
            f"</td><td>{how}</td></tr>"
        )
    total = e.totals.get((source, key))
    return (
        f"<h3>{esc(card.title or card.scorecard)}</h3>"
        f"<p>Total <b>{_num(total)}</b> / {_num(card.total_max)} · criteria at maximum "
        f"<b>{at_max}/{len(card.groups)}</b>"
        + (
            " · unverified defaults: criteria and points are a reconstruction (indicators/par7.yaml), not "
            "the "
            "official assessment guide"
            if not card.verified
            else ""
        )
        + "</p>"
        + _table(
            "<th>tiêu chí / criterion</th><th>nội dung / name</th><th>tỷ lệ / ratio</th><th>điểm / score</th>"
            "<th>tối đa / at max</th><th>nguồn / input</th>",
            rows,
        )
    )
