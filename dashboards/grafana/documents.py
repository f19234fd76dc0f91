"""QLVB&ĐH / Document management: documents sent electronically, digital signatures, work files handled
online per level, the national document axis (VDXP)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row

from dashboards.grafana.common import (
    national_target,
    new_dashboard,
    period_var,
    q,
    ratio_stat,
    stat_panel,
    system_health,
    table_panel,
    target_var,
    timeseries_panel,
    title,
    unit_var,
)

UID = "egov-documents"
TP = 'target=~"$target", period="$period"'
UNITS = 'target=~"$target", period="$period", unit=~"$unit"'


def electronic():
    return ratio_stat(
        "Văn bản đi điện tử",
        "Documents sent electronically",
        "Outgoing documents sent electronically / all outgoing documents, this period so far.",
        f"target:egov_documents_sent_electronic:ratio{{{TP}}}",
        national_target("documents_electronic"),
    )


def signed():
    return ratio_stat(
        "Văn bản ký số",
        "Digitally signed",
        "Digitally signed outgoing documents / outgoing documents sent electronically.",
        f"target:egov_documents_signed:ratio{{{TP}}}",
    )


def axis():
    return stat_panel(
        title("Trục liên thông quốc gia", "National document axis (VDXP)"),
        "1 when the link to the national document axis is up.",
        "bool_yes_no",
        q('egov_documents_national_axis_up{target=~"$target"}', "{{target}}"),
        w=12,
        steps=((None, "red"), (1, "green")),
    )


def work_files():
    return table_panel(
        title("Hồ sơ công việc trên môi trường mạng theo cấp", "Work files handled online by level"),
        "Work files handled entirely online / all work files, per government level, this period so far "
        f"(province target {national_target('work_files_online'):.0%}).",
        "percentunit",
        q(f"target:egov_documents_work_files_online:ratio{{{TP}}}", instant=True, table_format=True),
        h=6,
        steps=((None, "red"), (national_target("work_files_online"), "green")),
    )


def sent_by_channel():
    return timeseries_panel(
        title("Văn bản đi theo kênh", "Documents sent by channel"),
        "Outgoing documents per hour, electronic and paper, all selected units.",
        "short",
        q(f"sum by (channel) (increase(egov_documents_sent_total{{{UNITS}}}[1h]))", "{{channel}}"),
        min_val=0,
    )


def electronic_hourly():
    return timeseries_panel(
        title("Tỷ lệ văn bản điện tử trong giờ qua", "Sent electronically, last hour"),
        "Share of documents sent electronically over the last hour (the drop alert compares it with the same "
        "hour last week).",
        "percentunit",
        q('target:egov_documents_sent_electronic:ratio1h{target=~"$target"}', "{{target}}"),
        min_val=0,
        max_val=1,
    )


def units_electronic():
    return table_panel(
        title("Đơn vị xếp theo văn bản điện tử", "Units ranked by documents sent electronically"),
        "Each unit's documents sent electronically / all sent this period, lowest first "
        "(target_unit:egov_documents_sent_electronic:ratio).",
        "percentunit",
        q(f"target_unit:egov_documents_sent_electronic:ratio{{{UNITS}}}", instant=True, table_format=True),
        sort_by="Value",
        desc=False,
        steps=((None, "red"), (national_target("documents_electronic"), "green")),
    )


def axis_exchanged():
    return timeseries_panel(
        title("Văn bản liên thông qua trục", "Documents exchanged through the axis"),
        "Documents sent and received through the national document axis per hour.",
        "short",
        q(
            'sum by (direction) (increase(egov_documents_national_axis_exchanged_total{period="month", '
            'target=~"$target"}[1h]))',
            "{{direction}}",
        ),
        min_val=0,
    )


def build():
    return (
        new_dashboard(
            UID,
            "Quản lý văn bản và điều hành",
            "Document management",
            "Documents exchanged electronically, digital signatures and work files handled online, "
            "per level, unit and reporting period.",
            target_var("documents"),
            unit_var("egov_documents_sent_total"),
            period_var(),
        )
        .with_row(Row(title("Khả dụng", "Availability")))
        .with_panel(system_health("documents")[0])
        .with_panel(system_health("documents")[1])
        .with_row(Row(title("Chỉ tiêu toàn tỉnh", "Province indicators")))
        .with_panel(electronic())
        .with_panel(signed())
        .with_panel(axis())
        .with_panel(work_files())
        .with_panel(electronic_hourly())
        .with_row(Row(title("Theo đơn vị", "By unit")))
        .with_panel(sent_by_channel())
        .with_panel(units_electronic())
        .with_panel(axis_exchanged())
    )
