"""The simulated public-service portal / administrative-procedure system (Cổng dịch vụ công), answering as
VNPT iGate does (the An Giang ``kgg`` family of statistics endpoints; collectors/profiles/services-igate.yaml
names the public source of every path, parameter and field).

Under ``/services/``:

* ``GET /`` — the portal's home page.
* ``POST /auth/realms/digo/protocol/openid-connect/token`` — iGate's Keycloak (realm ``digo``, with the
  ``/auth`` prefix): client credentials (``client_id`` :data:`CLIENT_ID`, ``client_secret``
  :data:`CLIENT_SECRET`) in, a bearer token valid :data:`TOKEN_LIFETIME` seconds out.
* ``GET /pa/dossier-statistic/--statistic-agency-kgg?agency-id=&from-date=&to-date=&...`` — per agency,
  received (online, direct) and resolved (overdue) dossiers: a bare JSON array;
* ``GET /pa/kgg-dossier-statistic/--kgg-dossier-report-online?from-applied-date=&to-applied-date=&agency-id=``
  — the online-dossier report, agencies by name only;
* ``GET /pa/kgg-digitize/digitization-by-agency?from=&to=&ancestor-id=`` — dossiers received / completed
  with digitized papers;
  all three need a bearer token from the endpoint above and ``agency-id`` (``ancestor-id``) =
  :data:`AGENCY_ID`; dates are ``2026-11-01T00:00:00.000Z`` (the local day, as iGate's clients send it).
* ``GET /thong-ke/ket-qua-giai-quyet?tuNgay=&denNgay=`` — a public "Kết quả giải quyết TTHC" table (no
  login; a layout of our own, read by the ``html-table`` profile): per unit one row per service level (Toàn
  trình, Một phần), the unit's cell merged over them, with fee columns ("Có phí", "Thanh toán trực
  tuyến": dossiers with a fee, the count iGate's reports above lack, and those paid online).

Every figure comes from :func:`figures` (World-based, deterministic, growing through office hours):
``paid_online <= with_fee <= received``, ``full_online <= online``, ``digitized <= received``,
``early + on_time + late <= received``.
"""

from __future__ import annotations

import html
import secrets
import threading
from typing import Any
from urllib.parse import parse_qs, quote

from exporter.simulator.protocol import Reply, Request
from exporter.simulator.reports import reporting_period, vi_number
from exporter.simulator.world import PROVINCE_NAME, Unit, World

CLIENT_ID = "egov-exporter"
CLIENT_SECRET = "sim-services-secret"
REALM = "digo"
TOKEN_PATH = f"/auth/realms/{REALM}/protocol/openid-connect/token"
TOKEN_LIFETIME = 300
#: iGate's province prefix of the simulated province's customised endpoints
PREFIX = "kgg"
#: the 24-hex id of the simulated province's root agency (agency-id / ancestor-id)
AGENCY_ID = "6700000000000000000000a9"
STATISTIC_PATH = f"/pa/dossier-statistic/--statistic-agency-{PREFIX}"
ONLINE_PATH = f"/pa/{PREFIX}-dossier-statistic/--{PREFIX}-dossier-report-online"
DIGITIZE_PATH = f"/pa/{PREFIX}-digitize/digitization-by-agency"
#: dossiers received per working day by a unit of weight 1
PER_DAY = 12.0
#: the service levels of the public table, in its order
LEVELS = ("Toàn trình", "Một phần")


def figures(world: World, unit: Unit, period: str) -> dict[str, int]:
    """A unit's statistics for the reporting period to the simulated now (``pending_*``: the backlog now)."""
    received = world.count(unit, "svc.received", PER_DAY, period)
    online = world.part(received, unit, "svc.online", 0.45, 0.95)
    postal = world.part(received - online, unit, "svc.postal", 0.0, 0.1)
    with_fee = world.part(received, unit, "svc.fee", 0.2, 0.6)
    completed = world.part(received, unit, "svc.done", 0.75, 0.95)
    late = world.part(completed, unit, "svc.late", 0.0, 0.12)
    early = world.part(completed - late, unit, "svc.early", 0.3, 0.7)
    # the backlog: this month's dossiers not yet completed plus a carry-over from before
    month = world.count(unit, "svc.received", PER_DAY, "month")
    carry = int(PER_DAY * world.weight(unit, "svc.received") * world.share(unit, "svc.carry", 1.0, 3.0))
    pending = month - world.part(month, unit, "svc.done", 0.75, 0.95) + carry
    overdue = world.part(pending, unit, "svc.overdue", 0.0, 0.15)
    return {
        "received": received,
        "online": online,
        "direct": received - online - postal,
        "postal": postal,
        "full_online": world.part(online, unit, "svc.full", 0.5, 0.95),
        "with_fee": with_fee,
        "paid_online": world.part(with_fee, unit, "svc.paid", 0.3, 0.95),
        "digitized": world.part(received, unit, "svc.digitized", 0.4, 0.95),
        "completed": completed,
        "early": early,
        "on_time": completed - late - early,
        "late": late,
        "pending": pending,
        "pending_in_time": pending - overdue,
        "pending_overdue": overdue,
    }


class ServicesSystem:
    name = "services"

    def __init__(self, world: World) -> None:
        self.world = world
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()

    def handle(self, req: Request) -> Reply | None:
        if req.path in ("/", ""):
            return Reply.html(_HOME)
        if req.path == TOKEN_PATH:
            return self._token(req)
        reports = {
            STATISTIC_PATH: ("agency-id", "from-date", "to-date", self.statistic_item),
            ONLINE_PATH: ("agency-id", "from-applied-date", "to-applied-date", self.online_item),
            DIGITIZE_PATH: ("ancestor-id", "from", "to", self.digitization_item),
        }
        if req.path in reports:
            return self._report(req, *reports[req.path])
        if req.path == "/thong-ke/ket-qua-giai-quyet":
            return self._table(req)
        return None

    # Keycloak --------------------------------------------------------------------------------
    def _token(self, req: Request) -> Reply:
        if req.method != "POST":
            return Reply.json(
                {"error": "invalid_request", "error_description": "HTTP method not allowed"}, 405
            )
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", errors="replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return Reply.json(
                {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"}, 400
            )
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Reply.json(
                {
                    "error": "unauthorized_client",
                    "error_description": "Invalid client or Invalid client credentials",
                },
                401,
            )
        token = secrets.token_urlsafe(32)
        now = self.world.clock()
        with self._lock:
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}  # forget expired ones
            if len(self._tokens) >= 10000:
                self._tokens.clear()
            self._tokens[token] = now + TOKEN_LIFETIME
        return Reply.json(
            {
                "access_token": token,
                "expires_in": TOKEN_LIFETIME,
                "refresh_expires_in": 0,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "scope": "profile email",
            }
        )

    def _authorized(self, req: Request) -> bool:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        with self._lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return expiry is not None and expiry > self.world.clock()

    # iGate's statistics --------------------------------------------------------------------
    def _report(self, req: Request, agency_key: str, from_key: str, to_key: str, item: Any) -> Reply:
        if not self._authorized(req):
            reply = Reply.json(
                {"error": "invalid_token", "error_description": "Token verification failed"}, 401
            )
            reply.headers["WWW-Authenticate"] = f'Bearer realm="{REALM}", error="invalid_token"'
            return reply
        if req.arg(agency_key) != AGENCY_ID:
            return Reply.json(
                {
                    "timestamp": self.world.now().isoformat(),
                    "status": 400,
                    "error": "Bad Request",
                    "message": f"{agency_key} not found",
                    "path": req.path,
                },
                400,
            )
        period = reporting_period(req.arg(from_key), req.arg(to_key), self.world.now())
        if period is None:
            return Reply.json(
                {
                    "timestamp": self.world.now().isoformat(),
                    "status": 400,
                    "error": "Bad Request",
                    "message": f"{from_key} must be the first day of a month, quarter or year and {to_key} "
                    "within it",
                    "path": req.path,
                },
                400,
            )
        return Reply.json([item(u, figures(self.world, u, period)) for u in self.world.children])

    @staticmethod
    def statistic_item(unit: Unit, f: dict[str, int]) -> dict[str, Any]:
        """An item of ``--statistic-agency-kgg`` (flat integers; postal dossiers are in received only)."""
        return {
            "agency": {"id": _agency_id(unit), "code": unit.code, "name": unit.name},
            "received": f["received"],
            "resolved": f["completed"],
            "receivedOnline": f["online"],
            "receivedDirect": f["direct"],
            "resolvedOverdue": f["late"],
        }

    @staticmethod
    def online_item(unit: Unit, f: dict[str, int]) -> dict[str, Any]:
        """An item of ``--kgg-dossier-report-online``: the agency by name only."""
        partial = f["online"] - f["full_online"]
        return {
            "agency_name": unit.name,
            "phatsinh_1phan_quantity": partial,
            "phatsinh_toanphan_quantity": f["full_online"],
            "chotiepnhan_quantity": 0,
            "datiepnhan_quantity": f["online"],
            "hoanthanh_quantity": min(f["completed"], f["online"]),
            "tuchoi_quantity": 0,
            "onlinepaid_quantity": f["paid_online"],
            "total": float(f["online"]),
        }

    @staticmethod
    def digitization_item(unit: Unit, f: dict[str, int]) -> dict[str, Any]:
        """An item of ``digitization-by-agency``."""
        received, having = f["received"], f["digitized"]
        completed = f["completed"]
        completed_having = min(completed, having)

        def pct(n: int, d: int) -> float:
            return round(100 * n / d, 2) if d else 0.0

        return {
            "agency": {"id": _agency_id(unit), "code": unit.code, "name": unit.name},
            "totalReceiver": received,
            "totalReceiverHavingFile": having,
            "totalComplete": completed,
            "totalCompleteHavingFile": completed_having,
            "totalReceiverNopeFile": received - having,
            "totalCompleteNopeFile": completed - completed_having,
            "totalReceiverCompleteHavingFile": completed_having,
            "percentTotalReceiverHavingFile": pct(having, received),
            "percentTotalCompleteHavingFile": pct(completed_having, completed),
            "percentTotalReceiverCompleteHavingFile": pct(completed_having, received),
        }

    # public table ----------------------------------------------------------------------------
    def level_rows(self, unit: Unit, f: dict[str, int]) -> list[dict[str, int]]:
        """The unit's figures split by service level (rows of the public table; they add up to ``f``)."""
        full = {"online": f["full_online"]}
        for key in (
            "direct",
            "postal",
            "early",
            "on_time",
            "late",
            "pending_in_time",
            "pending_overdue",
            "with_fee",
            "paid_online",
        ):
            full[key] = self.world.part(f[key], unit, "svc.level", 0.3, 0.7)
        rest = {key: f[key] - value for key, value in full.items()}
        return [full, rest]

    def _table(self, req: Request) -> Reply:
        first, last = req.arg("tuNgay"), req.arg("denNgay")
        period = reporting_period(first, last, self.world.now())
        if period is None:
            return Reply.html(
                _page(
                    "Kết quả giải quyết TTHC",
                    "<p class='loi'>Khoảng thời gian không hợp lệ: "
                    "từ ngày phải là ngày đầu tháng, quý hoặc năm.</p>",
                ),
                400,
            )
        rows = []
        totals: dict[str, int] = {}
        for unit in self.world.children:
            f = figures(self.world, unit, period)
            link = (
                f"<a href='/services/thong-ke/chi-tiet?maDonVi={quote(unit.code)}'>"
                f"{html.escape(unit.name)}</a>"
            )
            for i, (level, row) in enumerate(zip(LEVELS, self.level_rows(unit, f))):
                for key, value in row.items():
                    totals[key] = totals.get(key, 0) + value
                head = f"<td rowspan='{len(LEVELS)}' class='don-vi'>{link}</td>" if i == 0 else ""
                rows.append(f"<tr>{head}<td>{level}</td>{_cells(row)}</tr>")
        rows.append(f"<tr class='tong'><td colspan='2'><b>Tổng cộng</b></td>{_cells(totals)}</tr>")
        table = (
            "<table class='table table-bordered ket-qua-giai-quyet'><thead>"
            "<tr><th rowspan='2'>Đơn vị</th><th rowspan='2'>Mức độ</th><th colspan='4'>Tiếp nhận</th>"
            "<th colspan='4'>Đã xử lý</th><th colspan='2'>Đang xử lý</th><th colspan='2'>Phí, lệ phí</th></tr>"
            "<tr><th>Tổng</th><th>Trực tuyến</th><th>Trực tiếp</th><th>BCCI</th><th>Tổng</th><th>Trước hạn</th>"
            "<th>Đúng hạn</th><th>Trễ hạn</th><th>Trong hạn</th><th>Quá hạn</th><th>Có phí</th>"
            "<th>Thanh toán trực tuyến</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
        return Reply.html(
            _page(
                "Kết quả giải quyết TTHC",
                f"<p class='ky'>Từ ngày {html.escape(first or '')} đến ngày "
                f"{html.escape(last or '')}</p>{table}",
            )
        )


def _agency_id(unit: Unit) -> str:
    """A stable 24-hex id (iGate's agencies are MongoDB documents)."""
    return unit.id.replace("-", "")[-24:]


def _cells(row: dict[str, int]) -> str:
    received = row["online"] + row["direct"] + row["postal"]
    done = row["early"] + row["on_time"] + row["late"]
    values = (
        received,
        row["online"],
        row["direct"],
        row["postal"],
        done,
        row["early"],
        row["on_time"],
        row["late"],
        row["pending_in_time"],
        row["pending_overdue"],
        row["with_fee"],
        row["paid_online"],
    )
    return "".join(f"<td class='so'>{vi_number(v)}</td>" for v in values)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='vi'><head><meta charset='utf-8'><title>{title} - Cổng dịch vụ công "
        f"{PROVINCE_NAME}</title></head><body><header><h1>Cổng dịch vụ công</h1></header><main>"
        f"<h2>{title}</h2>{body}</main></body></html>"
    )


_HOME = _page(
    "Trang chủ",
    "<nav><a href='/services/thong-ke/ket-qua-giai-quyet'>Kết quả giải quyết TTHC</a>"
    "</nav><p>Nộp hồ sơ trực tuyến, tra cứu hồ sơ, thanh toán trực tuyến.</p>",
)
