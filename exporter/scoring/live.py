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

_PERIOD_ORDER = {"month": 0, "quarter": 1, "year": 2}


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


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
    head = "".join(f"<th>{esc(g)}<br><small>/{_num(card.group(g).max)}</small></th>" for g in groups)  # type: ignore[union-attr]
    rows = []
    province_keys = sorted(provinces, key=lambda k: _PERIOD_ORDER.get(k[pi], 9) if pi is not None else 0)
    for key in province_keys:
        for source in e.sources:
            values = [e.groups.get((source, key, g)) for g in groups]
            if all(v is None for v in values):
                continue
            total = e.totals.get((source, key))
            cells = "".join(f"<td>{_num(v)}</td>" for v in values)
            rows.append(
                f"<tr><td>{esc(' '.join(key))}</td><td>{esc(source)}</td>{cells}"
                f"<td><b>{_num(total)}</b> / {_num(card.total_max)}</td></tr>"
            )
    out.append(
        "<table><tr><th>unit, period</th><th>source</th>"
        + head
        + "<th>total</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    out.append(render_gaps(e, province_keys))
    out.append(render_ranking(e, units))
    return "\n".join(out)


def render_gaps(e: Evaluation, keys: list[tuple[str, ...]]) -> str:
    esc = html.escape
    rows = []
    for (source, key, group, code), r in sorted(
        e.indicators.items(),
        key=lambda kv: (
            kv[0][1] not in keys,
            _PERIOD_ORDER.get(kv[0][1][-1], 9),
            kv[0][2],
            kv[0][3],
            kv[0][0],
        ),
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
            need = "reached"
        elif r.gap_ratio:
            need = "not reachable by new events alone"
        rows.append(
            f"<tr><td>{esc(' '.join(key))}</td><td>{esc(source)}</td><td>{esc(group)}</td>"
            f"<td>{esc(code)}</td><td>{_pct(r.ratio)}</td><td>{_pct(target_ratio(ind))}</td>"
            f"<td>{_num(r.points)} / {_num(ind.max)}</td><td>{need}</td></tr>"
        )
    if not rows:
        return ""
    return (
        "<h4>Gap to target / Khoảng cách tới chỉ tiêu</h4><table><tr><th>unit, period</th><th>source</th>"
        "<th>group</th><th>indicator</th><th>ratio</th><th>target</th><th>points</th>"
        "<th>needed this period</th></tr>" + "".join(rows) + "</table>"
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
    out = [f"<h4>Units ranked by total / Xếp hạng đơn vị ({esc(source)}, {esc(' '.join(rest))})</h4>"]
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
                f"<tr><td>{rank}</td><td>{esc(unit)}</td><td>{esc(units.get(unit, ('', ''))[0])}</td>"
                f"<td>{_num(e.totals.get((source, key)))}</td></tr>"
            )
        out.append(
            f"<p>{esc(board[2] or 'all units')}: {len(rows)} units</p><table><tr><th>rank</th><th>unit</th>"
            "<th>name</th><th>total</th></tr>" + "".join(lines) + "</table>"
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
            how = "<span style='color:#cf222e'>no data</span>"
        else:
            how = "measured"
        ratios = []
        for ind in g.indicators:
            r = e.indicators.get((source, key, g.code, ind.code))
            if r is not None:
                ratios.append(_pct(r.ratio))
        flag = "" if g.verified and card.verified else " <small>(unverified)</small>"
        rows.append(
            f"<tr><td>{esc(g.code)}</td><td>{esc(g.name)}{flag}</td><td>{', '.join(ratios) or '–'}</td>"
            f"<td>{_num(score)} / {_num(g.max)}</td><td>{'✓' if full else ''}"
            f"</td><td>{how}</td></tr>"
        )
    total = e.totals.get((source, key))
    return (
        f"<h3>{esc(card.title or card.scorecard)}</h3>"
        f"<p>Total <b>{_num(total)}</b> / {_num(card.total_max)} · criteria at maximum "
        f"<b>{at_max}/{len(card.groups)}</b>"
        + (" · unverified defaults" if not card.verified else "")
        + "</p>"
        "<table><tr><th>criterion</th><th>name</th><th>ratio</th><th>score</th><th>at max</th>"
        "<th>input</th></tr>" + "".join(rows) + "</table>"
    )
