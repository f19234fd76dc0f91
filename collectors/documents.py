"""``documents``: the document-management and work-handling system (Phần mềm QLVB&ĐH, eOffice).

Per unit, government level and reporting period: documents sent and received by channel (electronic,
paper), digitally signed outgoing documents, work files and those handled online; province-wide, the
documents exchanged through the national document axis (VDXP) and whether that link is up.  No public
statistics API of a document-management product (VNPT iOffice / eOffice, Viettel VOffice) is known: a target
names its own ``profile_file`` written for the province's report endpoint, or the shipped template
``example-json`` (documented, not a vendor's API).
"""

from __future__ import annotations

from typing import Literal

from collectors.http import HTTP_METRICS
from collectors.periodic import (
    PERIOD_HELP,
    PeriodicCollector,
    PeriodicConfig,
    period_counter,
    source_up_spec,
)
from exporter.plugin import MetricSpec

_LEVEL = " Label level: central, province, district (data before the 2025 reform) or commune."


class DocumentsConfig(PeriodicConfig):
    kind: Literal["documents"] = "documents"  # type: ignore[assignment]
    default_profile = ""  # no vendor's API is known: the target names its profile


def _counter(name: str, what: str, vi: str, *labels: str) -> MetricSpec:
    return period_counter("documents", name, what + _LEVEL, vi, ("unit", "level", "period", *labels))


class DocumentsCollector(PeriodicCollector):
    kind = "documents"
    summary = (
        "document management (QLVB&ĐH): documents sent/received electronically vs paper, signed, work "
        "files online, per unit, level and period; national document axis (a profile of your own, or the "
        "template example-json)"
    )
    Config = DocumentsConfig
    default_system = "documents"
    target: DocumentsConfig
    metrics = HTTP_METRICS + (
        _counter(
            "sent",
            "Outgoing documents issued by the unit, by channel (electronic, paper).",
            "văn bản đi (điện tử / giấy)",
            "channel",
        ),
        _counter(
            "received",
            "Incoming documents received by the unit, by channel (electronic, paper).",
            "văn bản đến (điện tử / giấy)",
            "channel",
        ),
        _counter(
            "signed", "Outgoing electronic documents that were digitally signed.", "văn bản đi được ký số"
        ),
        _counter(
            "work_files",
            "Work files opened by the unit (denominator of work files handled online).",
            "hồ sơ công việc",
        ),
        _counter(
            "work_files_online",
            "Work files handled entirely online.",
            "hồ sơ công việc xử lý trên môi trường mạng",
        ),
        MetricSpec(
            "egov_documents_national_axis_up",
            "gauge",
            "1 when the link to the national document axis (VDXP) is up, 0 when it is down or its check "
            "fails.",
            vi="kết nối Trục liên thông văn bản quốc gia",
        ),
        MetricSpec(
            "egov_documents_national_axis_exchanged_total",
            "counter",
            "Documents exchanged with other agencies through the national document axis, by direction "
            "(sent, received)." + PERIOD_HELP,
            ("period", "direction"),
            vi="văn bản liên thông qua Trục quốc gia (gửi / nhận)",
        ),
        MetricSpec(
            "egov_documents_unit_info",
            "gauge",
            "A unit's name as the upstream writes it (value 1).",
            ("unit", "unit_name"),
            vi="đơn vị",
        ),
        source_up_spec("documents"),
    )
