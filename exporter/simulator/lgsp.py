"""The simulated LGSP: a WSO2 API Manager 4.x data sharing platform under ``/lgsp/``, with its ELK analytics.

* ``GET  /services/Version`` — Carbon's SOAP answer with the product version (no authentication);
* ``GET  /api/am/gateway/v2/server-startup-healthcheck`` — the gateway's readiness (200, no authentication);
* ``POST /oauth2/token`` — OAuth2 client credentials (form fields or HTTP Basic), bearer tokens valid
  for an hour of real time, carrying the scopes asked for;
* ``GET  /api/am/publisher/v4/apis?limit=&offset=`` — paged API list (``count``, ``list``, ``pagination``),
  scope ``apim:api_view``;
* ``GET  /api/am/admin/v4/applications?limit=&offset=`` — paged application list, one of the scopes
  ``apim:admin``, ``apim:app_owner_change``, ``apim:app_import_export`` (a token without: HTTP 403, with an
  error body of our own making);
* ``POST /es/apim_event_response,apim_event_faulty/_search`` — the analytics store: an Elasticsearch
  answering the profile's per-API aggregation (terms on ``apiName.keyword``, a ``faults`` filter, an
  ``avg`` of ``responseLatency``) over ``requestTimestamp`` since a period's start, HTTP Basic
  :data:`ES_USER` / :data:`ES_PASSWORD`;
* ``GET  /api/lgsp/v1/bao-cao/ung-dung-chia-se`` — an example vendor report counting the shared-data
  applications (not a WSO2 API);
* ``GET  /ndxp/1.0/health`` — the national platform (NDXP) health API, through the gateway.

The management APIs need ``Authorization: Bearer <token>``, else WSO2's 401 ``{"code": 900901, "message":
"Invalid Credentials"}``.  Figures are deterministic for the world's seed and simulated time:
:meth:`LgspSystem.usage` and friends are what tests compare the collector with.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs

from exporter.simulator.protocol import Reply, Request
from exporter.simulator.reports import reporting_period
from exporter.simulator.world import Unit, World, _hash01, period_start

VERSION = "WSO2 API Manager-4.2.0"
VERSION_ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<ns:getVersionResponse xmlns:ns="http://version.services.core.carbon.wso2.org">'
    f"<return>{VERSION}</return></ns:getVersionResponse></soapenv:Body></soapenv:Envelope>"
)
INVALID_CREDENTIALS = (
    '{"code":900901,"message":"Invalid Credentials","description":"Invalid Credentials. '
    'Make sure you have provided the correct security credentials"}'
)
CLIENT_ID = "egov-exporter"
CLIENT_SECRET = "demo-lgsp-secret"
TOKEN_LIFETIME = 3600.0
#: the analytics store's (Elasticsearch's) user and password
ES_USER = "egov-exporter"
ES_PASSWORD = "demo-es-secret"
ES_INDICES = "apim_event_response,apim_event_faulty"
#: the scopes each management API accepts (any one of them)
SCOPES = {
    "/api/am/publisher/v4/apis": ("apim:api_view", "apim:api_import_export"),
    "/api/am/admin/v4/applications": ("apim:admin", "apim:app_owner_change", "apim:app_import_export"),
}
INSUFFICIENT_SCOPE = (
    '{"code":900910,"message":"The access token does not allow you to access the requested resource",'
    '"description":"Scope validation failed"}'
)

#: (API name, context, state, requests per working day and owner weight unit) — the province's APIs
_APIS: tuple[tuple[str, str, str, float], ...] = (
    ("CSDLQuocGiaVeDanCu", "/dancu", "PUBLISHED", 900.0),
    ("DangKyDoanhNghiep", "/dkdn", "PUBLISHED", 260.0),
    ("HoTichDienTu", "/hotich", "PUBLISHED", 420.0),
    ("DatDai", "/datdai", "PUBLISHED", 310.0),
    ("ThueDienTu", "/thue", "PUBLISHED", 150.0),
    ("BaoHiemXaHoi", "/bhxh", "PUBLISHED", 180.0),
    ("DichVuCongQuocGia", "/dvcqg", "PUBLISHED", 700.0),
    ("TrucLienThongVanBan", "/vdxp", "PUBLISHED", 520.0),
    ("ThanhToanTrucTuyen", "/payment", "PUBLISHED", 240.0),
    ("BuuChinhCongIch", "/bcci", "PUBLISHED", 90.0),
    ("XacThucChuKySo", "/kyso", "PUBLISHED", 380.0),
    ("CanBoCongChuc", "/cbcc", "PUBLISHED", 60.0),
    ("KhoDuLieuSoHoa", "/sohoa", "PUBLISHED", 330.0),
    ("LyLichTuPhap", "/lltp", "PUBLISHED", 75.0),
    ("DanhMucDungChung", "/danhmuc", "PUBLISHED", 640.0),
    ("TaiNguyenMoiTruong", "/tnmt", "PUBLISHED", 55.0),
    ("DangKiemPhuongTien", "/dangkiem", "PUBLISHED", 40.0),
    ("BaoCaoKinhTeXaHoi", "/baocao", "PUBLISHED", 120.0),
    ("GiaoDucDaoTao", "/giaoduc", "PUBLISHED", 95.0),
    ("YTeKhamChuaBenh", "/yte", "PUBLISHED", 85.0),
    ("LaoDongViecLam", "/laodong", "PUBLISHED", 45.0),
    ("ChinhSachXaHoi", "/chinhsach", "PUBLISHED", 35.0),
    ("PhanAnhKienNghi", "/pakn", "PUBLISHED", 70.0),
    ("CapPhepXayDung", "/xaydung", "DEPRECATED", 8.0),
    ("QuanLyGiaDat", "/giadat", "CREATED", 0.0),
    ("ThongTinQuyHoach", "/quyhoach", "PROTOTYPED", 0.0),
)

#: (application name, status, shares data) — applications registered on the gateway
_APPLICATIONS: tuple[tuple[str, str, bool], ...] = (
    ("HeThongThongTinGiaiQuyetTTHC", "APPROVED", True),
    ("CongDichVuCongTinh", "APPROVED", True),
    ("QuanLyVanBanDieuHanh", "APPROVED", True),
    ("CongThongTinDienTu", "APPROVED", False),
    ("HeThongBaoCaoTinh", "APPROVED", True),
    ("QuanLyCanBoCongChuc", "APPROVED", True),
    ("HoTichDienTuTinh", "APPROVED", True),
    ("QuanLyDatDaiTinh", "APPROVED", True),
    ("TrungTamDieuHanhIOC", "APPROVED", True),
    ("KhoDuLieuDungChung", "APPROVED", True),
    ("QuanLyGiaoDuc", "APPROVED", False),
    ("YTeDienTu", "CREATED", True),  # registered, waiting for approval: not connected yet
    ("QuanLyDoanhNghiepTinh", "REJECTED", False),
    ("DefaultApplication", "APPROVED", False),
)
#: shared-data applications that have not even registered on the gateway yet
UNREGISTERED_SHARED = ("QuanLyTaiNguyenNuoc",)


@dataclasses.dataclass(frozen=True)
class Usage:
    api: str
    version: str
    requests: int
    faults: int
    latency_ms: float  # average response time


class LgspSystem:
    name = "lgsp"

    def __init__(self, world: World) -> None:
        self.world = world
        self.tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()
        depts = [u for u in world.units if u.level == "DEPARTMENT"] or world.units[1:]
        self.owner: dict[str, Unit] = {name: depts[i % len(depts)] for i, (name, *_) in enumerate(_APIS)}

    # the model -------------------------------------------------------------------------------
    def apis(self) -> list[dict[str, Any]]:
        return [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"lgsp/{self.world.seed}/{name}")),
                "name": name,
                "description": f"API {name} chia sẻ qua LGSP tỉnh Mô Phỏng",
                "context": context,
                "version": "1.0.0",
                "provider": "admin",
                "type": "HTTP",
                "lifeCycleStatus": state,
                "hasThumbnail": False,
            }
            for name, context, state, _ in _APIS
        ]

    def applications(self) -> list[dict[str, Any]]:
        return [
            {
                "applicationId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"lgsp-app/{self.world.seed}/{name}")),
                "name": name,
                "owner": "admin" if name == "DefaultApplication" else f"{name.lower()}_svc",
                "status": status,
                "groupId": "",
            }
            for name, status, _ in _APPLICATIONS
        ]

    @staticmethod
    def shared_data_applications() -> list[str]:
        """The province's applications that share data and must connect through the LGSP."""
        return [name for name, _, shared in _APPLICATIONS if shared] + list(UNREGISTERED_SHARED)

    def connected_shared(self) -> int:
        return sum(1 for name, status, shared in _APPLICATIONS if shared and status == "APPROVED")

    def usage(self, period: str) -> list[Usage]:
        """Per-API traffic since the start of ``period`` (APIs never called have no row)."""
        now = self.world.now()
        out = []
        for name, _, _, per_day in _APIS:
            if per_day <= 0:
                continue
            unit = self.owner[name]
            requests = self.world.count(unit, f"lgsp.api.{name}", per_day, period, at=now)
            faults = self.world.part(requests, unit, f"lgsp.fault.{name}", 0.002, 0.04)
            # an API's typical latency, a little different in each period (averages over different days)
            typical = self.world.share(unit, f"lgsp.latency.{name}", 35.0, 900.0)
            start = period_start(now, period).date()
            latency = round(typical * (0.9 + 0.2 * _hash01(self.world.seed, "lgsp.latency", name, start)), 1)
            out.append(Usage(name, "1.0.0", requests, faults, latency))
        return out

    # HTTP ------------------------------------------------------------------------------------
    def handle(self, req: Request) -> Reply | None:
        path = req.path.rstrip("/") or "/"
        if path == "/services/Version":
            return Reply(200, VERSION_ANSWER, "application/xml; charset=UTF-8")
        if path == "/api/am/gateway/v2/server-startup-healthcheck":
            return Reply.json({})
        if path == "/oauth2/token":
            return self._token(req)
        if path == f"/es/{ES_INDICES}/_search":
            return self._search(req)
        checked = self.world.now().isoformat(timespec="seconds")
        routes = {
            "/api/am/publisher/v4/apis": lambda: self._paged(req, self.apis()),
            "/api/am/admin/v4/applications": lambda: self._paged(req, self.applications()),
            "/api/lgsp/v1/bao-cao/ung-dung-chia-se": lambda: Reply.json(
                {
                    "code": "0",
                    "data": {
                        "tongSoUngDungCanKetNoi": len(self.shared_data_applications()),
                        "soUngDungDaKetNoi": self.connected_shared(),
                    },
                }
            ),
            "/ndxp/1.0/health": lambda: Reply.json(
                {"status": "UP", "platform": "NDXP", "checkedAt": checked}
            ),
        }
        route = routes.get(path)
        if route is None:
            return None
        scopes = self._scopes(req)
        if scopes is None:
            return Reply(
                401,
                INVALID_CREDENTIALS,
                "application/json",
                {"WWW-Authenticate": 'OAuth2 realm="WSO2 API Manager"'},
            )
        if path in SCOPES and not scopes & set(SCOPES[path]):
            return Reply(403, INSUFFICIENT_SCOPE, "application/json")
        return route()

    def _token(self, req: Request) -> Reply:
        if req.method != "POST":
            return Reply(405, '{"error":"invalid_request"}', "application/json")
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                client_id = client_secret = None
        if form.get("grant_type") != "client_credentials":
            return Reply(400, '{"error":"unsupported_grant_type"}', "application/json")
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return Reply(
                401,
                '{"error":"invalid_client","error_description":"A valid OAuth client could not '
                'be found for client_id"}',
                "application/json",
            )
        token = secrets.token_hex(16)
        now = self.world.clock()
        with self._lock:
            self.tokens = {t: v for t, v in self.tokens.items() if v[0] > now}  # forget expired ones
            self.tokens[token] = (now + TOKEN_LIFETIME, frozenset(form.get("scope", "").split()))
        return Reply.json(
            {
                "access_token": token,
                "scope": form.get("scope", "default"),
                "token_type": "Bearer",
                "expires_in": int(TOKEN_LIFETIME),
            }
        )

    def _scopes(self, req: Request) -> frozenset[str] | None:
        """The scopes of the request's valid bearer token (None: no valid token)."""
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        with self._lock:
            found = self.tokens.get(auth[7:].strip())
        if found is None or found[0] <= self.world.clock():
            return None
        return found[1]

    @staticmethod
    def _paged(req: Request, items: list[dict[str, Any]]) -> Reply:
        try:
            limit = min(1000, max(1, int(req.arg("limit", "25") or 25)))
            offset = max(0, int(req.arg("offset", "0") or 0))
        except ValueError:
            return Reply(
                400,
                '{"code":400,"message":"Bad Request","description":"limit and offset must be integers"}',
                "application/json",
            )
        page = items[offset : offset + limit]
        path = req.path
        nxt = f"{path}?limit={limit}&offset={offset + limit}" if offset + limit < len(items) else ""
        prev = f"{path}?limit={limit}&offset={max(0, offset - limit)}" if offset > 0 else ""
        return Reply.json(
            {
                "count": len(page),
                "list": page,
                "pagination": {
                    "offset": offset,
                    "limit": limit,
                    "total": len(items),
                    "next": nxt,
                    "previous": prev,
                },
            }
        )

    def _search(self, req: Request) -> Reply:
        """Elasticsearch's ``_search`` over the analytics indices: the per-API aggregation of the period the
        query's ``requestTimestamp`` range starts (as the simulated now counts it)."""
        auth = req.headers.get("authorization", "")
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            user = password = ""
        if not auth.lower().startswith("basic ") or (user, password) != (ES_USER, ES_PASSWORD):
            return Reply(
                401,
                '{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate '
                'user for REST request"}],"type":"security_exception","reason":"unable to authenticate user '
                'for REST request"},"status":401}',
                "application/json",
                {"WWW-Authenticate": 'Basic realm="security" charset="UTF-8"'},
            )
        query = req.json() if req.method == "POST" else None
        try:
            gte = query["query"]["range"]["requestTimestamp"]["gte"]
            size = int(query["aggs"]["apis"]["terms"]["size"])
        except (TypeError, KeyError, ValueError):
            return Reply.json(
                {"error": {"type": "parsing_exception", "reason": "unsupported query"}, "status": 400}, 400
            )
        period = reporting_period(gte, None, self.world.now())
        if period is None:
            error = {"type": "parse_exception", "reason": "bad range"}
            return Reply.json({"error": error, "status": 400}, 400)
        rows = sorted(self.usage(period), key=lambda u: (-u.requests, u.api))[:size]
        buckets = [
            {
                "key": u.api,
                "doc_count": u.requests,
                "faults": {"doc_count": u.faults},
                "latency": {"value": u.latency_ms},
            }
            for u in rows
        ]
        return Reply.json(
            {
                "took": 7,
                "timed_out": False,
                "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0},
                "hits": {"max_score": None, "hits": []},
                "aggregations": {
                    "apis": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": buckets}
                },
            }
        )
