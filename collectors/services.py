"""``services``: the public-service portal / administrative-procedure system (Cổng dịch vụ công, Hệ thống
thông tin giải quyết TTHC).

Per unit (department, commune) and reporting period: dossiers received by channel, full-process online
dossiers, dossiers with a fee and those paid online (the online-payment ratio), digitized dossiers, dossiers
completed early / on time / late, and the backlog in time / overdue.  Shipped profiles: ``igate`` (VNPT
iGate's per-province statistics endpoints, the default; ``profile_settings`` give the prefix and agency id),
``opencps`` (OpenCPS v2's statistics REST resource), ``html-table`` (a public "Kết quả giải quyết TTHC"
table read by its header texts) and ``example-json`` (a template, not a vendor's API); a province whose
vendor differs writes its own ``profile_file``.
"""

from __future__ import annotations

from typing import Literal

from collectors.http import HTTP_METRICS
from collectors.periodic import PeriodicCollector, PeriodicConfig, period_counter, source_up_spec
from exporter.plugin import MetricSpec


class ServicesConfig(PeriodicConfig):
    kind: Literal["services"] = "services"  # type: ignore[assignment]
    default_profile = "igate"


def _counter(name: str, what: str, vi: str, *labels: str) -> MetricSpec:
    return period_counter("services", name, what, vi, ("unit", "period", *labels))


class ServicesCollector(PeriodicCollector):
    kind = "services"
    summary = (
        "public-service portal: dossiers by channel, full-process online, paid online vs with a fee, "
        "digitized, on time / late, per unit and period (profiles igate, opencps, html-table)"
    )
    Config = ServicesConfig
    default_system = "services"
    target: ServicesConfig
    metrics = HTTP_METRICS + (
        _counter(
            "dossiers_received",
            "Dossiers received by the unit, by channel (online, direct, postal).",
            "hồ sơ tiếp nhận (trực tuyến / trực tiếp / bưu chính công ích)",
            "channel",
        ),
        _counter(
            "dossiers_full_online",
            "Dossiers received online for full-process online procedures.",
            "hồ sơ trực tuyến toàn trình",
        ),
        _counter(
            "dossiers_with_fee",
            "Dossiers with a fee or charge to pay (denominator of the online-payment ratio).",
            "hồ sơ có nghĩa vụ tài chính",
        ),
        _counter(
            "dossiers_paid_online",
            "Dossiers whose fee was paid online (numerator of the online-payment ratio).",
            "hồ sơ thanh toán trực tuyến",
        ),
        _counter("dossiers_digitized", "Dossiers whose papers were digitized.", "hồ sơ được số hóa"),
        _counter(
            "dossiers_completed",
            "Dossiers completed, by timeliness (early, on_time, late; in_time where the upstream does not "
            "tell early from on time, e.g. iGate).",
            "hồ sơ đã giải quyết (trước hạn / đúng hạn / trễ hạn)",
            "timeliness",
        ),
        MetricSpec(
            "egov_services_dossiers_pending",
            "gauge",
            "Dossiers being processed now, by timeliness (in_time, overdue).",
            ("unit", "timeliness"),
            vi="hồ sơ đang giải quyết (trong hạn / quá hạn)",
        ),
        MetricSpec(
            "egov_services_unit_info",
            "gauge",
            "A unit's name as the upstream writes it (value 1).",
            ("unit", "unit_name"),
            vi="đơn vị (sở, ban, ngành, UBND xã)",
        ),
        source_up_spec("services"),
    )
