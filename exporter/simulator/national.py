"""The simulated national public-service portal's Decision 766 evaluation API (dichvucong.gov.vn).

Under ``/national/``:

* ``GET /`` — a small home page.
* ``POST /api/v1/reporting/evaluation/<endpoint>`` for the six endpoints (``transparency``,
  ``dvc-progress-tree``, ``provide-online-tree``, ``formality-online-payment-tree``,
  ``handling-satisfaction``, ``dossier-digitized``), answering **HTTP 201** with the real payloads' shapes
  (``tests/fixtures/dvcqg-766``): *tree* (``data.parent`` + ``data.children[]``) or *metrics*
  (``data.overview`` + ``data.evaluation[]`` + ``data.pagination``).

Figures move in steps of :data:`STEP_MINUTES` simulated minutes.  The request body is honoured:
``rootDepartmentId`` (the simulated province's, else 400), ``timeType`` with ``year`` and
``month``/``quarter`` (``handling-satisfaction``: ``fromDate``/``toDate``), and ``currentPage``/``pageSize``
on the metrics-shaped endpoints (trees answer every child, as the real API does).  A request for
the period the simulated now is in — or the period the real clock is in, which the exporter asks for when
the simulator runs faster than real time — is answered to the simulated now; an earlier period to its end;
a later one with zeros.

``POST /jsp/rest.jsp`` is the portal's report service (form field ``params`` holding JSON): the service
``report_tinh_766_service`` with ``p_tinh_id`` 0 answers the national ranking, a JSON array of the 34
provinces (``ID``, ``TEN``, ``TEN_COQUAN``, ``MA_COQUAN``, ``LOAI_COQUAN``, ``CAPDONVIID``, ``ID_COQUAN``, the
six group scores and ``TONG_SCORE`` as strings, ``ROW_STT``) for the month (``p_thang``), quarter
(``p_quy``) or year (all zero) asked; the world's own province (``World.province_code``) with the scores its
evaluation endpoints publish, 33 made-up provinces (``Tỉnh mô phỏng 01`` ... , codes ``H01`` ... but its own) whose
scores drift from day to day, so that ranks move.  Another service or province answers an empty array.

Every count comes from :class:`World` (period-to-date, growing through office hours); every published score
follows the Decision 766 rules (``shared/domain.md``), rounding included, so that the exporter's computed
scores equal the published ones.  As on the real portal, only the province (the tree parents) publishes the
raw counts of ``provide-online-tree``, and ``transparency``/``handling-satisfaction`` identify units by
``departmentId`` only.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from exporter.scoring.rounding import r2
from exporter.simulator.protocol import Reply, Request
from exporter.simulator.world import (
    PROVINCE_CODE,
    PROVINCE_NAME,
    ROOT_DEPARTMENT_ID,
    TZ,
    Unit,
    World,
    _hash01,
    period_start,
)

API = "/api/v1/reporting/evaluation/"
#: dossiers received per working day by a unit of weight 1 (the national portal's view)
PER_DAY = 40.0
#: citizen petitions per working day by a unit of weight 1
PETITIONS_PER_DAY = 0.08
#: the portal's statistics move in steps of this many simulated minutes (its figures are not live either)
STEP_MINUTES = 10
ENDPOINTS = (
    "transparency",
    "dvc-progress-tree",
    "provide-online-tree",
    "formality-online-payment-tree",
    "handling-satisfaction",
    "dossier-digitized",
)

#: the report service, and the ranking's province count (34 since the 2025 merger of provinces)
REPORT_PATH = "/jsp/rest.jsp"
PROVINCES = 34
#: the simulated province's id in the report service
PROVINCE_REPORT_ID = "399099"
#: the maximum of each Decision 766 group
GROUP_MAX = {"CKMB": 18, "TDGQ": 20, "CLGQ": 12, "TTTT": 10, "MDHL": 18, "MDSH": 22}

_TYPES = {
    "PROVINCE": ("PROVINCE", "PROVINCE", "level_1"),
    "DEPARTMENT": ("PROVINCIAL_DEPARTMENT", "PROVINCE", "level_2"),
    "COMMUNE": ("COMMUNE_PEOPLE_COMMITTEE", "COMMUNE", "level_2"),
}
_TREE_LEVEL = {"DEPARTMENT": "PROVINCE", "COMMUNE": "COMMUNE"}

_METRIC_NAMES = {
    "PUBLISH_ON_TIME": "Tỷ lệ TTHC công bố đúng hạn",
    "PUBLIC_UPDATE_ON_TIME": "Tỷ lệ TTHC cập nhật, công khai đúng hạn",
    "PUBLIC_CONTENT_FULL": "Tỷ lệ TTHC công khai đầy đủ nội dung",
    "DOSSIER_SYNC": "Tỷ lệ hồ sơ đồng bộ lên Cổng DVCQG",
    "PETITION_CLASSIFICATION_TTHC": "Tỷ lệ PAKN về quy định, thủ tục hành chính",
    "DOSSIER_RECEIVING_SATISFACTION": "Tỷ lệ hài lòng trong tiếp nhận, giải quyết TTHC",
    "PETITION_PROCESSING_ON_TIME": "Tỷ lệ PAKN xử lý đúng hạn",
    "PETITION_HANDLING_SATISFACTION": "Tỷ lệ hài lòng trong xử lý PAKN",
    "PETITION_CLASSIFICATION_STAFF": "Tỷ lệ PAKN về hành vi cán bộ, công chức, viên chức",
    "ORIGINAL_RESULT_AVAILABLE": "Tỷ lệ hồ sơ thủ tục hành chính có cấp kết quả giải quyết thủ tục hành "
    "chính điện tử",
    "SO_HOA_GIAY_TO_GIAI_QUYET": "Tỷ lệ hồ sơ thủ tục hành chính thực hiện số hóa hồ sơ",
    "REUSED_DIGITIZED_DATA": "Tỷ lệ hồ sơ khai thác, sử dụng lại thông tin, dữ liệu số hóa",
    "SYNCED_WITH_DVCQG_PERSONAL_STORAGE": "Tỷ lệ hồ sơ TTHC được số hóa có kết nối, chia sẻ dữ liệu phục vụ "
    "tái sử dụng",
    "CITIZEN_DATA_CONNECTED_DOSSIER": "Tỷ lệ hồ sơ TTHC có sử dụng thông tin, dữ liệu dân cư",
    "CITIZEN_DATA_CONNECTED_FORMALITY": "Tỷ lệ TTHC triển khai kết nối, chia sẻ dữ liệu dân cư phục vụ "
    "GQ TTHC",
    "ELECTRONIC_CERTIFIED_COPY": "Tỷ lệ cung cấp dịch vụ chứng thực bản sao điện tử từ bản chính",
}

# ------------------------------------------------------------------------------------- figures

Figures = dict[str, int]


class _Shares:
    """World.share and World.part with each unit's shares remembered (each is a hash, and a request
    for a province of ~100 units needs thousands)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._cache: dict[tuple[str, str, float, float], float] = {}

    def share(self, unit: Unit, key: str, low: float, high: float) -> float:
        k = (unit.code, key, low, high)
        value = self._cache.get(k)
        if value is None:
            value = self._cache[k] = self.world.share(unit, key, low, high)
        return value

    def part(self, total: int, unit: Unit, key: str, low: float, high: float) -> int:
        return int(total * self.share(unit, key, low, high))  # as World.part

    def count(self, unit: Unit, key: str, per_day: float, period: str, at: dt.datetime) -> int:
        return self.world.count(unit, key, per_day, period, at)


def unit_figures(world: World | _Shares, unit: Unit, period: str, at: dt.datetime | None) -> Figures:
    """A department's or commune's counts for the period up to ``at`` (None: a future period, zeros)."""
    w = world

    def count(key: str, per_day: float) -> int:
        return 0 if at is None else w.count(unit, key, per_day, period, at)

    received = count("nat.received", PER_DAY)
    on_time = w.part(received, unit, "nat.on_time", 0.55, 0.99)
    completed = on_time + w.part(received - on_time, unit, "nat.completed", 0.2, 0.6)
    online = w.part(received, unit, "nat.online", 0.6, 0.99)
    postal = w.part(received - online, unit, "nat.postal", 0.0, 0.05)
    with_fee = w.part(received, unit, "nat.fee", 0.3, 0.65)
    fee_procedures = 1 + int(40 * w.share(unit, "nat.fee_procedures", 0, 1))
    procedures = 3 + int(70 * w.share(unit, "nat.procedures", 0, 1))
    services = 5 + int(60 * w.share(unit, "nat.services", 0, 1))
    authority = 2 + int(30 * w.share(unit, "nat.authority", 0, 1))
    full = w.part(authority, unit, "nat.full", 0.2, 0.6)
    petitions = count("nat.petitions", PETITIONS_PER_DAY)
    classified = w.part(petitions, unit, "nat.classified", 0.9, 1.0)
    tthc = w.part(classified, unit, "nat.petition_tthc", 0.4, 0.9)
    return {
        "received": received,
        "on_time": on_time,
        "completed": completed,
        "overdue": completed - on_time,
        "online": online,
        "postal": postal,
        "direct": received - online - postal,
        "online_on_time": w.part(online, unit, "nat.online_on_time", 0.7, 0.99),
        "with_fee": with_fee,
        "paid_online": w.part(with_fee, unit, "nat.paid", 0.4, 0.99),
        "fee_procedures": fee_procedures,
        "fee_procedures_paid_online": w.part(fee_procedures, unit, "nat.fee_paid", 0.05, 0.6),
        "fee_procedures_with_dossiers": w.part(fee_procedures, unit, "nat.fee_dossiers", 0.05, 0.5),
        "authority": authority,
        "full": full,
        "partial": w.part(authority - full, unit, "nat.partial", 0.3, 0.9),
        "services": services,
        "services_used": w.part(services, unit, "nat.services_used", 0.1, 0.7),
        "synced": w.part(received, unit, "nat.synced", 0.9, 1.0),
        "result_online": w.part(received, unit, "nat.result", 0.4, 0.95),
        "digitized": w.part(received, unit, "nat.digitized", 0.05, 0.7),
        "reused": w.part(received, unit, "nat.reused", 0.0, 0.1),
        "personal_storage": w.part(received, unit, "nat.storage", 0.0, 0.05),
        "citizen_data": w.part(received, unit, "nat.citizen", 0.3, 1.0),
        "procedures": procedures,
        "procedures_citizen_data": w.part(procedures, unit, "nat.proc_citizen", 0.1, 0.5),
        "satisfied": w.part(received, unit, "nat.satisfied", 0.6, 0.98),
        "petitions": petitions,
        "classified": classified,
        "petitions_tthc": tthc,
        "petitions_staff": classified - tthc,
        "petitions_on_time": w.part(petitions, unit, "nat.petitions_on_time", 0.5, 1.0),
        "petitions_satisfied": w.part(petitions, unit, "nat.petitions_satisfied", 0.4, 1.0),
    }


#: procedure-level figures are the province's own, not sums of its units'
_PROVINCE_OWN = (
    "fee_procedures",
    "fee_procedures_paid_online",
    "fee_procedures_with_dossiers",
    "authority",
    "full",
    "partial",
    "services",
    "services_used",
    "procedures",
    "procedures_citizen_data",
)


def province_figures(world: World, children: list[Figures]) -> Figures:
    province = world.units[0]
    out = {key: sum(f[key] for f in children) for key in children[0]} if children else {}
    for key in _PROVINCE_OWN:
        total = out.get(key, 0)
        out[key] = int(total * world.share(province, f"nat.distinct.{key}", 0.25, 0.35))
    out["full"] = min(out["full"], out["authority"])
    out["partial"] = min(out["partial"], out["authority"] - out["full"])
    out["fee_procedures_paid_online"] = min(out["fee_procedures_paid_online"], out["fee_procedures"])
    out["fee_procedures_with_dossiers"] = min(out["fee_procedures_with_dossiers"], out["fee_procedures"])
    out["services_used"] = min(out["services_used"], out["services"])
    out["procedures_citizen_data"] = min(out["procedures_citizen_data"], out["procedures"])
    return out


def procedure_publicity(world: World, province_received: int) -> Figures:
    """Province-wide procedure publication figures, repeated on every unit (as the portal does)."""
    province = world.units[0]
    published = province_received // 3000
    content = 60 + int(40 * world.share(province, "nat.content", 0, 1))
    return {
        "published": published,
        "published_on_time": world.part(published, province, "nat.pub", 0.6, 1.0),
        "updated": published // 2,
        "updated_on_time": world.part(published // 2, province, "nat.upd", 0.5, 1.0),
        "content": content,
        "content_full": world.part(content, province, "nat.content_full", 0.9, 1.0),
    }


# ------------------------------------------------------------------------------- the 766 rules


def _pct(n: int, d: int) -> float:
    return r2(100 * n / d) if d else 0.0


def score_tdgq(f: Figures) -> float:
    return r2(20 * f["on_time"] / f["received"]) if f["received"] else 0.0


def score_tttt(f: Figures) -> float:
    p_a = _pct(f["paid_online"], f["with_fee"])
    p_b = _pct(f["fee_procedures_paid_online"], f["fee_procedures"])
    p_c = _pct(f["fee_procedures_with_dossiers"], f["fee_procedures"])
    return r2(r2(6 * p_a / 100) + r2(min(2, 2.5 * p_b / 100)) + r2(min(2, 2.5 * p_c / 100)))


def score_clgq(f: Figures) -> float:
    channels = f["online"] + f["direct"] + f["postal"]
    a = 100 * (f["full"] + f["partial"]) / f["authority"] if f["authority"] else 0.0
    b = 100 * f["online"] / channels if channels else 0.0
    c = 100 * f["services_used"] / f["services"] if f["services"] else 0.0
    return r2(min(2, 2 * a / 80) + 4 * c / 100 + min(6, 6 * b / 50))


def _metric(
    code: str,
    n: int | None,
    d: int | None,
    max_score: float,
    points: Callable[[float], float] | None,
    when_zero: float | None,
) -> dict[str, Any]:
    """One metric as the portal publishes it: ratio in %, score (null when not scored)."""
    if n is None or d is None:
        ratio, score = 100, max_score  # published without counts (electronic certified copies)
    elif d == 0:
        ratio, score = None, when_zero
    else:
        ratio = r2(100 * n / d)
        score = r2(points(100 * n / d)) if points else None
    return {
        "code": code,
        "name": _METRIC_NAMES[code],
        "numerator": n,
        "denominator": d,
        "ratio": ratio,
        "score": score,
        "maxScore": max_score,
    }


def _prop(mx: float, full_at: float = 100) -> Callable[[float], float]:
    return lambda p: min(mx, mx * p / full_at)


def transparency_metrics(f: Figures, pub: Figures) -> list[dict[str, Any]]:
    return [
        _metric("PUBLISH_ON_TIME", pub["published_on_time"], pub["published"], 6, _prop(6), None),
        _metric("PUBLIC_UPDATE_ON_TIME", pub["updated_on_time"], pub["updated"], 4, _prop(4), None),
        _metric("PUBLIC_CONTENT_FULL", pub["content_full"], pub["content"], 2, _prop(2), None),
        _metric("DOSSIER_SYNC", f["synced"], f["received"], 6, _prop(6), None),
    ]


def satisfaction_metrics(f: Figures) -> list[dict[str, Any]]:
    p = f["petitions"]
    out = [
        _metric("PETITION_CLASSIFICATION_TTHC", f["petitions_tthc"], p, 0, None, None),
        _metric("DOSSIER_RECEIVING_SATISFACTION", f["satisfied"], f["received"], 6, _prop(6, 90), 0),
        _metric("PETITION_PROCESSING_ON_TIME", f["petitions_on_time"], p, 6, _prop(6), 6),
        _metric("PETITION_HANDLING_SATISFACTION", f["petitions_satisfied"], p, 6, _prop(6), 6),
        _metric("PETITION_CLASSIFICATION_STAFF", f["petitions_staff"], p, 0, None, None),
    ]
    for m in out:  # the real API writes ratio 0 (not null) for petitions and satisfaction without data
        if m["ratio"] is None:
            m["ratio"] = 0
    return out


def digitization_metrics(f: Figures) -> list[dict[str, Any]]:
    r = f["received"]
    return [
        _metric("ORIGINAL_RESULT_AVAILABLE", f["result_online"], r, 6, _prop(6), None),
        _metric("SO_HOA_GIAY_TO_GIAI_QUYET", f["digitized"], r, 4, _prop(4), None),
        _metric("REUSED_DIGITIZED_DATA", f["reused"], r, 2, _prop(2, 80), None),
        _metric("SYNCED_WITH_DVCQG_PERSONAL_STORAGE", f["personal_storage"], r, 4, _prop(4), None),
        _metric("CITIZEN_DATA_CONNECTED_DOSSIER", f["citizen_data"], r, 2, _prop(2), None),
        _metric(
            "CITIZEN_DATA_CONNECTED_FORMALITY",
            f["procedures_citizen_data"],
            f["procedures"],
            2,
            _prop(2),
            None,
        ),
        _metric("ELECTRONIC_CERTIFIED_COPY", None, None, 2, None, None),
    ]


def _total(metrics: list[dict[str, Any]]) -> float:
    return r2(sum(m["score"] or 0 for m in metrics))


# ------------------------------------------------------------------------------------- periods


class BadRequest(ValueError):
    pass


def _int(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body.get(key)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"{key} phải là số nguyên từ {low} đến {high}")
    return value


def _requested(body: dict[str, Any], dates: bool) -> tuple[str, dt.datetime]:
    """(kind, start) of the period the request names."""
    if dates:
        try:
            first = dt.date.fromisoformat(str(body.get("fromDate")))
            last = dt.date.fromisoformat(str(body.get("toDate")))
        except ValueError:
            raise BadRequest("fromDate và toDate phải có dạng YYYY-MM-DD") from None
        start = dt.datetime(first.year, first.month, first.day, tzinfo=TZ)
        for kind in ("month", "quarter", "year"):
            if (
                period_start(start, kind) == start
                and _period_end(start, kind).date() - dt.timedelta(days=1) == last
            ):
                return kind, start
        raise BadRequest("khoảng thời gian phải là một tháng, một quý hoặc một năm")
    kind = body.get("timeType")
    year = _int(body, "year", 2000, 2100)
    if kind == "month":
        return kind, dt.datetime(year, _int(body, "month", 1, 12), 1, tzinfo=TZ)
    if kind == "quarter":
        return kind, dt.datetime(year, 3 * _int(body, "quarter", 1, 4) - 2, 1, tzinfo=TZ)
    if kind == "year":
        return kind, dt.datetime(year, 1, 1, tzinfo=TZ)
    raise BadRequest("timeType phải là month, quarter hoặc year")


def _period_end(start: dt.datetime, kind: str) -> dt.datetime:
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    m = start.month - 1 + months
    return start.replace(year=start.year + m // 12, month=m % 12 + 1)


# -------------------------------------------------------------------------------------- system


class NationalSystem:
    name = "national"

    def __init__(self, world: World) -> None:
        self.world = world
        self.shares = _Shares(world)
        self._figures: dict[tuple, tuple[list[tuple[Unit, Figures]], Figures]] = {}
        self._lock = threading.Lock()

    def figures(self, kind: str, at: dt.datetime | None) -> tuple[list[tuple[Unit, Figures]], Figures]:
        """Every unit's figures and the province's, remembered for the step (a poll round asks for the same
        period a dozen times)."""
        key = (kind, at)
        with self._lock:
            hit = self._figures.get(key)
        if hit is not None:
            return hit
        children = [(u, unit_figures(self.shares, u, kind, at)) for u in self.world.children]
        made = (children, province_figures(self.world, [f for _, f in children]))
        with self._lock:
            if len(self._figures) > 32:
                self._figures.clear()
            self._figures[key] = made
        return made

    def handle(self, req: Request) -> Reply | None:
        if req.path in ("/", ""):
            return Reply.html(_HOME)
        if req.path == REPORT_PATH:
            return self._report(req)
        if not req.path.startswith(API):
            return None
        endpoint = req.path[len(API) :].strip("/")
        if endpoint not in ENDPOINTS:
            return None
        if req.method != "POST":
            return Reply.json({"statusCode": 404, "message": f"Cannot {req.method} {req.path}"}, status=404)
        body = req.json()
        if not isinstance(body, dict):
            return Reply.json({"code": "BAD_REQUEST", "message": "body phải là JSON"}, status=400)
        if body.get("rootDepartmentId") != ROOT_DEPARTMENT_ID:
            return Reply.json(
                {"code": "BAD_REQUEST", "message": "rootDepartmentId không tồn tại"}, status=400
            )
        try:
            kind, start = _requested(body, endpoint == "handling-satisfaction")
            page = _int(body, "currentPage", 1, 100000) if "currentPage" in body else 1
            size = _int(body, "pageSize", 1, 1000) if "pageSize" in body else 20
        except BadRequest as exc:
            return Reply.json({"code": "BAD_REQUEST", "message": str(exc)}, status=400)
        children, province = self.figures(kind, self.as_of(kind, start))
        data = getattr(self, "_" + endpoint.replace("-", "_"))(province, children, page, size)
        return Reply.json({"code": "OK", "data": data, "message": "OK"}, status=201)

    # ------------------------------------------------------------------------------ ranking
    def _report(self, req: Request) -> Reply:
        if req.method != "POST":
            return Reply.json({"error": "method not allowed"}, status=405)
        form = parse_qs(req.body.decode("utf-8", errors="replace"))
        try:
            params = json.loads(form["params"][0])
            assert isinstance(params, dict)
        except (KeyError, IndexError, ValueError, AssertionError):
            return Reply.json({"error": "params phải là JSON"}, status=400)
        if params.get("service") != "report_tinh_766_service" or str(params.get("p_tinh_id")) != "0":
            return Reply.json([])
        try:
            kind, start = self._report_period(params)
        except BadRequest as exc:
            return Reply.json({"error": str(exc)}, status=400)
        return Reply.json(self.ranking(kind, start))

    @staticmethod
    def _report_period(params: dict[str, Any]) -> tuple[str, dt.datetime]:
        def number(key: str, high: int) -> int:
            value = params.get(key, 0)
            try:
                n = int(value)
            except (TypeError, ValueError):
                raise BadRequest(f"{key} phải là số") from None
            if not 0 <= n <= high:
                raise BadRequest(f"{key} phải từ 0 đến {high}")
            return n

        year = number("p_nam", 2100)
        if year < 2000:
            raise BadRequest("p_nam phải là năm")
        month, quarter = number("p_thang", 12), number("p_quy", 4)
        if month:
            return "month", dt.datetime(year, month, 1, tzinfo=TZ)
        if quarter:
            return "quarter", dt.datetime(year, 3 * quarter - 2, 1, tzinfo=TZ)
        return "year", dt.datetime(year, 1, 1, tzinfo=TZ)

    def province_scores(self, kind: str, start: dt.datetime) -> dict[str, float]:
        """The simulated province's group scores for a period, as its evaluation endpoints publish them."""
        _, p = self.figures(kind, self.as_of(kind, start))
        pub = procedure_publicity(self.world, p["received"]) if p else {}
        if not p:
            return dict.fromkeys(GROUP_MAX, 0.0)
        return {
            "CKMB": _total(transparency_metrics(p, pub)),
            "TDGQ": score_tdgq(p),
            "CLGQ": score_clgq(p),
            "TTTT": score_tttt(p),
            "MDHL": _total(satisfaction_metrics(p)),
            "MDSH": _total(digitization_metrics(p)),
        }

    def ranking(self, kind: str, start: dt.datetime) -> list[dict[str, Any]]:
        """The report service's rows of every province for a period, ranked by TONG_SCORE: this world's
        province with the scores its evaluation endpoints publish, and made-up provinces H01, H02, ... (its
        own code left out) whose scores depend on their code, the period and the day only, so that the
        provinces of a simulated nation (``simulate --provinces``) list the same others."""
        as_of = self.as_of(kind, start)
        day = (as_of or start).timestamp() / 86400
        own = self.world.province_code
        others = [c for c in (f"H{i:02d}" for i in range(1, PROVINCES + 1)) if c != own][: PROVINCES - 1]
        rows = []
        for code in [*others, own]:
            if code == own:
                name = self.world.province_name.removeprefix("UBND ")
                name, ident = name[:1].upper() + name[1:], PROVINCE_REPORT_ID
                scores = self.province_scores(kind, start)
            else:
                n = int(code[1:])
                name, ident = f"Tỉnh mô phỏng {n:02d}", str(398100 + 7 * n)
                scores = {}
                for group, top in GROUP_MAX.items():
                    base = 0.55 + 0.4 * _hash01("rank", code, group, kind)
                    wave = 0.04 * math.sin(2 * math.pi * (day / 9 + _hash01("wave", code, group)))
                    scores[group] = 0.0 if as_of is None else r2(top * min(1.0, base + wave))
            rows.append((code, name, ident, scores, r2(sum(scores.values()))))
        rows.sort(key=lambda r: (-r[4], r[0]))
        return [
            {
                "ID": ident,
                "TEN": name,
                "TEN_COQUAN": f"UBND {name}",
                "MA_COQUAN": code,
                "LOAI_COQUAN": "1",
                "CAPDONVIID": "0",
                "ID_COQUAN": ident,
                **{group: f"{score:.2f}" for group, score in scores.items()},
                "TONG_SCORE": f"{total:.2f}",
                "ROW_STT": i + 1,
            }
            for i, (code, name, ident, scores, total) in enumerate(rows)
        ]

    def as_of(self, kind: str, start: dt.datetime) -> dt.datetime | None:
        """The moment the requested period is counted to (None: it has not started)."""
        now = self.world.now()
        now = now.replace(minute=now.minute - now.minute % STEP_MINUTES, second=0, microsecond=0)
        real = dt.datetime.fromtimestamp(self.world.clock(), TZ)
        if start in (period_start(now, kind), period_start(real, kind)):
            return now
        if start > now:
            return None
        return _period_end(start, kind) - dt.timedelta(seconds=1)

    # ------------------------------------------------------------------------------ shapes
    @staticmethod
    def _node(unit: Unit, parent: bool) -> dict[str, Any]:
        node: dict[str, Any] = {
            "departmentId": unit.id,
            "departmentName": unit.name,
            "departmentCode": unit.code,
        }
        if not parent:
            node["level"] = _TREE_LEVEL[unit.level]
        return node

    def _tree(
        self,
        children: list[tuple[Unit, Figures]],
        parent: dict[str, Any],
        child: Callable[[Figures], dict[str, Any]],
    ) -> dict[str, Any]:
        return {
            "parent": {**self._node(self.world.units[0], True), **parent},
            "children": [{**self._node(u, False), **child(f), "scoreDelta": None} for u, f in children],
        }

    def _dvc_progress_tree(self, p: Figures, children: list, _page: int, _size: int) -> dict[str, Any]:
        def counts(f: Figures) -> dict[str, Any]:
            return {
                "totalReceived": f["received"],
                "totalOnTime": f["on_time"],
                "avgProcessingDays": 0 if not f["completed"] else 5.5,
                "ratio": _pct(f["on_time"], f["received"]),
            }

        parent = {
            **counts(p),
            "totalCompleted": p["completed"],
            "totalScore": score_tdgq(p),
            "totalMaxScore": 20,
        }
        data = self._tree(
            children,
            parent,
            lambda f: {**counts(f), "totalOverdue": f["overdue"], "score": score_tdgq(f), "maxScore": 20},
        )
        data["monthlyChart"] = [{"month": f"{m:02d}", "onTimePct": 0, "overduePct": 0} for m in range(1, 13)]
        return data

    def _formality_online_payment_tree(
        self, p: Figures, children: list, _page: int, _size: int
    ) -> dict[str, Any]:
        def node(f: Figures) -> dict[str, Any]:
            score = score_tttt(f)
            return {
                "totalMaxScore": 10,
                "totalScore": score,
                "ratio": r2(score * 10),
                "totalDossierOnlinePaymentSuccess": f["paid_online"],
                "totalDossierFinancialObligation": f["with_fee"],
                "totalDossierOnlineFormalityPaymentSuccess": f["fee_procedures_paid_online"],
                "totalFeeDossierFormalityDistinct": f["fee_procedures"],
                "totalFeeDossierFormality": f["fee_procedures_with_dossiers"],
                "totalFeeFormality": f["fee_procedures"],
            }

        return self._tree(children, node(p), node)

    def _provide_online_tree(self, p: Figures, children: list, _page: int, _size: int) -> dict[str, Any]:
        score = score_clgq(p)
        parent = {
            "totalScore": score,
            "totalMaxScore": 12,
            "ratio": r2(100 * score / 12),
            "authorityCount": p["authority"],
            "partialCount": p["partial"],
            "fullCount": p["full"],
            "onlineDossierCount": p["services_used"],
            "onlineServiceTotal": p["services"],
            "channelOnlineSum": p["online"],
            "channelDirectSum": p["direct"],
            "channelPostalSum": p["postal"],
            "channelTotalSum": p["online"] + p["direct"] + p["postal"],
            "onlineOnTimeSum": p["online_on_time"],
            "onlineOverdueSum": p["online"] - p["online_on_time"],
        }

        def child(f: Figures) -> dict[str, Any]:  # units publish their score only
            s = score_clgq(f)
            return {"totalScore": s, "totalMaxScore": 12, "ratio": r2(100 * s / 12)}

        data = self._tree(children, parent, child)
        data["monthlyChart"] = [{"label": f"{m:02d}", "onlineDossierPct": 0} for m in range(1, 13)]
        return data

    def _rows(
        self,
        p: Figures,
        children: list,
        page: int,
        size: int,
        max_score: float,
        metrics: Callable[[Figures], list[dict[str, Any]]],
        with_code: bool,
        extra: Callable[[Figures], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        def row(i: int, unit: Unit, f: Figures) -> dict[str, Any]:
            dtype, dlevel, agency = _TYPES[unit.level]
            ms = metrics(f)
            total = _total(ms)
            out: dict[str, Any] = {"stt": i, "departmentId": unit.id, "departmentName": unit.name}
            if with_code:
                out["departmentCode"] = unit.code
            out.update(
                {
                    "departmentType": dtype,
                    "departmentLevel": dlevel,
                    "agencyLevel": agency,
                    "totalScore": total,
                    "totalMaxScore": max_score,
                    "ratio": r2(100 * total / max_score),
                    "scoreDelta": None,
                    "metrics": ms,
                }
            )
            if extra:
                out.update(extra(f))
            return out

        first = (page - 1) * size
        chunk = children[first : first + size]
        return {
            "overview": row(1, self.world.units[0], p),
            "evaluation": [row(first + i + 1, u, f) for i, (u, f) in enumerate(chunk)],
            "pagination": {
                "total": len(children),
                "currentPage": page,
                "pageSize": size,
                "totalPages": max(1, -(-len(children) // size)),
            },
        }

    def _transparency(self, p: Figures, children: list, page: int, size: int) -> dict[str, Any]:
        pub = procedure_publicity(self.world, p["received"])
        data = self._rows(
            p, children, page, size, 18, lambda f: transparency_metrics(f, pub), with_code=False
        )
        data["monthlyChart"] = []
        data["source"] = "egov-exporter simulator"
        return data

    def _handling_satisfaction(self, p: Figures, children: list, page: int, size: int) -> dict[str, Any]:
        data = self._rows(
            p,
            children,
            page,
            size,
            18,
            satisfaction_metrics,
            with_code=False,
            extra=lambda f: {
                "totalPetitions": f["petitions"],
                "classifiedPetitions": f["classified"],
                "totalDossiers": f["received"],
                "averageScore": None,
            },
        )
        data["source"] = "egov-exporter simulator"
        return data

    def _dossier_digitized(self, p: Figures, children: list, page: int, size: int) -> dict[str, Any]:
        data = self._rows(p, children, page, size, 22, digitization_metrics, with_code=True)
        data["source"] = "egov-exporter simulator"
        return data


_HOME = f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Cổng Dịch vụ công quốc gia (mô phỏng)</title></head>
<body><h1>Cổng Dịch vụ công quốc gia</h1>
<p>Bộ chỉ số phục vụ người dân, doanh nghiệp (QĐ 766/QĐ-TTg) — {PROVINCE_NAME} ({PROVINCE_CODE}),
rootDepartmentId {ROOT_DEPARTMENT_ID}.</p>
<p>POST {API}&lt;endpoint&gt;: {", ".join(ENDPOINTS)}.</p>
<p>POST {REPORT_PATH} (params: report_tinh_766_service): xếp hạng {PROVINCES} tỉnh, thành phố.</p>
</body></html>
"""
