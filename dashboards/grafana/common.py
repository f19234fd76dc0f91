"""Shared defaults of every egov dashboard: bilingual titles, the ``$datasource`` variable, query and panel
helpers.  Each dashboard module has one function per panel and a ``build()`` returning its Dashboard;
``dashboards/grafana/build.py`` writes them to ``json/`` deterministically.

Rules kept here so that no dashboard can forget them: every panel has a Vietnamese / English title, a
description and a unit; every query goes to the datasource chosen in ``$datasource`` (no datasource uid
is written anywhere); dashboard uids are set explicitly (stable links from alerts).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, TableSortByFieldState
from grafana_foundation_sdk.builders.dashboard import (
    CustomVariable,
    DatasourceVariable,
    QueryVariable,
    ThresholdsConfig,
)
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

ROOT = Path(__file__).resolve().parents[2]
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["egov", "egov-exporter"]
SYSTEM_NAMES = {
    "portal": "Cổng TTĐT / Web portal",
    "lgsp": "LGSP / Data sharing platform",
    "documents": "QLVB&ĐH / Document management",
    "services": "Cổng DVC / Public services",
    "national": "Cổng DVC quốc gia / National 766 API",
}


def title(vi: str, en: str) -> str:
    """Bilingual title: Vietnamese first, then English."""
    return f"{vi} / {en}"


def thresholds_file() -> dict:
    """rules/thresholds.yaml: the one place of the thresholds, read by dashboards too (threshold lines)."""
    return yaml.safe_load((ROOT / "rules" / "thresholds.yaml").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ variables


def datasource_var() -> DatasourceVariable:
    return (
        DatasourceVariable("datasource")
        .label("Nguồn dữ liệu / Data source")
        .type("prometheus")
        .description("Prometheus that scrapes egov-exporter")
    )


def query_var(
    name: str, label: str, query: str, *, include_all: bool = True, multi: bool = True, description: str = ""
) -> QueryVariable:
    v = (
        QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(include_all)
    )
    if include_all:
        v = v.all_value(".*")
    if description:
        v = v.description(description)
    return v


def target_var(system: str | None) -> QueryVariable:
    sel = f'{{system="{system}"}}' if system else ""
    return query_var(
        "target",
        "Mục tiêu / Target",
        f"label_values(egov_target_info{sel}, target)",
        description="Targets of the exporter (config.yaml targets[].name)",
    )


def unit_var(metric: str) -> QueryVariable:
    return query_var(
        "unit",
        "Đơn vị / Unit",
        f"label_values({metric}, unit)",
        description="Unit (sở, ban, ngành, UBND xã) code, e.g. H99.100",
    )


def period_var() -> CustomVariable:
    opts = [("Tháng / Month", "month"), ("Quý / Quarter", "quarter"), ("Năm / Year", "year")]
    return (
        CustomVariable("period")
        .label("Kỳ báo cáo / Period")
        .values(",".join(v for _, v in opts))
        .description("Reporting period: the figures are period-to-date (kỳ báo cáo)")
        .current(VariableOption(selected=True, text="month", value="month"))
    )


# --------------------------------------------------------------------------------------------- queries


def q(
    expr: str, legend: str = "", *, instant: bool = False, table_format: bool = False, ref: str = "A"
) -> prometheus.Dataquery:
    d = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if legend:
        d = d.legend_format(legend)
    if instant:
        d = d.instant()
    if table_format:
        d = d.format("table")
    return d


def _thresholds(steps: Iterable[tuple[float | None, str]]) -> ThresholdsConfig:
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


def _common(panel, t: str, description: str, unit: str, h: int, w: int):
    return panel.title(t).description(description).unit(unit).datasource(DS).height(h).span(w)


# ----------------------------------------------------------------------------------------------- panels


def stat_panel(
    t: str,
    description: str,
    unit: str,
    *queries: prometheus.Dataquery,
    h: int = 4,
    w: int = 6,
    steps: Iterable[tuple[float | None, str]] = ((None, "blue"),),
    decimals: int | None = None,
    mappings: dict[str, tuple[str, str]] | None = None,
) -> stat.Panel:
    p = _common(stat.Panel(), t, description, unit, h, w)
    for query in queries:
        p = p.with_target(query)
    p = (
        p.thresholds(_thresholds(steps))
        .color_mode(BigValueColorMode.BACKGROUND)
        .graph_mode(BigValueGraphMode.NONE)
        .text_mode(BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if decimals is not None:
        p = p.decimals(decimals)
    if mappings:
        p = p.mappings(
            [
                ValueMap(
                    options={k: ValueMappingResult(text=txt, color=col) for k, (txt, col) in mappings.items()}
                )
            ]
        )
    return p


def timeseries_panel(
    t: str,
    description: str,
    unit: str,
    *queries: prometheus.Dataquery,
    h: int = 8,
    w: int = 12,
    min_val: float | None = None,
    max_val: float | None = None,
    steps: Iterable[tuple[float | None, str]] | None = None,
) -> timeseries.Panel:
    p = _common(timeseries.Panel(), t, description, unit, h, w)
    for query in queries:
        p = p.with_target(query)
    if min_val is not None:
        p = p.min(min_val)
    if max_val is not None:
        p = p.max(max_val)
    if steps is not None:
        p = p.thresholds(_thresholds(steps))
    return p.fill_opacity(10).line_width(1)


def table_panel(
    t: str,
    description: str,
    unit: str,
    *queries: prometheus.Dataquery,
    h: int = 10,
    w: int = 12,
    sort_by: str | None = None,
    desc: bool = True,
    rename: dict[str, str] | None = None,
    steps: Iterable[tuple[float | None, str]] | None = None,
) -> table.Panel:
    p = _common(table.Panel(), t, description, unit, h, w)
    for query in queries:
        p = p.with_target(query)
    p = p.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    p = p.with_transformation(
        DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True},
                "renameByName": rename or {},
            },
        )
    )
    if sort_by:
        p = p.sort_by([TableSortByFieldState().display_name(sort_by).desc(desc)])
    if steps is not None:
        p = p.thresholds(_thresholds(steps))
    return p


def bargauge_panel(
    t: str,
    description: str,
    unit: str,
    *queries: prometheus.Dataquery,
    h: int = 8,
    w: int = 12,
    min_val: float | None = 0,
    max_val: float | None = None,
    steps: Iterable[tuple[float | None, str]] = ((None, "green"),),
) -> bargauge.Panel:
    p = _common(bargauge.Panel(), t, description, unit, h, w)
    for query in queries:
        p = p.with_target(query)
    if min_val is not None:
        p = p.min(min_val)
    if max_val is not None:
        p = p.max(max_val)
    return (
        p.thresholds(_thresholds(steps))
        .orientation(VizOrientation.HORIZONTAL)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


# ------------------------------------------------------------------------------------------ dashboard


def new_dashboard(uid: str, vi: str, en: str, description: str, *variables) -> dashboard.Dashboard:
    d = (
        dashboard.Dashboard(title(vi, en))
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone("Asia/Ho_Chi_Minh")
        .refresh("1m")
        .time("now-24h", "now")
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(datasource_var())
    )
    for v in variables:
        d = d.with_variable(v)
    return d.link(
        dashboard.DashboardLink("Bảng điều khiển egov / egov dashboards")
        .type(DashboardLinkType.DASHBOARDS)
        .tags(["egov"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )


__all__ = [
    "DS",
    "SYSTEM_NAMES",
    "bargauge_panel",
    "new_dashboard",
    "period_var",
    "q",
    "query_var",
    "stat_panel",
    "table_panel",
    "target_var",
    "thresholds_file",
    "timeseries_panel",
    "title",
    "unit_var",
]


def system_health(system: str) -> list:
    """The first row of every system dashboard: its targets' availability and response time."""
    sel = f'system="{system}", target=~"$target"'
    return [
        stat_panel(
            title("Khả dụng 1 ngày", "Availability, 1 day"),
            f"Share of the last day each {system} target was up (target:egov_target_up:avg_over_time1d).",
            "percentunit",
            q(f"target:egov_target_up:avg_over_time1d{{{sel}}}", "{{target}}"),
            w=12,
            decimals=2,
            steps=((None, "red"), (0.95, "orange"), (0.99, "green")),
        ),
        timeseries_panel(
            title("Thời gian phản hồi", "Response time"),
            f"HTTP response time of each {system} target, 5-minute average.",
            "s",
            q(f"target:egov_target_http_response_seconds:avg_over_time5m{{{sel}}}", "{{target}}"),
            min_val=0,
        ),
    ]


def ratio_stat(vi: str, en: str, description: str, expr: str, target: float | None = None, w: int = 6):
    """A ratio 0-1 as a percentage, red below the national target when there is one."""
    steps = ((None, "blue"),) if target is None else ((None, "red"), (target, "green"))
    return stat_panel(
        title(vi, en),
        description + (f" National target: {target:.0%}." if target else ""),
        "percentunit",
        q(expr, "{{target}}"),
        w=w,
        decimals=1,
        steps=steps,
    )


def national_target(key: str) -> float:
    """A national target's level, from indicators/targets.yaml (the one place of the targets)."""
    from exporter.targets import load_targets

    return load_targets()[key].ratio
