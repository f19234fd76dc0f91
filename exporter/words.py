"""What label values mean, in Vietnamese and English, for the pages and reports people read (the landing
page, the snapshot report).  A value missing here (a system of another name, a new reason) is shown as it
is: these are names, never a list of what may exist."""

from __future__ import annotations

#: the five systems the shipped dashboards know; any other ``system`` is shown by its own name
SYSTEMS: dict[str, tuple[str, str]] = {
    "portal": ("Cổng thông tin điện tử", "Web portal"),
    "lgsp": ("Nền tảng LGSP", "LGSP platform"),
    "documents": ("QLVB&ĐH", "Document management"),
    "services": ("Cổng dịch vụ công", "Public-service portal"),
    "national": ("Cổng DVC quốc gia", "National public-service portal"),
}

#: failure reasons (label ``reason``)
REASONS: dict[str, tuple[str, str]] = {
    "timeout": ("quá thời gian chờ", "no answer in time"),
    "connect": ("không kết nối được", "cannot connect"),
    "tls": ("lỗi chứng chỉ / TLS", "TLS or certificate error"),
    "http_status": ("mã HTTP không như mong đợi", "unexpected HTTP status"),
    "parse": ("dữ liệu trả về không đọc được", "answer cannot be read"),
    "condition": ("không đạt điều kiện kiểm tra", "a check failed"),
    "auth": ("lỗi xác thực", "authentication failed"),
    "blocked": ("bị tường lửa / giới hạn truy cập chặn", "refused by a firewall or rate limit"),
    "other": ("lỗi khác (lỗi của exporter)", "other error (an exporter bug)"),
}

#: target states (label ``state``)
STATES: dict[str, tuple[str, str]] = {
    "up": ("hoạt động", "up"),
    "degraded": ("suy giảm", "degraded"),
    "down": ("ngừng", "down"),
    "unknown": ("chưa thu thập", "not polled yet"),
}

#: score sources (label ``source`` of egov_qd766_score)
SOURCES: dict[str, tuple[str, str]] = {
    "published": ("công bố", "published"),
    "computed": ("tính lại", "computed"),
    "provincial": ("số liệu tỉnh", "provincial"),
}

#: calendar periods (label ``period``)
PERIODS: dict[str, tuple[str, str]] = {
    "month": ("tháng này", "this month"),
    "quarter": ("quý này", "this quarter"),
    "year": ("năm nay", "this year"),
}

#: unit levels (label ``level``)
LEVELS: dict[str, tuple[str, str]] = {
    "province": ("Tỉnh", "Province"),
    "department": ("Sở, ban, ngành", "Departments"),
    "district": ("Cấp huyện", "Districts"),
    "commune": ("UBND cấp xã", "Communes"),
}


def both(table: dict[str, tuple[str, str]], value: str, sep: str = " / ") -> str:
    """``Cổng dịch vụ công / Public-service portal``; an unknown value as it is."""
    vi, en = table.get(value.lower() if value else value, (value, value))
    return vi if vi == en else f"{vi}{sep}{en}"
