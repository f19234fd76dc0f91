"""LGSP / Data integration and sharing platform: gateway, API traffic, applications, NDXP link."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row

from dashboards.grafana.common import (
    new_dashboard,
    q,
    ratio_stat,
    stat_panel,
    system_health,
    table_panel,
    target_var,
    timeseries_panel,
    title,
)

UID = "egov-lgsp"
SEL = 'target=~"$target"'


def gateway_version():
    return table_panel(
        title("Phiên bản nền tảng", "Gateway version"),
        "Product and version the LGSP gateway reports (egov_lgsp_gateway_info).",
        "none",
        q(f"egov_lgsp_gateway_info{{{SEL}}}", instant=True, table_format=True),
        h=6,
        w=12,
    )


def national_platform():
    return stat_panel(
        title("Kết nối NDXP, cổng API sẵn sàng", "NDXP link, gateway ready"),
        "1 when the national data sharing platform answered through the gateway; 1 when the gateway's "
        "startup health check answered 2xx (every API deployed).",
        "bool_yes_no",
        q(f"egov_lgsp_national_platform_up{{{SEL}}}", "NDXP {{target}}"),
        q(f"egov_lgsp_gateway_ready{{{SEL}}}", "sẵn sàng / ready {{target}}", ref="B"),
        h=6,
        w=12,
        steps=((None, "red"), (1, "green")),
    )


def api_requests():
    return timeseries_panel(
        title("Lượt gọi API", "API requests"),
        "Requests per second through the gateway, by API (rate of the month-to-date counter; extra APIs beyond "
        'max_apis are api="other").',
        "reqps",
        q(
            f'sum by (api) (rate(egov_lgsp_api_requests_total{{period="month", {SEL}}}[$__rate_interval]))',
            "{{api}}",
        ),
        min_val=0,
    )


def api_faults():
    return timeseries_panel(
        title("Tỷ lệ lỗi API (1 giờ)", "API fault ratio (1 hour)"),
        "Faulted requests / requests over the last hour, per target (target:egov_lgsp_api_faults:ratio1h).",
        "percentunit",
        q(f"target:egov_lgsp_api_faults:ratio1h{{{SEL}}}", "{{target}}"),
        min_val=0,
    )


def api_latency():
    return timeseries_panel(
        title("Thời gian phản hồi API", "API latency"),
        "Average response time of each API's requests this month.",
        "s",
        q(f'egov_lgsp_api_latency_seconds{{period="month", {SEL}}}', "{{api}}"),
        min_val=0,
    )


def apis_and_apps():
    return stat_panel(
        title("API và ứng dụng", "APIs and applications"),
        "APIs published on the gateway and applications connected to it.",
        "short",
        q(f"egov_lgsp_apis_published{{{SEL}}}", "API công bố / published APIs", ref="A"),
        q(f"egov_lgsp_applications_connected{{{SEL}}}", "ứng dụng kết nối / connected apps", ref="B"),
        w=12,
    )


def applications_by_status():
    return table_panel(
        title("Ứng dụng theo trạng thái", "Applications by status"),
        "Applications registered on the gateway by status: APPROVED ones are connected, CREATED ones wait for "
        "approval, REJECTED ones were refused.",
        "short",
        q(f"sum by (status) (egov_lgsp_applications{{{SEL}}})", instant=True, table_format=True),
        h=6,
        w=12,
        sort_by="Value",
        desc=True,
    )


def shared_data():
    return ratio_stat(
        "Ứng dụng chia sẻ dữ liệu qua LGSP",
        "Shared-data applications via LGSP",
        "The province's applications with shared data connected through the LGSP / all that should "
        "be (PAR Index).",
        f"target:egov_lgsp_shared_data_applications_connected:ratio{{{SEL}}}",
        target=1.0,
        w=12,
    )


def build():
    return (
        new_dashboard(
            UID,
            "Nền tảng tích hợp, chia sẻ dữ liệu (LGSP)",
            "Data sharing platform (LGSP)",
            "The provincial LGSP: gateway health, API traffic, connected applications, NDXP.",
            target_var("lgsp"),
        )
        .with_row(Row(title("Khả dụng", "Availability")))
        .with_panel(system_health("lgsp")[0])
        .with_panel(system_health("lgsp")[1])
        .with_panel(gateway_version())
        .with_panel(national_platform())
        .with_row(Row(title("Lưu lượng API", "API traffic")))
        .with_panel(api_requests())
        .with_panel(api_faults())
        .with_panel(api_latency())
        .with_row(Row(title("Ứng dụng", "Applications")))
        .with_panel(apis_and_apps())
        .with_panel(shared_data())
        .with_panel(applications_by_status())
    )
