"""The simulated document-management and work-handling system (QLVB&ĐH, eOffice-like).

Under ``/documents/``:

* ``GET /`` — the system's login page.
* ``GET /api/v1/thong-ke/van-ban?tuNgay=&denNgay=`` — per-unit statistics for a reporting period
  (``dd/mm/yyyy``): documents sent and received by channel, digitally signed, work files handled online,
  with each unit's government level (departments: ``TINH``, communes: ``XA``), plus the documents exchanged
  through the national document axis (VDXP).
* ``GET /api/v1/lien-thong/trang-thai`` — the link status with the national document axis: connected,
  except in its weekly maintenance slot (Sunday 02:00-03:00, simulated time).

Every figure comes from :func:`figures` (World-based, deterministic, growing through office hours):
``signed <= electronic sent <= sent``, ``work files online <= work files``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from exporter.simulator.protocol import Reply, Request
from exporter.simulator.reports import reporting_period
from exporter.simulator.world import TZ, Unit, World

#: documents per working day of a unit of weight 1
SENT_PER_DAY, RECEIVED_PER_DAY, FILES_PER_DAY = 8.0, 15.0, 5.0
LEVEL_CODES = {"DEPARTMENT": "TINH", "COMMUNE": "XA", "PROVINCE": "TINH"}


def figures(world: World, unit: Unit, period: str) -> dict[str, int]:
    """A unit's statistics for the reporting period to the simulated now."""
    sent = world.count(unit, "doc.sent", SENT_PER_DAY, period)
    sent_e = world.part(sent, unit, "doc.sent.e", 0.85, 0.995)
    received = world.count(unit, "doc.received", RECEIVED_PER_DAY, period)
    received_e = world.part(received, unit, "doc.received.e", 0.9, 1.0)
    files = world.count(unit, "doc.files", FILES_PER_DAY, period)
    return {
        "sent": sent,
        "sent_electronic": sent_e,
        "sent_paper": sent - sent_e,
        "signed": world.part(sent_e, unit, "doc.signed", 0.8, 1.0),
        "received": received,
        "received_electronic": received_e,
        "received_paper": received - received_e,
        "work_files": files,
        "work_files_online": world.part(files, unit, "doc.files.online", 0.5, 0.98),
        # what of it went through the national document axis (to / from agencies outside the province)
        "axis_sent": world.part(sent_e, unit, "doc.axis.out", 0.05, 0.2),
        "axis_received": world.part(received_e, unit, "doc.axis.in", 0.1, 0.3),
    }


def axis_connected(now: dt.datetime) -> bool:
    local = now.astimezone(TZ)
    return not (local.weekday() == 6 and local.hour == 2)


class DocumentsSystem:
    name = "documents"

    def __init__(self, world: World) -> None:
        self.world = world

    def handle(self, req: Request) -> Reply | None:
        if req.path in ("/", ""):
            return Reply.html(_HOME)
        if req.path == "/api/v1/thong-ke/van-ban":
            return self._statistics(req)
        if req.path == "/api/v1/lien-thong/trang-thai":
            now = self.world.now()
            up = axis_connected(now)
            return Reply.json(
                {
                    "maLoi": 0,
                    "moTa": "Thành công",
                    "duLieu": {
                        "trangThai": "KET_NOI" if up else "MAT_KET_NOI",
                        "maTruc": "VDXP",
                        "thoiDiemKiemTra": now.astimezone(TZ).isoformat(timespec="seconds"),
                    },
                }
            )
        return None

    def _statistics(self, req: Request) -> Reply:
        first, last = req.arg("tuNgay"), req.arg("denNgay")
        period = reporting_period(first, last, self.world.now())
        if period is None:
            return Reply.json(
                {
                    "maLoi": 400,
                    "moTa": "tuNgay phải là ngày đầu tháng, quý hoặc năm; denNgay trong cùng kỳ",
                    "duLieu": None,
                },
                400,
            )
        units: list[dict[str, Any]] = []
        axis = {"guiDi": 0, "nhanVe": 0}
        for unit in self.world.children:
            f = figures(self.world, unit, period)
            axis["guiDi"] += f["axis_sent"]
            axis["nhanVe"] += f["axis_received"]
            units.append(
                {
                    "maDonVi": unit.code,
                    "tenDonVi": unit.name,
                    "cap": LEVEL_CODES[unit.level],
                    "vanBanDi": {
                        "tong": f["sent"],
                        "dienTu": f["sent_electronic"],
                        "giay": f["sent_paper"],
                        "kySo": f["signed"],
                    },
                    "vanBanDen": {
                        "tong": f["received"],
                        "dienTu": f["received_electronic"],
                        "giay": f["received_paper"],
                    },
                    "hoSoCongViec": {"tong": f["work_files"], "xuLyTrenMang": f["work_files_online"]},
                }
            )
        return Reply.json(
            {
                "maLoi": 0,
                "moTa": "Thành công",
                "duLieu": {
                    "tuNgay": first,
                    "denNgay": last,
                    "soDonVi": len(units),
                    "donVi": units,
                    "trucLienThong": axis,
                },
            }
        )


_HOME = (
    "<!doctype html><html lang='vi'><head><meta charset='utf-8'><title>Hệ thống quản lý văn bản và điều "
    "hành</title></head><body><h1>Hệ thống quản lý văn bản và điều hành</h1><form action='dang-nhap' "
    "method='post'><input name='tenDangNhap'><input name='matKhau' type='password'>"
    "<button>Đăng nhập</button></form></body></html>"
)
