"""Cổng DVC / Public services: dossiers by channel, online submission, online payment, digitization,
timeliness, per unit and period."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row

from dashboards.grafana.common import (
    national_target,
    new_dashboard,
    period_var,
    q,
    ratio_stat,
    system_health,
    table_panel,
    target_var,
    timeseries_panel,
    title,
    unit_var,
)

UID = "egov-services"
TP = 'target=~"$target", period="$period"'
UNITS = 'target=~"$target", period="$period", unit=~"$unit"'
#: per-unit ratios recorded by rules/recording/scorecards.yml (the indicator engine's rules)
UNIT_RATIO = 'unit_period:egov_services_dossiers_%s:ratio{period="$period", unit=~"$unit"}'


def province_ratios():
    return [
        ratio_stat(
            "Hồ sơ trực tuyến",
            "Dossiers submitted online",
            "Dossiers received online / all dossiers received, this period so far.",
            f"target:egov_services_online_dossiers:ratio{{{TP}}}",
            national_target("online_dossiers"),
        ),
        ratio_stat(
            "Trực tuyến toàn trình",
            "Full-process online",
            "Full-process online dossiers / all dossiers received, this period so far.",
            f"target:egov_services_full_process_online:ratio{{{TP}}}",
            national_target("full_process_online"),
        ),
        ratio_stat(
            "Thanh toán trực tuyến",
            "Paid online",
            "Dossiers paid online / dossiers with a fee, this period so far.",
            f"target:egov_services_online_payment:ratio{{{TP}}}",
            national_target("online_payment"),
        ),
        ratio_stat(
            "Số hóa hồ sơ",
            "Digitized dossiers",
            "Digitized dossiers / all dossiers received, this period so far.",
            f"target:egov_services_digitized:ratio{{{TP}}}",
            national_target("digitized_dossiers"),
        ),
    ]


def in_time():
    return ratio_stat(
        "Giải quyết đúng hạn",
        "Completed in time",
        "Dossiers completed early or on time / all completed, this period so far.",
        f"target:egov_services_completed_in_time:ratio{{{TP}}}",
        w=12,
    )


def hourly_ratios():
    return timeseries_panel(
        title("Tỷ lệ trong giờ qua", "Ratios over the last hour"),
        "Online submission and online payment over the last hour (the rate-drop alerts compare them with the same "
        "hour last week).",
        "percentunit",
        q(
            'target:egov_services_online_submission:ratio1h{target=~"$target"}',
            "{{target}} trực tuyến / online",
            ref="A",
        ),
        q(
            'target:egov_services_online_payment:ratio1h{target=~"$target"}',
            "{{target}} thanh toán / paid online",
            ref="B",
        ),
        min_val=0,
        max_val=1,
    )


def received_by_channel():
    return timeseries_panel(
        title("Hồ sơ tiếp nhận theo kênh", "Dossiers received by channel"),
        "Dossiers received per hour by channel (online, direct, postal), all selected units.",
        "short",
        q(
            f"sum by (channel) (increase(egov_services_dossiers_received_total{{{UNITS}}}[1h]))",
            "{{channel}}",
        ),
        min_val=0,
    )


def units_online_payment():
    return table_panel(
        title("Đơn vị xếp theo thanh toán trực tuyến", "Units ranked by online payment"),
        "Each unit's dossiers paid online / dossiers with a fee this period, lowest first, from every services "
        "target (unit_period:egov_services_dossiers_paid_online:ratio).",
        "percentunit",
        q(UNIT_RATIO % "paid_online", instant=True, table_format=True),
        sort_by="Value",
        desc=False,
        steps=((None, "red"), (national_target("online_payment"), "green")),
    )


def units_online_dossiers():
    return table_panel(
        title("Đơn vị xếp theo hồ sơ trực tuyến", "Units ranked by online submission"),
        "Each unit's dossiers received online / all received this period, lowest first, from every services "
        "target (unit_period:egov_services_dossiers_online:ratio).",
        "percentunit",
        q(UNIT_RATIO % "online", instant=True, table_format=True),
        sort_by="Value",
        desc=False,
        steps=((None, "red"), (national_target("online_dossiers"), "green")),
    )


def overdue():
    return table_panel(
        title("Hồ sơ quá hạn đang xử lý", "Overdue dossiers being processed"),
        "Dossiers being processed now that are overdue, per unit, most first.",
        "short",
        q(
            'sum by (unit) (egov_services_dossiers_pending{timeliness="overdue", target=~"$target", unit=~"$unit"}) > 0',
            instant=True,
            table_format=True,
        ),
        sort_by="Value",
        desc=True,
    )


def build():
    return (
        new_dashboard(
            UID,
            "Cổng dịch vụ công và giải quyết TTHC",
            "Public services and procedures",
            "Dossiers by channel, online submission and payment, digitization and timeliness, per "
            "unit and reporting period.",
            target_var("services"),
            unit_var("egov_services_dossiers_received_total"),
            period_var(),
        )
        .with_row(Row(title("Khả dụng", "Availability")))
        .with_panel(system_health("services")[0])
        .with_panel(system_health("services")[1])
        .with_row(Row(title("Chỉ tiêu toàn tỉnh", "Province indicators")))
        .with_panel(province_ratios()[0])
        .with_panel(province_ratios()[1])
        .with_panel(province_ratios()[2])
        .with_panel(province_ratios()[3])
        .with_panel(in_time())
        .with_panel(hourly_ratios())
        .with_row(Row(title("Theo đơn vị", "By unit")))
        .with_panel(received_by_channel())
        .with_panel(units_online_payment())
        .with_panel(units_online_dossiers())
        .with_panel(overdue())
    )
