"""Cổng TTĐT / Web portal: availability, freshness of articles, Decree 42/2022 sections, Q&A."""

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
    thresholds_file,
    timeseries_panel,
    title,
)

UID = "egov-portal"
SEL = 'target=~"$target"'


def newest_article_age():
    days = thresholds_file()["portal"]["max_days_without_article"]
    return stat_panel(
        title("Tin bài mới nhất cách đây", "Newest article published"),
        f"Time since the newest article on each portal was published (alert after {days} days).",
        "dtdurations",
        q(f"time() - egov_portal_newest_article_timestamp_seconds{{{SEL}}}", "{{target}}"),
        w=12,
        steps=((None, "green"), (86400 * days, "red")),
    )


def articles_published():
    return timeseries_panel(
        title("Số tin bài đã đăng", "Articles published"),
        "Articles on each portal's list published within the last 7 and 30 days.",
        "short",
        q(f"egov_portal_articles_published{{{SEL}}}", "{{target}} {{window}}"),
        min_val=0,
    )


def sections_ratio():
    return ratio_stat(
        "Chuyên mục bắt buộc (NĐ 42/2022)",
        "Required sections (Decree 42/2022)",
        "Share of the Decree 42/2022 checklist each portal's home page links to "
        "(target:egov_portal_required_sections:ratio).",
        f"target:egov_portal_required_sections:ratio{{{SEL}}}",
        target=1.0,
        w=12,
    )


def sections_table():
    return table_panel(
        title("Chuyên mục còn thiếu", "Required sections by portal"),
        "1 when the home page links to the required section, 0 when it is missing.",
        "bool_yes_no",
        q(f"egov_portal_required_section_present{{{SEL}}}", instant=True, table_format=True),
        w=12,
        sort_by="Value",
        desc=False,
        steps=((None, "red"), (1, "green")),
    )


def qa_answered():
    return ratio_stat(
        "Câu hỏi đã trả lời",
        "Questions answered",
        "Questions the Q&A for citizens, businesses and investors has answered / received, all time "
        "(target:egov_portal_questions_answered:ratio).",
        f"target:egov_portal_questions_answered:ratio{{{SEL}}}",
        w=12,
    )


def qa_received():
    return timeseries_panel(
        title("Câu hỏi tiếp nhận mỗi ngày", "Questions received per day"),
        "Questions received by the portal's Q&A over the last day.",
        "short",
        q(f"increase(egov_portal_questions_received_total{{{SEL}}}[1d])", "{{target}}"),
        min_val=0,
    )


def build():
    return (
        new_dashboard(
            UID,
            "Cổng thông tin điện tử",
            "Web portal",
            "The provincial web portal and department sub-sites: availability, freshness, "
            "the sections Decree 42/2022/NĐ-CP requires, Q&A.",
            target_var("portal"),
        )
        .with_row(Row(title("Khả dụng", "Availability")))
        .with_panel(system_health("portal")[0])
        .with_panel(system_health("portal")[1])
        .with_row(Row(title("Cập nhật thông tin", "Freshness")))
        .with_panel(newest_article_age())
        .with_panel(articles_published())
        .with_row(Row(title("Nội dung bắt buộc và hỏi đáp", "Required content and Q&A")))
        .with_panel(sections_ratio())
        .with_panel(sections_table())
        .with_panel(qa_answered())
        .with_panel(qa_received())
    )
