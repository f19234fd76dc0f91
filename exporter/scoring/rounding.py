"""Rounding as the national portal does it.

``r2(x)`` is JavaScript's ``Number(x.toFixed(2))``: the **exact binary value** of the double ``x`` is
rounded to 2 decimals, halves away from zero.  A literal such as ``5.925`` is stored as
5.92499999999999982…, so it rounds to 5.92; ``28.125`` is exact, so it rounds to 28.13.  Rounding the
shortest decimal repr instead (``Decimal(repr(x))``) gives 5.93 and misses published scores: on the real
captures it is off by 0.01 for two communes (H44.156, H44.197, group TTTT, where 6 × 98.75 / 100 and
6 × 65.75 / 100 land just below a half).  Python's ``round`` differs again (ties to even).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

_PLACES = {n: Decimal(1).scaleb(-n) for n in range(0, 7)}


def js_round(x: float, places: int = 2) -> float:
    """``Number(x.toFixed(places))`` of JavaScript (for |x| < 1e21)."""
    if not math.isfinite(x):
        return x
    out = float(Decimal(x).quantize(_PLACES[places], rounding=ROUND_HALF_UP))
    return out + 0.0  # no negative zero


def r2(x: float) -> float:
    return js_round(x, 2)


#: rounding modes a scorecard may name
ROUNDINGS = {"r2": r2}


def exact(value: float) -> Decimal:
    """A number from a YAML file as the decimal its author wrote (0.9 is 0.9, not 0.90000000000000002)."""
    return Decimal(repr(float(value)))


def percent(ratio_setting: float) -> float:
    """A ratio written in a scorecard (0.9) as the percentage the formulas use (90.0, exactly)."""
    return float(exact(ratio_setting) * 100)
