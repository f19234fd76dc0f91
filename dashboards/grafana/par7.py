"""Chỉ số CCHC lĩnh vực 7 / PAR Index component 7: criteria met, total vs 13.5, trend."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row

from dashboards.grafana.common import new_dashboard, q, stat_panel, table_panel, timeseries_panel, title

UID = "egov-par7"


def total():
    return stat_panel(
        title("Điểm lĩnh vực 7", "Component 7 score"),
        "Score of PAR Index component 7 (building e-government and digital government) out of its maximum "
        "(13.5), from the collectors' metrics and manual values (defaults unverified).",
        "none",
        q("egov_par7_score", "điểm / score", ref="A"),
        q("egov_par7_max_score", "tối đa / max", ref="B"),
        w=8,
        decimals=2,
        steps=((None, "blue"),),
    )


def criteria_at_max():
    return stat_panel(
        title("Tiêu chí đạt điểm tối đa", "Criteria at maximum"),
        'How many of the sub-criteria score their maximum (the "9/14" figure) and how many there are.',
        "none",
        q("egov_par7_criteria_at_max", "đạt tối đa / at max", ref="A"),
        q("egov_par7_criteria", "tổng số / criteria", ref="B"),
        w=8,
    )


def without_data():
    return stat_panel(
        title("Tiêu chí thiếu dữ liệu", "Criteria without data"),
        "Sub-criteria that score nothing for lack of data (their metrics are absent and no manual value is set).",
        "none",
        q("count(egov_par7_criterion_data_available == 0) or vector(0)", "thiếu / missing"),
        w=8,
        steps=((None, "green"), (1, "orange")),
    )


def criteria():
    return table_panel(
        title("Điểm từng tiêu chí", "Score of each criterion"),
        "Each sub-criterion's score and maximum; manual = 1 when a person set the value.",
        "none",
        q("egov_par7_criterion_score", instant=True, table_format=True, ref="A"),
        q("egov_par7_criterion_max_score", instant=True, table_format=True, ref="B"),
        q("egov_par7_criterion_data_available", instant=True, table_format=True, ref="C"),
        h=14,
        w=24,
        sort_by="criterion",
        desc=False,
        rename={"Value #A": "điểm / score", "Value #B": "tối đa / max", "Value #C": "có dữ liệu / data"},
    )


def names():
    return table_panel(
        title("Danh mục tiêu chí", "Criteria"),
        "Names of the sub-criteria; verified=false marks the defaults reconstructed from public sources.",
        "none",
        q("egov_par7_criterion_info", instant=True, table_format=True),
        h=10,
        w=24,
        sort_by="criterion",
        desc=False,
    )


def trend():
    return timeseries_panel(
        title("Diễn biến", "Trend"),
        "Component 7 score and the number of criteria at maximum over the selected time range.",
        "none",
        q("egov_par7_score", "điểm / score", ref="A"),
        q("egov_par7_criteria_at_max", "đạt tối đa / at max", ref="B"),
        w=24,
        min_val=0,
    )


def build():
    return (
        new_dashboard(
            UID,
            "Chỉ số CCHC: xây dựng chính quyền điện tử (lĩnh vực 7)",
            "PAR Index component 7",
            "PAR Index component 7 (13.5 points in 14 sub-criteria) live: total, criteria at maximum, "
            "each criterion, trend.",
        )
        .time("now-30d", "now")
        .with_row(Row(title("Tổng quan", "Summary")))
        .with_panel(total())
        .with_panel(criteria_at_max())
        .with_panel(without_data())
        .with_row(Row(title("Tiêu chí", "Criteria")))
        .with_panel(criteria())
        .with_panel(names())
        .with_row(Row(title("Diễn biến", "Trend")))
        .with_panel(trend())
    )
