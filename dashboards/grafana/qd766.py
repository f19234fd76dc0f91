"""Bộ chỉ số 766 / Decision 766 scorecard: group scores published vs computed, units ranked, gap to full
points, trend, and the national ranking of the 34 provinces (where the province stands and how that moved)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row

from dashboards.grafana.common import (
    bargauge_panel,
    new_dashboard,
    period_var,
    q,
    query_var,
    stat_panel,
    table_panel,
    timeseries_panel,
    title,
    unit_var,
)

UID = "egov-qd766"
PROV = 'unit=~"$province", period="$period"'


def total_score():
    return stat_panel(
        title("Tổng điểm của tỉnh", "Province total score"),
        "Decision 766 total (100 points) of the province this period: as published by the national portal, as "
        "computed by egov-exporter from the portal's raw counts, and from the province's own systems "
        "(provincial) before the national figure.",
        "none",
        q(f"egov_qd766_total_score{{{PROV}}}", "{{source}}"),
        w=8,
        decimals=2,
        steps=((None, "red"), (50, "orange"), (80, "green")),
    )


def group_scores():
    return bargauge_panel(
        title("Điểm theo nhóm chỉ số", "Score by group"),
        "Each group's score for the province: published and computed side by side (CKMB 18, TDGQ 20, CLGQ 12, "
        "TTTT 10, MDHL 18, MDSH 22 points).",
        "none",
        q(f'egov_qd766_score{{source=~"published|computed", {PROV}}}', "{{group}} {{source}}"),
        w=16,
        max_val=22,
    )


def gap_to_full():
    return table_panel(
        title("Còn thiếu để đạt điểm tối đa", "Gap to full points"),
        "Points missing in each group (maximum minus the computed score), largest first.",
        "none",
        q(
            f'egov_qd766_group_max_score - on(group) group_right() egov_qd766_score{{source="computed", {PROV}}}',
            instant=True,
            table_format=True,
        ),
        sort_by="Value",
        desc=True,
    )


def published_vs_computed():
    return table_panel(
        title("Chênh lệch tính toán và công bố", "Computed minus published"),
        "Computed group score minus the published one, per unit and group (0: the portal's figure is "
        "reproduced); non-zero rows first.",
        "none",
        q(
            'sum by (unit, group) (egov_qd766_score{source="computed", period="$period", unit=~"$unit"}) - '
            'sum by (unit, group) (egov_qd766_score{source="published", period="$period", unit=~"$unit"})',
            instant=True,
            table_format=True,
        ),
        sort_by="Value",
        desc=True,
    )


def units_ranked():
    return table_panel(
        title("Xếp hạng đơn vị", "Units ranked"),
        "Each unit's rank among its peers (departments, communes) by published total score, 1 = best, with "
        "the total.",
        "none",
        q(
            'egov_qd766_total_rank{source="published", period="$period", unit=~"$unit"}',
            instant=True,
            table_format=True,
            ref="A",
        ),
        q(
            'egov_qd766_total_score{source="published", period="$period", unit=~"$unit"}',
            instant=True,
            table_format=True,
            ref="B",
        ),
        h=14,
        w=12,
        sort_by="hạng / rank",
        desc=False,
        rename={"Value #A": "hạng / rank", "Value #B": "điểm / score"},
    )


def indicator_gaps():
    return table_panel(
        title("Chỉ số chưa đạt", "Indicators below target"),
        "For the province: how far each indicator's ratio is below its full-points threshold, and how many more "
        "events (e.g. dossiers paid online) this period would reach it.",
        "percentunit",
        q(
            f'egov_qd766_indicator_gap_ratio{{source="computed", {PROV}}} > 0',
            instant=True,
            table_format=True,
            ref="A",
        ),
        q(
            f'egov_qd766_indicator_events_needed{{source="computed", {PROV}}}',
            instant=True,
            table_format=True,
            ref="B",
        ),
        h=14,
        w=12,
        sort_by="khoảng cách / gap",
        desc=True,
        rename={"Value #A": "khoảng cách / gap", "Value #B": "cần thêm / events needed"},
    )


def trend():
    return timeseries_panel(
        title("Diễn biến tổng điểm", "Total score over time"),
        "The province's total this period, published and computed, over the selected time range.",
        "none",
        q(f"egov_qd766_total_score{{{PROV}}}", "{{source}}"),
        w=24,
        min_val=0,
        max_val=100,
    )


#: a province's name beside its figures (the info series without the target's own labels)
_NAMED = " * on(province) group_left(name) max by (province, name) (egov_qd766_province_info)"
_OWN = 'province="$province", period="$period"'


def national_rank():
    return stat_panel(
        title("Hạng toàn quốc", "National rank"),
        "The province's rank among the 34 provinces this period (ROW_STT of the national portal's ranking, "
        "1 = first), and the places it moved over the last 7 days (positive: dropped).",
        "none",
        q(f"egov_qd766_province_rank{{{_OWN}}}", "hạng / rank"),
        q(
            f"egov_qd766_province_rank{{{_OWN}}} - egov_qd766_province_rank{{{_OWN}}} offset 1w",
            "thay đổi 7 ngày / moved in 7 days",
            ref="B",
        ),
        w=8,
        decimals=0,
        steps=((None, "green"), (12, "orange"), (24, "red")),
    )


def national_rank_trend():
    return timeseries_panel(
        title("Diễn biến hạng toàn quốc", "National rank over time"),
        "The province's rank this period over the selected time range (lower is better).",
        "none",
        q(f"egov_qd766_province_rank{{{_OWN}}}", "{{period}}"),
        w=16,
        min_val=1,
        max_val=34,
    )


def national_table():
    return table_panel(
        title("Xếp hạng 34 tỉnh, thành phố", "Ranking of the 34 provinces"),
        "Every province of the national ranking this period: rank, total score (100 points) as the national "
        "portal publishes it, and the places each moved over the last 7 days (positive: dropped).",
        "none",
        q(f'egov_qd766_province_rank{{period="$period"}}{_NAMED}', instant=True, table_format=True, ref="A"),
        q(
            f'egov_qd766_province_score{{group="total", period="$period"}}{_NAMED}',
            instant=True,
            table_format=True,
            ref="B",
        ),
        q(
            f'(egov_qd766_province_rank{{period="$period"}} - egov_qd766_province_rank{{period="$period"}} '
            f"offset 1w){_NAMED}",
            instant=True,
            table_format=True,
            ref="C",
        ),
        h=16,
        w=24,
        sort_by="hạng / rank",
        desc=False,
        rename={
            "Value #A": "hạng / rank",
            "Value #B": "tổng điểm / total",
            "Value #C": "thay đổi 7 ngày / moved",
        },
    )


def build():
    province = query_var(
        "province",
        "Tỉnh / Province",
        'label_values(egov_qd766_unit_info{level="province"}, unit)',
        include_all=False,
        multi=False,
        description="The province's unit code, e.g. H44",
    )
    return (
        new_dashboard(
            UID,
            "Bộ chỉ số phục vụ người dân, doanh nghiệp (QĐ 766)",
            "Decision 766 scorecard",
            "Decision 766/QĐ-TTg service-quality index (100 points, six groups): the national "
            "portal's published scores, egov-exporter's computed ones, units ranked, gaps.",
            period_var(),
            province,
            unit_var("egov_qd766_unit_info"),
        )
        .with_row(Row(title("Tỉnh", "Province")))
        .with_panel(total_score())
        .with_panel(group_scores())
        .with_panel(gap_to_full())
        .with_panel(published_vs_computed())
        .with_row(Row(title("Đơn vị", "Units")))
        .with_panel(units_ranked())
        .with_panel(indicator_gaps())
        .with_row(Row(title("Diễn biến", "Trend")))
        .with_panel(trend())
        .with_row(Row(title("Xếp hạng toàn quốc", "National ranking")))
        .with_panel(national_rank())
        .with_panel(national_rank_trend())
        .with_panel(national_table())
    )
