"""Tổng quan / Overview: every system's state, availability, latency, certificate expiry, data freshness,
maintenance windows and the exporter's own health."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row

from dashboards.grafana.common import (
    new_dashboard,
    q,
    query_var,
    stat_panel,
    table_panel,
    target_var,
    thresholds_file,
    timeseries_panel,
    title,
)

UID = "egov-overview"
SEL = 'system=~"$system", target=~"$target"'
STATE_MAP = {
    "0": ("chưa rõ / unknown", "gray"),
    "1": ("hoạt động / up", "green"),
    "2": ("chậm / degraded", "orange"),
    "3": ("lỗi / down", "red"),
}
#: up=1, degraded=2, down=3, unknown (before the first poll)=0
STATE_EXPR = (
    f'max by (system, target) ((egov_target_state{{state="up", {SEL}}} * 1) or '
    f'(egov_target_state{{state="degraded", {SEL}}} * 2) or (egov_target_state{{state="down", {SEL}}} * 3))'
)


def targets_down():
    return stat_panel(
        title("Mục tiêu đang lỗi", "Targets down"),
        "Targets whose last poll failed, per system (recording rule system:egov_target_down:count).",
        "short",
        q('system:egov_target_down:count{system=~"$system"}', "{{system}}"),
        w=12,
        steps=((None, "green"), (1, "red")),
    )


def availability_30d():
    return stat_panel(
        title("Khả dụng 30 ngày theo hệ thống", "Availability over 30 days by system"),
        "Average of the targets' 30-day availability (share of scrapes in which the last poll had succeeded).",
        "percentunit",
        q('system:egov_target_up:avg_over_time30d{system=~"$system"}', "{{system}}"),
        w=12,
        decimals=2,
        steps=((None, "red"), (0.95, "orange"), (0.99, "green")),
    )


def target_states():
    return stat_panel(
        title("Trạng thái từng mục tiêu", "State of each target"),
        "Current state of each target: up, degraded (slow or certificate close to expiry), down, or unknown "
        "before its first poll (egov_target_state).",
        "none",
        q(STATE_EXPR, "{{target}}"),
        h=6,
        w=24,
        steps=((None, "gray"),),
        mappings=STATE_MAP,
    )


def availability_table():
    return table_panel(
        title("Khả dụng theo mục tiêu", "Availability by target"),
        "Share of time each target was up over the last hour, day and 30 days (recording rules "
        "target:egov_target_up:avg_over_time1h/1d/30d). Maintenance windows are not excluded.",
        "percentunit",
        q(f"target:egov_target_up:avg_over_time1h{{{SEL}}}", instant=True, table_format=True, ref="A"),
        q(f"target:egov_target_up:avg_over_time1d{{{SEL}}}", instant=True, table_format=True, ref="B"),
        q(f"target:egov_target_up:avg_over_time30d{{{SEL}}}", instant=True, table_format=True, ref="C"),
        w=24,
        sort_by="30 ngày / 30 days",
        desc=False,
        rename={"Value #A": "1 giờ / 1 hour", "Value #B": "1 ngày / 1 day", "Value #C": "30 ngày / 30 days"},
        steps=((None, "red"), (0.95, "orange"), (0.99, "green")),
    )


def latency():
    return timeseries_panel(
        title("Thời gian phản hồi", "Response time"),
        "Time of each target's HTTP exchange (connect to last byte), averaged over 5 minutes "
        "(target:egov_target_http_response_seconds:avg_over_time5m).",
        "s",
        q(f"target:egov_target_http_response_seconds:avg_over_time5m{{{SEL}}}", "{{target}}"),
        min_val=0,
    )


def poll_duration():
    return timeseries_panel(
        title("Thời gian thu thập", "Poll duration"),
        "Duration of each target's whole poll (all requests and pages), averaged over 5 minutes.",
        "s",
        q(f"target:egov_target_poll_duration_seconds:avg_over_time5m{{{SEL}}}", "{{target}}"),
        min_val=0,
    )


def certificates():
    c = thresholds_file()["certificates"]
    return table_panel(
        title("Chứng thư số TLS còn hạn", "TLS certificates: days left"),
        f"Days until each target's TLS certificate expires (alerts below {c['warning_days']} and "
        f"{c['critical_days']} days; negative: expired).",
        "d",
        q(f"target:egov_target_tls_cert_expiry:days{{{SEL}}}", instant=True, table_format=True),
        w=12,
        sort_by="Value",
        desc=False,
        steps=((None, "red"), (c["critical_days"], "orange"), (c["warning_days"], "green")),
    )


def data_age():
    return timeseries_panel(
        title("Tuổi dữ liệu", "Age of the data"),
        "Seconds since each target's last successful poll: how old the values served from the cache are.",
        "s",
        q(f"time() - egov_target_last_success_timestamp_seconds{{{SEL}}}", "{{target}}"),
        min_val=0,
    )


def failures():
    return timeseries_panel(
        title("Lỗi thu thập theo nguyên nhân", "Failed polls by reason"),
        "Failed polls per hour by reason (timeout, connect, tls, http_status, parse, condition, auth, blocked "
        "by a WAF or rate limit, other = an exporter error).",
        "short",
        q(f"sum by (reason) (increase(egov_target_failures_total{{{SEL}}}[1h])) > 0", "{{reason}}"),
        min_val=0,
    )


def maintenance():
    return table_panel(
        title("Bảo trì theo kế hoạch", "Planned maintenance"),
        "Targets covered by each configured maintenance window (maintenance: in config.yaml); 1 while the "
        "window is in progress. Availability alerts of covered targets are suppressed then.",
        "short",
        q(f"egov_maintenance_window_active{{{SEL}}}", instant=True, table_format=True),
        w=12,
        steps=((None, "green"), (1, "orange")),
    )


def schema_drift():
    return timeseries_panel(
        title("Thiếu trường dữ liệu", "Schema drift: skipped metrics"),
        "Metrics skipped per hour because an upstream answer lacked their field (vendor changed the API or page).",
        "short",
        q(f"increase(egov_target_extraction_skipped_total{{{SEL}}}[1h]) > 0", "{{target}}"),
        min_val=0,
    )


def exporter_health():
    return stat_panel(
        title("Cấu hình nạp thành công", "Configuration loaded"),
        "1 when the exporter's last configuration (re)load succeeded (egov_exporter_config_last_reload_successful).",
        "bool_yes_no",
        q("egov_exporter_config_last_reload_successful", "{{instance}}"),
        w=12,
        steps=((None, "red"), (1, "green")),
    )


def scheduler_lag():
    return timeseries_panel(
        title("Độ trễ lập lịch (p90)", "Scheduler lag (p90)"),
        "90th percentile of the delay between a poll's due time and its start (waiting for a worker or a "
        "per-host slot).",
        "s",
        q(
            "histogram_quantile(0.9, sum by (le) (rate(egov_exporter_scheduler_lag_seconds_bucket[$__rate_interval])))",
            "p90",
        ),
        min_val=0,
    )


def build():
    system = query_var(
        "system",
        "Hệ thống / System",
        "label_values(egov_target_info, system)",
        description="portal, lgsp, documents, services, national",
    )
    target = target_var(None).query('label_values(egov_target_info{system=~"$system"}, target)')
    return (
        new_dashboard(
            UID,
            "Tổng quan hệ thống CQĐT",
            "e-Government overview",
            "State, availability, latency and certificates of every system watched by egov-exporter.",
            system,
            target,
        )
        .with_row(Row(title("Trạng thái", "State")))
        .with_panel(targets_down())
        .with_panel(availability_30d())
        .with_panel(target_states())
        .with_panel(availability_table())
        .with_row(Row(title("Hiệu năng", "Performance")))
        .with_panel(latency())
        .with_panel(poll_duration())
        .with_row(Row(title("Chứng thư, dữ liệu, bảo trì", "Certificates, data, maintenance")))
        .with_panel(certificates())
        .with_panel(maintenance())
        .with_panel(data_age())
        .with_panel(failures())
        .with_row(Row(title("Bộ thu thập", "The exporter")))
        .with_panel(schema_drift())
        .with_panel(scheduler_lag())
        .with_panel(exporter_health())
    )
