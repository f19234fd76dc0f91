"""The indicator engine: Decision 766 and PAR Index component 7 computed live from the collectors' metrics.

* :mod:`.scorecard` — scorecard files (``indicators/*.yaml``), validated at load;
* :mod:`.selector` — the metric selectors the scorecards use;
* :mod:`.rounding` — the national portal's rounding;
* :mod:`.engine` — rules, groups, totals, ranks and gaps (a pure function of the samples);
* :mod:`.live` — attached to the running exporter: recomputed when results change, published as derived
  series and on the landing page.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from exporter.domain import TZ
from exporter.scoring.engine import Manual
from exporter.scoring.scorecard import Scorecard, ScorecardError, load_scorecard, resolve

__all__ = ["Manual", "Scorecard", "ScorecardError", "check_scoring", "load_scoring"]


def shipped_metrics(documented: set[str] | frozenset[str] = frozenset()) -> tuple:
    """The series the shipped scorecards (indicators/qd766.yaml, par7.yaml) make the engine publish, for the
    metrics reference; a name in ``documented`` (one a collector kind documents already, egov_qd766_score)
    is left to it."""
    from exporter.scoring.engine import metric_specs
    from exporter.scoring.scorecard import PACKAGE_ROOT

    out = []
    for name in ("qd766.yaml", "par7.yaml"):
        out.extend(
            s
            for s in metric_specs(load_scorecard(PACKAGE_ROOT / "indicators" / name))
            if s.name not in documented
        )
    return tuple(out)


def _timestamp(value: dt.datetime | dt.date) -> float:
    """A manual value's date and time (a date or a naive time is Vietnam's local time) as unix time."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=TZ)).timestamp()
    return dt.datetime(value.year, value.month, value.day, tzinfo=TZ).timestamp()


def load_scoring(scoring: Any, base_dir: Path) -> tuple[list[Scorecard], dict[str, dict[str, Manual]]]:
    """The configured scorecards and, per scorecard, its manual values by criterion.

    ``scoring`` is the config's ScoringConfig.  Raises ScorecardError with every problem, each line
    naming its place in the configuration (``scoring.scorecards[1]: ...``, ``scoring.manual[0]...``)."""
    errors: list[str] = []
    cards: list[Scorecard] = []
    for i, path in enumerate(scoring.scorecards):
        try:
            card = load_scorecard(resolve(path, base_dir), label=path)
        except ScorecardError as exc:
            errors.extend(f"scoring.scorecards[{i}]: {line}" for line in exc.messages)
            continue
        clash = next((c for c in cards if c.scorecard == card.scorecard), None)
        if clash is not None:
            errors.append(f"scoring.scorecards[{i}]: {path}: scorecard {card.scorecard!r} is loaded twice")
            continue
        names = {n for c in cards for n in c.metrics.model_dump().values() if n}
        reused = sorted(n for n in card.metrics.model_dump().values() if n and n in names)
        if reused:
            errors.append(
                f"scoring.scorecards[{i}]: {path}: metric name {reused[0]} is also used by another scorecard"
            )
            continue
        cards.append(card)
    if errors:  # which criteria exist is unknown while a scorecard is broken: no second-hand complaints
        raise ScorecardError(errors)
    manual: dict[str, dict[str, Manual]] = {c.scorecard: {} for c in cards}
    criteria = {g.code: c for c in cards if c.manual for g in c.groups}
    first: dict[str, int] = {}
    for j, value in enumerate(scoring.manual):
        where = f"scoring.manual[{j}].criterion"
        card = criteria.get(value.criterion)
        if card is None:
            known = ", ".join(sorted(criteria)) or "none (no scorecard takes manual values)"
            errors.append(
                f'{where}: unknown criterion "{value.criterion}"; criteria taking manual values: {known}'
            )
            continue
        if value.criterion in first:
            errors.append(
                f"{where}: criterion {value.criterion} is set twice (first at scoring.manual"
                f"[{first[value.criterion]}])"
            )
            continue
        first[value.criterion] = j
        manual[card.scorecard][value.criterion] = Manual(
            value.criterion, float(value.value), value.set_by, _timestamp(value.set_at), value.note
        )
    if errors:
        raise ScorecardError(errors)
    return cards, manual


def check_scoring(scoring: Any, base_dir: Path) -> list[str]:
    """Every problem of the scoring configuration, one line each (empty: fine)."""
    try:
        load_scoring(scoring, base_dir)
    except ScorecardError as exc:
        return exc.messages
    return []
