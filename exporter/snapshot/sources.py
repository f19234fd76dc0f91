"""Where a snapshot reads its samples: the embedded history file or a Prometheus-compatible HTTP API.

Both answer the same few questions with the same meaning, that of PromQL's range functions evaluated at
an instant ``t`` over the window ``(t - window, t]``:

* ``last_over(sel, t, w)``  - each series' last sample (``last_over_time``);
* ``avg_over`` / ``count_over`` - mean and number of samples (``avg_over_time``, ``count_over_time``);
* ``last_over_range(sel, first, last, step)`` - ``last_over_time(sel[step])`` at first, first+step, ...
  (``query_range``);
* ``samples_over(sel, t, w)`` - the raw samples (a range-vector selector).

Aggregation is left to the caller so that both sources add the same numbers in the same order.  Each
source keeps a log of what it was asked (``queries``), written into the JSON snapshot so that any figure
can be reproduced.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import requests

from exporter.history.store import HistoryDB, HistoryError
from exporter.snapshot.periods import TZ
from exporter.snapshot.selectors import Selector

Labels = dict[str, str]
Series = tuple[Labels, float]
RangeSeries = tuple[Labels, list[tuple[float, float]]]


class SourceError(Exception):
    """The source cannot be read (one line for the user)."""


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, TZ).isoformat(timespec="milliseconds")


def duration(seconds: float) -> str:
    """A PromQL duration: whole seconds as ``86400s``, else milliseconds."""
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


# --------------------------------------------------------------------------------------- history


class HistorySource:
    kind = "history"

    def __init__(self, path: str) -> None:
        try:
            self.db = HistoryDB(path, readonly=True)
            self.range = self.db.tick_range()
            meta = self.db.meta()
        except HistoryError as exc:
            raise SourceError(str(exc)) from None
        self.path = path
        self.queries: list[dict[str, Any]] = []
        self._series: dict[str, list[tuple[int, Labels]]] = {}
        self.description = {
            "type": "history",
            "file": path,
            "schema_version": self.db.version,
            "created_by": meta.get("created_by"),
            "first_tick": iso(self.range[0]) if self.range else None,
            "last_tick": iso(self.range[1]) if self.range else None,
            "ticks": self.range[2] if self.range else 0,
        }

    def holds(self) -> str:
        """What the file holds, for 'no data' messages."""
        if not self.range:
            return f"history file {self.path} holds no data yet"
        return f"history file {self.path} holds {iso(self.range[0])[:16]} to {iso(self.range[1])[:16]}"

    def close(self) -> None:
        self.db.close()

    # internals -----------------------------------------------------------------------------
    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except HistoryError as exc:
            raise SourceError(str(exc)) from None

    def _ids(self, sel: Selector) -> list[tuple[int, Labels]]:
        if sel.name not in self._series:
            self._series[sel.name] = self._call(lambda: self.db.series(sel.name))
        return [(sid, labels) for sid, labels in self._series[sel.name] if sel.matches(labels)]

    def _log(self, function: str, sel: Selector, **extra: Any) -> None:
        self.queries.append({"function": function, "selector": sel.promql(), **extra})

    def _rows(
        self, ids: list[int], ticks: list[int], hi: float
    ) -> tuple[dict[int, float | None], dict[int, tuple[list, list]]]:
        init = self._call(lambda: self.db.values_at(ids, ticks[0]))
        rows: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
        for sid, ts, value in self._call(lambda: list(self.db.changes(ids, ticks[0], hi))):
            r = rows[sid]
            r[0].append(ts)
            r[1].append(value)
        return init, rows

    @staticmethod
    def _last_present(
        rts: list[int], rv: list[float | None], init: float | None, ticks: list[int], lo_i: int, hi_i: int
    ) -> float | None:
        """The series' value at the last tick in ticks[lo_i..hi_i] at which it was present."""
        i = hi_i
        while i >= lo_i:
            r = bisect.bisect_right(rts, ticks[i]) - 1
            if r < 0:
                return init
            if rv[r] is not None:
                return rv[r]
            i = bisect.bisect_left(ticks, rts[r]) - 1  # absent since rts[r]: the tick before it
        return None

    def _points(self, sel: Selector, points: Sequence[float], window: float) -> list[tuple[Labels, list]]:
        series = self._ids(sel)
        ticks = self._call(lambda: self.db.ticks(points[0] - window, points[-1])) if series else []
        if not ticks:
            return []
        ids = [sid for sid, _ in series]
        init, rows = self._rows(ids, ticks, points[-1])
        bounds = [(bisect.bisect_right(ticks, p - window), bisect.bisect_right(ticks, p) - 1) for p in points]
        out = []
        for sid, labels in series:
            rts, rv = rows.get(sid, ([], []))
            values = [
                self._last_present(rts, rv, init.get(sid), ticks, lo, hi) if hi >= lo else None
                for lo, hi in bounds
            ]
            if any(v is not None for v in values):
                out.append((labels, values))
        return out

    def _full(self, sel: Selector, t: float, window: float) -> list[tuple[Labels, list[tuple[int, float]]]]:
        series = self._ids(sel)
        ticks = self._call(lambda: self.db.ticks(t - window, t)) if series else []
        if not ticks:
            return []
        init, rows = self._rows([sid for sid, _ in series], ticks, t)
        out = []
        for sid, labels in series:
            rts, rv = rows.get(sid, ([], []))
            cur, r, present = init.get(sid), -1, []
            for tick in ticks:
                while r + 1 < len(rts) and rts[r + 1] <= tick:
                    r += 1
                    cur = rv[r]
                if cur is not None:
                    present.append((tick, cur))
            if present:
                out.append((labels, present))
        return out

    # the questions -------------------------------------------------------------------------
    def last_over(self, sel: Selector, t: float, window: float) -> list[Series]:
        self._log("last_over_time", sel, at=iso(t), window_seconds=window)
        return [(labels, values[0]) for labels, values in self._points(sel, [t], window)]

    def last_over_range(self, sel: Selector, first: float, last: float, step: float) -> list[RangeSeries]:
        points = _steps(first, last, step)
        self._log(
            "last_over_time (range)",
            sel,
            start=iso(first),
            end=iso(last),
            step_seconds=step,
            window_seconds=step,
        )
        return [
            (labels, [(p, v) for p, v in zip(points, values, strict=True) if v is not None])
            for labels, values in self._points(sel, points, step)
        ]

    def avg_over(self, sel: Selector, t: float, window: float) -> list[Series]:
        self._log("avg_over_time", sel, at=iso(t), window_seconds=window)
        return [(labels, math.fsum(v for _, v in s) / len(s)) for labels, s in self._full(sel, t, window)]

    def count_over(self, sel: Selector, t: float, window: float) -> list[Series]:
        self._log("count_over_time", sel, at=iso(t), window_seconds=window)
        return [(labels, float(len(s))) for labels, s in self._full(sel, t, window)]

    def samples_over(self, sel: Selector, t: float, window: float) -> list[RangeSeries]:
        self._log("samples", sel, at=iso(t), window_seconds=window)
        return [(labels, [(float(ts), v) for ts, v in s]) for labels, s in self._full(sel, t, window)]


def _steps(first: float, last: float, step: float) -> list[float]:
    n = int(math.floor((last - first) / step + 1e-9)) + 1
    return [first + i * step for i in range(max(0, n))]


# ------------------------------------------------------------------------------------ prometheus


class PrometheusSource:
    """Any server speaking the Prometheus HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics)."""

    kind = "prometheus"

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 120.0,
        drop_labels: Sequence[str] = ("job", "instance"),
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.drop = set(drop_labels) | {"__name__"}
        self.session = session or requests.Session()
        self.queries: list[dict[str, Any]] = []
        self.description = {"type": "prometheus", "url": self.url, "ignored_labels": sorted(set(drop_labels))}

    def holds(self) -> str:
        return f"Prometheus at {self.url} has no matching series for that period"

    def close(self) -> None:
        self.session.close()

    def check(self) -> None:
        """Fail early, with one line, when the URL does not answer the Prometheus API."""
        self._get("/api/v1/query", {"query": "vector(1)"}, log=False)

    def _get(self, path: str, params: dict[str, str], log: bool = True) -> Any:
        if log:
            self.queries.append({"endpoint": path, **params})
        try:
            resp = self.session.get(
                self.url + path, params=params, headers=self.headers, timeout=self.timeout
            )
        except requests.Timeout:
            raise SourceError(
                f"Prometheus at {self.url} did not answer within {self.timeout:g}s "
                f"({params.get('query', '')})"
            ) from None
        except requests.RequestException as exc:
            reason = getattr(exc, "args", [None])[0]
            reason = str(getattr(reason, "reason", reason) or exc)
            raise SourceError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        try:
            body = resp.json()
        except ValueError:
            raise SourceError(
                f"{self.url} answered HTTP {resp.status_code} without the Prometheus API's JSON; "
                "is it the server's base URL (http://host:9090)?"
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", "") if isinstance(body, dict) else ""
            raise SourceError(
                f"Prometheus at {self.url} refused {params.get('query', path)!r}: "
                f"HTTP {resp.status_code} {error}".rstrip()
            )
        return body.get("data") or {}

    def _labels(self, metric: dict[str, str]) -> Labels:
        return {k: v for k, v in metric.items() if k not in self.drop}

    def _dedup(self, result: list[dict[str, Any]]) -> list[tuple[Labels, Any]]:
        """Series that differ only in ignored labels (two scrapers, HA replicas) count once."""
        seen: dict[tuple, tuple[Labels, Any]] = {}
        for item in sorted(result, key=lambda r: sorted(r.get("metric", {}).items())):
            labels = self._labels(item.get("metric", {}))
            key = tuple(sorted(labels.items()))
            if key not in seen:
                seen[key] = (labels, item.get("value") if "value" in item else item.get("values"))
        return list(seen.values())

    def _instant(self, query: str, t: float) -> list[Series]:
        data = self._get("/api/v1/query", {"query": query, "time": f"{t:.3f}"})
        return [(labels, float(v[1])) for labels, v in self._dedup(data.get("result", []))]

    def last_over(self, sel: Selector, t: float, window: float) -> list[Series]:
        return self._instant(f"last_over_time({sel.promql()}[{duration(window)}])", t)

    def avg_over(self, sel: Selector, t: float, window: float) -> list[Series]:
        return self._instant(f"avg_over_time({sel.promql()}[{duration(window)}])", t)

    def count_over(self, sel: Selector, t: float, window: float) -> list[Series]:
        return self._instant(f"count_over_time({sel.promql()}[{duration(window)}])", t)

    def last_over_range(self, sel: Selector, first: float, last: float, step: float) -> list[RangeSeries]:
        data = self._get(
            "/api/v1/query_range",
            {
                "query": f"last_over_time({sel.promql()}[{duration(step)}])",
                "start": f"{first:.3f}",
                "end": f"{last:.3f}",
                "step": duration(step),
            },
        )
        return [
            (labels, [(float(ts), float(v)) for ts, v in values])
            for labels, values in self._dedup(data.get("result", []))
        ]

    def samples_over(self, sel: Selector, t: float, window: float) -> list[RangeSeries]:
        data = self._get(
            "/api/v1/query", {"query": f"{sel.promql()}[{duration(window)}]", "time": f"{t:.3f}"}
        )
        return [
            (labels, [(float(ts), float(v)) for ts, v in values])
            for labels, values in self._dedup(data.get("result", []))
        ]


def parse_header(text: str) -> tuple[str, str]:
    """``--prometheus.header 'X-Scope-OrgID: tenant'``"""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise SourceError(f"--prometheus.header must look like 'Name: value', got {json.dumps(text)}")
    return name.strip(), value.strip()
