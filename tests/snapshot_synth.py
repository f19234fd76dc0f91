"""A simulated province over whole quarters, time-compressed: the samples the exporter would hold at each
tick, computed directly from the simulator's deterministic ``World`` (no HTTP, no waiting).

Used by the snapshot tests and by ``bench/snapshot_bench.py``: the same ticks are written into a history
file (through :meth:`HistoryDB.write_tick`, as the exporter's writer does) and into an OpenMetrics file
that ``promtool tsdb create-blocks-from openmetrics`` backfills into a real Prometheus.

The ground truth is exposed as plain functions (``services``, ``score``, ``up``, ...) so that tests compute
the expected figures on their own, without the snapshot code.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

from exporter.simulator.world import TZ, World

GROUPS = {"CKMB": 18.0, "TDGQ": 20.0, "CLGQ": 12.0, "TTTT": 10.0, "MDHL": 18.0, "MDSH": 22.0}


def _par7() -> dict[str, tuple[float, str]]:
    from exporter.scoring.scorecard import PACKAGE_ROOT, load_scorecard

    card = load_scorecard(PACKAGE_ROOT / "indicators" / "par7.yaml")
    return {g.code: (g.max, g.name) for g in card.groups}


#: PAR Index component 7: the 14 criteria of the shipped scorecard (code -> maximum, name)
PAR7_CRITERIA = _par7()
PAR7 = {code: most for code, (most, _name) in PAR7_CRITERIA.items()}
#: criteria a person scored (value 0-1, who, when); C14 has no data at all
PAR7_MANUAL = {
    "C12": (0.5, "Phòng CĐS, Sở KH&CN", dt.datetime(2026, 7, 15, tzinfo=TZ).timestamp()),
    "C13": (0.0, "Phòng CĐS, Sở KH&CN", dt.datetime(2026, 7, 15, tzinfo=TZ).timestamp()),
}
PAR7_NO_DATA = ("C14",)
TARGETS = {  # target -> (system, share of its ticks down)
    "portal-main": ("portal", 0.02),
    "portal-so-tu-phap": ("portal", 0.05),
    "lgsp-api": ("lgsp", 0.04),
    "documents-api": ("documents", 0.01),
    "services-api": ("services", 0.03),
    "services-table": ("services", 0.0),
    "dvcqg": ("national", 0.08),
}
CHANNELS = ("online", "direct", "postal")
PROVINCE_LABEL = {"province": "H99"}
#: the 34 provinces of the national ranking: this one (H99) and 33 others
PROVINCES = {"H99": "Tỉnh Mô Phỏng", **{f"H{i:02d}": f"Tỉnh Thử Nghiệm {i:02d}" for i in range(1, 34)}}


def r2(x: float) -> float:
    return float(Decimal(repr(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class Province:
    def __init__(
        self,
        units: int = 5,
        *,
        step: int = 86400,
        offset: int = 20 * 3600,
        start: dt.date = dt.date(2026, 4, 1),
        end: dt.date = dt.date(2026, 10, 1),
        periods: tuple[str, ...] = ("month", "quarter", "year"),
        table_units: int = 2,
        seed: int = 766,
        cache: bool = True,
        without: tuple[tuple[str, str, str], ...] = (),
        national: bool = True,
    ) -> None:
        """Ticks every ``step`` seconds from ``offset`` after local midnight of ``start`` (by default daily
        at 20:00, after office hours), until ``end``.  ``without``: (source, unit code, group) scores never
        published (a unit whose CLGQ the engine cannot compute)."""
        self.without = set(without)
        #: the national ranking of the 34 provinces (H99, this one, among H01..H33)
        self.national = national
        self.world = World(units=units, seed=seed)
        self.step = step
        self.offset = offset
        self.start = dt.datetime(start.year, start.month, start.day, tzinfo=TZ)
        self.end = dt.datetime(end.year, end.month, end.day, tzinfo=TZ)
        self.periods = periods
        self.province = self.world.units[0]
        self.children = self.world.children
        #: the public HTML table (a second target) repeats the first few units, with smaller figures
        self.table_units = self.children[:table_units]
        self._cache: dict[int, list] | None = {} if cache else None

    # ground truth ---------------------------------------------------------------------------
    def ticks(self) -> list[int]:
        t, end, out = int(self.start.timestamp()) + self.offset, self.end.timestamp(), []
        while t < end:
            out.append(t)
            t += self.step
        return out

    def services(self, unit, period: str, ts: int) -> dict[str, int]:
        w, at = self.world, dt.datetime.fromtimestamp(ts, TZ)
        ch = {
            c: w.count(unit, f"svc.{c}", per_day, period, at)
            for c, per_day in (("online", 6.0), ("direct", 4.0), ("postal", 0.5))
        }
        received = sum(ch.values())
        with_fee = w.part(received, unit, "svc.fee", 0.3, 0.6)
        completed = w.part(received, unit, "svc.done", 0.7, 0.9)
        return {
            **ch,
            "received": received,
            "full_online": w.part(ch["online"], unit, "svc.full", 0.5, 0.95),
            "with_fee": with_fee,
            "paid_online": w.part(with_fee, unit, "svc.paid", 0.4, 0.95),
            "digitized": w.part(received, unit, "svc.dig", 0.5, 0.99),
            "early": w.part(completed, unit, "svc.early", 0.2, 0.4),
            "on_time": w.part(completed, unit, "svc.ontime", 0.4, 0.5),
            "late": w.part(completed, unit, "svc.late", 0.0, 0.1),
        }

    def table(self, unit, period: str, ts: int) -> dict[str, int]:
        """What the public HTML table shows: the procedures it lists, 90 % of the API's dossiers."""
        return {k: int(v * 0.9) for k, v in self.services(unit, period, ts).items()}

    def documents(self, unit, period: str, ts: int) -> dict[str, int]:
        w, at = self.world, dt.datetime.fromtimestamp(ts, TZ)
        electronic = w.count(unit, "doc.e", 8.0, period, at)
        work_files = w.count(unit, "doc.wf", 5.0, period, at)
        return {
            "electronic": electronic,
            "paper": w.count(unit, "doc.p", 1.0, period, at),
            "signed": w.part(electronic, unit, "doc.sign", 0.6, 0.99),
            "work_files": work_files,
            "work_files_online": w.part(work_files, unit, "doc.wfo", 0.5, 0.95),
        }

    @staticmethod
    def level(unit) -> str:
        return {"PROVINCE": "province", "DEPARTMENT": "province", "COMMUNE": "commune"}[unit.level]

    def score(self, unit, group: str, period: str, ts: int, source: str = "published") -> float:
        """Published daily by the national portal; the engine's computed score runs 2 % lower."""
        day = dt.datetime.fromtimestamp(ts, TZ).date()
        base = self.world.share(unit, f"766.{group}.{period}", 0.55, 0.95)
        wobble = self.world.share(unit, f"766.{group}.{day.isoformat()}", 0.0, 0.05)
        value = r2(GROUPS[group] * min(1.0, base + wobble))
        return value if source == "published" else r2(value * 0.98)

    def par7_scores(self, ts: int) -> dict[str, float]:
        """The criteria that have a score: measured ones, and the manual ones (value x maximum)."""
        out = {}
        for code, most in PAR7.items():
            if code in PAR7_MANUAL:
                out[code] = r2(PAR7_MANUAL[code][0] * most)
            elif code not in PAR7_NO_DATA:
                out[code] = self.par7(code, ts)
        return out

    def par7(self, criterion: str, ts: int) -> float:
        """Each criterion improves through a quarter and starts again lower the next."""
        at = dt.datetime.fromtimestamp(ts, TZ)
        day = (at - _datetime(_period_start(ts, "quarter"))).days
        share = min(
            1.0,
            0.5 + 0.004 * day + self.world.share(self.province, f"par7.{criterion}.{at.month > 6}", 0.0, 0.3),
        )
        return r2(PAR7[criterion] * share)

    def shared_apps(self, ts: int) -> tuple[int, int]:
        day = (dt.datetime.fromtimestamp(ts, TZ).date() - self.start.date()).days
        return min(12, 7 + day // 30), 12

    def sections(self, target: str, ts: int) -> tuple[int, int]:
        day = (dt.datetime.fromtimestamp(ts, TZ).date() - self.start.date()).days
        return (9, 10) if target == "portal-main" else (min(8, 6 + day // 60), 8)

    def newest_article(self, target: str, ts: int) -> float:
        """08:00 local of the day before (the sub-site publishes every third day)."""
        day = dt.datetime.fromtimestamp(ts, TZ).date() - dt.timedelta(days=1)
        if target != "portal-main":
            day -= dt.timedelta(days=day.toordinal() % 3)
        return dt.datetime(day.year, day.month, day.day, 8, tzinfo=TZ).timestamp()

    def ranking(self, period: str, ts: int) -> dict[str, tuple[int, float, dict[str, float]]]:
        """province -> (national rank, total, group scores): this province's are its published scores."""
        day = dt.datetime.fromtimestamp(ts, TZ).date()
        scores = {}
        for code in PROVINCES:
            if code == "H99":
                groups = {g: self.score(self.province, g, period, ts) for g in GROUPS}
            else:
                groups = {
                    g: r2(
                        most
                        * min(
                            1.0,
                            self.world.share(self.province, f"nat.{code}.{g}.{period}", 0.6, 0.95)
                            + self.world.share(self.province, f"nat.{code}.{g}.{day}", 0.0, 0.04),
                        )
                    )
                    for g, most in GROUPS.items()
                }
            scores[code] = groups
        totals = {code: r2(math.fsum(g.values())) for code, g in scores.items()}
        order = sorted(PROVINCES, key=lambda c: (-totals[c], natural(c)))
        return {code: (order.index(code) + 1, totals[code], scores[code]) for code in PROVINCES}

    def up(self, target: str, ts: int) -> float:
        return (
            0.0
            if self.world.share(self.province, f"down.{target}.{ts}", 0.0, 1.0) < TARGETS[target][1]
            else 1.0
        )

    def duration(self, target: str, ts: int) -> float:
        return round(0.05 + self.world.share(self.province, f"dur.{target}.{ts}", 0.0, 2.0), 3)

    # samples --------------------------------------------------------------------------------
    def samples(self, ts: int) -> list[tuple[str, dict[str, str], float]]:
        if self._cache is not None and ts in self._cache:
            return self._cache[ts]
        out = self._samples(ts)
        if self._cache is not None:
            self._cache[ts] = out
        return out

    def _samples(self, ts: int) -> list[tuple[str, dict[str, str], float]]:
        out: list[tuple[str, dict[str, str], float]] = []

        def add(metric: str, target: str | None, value: float, **labels: str) -> None:
            base = {"target": target, "system": TARGETS[target][0], **PROVINCE_LABEL} if target else {}
            out.append((metric, {**base, **labels}, float(value)))

        for target in TARGETS:
            up = self.up(target, ts)
            add("egov_target_up", target, up)
            now = "up" if up else "down"
            for state in ("up", "degraded", "down", "unknown"):
                add("egov_target_state", target, 1.0 if state == now else 0.0, state=state)
            add("egov_target_poll_duration_seconds", target, self.duration(target, ts))
        for period in self.periods:
            for unit in self.children:
                s = self.services(unit, period, ts)
                for c in CHANNELS:
                    add(
                        "egov_services_dossiers_received_total",
                        "services-api",
                        s[c],
                        unit=unit.code,
                        period=period,
                        channel=c,
                    )
                for key in ("full_online", "with_fee", "paid_online", "digitized"):
                    add(
                        f"egov_services_dossiers_{key}_total",
                        "services-api",
                        s[key],
                        unit=unit.code,
                        period=period,
                    )
                for key in ("early", "on_time", "late"):
                    add(
                        "egov_services_dossiers_completed_total",
                        "services-api",
                        s[key],
                        unit=unit.code,
                        period=period,
                        timeliness=key,
                    )
                if unit in self.table_units:
                    t = self.table(unit, period, ts)
                    for c in CHANNELS:
                        add(
                            "egov_services_dossiers_received_total",
                            "services-table",
                            t[c],
                            unit=unit.code,
                            period=period,
                            channel=c,
                        )
                    for key in ("with_fee", "paid_online"):
                        add(
                            f"egov_services_dossiers_{key}_total",
                            "services-table",
                            t[key],
                            unit=unit.code,
                            period=period,
                        )
                d = self.documents(unit, period, ts)
                lv = self.level(unit)
                for c in ("electronic", "paper"):
                    add(
                        "egov_documents_sent_total",
                        "documents-api",
                        d[c],
                        unit=unit.code,
                        level=lv,
                        period=period,
                        channel=c,
                    )
                add(
                    "egov_documents_signed_total",
                    "documents-api",
                    d["signed"],
                    unit=unit.code,
                    level=lv,
                    period=period,
                )
                add(
                    "egov_documents_work_files_total",
                    "documents-api",
                    d["work_files"],
                    unit=unit.code,
                    level=lv,
                    period=period,
                )
                add(
                    "egov_documents_work_files_online_total",
                    "documents-api",
                    d["work_files_online"],
                    unit=unit.code,
                    level=lv,
                    period=period,
                )
            for unit in self.world.units:
                for group in GROUPS:
                    for source, target in (("published", "dvcqg"), ("computed", None)):
                        if (source, unit.code, group) in self.without:
                            continue
                        add(
                            "egov_qd766_score",
                            target,
                            self.score(unit, group, period, ts, source),
                            unit=unit.code,
                            group=group,
                            period=period,
                            source=source,
                        )
        for unit in self.world.units:
            add(
                "egov_qd766_unit_info",
                "dvcqg",
                1.0,
                unit=unit.code,
                unit_name=unit.name,
                level=unit.level.lower(),
            )
        for unit in self.children:
            add("egov_services_unit_info", "services-api", 1.0, unit=unit.code, unit_name=unit.name)
        if self.national:
            for period in self.periods:
                for code, (rank, total, groups) in self.ranking(period, ts).items():
                    for g, v in [*groups.items(), ("total", total)]:
                        add("egov_qd766_province_score", "dvcqg", v, province=code, group=g, period=period)
                    add("egov_qd766_province_rank", "dvcqg", rank, province=code, period=period)
            for code, name in PROVINCES.items():
                add("egov_qd766_province_info", "dvcqg", 1.0, province=code, name=name)
        scores = self.par7_scores(ts)
        for c, (most, name) in PAR7_CRITERIA.items():
            if c in scores:
                add("egov_par7_criterion_score", None, scores[c], criterion=c)
            add("egov_par7_criterion_max_score", None, most, criterion=c)
            add("egov_par7_criterion_info", None, 1.0, criterion=c, name=name, verified="false")
            add("egov_par7_criterion_manual", None, 1.0 if c in PAR7_MANUAL else 0.0, criterion=c)
            if c in PAR7_MANUAL:
                _v, by, at = PAR7_MANUAL[c]
                add("egov_par7_criterion_manual_set_timestamp_seconds", None, at, criterion=c, set_by=by)
        add("egov_par7_score", None, r2(math.fsum(scores.values())))
        add("egov_par7_max_score", None, 13.5)
        add("egov_par7_criteria_at_max", None, sum(v == PAR7[c] for c, v in scores.items()))
        connected, apps = self.shared_apps(ts)
        add("egov_lgsp_shared_data_applications_connected", "lgsp-api", connected)
        add("egov_lgsp_shared_data_applications", "lgsp-api", apps)
        for target in ("portal-main", "portal-so-tu-phap"):
            present, required = self.sections(target, ts)
            add("egov_portal_required_sections_present", target, present)
            add("egov_portal_required_sections", target, required)
            add("egov_portal_newest_article_timestamp_seconds", target, self.newest_article(target, ts))
        return out

    def write_history(self, db) -> int:
        n = 0
        for ts in self.ticks():
            n += db.write_tick(ts, self.samples(ts), self.step)
        return n

    def openmetrics(self) -> Iterator[str]:
        """The same samples as OpenMetrics text for promtool (every series at every tick)."""
        families: dict[str, list[str]] = {}
        for ts in self.ticks():
            for name, labels, value in self.samples(ts):
                body = ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items()))
                families.setdefault(name, []).append(f"{name}{{{body}}} {value!r} {ts}\n")
        for name, lines in families.items():
            yield f"# TYPE {name} gauge\n"
            yield from lines
        yield "# EOF\n"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _datetime(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, TZ)


def _period_start(ts: int, period: str) -> float:
    from exporter.simulator.world import period_start

    return period_start(dt.datetime.fromtimestamp(ts, TZ), period).timestamp()


# ------------------------------------------------------------------------------------------- expected


def natural(code: str) -> tuple:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", code))


class Expected:
    """The figures a snapshot of ``[start, end)`` must show, computed from the ground truth alone."""

    def __init__(self, province: Province, start: dt.datetime, end: dt.datetime, kind: str) -> None:
        self.p = province
        self.start, self.end, self.kind = start, end, kind
        self.ticks = [t for t in province.ticks() if start.timestamp() <= t < end.timestamp()]
        self.last = self.ticks[-1]
        self.period = kind if kind in ("month", "quarter", "year") else None

    # values of the services / documents counters at the end (or their increase over a range)
    def _value(self, fn, unit, key: str) -> float:
        if self.period:
            return fn(unit, self.period, self.last)[key]
        base = max(t for t in self.p.ticks() if t < self.start.timestamp())
        return fn(unit, "year", self.last)[key] - fn(unit, "year", base)[key]

    def services(self, key: str, units=None) -> int:
        return sum(self._value(self.p.services, u, key) for u in (units or self.p.children))

    def documents(self, key: str, units=None) -> int:
        return sum(self._value(self.p.documents, u, key) for u in (units or self.p.children))

    def indicators(self) -> dict[str, float]:
        s, d = self.services, self.documents
        completed = s("early") + s("on_time") + s("late")
        prov = [u for u in self.p.children if self.p.level(u) == "province"]
        comm = [u for u in self.p.children if self.p.level(u) == "commune"]
        connected, apps = self.p.shared_apps(self.last)
        present = [self.p.sections(t, self.last) for t in ("portal-main", "portal-so-tu-phap")]
        par7 = self.p.par7_scores(self.last)
        return {
            "dossiers_received": s("received"),
            "dossiers_online": s("online"),
            "online_submission_ratio": s("online") / s("received"),
            "full_online_ratio": s("full_online") / s("received"),
            "online_payment_ratio": s("paid_online") / s("with_fee"),
            "digitized_ratio": s("digitized") / s("received"),
            "on_time_ratio": (s("early") + s("on_time")) / completed,
            "documents_sent": d("electronic") + d("paper"),
            "documents_electronic_ratio": d("electronic") / (d("electronic") + d("paper")),
            "documents_signed_ratio": d("signed") / d("electronic"),
            "work_files_online_ratio": d("work_files_online") / d("work_files"),
            "work_files_online_province": d("work_files_online", prov) / d("work_files", prov),
            "work_files_online_commune": d("work_files_online", comm) / d("work_files", comm),
            "lgsp_shared_data_ratio": connected / apps,
            "portal_required_sections_ratio": sum(p for p, _ in present) / sum(r for _, r in present),
            "portal_newest_article": max(
                self.p.newest_article(t, self.last) for t in ("portal-main", "portal-so-tu-phap")
            ),
            "par7_score": r2(math.fsum(par7.values())),
            "par7_criteria_at_max": float(sum(v == PAR7[c] for c, v in par7.items())),
        }

    def unit_ratio(self, unit, num: str, den: str) -> float:
        return self._value(self.p.services, unit, num) / self._value(self.p.services, unit, den)

    def score_period(self) -> str:
        return self.period or "month"

    def totals(self, source: str = "published") -> dict[str, float | None]:
        """Each unit's total: the sum of its six group scores, None when one is missing."""
        return {
            u.code: None
            if any((source, u.code, g) in self.p.without for g in GROUPS)
            else r2(math.fsum(self.p.score(u, g, self.score_period(), self.last, source) for g in GROUPS))
            for u in self.p.world.units
        }

    def ranks(self) -> dict[str, tuple[str, int]]:
        """unit -> (level, rank within the level)"""
        totals = self.totals()
        out: dict[str, tuple[str, int]] = {}
        for level in ("department", "commune"):  # the levels egov_qd766_unit_info gives
            members = sorted(
                (u.code for u in self.p.children if u.level.lower() == level and totals[u.code] is not None),
                key=lambda c: (-totals[c], natural(c)),
            )
            out.update({c: (level, i + 1) for i, c in enumerate(members)})
        return out

    def availability(self) -> dict[str, float]:
        return {
            t: round(math.fsum(self.p.up(t, ts) for ts in self.ticks) / len(self.ticks), 12) for t in TARGETS
        }

    def systems(self) -> dict[str, float]:
        av = self.availability()
        systems: dict[str, list[float]] = {}
        for t, (system, _) in TARGETS.items():
            systems.setdefault(system, []).append(av[t])
        return {s: math.fsum(v) / len(v) for s, v in systems.items()}

    def observations(self) -> int:
        return len(self.ticks)

    def daily_ticks(self) -> list[int]:
        """The tick each trend point (end of each day) reads."""
        out, day = [], self.start
        while day < self.end:
            nxt = day + dt.timedelta(days=1)
            inside = [t for t in self.ticks if day.timestamp() <= t < nxt.timestamp()]
            if inside:
                out.append(inside[-1])
            day = nxt
        return out
