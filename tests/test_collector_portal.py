"""The ``portal`` kind on stored pages read with the template profile ``example`` (the Liferay profile has
tests of its own in test_collector_portal_liferay.py): required sections, freshness from Vietnamese dates, Q&A
counters, and what missing fields, a changed layout, 5xx, a timeout, a WAF page and a malformed body do."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from configs import checked_config
from httpstub import HttpStub
from prometheus_client.parser import text_string_to_metric_families

from collectors.portal import PortalCollector, PortalProfile, parse_vi_datetime
from collectors.profiles import load_profile
from exporter.config import ConfigError
from exporter.exposition import MetricsCache, all_specs, build_registry
from exporter.fetch import HttpClient, TransportError
from exporter.plugin import CollectContext, CollectError
from exporter.registry import load_kinds
from exporter.results import ResultStore, TargetResult

PAGES = Path(__file__).parent / "fixtures" / "http" / "portal"
URL = "https://ninhbinh.gov.vn/"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
T0 = NOW.timestamp()
DEFAULT = load_profile("portal", PortalProfile, "example")
CHECKLIST = [s.name for s in DEFAULT.sections]

#: the dates printed on articles-1.html and articles-2.html, read by eye, in list order (the entry
#: repeated at the top of page 2 is left out: it is the same article)
LISTED = [
    NOW - dt.timedelta(minutes=45),  # 45 phút trước
    NOW - dt.timedelta(hours=3),  # 3 giờ trước
    dt.datetime(2026, 11, 26, 16, 20, tzinfo=TZ),  # Hôm qua, 16:20
    dt.datetime(2026, 11, 26, 8, 5, tzinfo=TZ),  # Thứ Năm, 26/11/2026 08:05
    dt.datetime(2026, 11, 25, tzinfo=TZ),  # 25/11/2026
    dt.datetime(2026, 11, 24, 14, 0, tzinfo=TZ),  # 24-11-2026 14:00
    dt.datetime(2026, 11, 23, tzinfo=TZ),  # Ngày 23 tháng 11 năm 2026
    dt.datetime(2026, 11, 20, 10, 30, tzinfo=TZ),  # 20/11/2026 10:30
    dt.datetime(2026, 11, 20, 9, 30, tzinfo=TZ),  # 20/11/2026 09:30
    dt.datetime(2026, 11, 18, tzinfo=TZ),  # 18/11/2026
    dt.datetime(2026, 11, 15, 8, 0, tzinfo=TZ),  # 15/11/2026 08:00
    dt.datetime(2026, 11, 10, tzinfo=TZ),  # 10/11/2026
    dt.datetime(2026, 11, 5, 7, 45, tzinfo=TZ),  # 05/11/2026 07:45
    dt.datetime(2026, 10, 28, 15, 0, tzinfo=TZ),  # 28/10/2026 15:00
    dt.datetime(2026, 10, 28, 9, 0, tzinfo=TZ),  # 28/10/2026 09:00
    dt.datetime(2026, 10, 20, tzinfo=TZ),  # 20/10/2026
]


def within(dates: list[dt.datetime], days: int) -> int:
    return sum(1 for d in dates if d >= NOW - dt.timedelta(days=days))


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def make(stub, trace: list | None = None, **kw) -> PortalCollector:
    cfg = PortalCollector.Config.model_validate(
        {
            "name": "portal",
            "kind": "portal",
            "system": "portal",
            "url": URL,
            "retries": 0,
            "profile": "example",
        }
        | kw
    )
    return PortalCollector(
        cfg, CollectContext(http=HttpClient(cfg, stub, clock=lambda: T0), clock=lambda: T0, trace=trace)
    )


def samples(collected) -> dict[tuple, float]:
    got: dict[tuple, float] = {}
    for s in collected.samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        assert key not in got, f"duplicate series {key}"
        got[key] = s.value
    return got


def key(name: str, **labels: str) -> tuple:
    return name, tuple(sorted(labels.items()))


def html(rsps, url: str, name: str, status: int = 200) -> None:
    rsps.get(url, body=page(name), status=status, content_type="text/html; charset=utf-8")


def serve_site(rsps, home="home.html", lists=("articles-1.html", "articles-2.html"), qa="qa.html") -> None:
    html(rsps, URL, home)
    for i, name in enumerate(lists, 1):
        html(rsps, f"{URL}tin-tuc?page={i}", name)
    if qa:
        html(rsps, f"{URL}hoi-dap", qa)


@pytest.fixture()
def rsps():
    with HttpStub(assert_all_requests_are_fired=True) as r:
        yield r


# --------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "text,expected",
    [
        ("27/11/2026", dt.datetime(2026, 11, 27, tzinfo=TZ)),
        ("Thứ Sáu, 27/11/2026 08:15", dt.datetime(2026, 11, 27, 8, 15, tzinfo=TZ)),
        ("27-11-2026", dt.datetime(2026, 11, 27, tzinfo=TZ)),
        ("27.11.2026 | 16:40", dt.datetime(2026, 11, 27, 16, 40, tzinfo=TZ)),
        ("08:15 - 27/11/2026", dt.datetime(2026, 11, 27, 8, 15, tzinfo=TZ)),
        ("Cập nhật lúc 08h15 ngày 27/11/2026", dt.datetime(2026, 11, 27, 8, 15, tzinfo=TZ)),
        ("27/11/2026 2:15 CH", dt.datetime(2026, 11, 27, 14, 15, tzinfo=TZ)),
        ("(27/11/26)", dt.datetime(2026, 11, 27, tzinfo=TZ)),
        ("Ngày 27 tháng 11 năm 2026", dt.datetime(2026, 11, 27, tzinfo=TZ)),
        ("2026-11-27T01:15:00Z", dt.datetime(2026, 11, 27, 8, 15, tzinfo=TZ)),
        ("2026-11-27 08:15", dt.datetime(2026, 11, 27, 8, 15, tzinfo=TZ)),
        ("2 giờ trước", NOW - dt.timedelta(hours=2)),
        ("5 phút trước", NOW - dt.timedelta(minutes=5)),
        ("3 ngày trước", NOW - dt.timedelta(days=3)),
        ("1 tuần trước", NOW - dt.timedelta(days=7)),
        ("Vừa xong", NOW),
        ("Hôm nay", dt.datetime(2026, 11, 27, tzinfo=TZ)),
        ("Hôm nay 08:15", dt.datetime(2026, 11, 27, 8, 15, tzinfo=TZ)),
        ("HÔM QUA, 14:30", dt.datetime(2026, 11, 26, 14, 30, tzinfo=TZ)),
        ("Hôm kia", dt.datetime(2026, 11, 25, tzinfo=TZ)),
    ],
)
def test_vietnamese_dates(text, expected):
    assert parse_vi_datetime(text, T0) == expected.timestamp()


@pytest.mark.parametrize(
    "text", ["", "Tin tức", "31/02/2026", "27/13/2026", "Số 215/KH-UBND", "Quyết định 766/QĐ-TTg"]
)
def test_not_a_date(text):
    assert parse_vi_datetime(text, T0) is None


def test_invalid_clock_time_gives_the_day():
    # a time that cannot be one is ignored, the date stays
    assert parse_vi_datetime("27/11/2026 25:70", T0) == dt.datetime(2026, 11, 27, tzinfo=TZ).timestamp()


# ---------------------------------------------------------------------------------- happy path


def test_happy_path_exact_values(rsps):
    serve_site(rsps)
    trace: list = []
    out = make(rsps, trace).collect()
    got = samples(out)
    assert out.state == "up" and out.skipped == []
    # sections: every menu link of home.html is in the checklist except research and spokesperson,
    # which appear only as news titles outside the menus
    absent = {"research", "spokesperson"}
    for name in CHECKLIST:
        assert got[key("egov_portal_required_section_present", section=name)] == (
            0 if name in absent else 1
        ), name
    assert got[key("egov_portal_required_sections_present")] == len(CHECKLIST) - len(absent)
    assert got[key("egov_portal_required_sections")] == len(CHECKLIST) == 13
    # freshness from the two list pages (the second reaches back past 30 days, so no third is fetched)
    newest = max(LISTED)
    assert got[key("egov_portal_newest_article_timestamp_seconds")] == newest.timestamp()
    assert got[key("egov_portal_newest_article_age_seconds")] == T0 - newest.timestamp() == 45 * 60
    assert got[key("egov_portal_articles_published", window="7d")] == within(LISTED, 7) == 8
    assert got[key("egov_portal_articles_published", window="30d")] == within(LISTED, 30) == 14
    # Q&A, as qa.html prints it (Vietnamese thousands separator)
    assert got[key("egov_portal_questions_received_total")] == 1284
    assert got[key("egov_portal_questions_answered_total")] == 1247
    # availability series come from the home page
    assert got[key("egov_target_http_status_code")] == 200
    assert got[key("egov_target_http_content_length_bytes")] == len(page("home.html"))
    assert [e["request"] for e in trace] == [
        f"GET {URL}",
        f"GET {URL}tin-tuc?page=1",
        f"GET {URL}tin-tuc?page=2",
        f"GET {URL}hoi-dap",
    ]


def test_windows_are_configurable(rsps):
    serve_site(rsps, qa=None)
    got = samples(make(rsps, article_windows=["1d", "14d", "30d"], qa=False).collect())
    for days in (1, 14, 30):
        assert got[key("egov_portal_articles_published", window=f"{days}d")] == within(LISTED, days)


def test_own_checklist_replaces_the_profile_one(rsps):
    serve_site(rsps, lists=(), qa=None)
    checklist = [
        {"name": "legal_documents", "links": ["Văn bản chỉ đạo điều hành"]},
        {"name": "sitemap", "links": ["Sơ đồ cổng"]},
        {"name": "english", "href": ["/en"]},
        {"name": "emblem", "select": ["img[alt='Quốc huy']"]},
        {"name": "investors", "links": ["Thu hút đầu tư"], "select": ["#investors"]},
    ]
    got = samples(make(rsps, required_sections=checklist, articles=False, qa=False).collect())
    assert {k[1][0][1]: v for k, v in got.items() if k[0] == "egov_portal_required_section_present"} == {
        "legal_documents": 1,
        "sitemap": 1,
        "english": 1,
        "emblem": 1,
        "investors": 0,
    }
    assert got[key("egov_portal_required_sections_present")] == 4
    assert got[key("egov_portal_required_sections")] == 5


def test_sub_site_paths_are_relative_to_the_target_url(rsps):
    base = "https://ninhbinh.gov.vn/so-tu-phap"
    html(rsps, base, "home.html")
    html(rsps, base + "/tin-tuc?page=1", "articles-redesign.html")  # no entry in the default layout: one page
    out = make(rsps, url=base, qa=False).collect()
    assert len(rsps.calls) == 2 and out.skipped[0].startswith("egov_portal_newest_article_timestamp_seconds")


# ----------------------------------------------------------------------------- unhappy paths


def _changed_home(rsps):
    serve_site(rsps, home="home-redesign.html", lists=("articles-redesign.html",), qa="qa.html")


CASES = {
    # name: (serve, expected sections present (None: not checked), present count, skipped metric names)
    "missing fields": (
        lambda r: serve_site(r, qa="qa-missing.html"),
        None,
        11,
        ["egov_portal_questions_received_total", "egov_portal_questions_answered_total"],
    ),
    # redesign: no header/nav/footer any more, so the whole page is searched: the menu is still found, and two
    # news titles holding a checklist entry's words ("Đề tài khoa học cấp tỉnh được nghiệm thu", "Ngân sách năm
    # 2027 ...") do not count as sections (five words or more beyond the entry's: a title, not a menu item);
    # the article list entries are no longer .news-item, so freshness is skipped (counted), not guessed
    "changed layout": (
        _changed_home,
        {"organization", "news", "legal_documents", "procedures", "qa", "contact"},
        6,
        ["egov_portal_newest_article_timestamp_seconds", "egov_portal_articles_published"],
    ),
    # the body cut in the middle of the menu: what was before the cut is read, the rest is absent
    "malformed body": (
        lambda r: serve_site(r, home="home-truncated.html"),
        {
            "organization",
            "news",
            "legal_documents",
            "procedures",
            "plans",
            "budget",
            "public_investment",
            "statistics",
        },
        8,
        [],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_degraded_answers_skip_metrics_not_the_target(rsps, case):
    serve, present, count, skipped = CASES[case]
    serve(rsps)
    out = make(rsps).collect()
    got = samples(out)
    assert out.state == "up"
    assert [s.split(":")[0] for s in out.skipped] == skipped
    assert got[key("egov_portal_required_sections_present")] == count
    if present is not None:
        assert {
            n for n in CHECKLIST if got[key("egov_portal_required_section_present", section=n)]
        } == present
    for name in skipped:
        assert not any(k[0] == name for k in got)


def test_missing_fields_keeps_the_other_figures(rsps):
    serve_site(rsps, qa="qa-missing.html")
    got = samples(make(rsps).collect())
    assert got[key("egov_portal_articles_published", window="7d")] == 8


def test_a_page_without_links_is_no_finding(rsps):
    """A stripped home page (no link at all) says nothing about sections: skipped, not 0 of 13."""
    rsps.get(
        URL,
        body="<!doctype html><html><body><div id='main'>Hệ thống đang bảo trì</div></body></html>",
        content_type="text/html",
    )
    html(rsps, URL + "tin-tuc?page=1", "articles-1.html")
    html(rsps, URL + "tin-tuc?page=2", "articles-2.html")
    out = make(rsps, qa=False).collect()
    got = samples(out)
    assert [s.split(":")[0] for s in out.skipped] == [
        "egov_portal_required_section_present",
        "egov_portal_required_sections_present",
    ]
    assert not any(k[0].startswith("egov_portal_required_section") for k in got)
    assert got[key("egov_portal_articles_published", window="7d")] == within(LISTED, 7)


def test_nothing_found_anywhere_is_parse(rsps):
    stripped = "<!doctype html><html><body><div id='main'></div></body></html>"
    for url in (URL, URL + "tin-tuc?page=1", URL + "hoi-dap"):
        rsps.get(url, body=stripped, content_type="text/html")
    with pytest.raises(CollectError) as info:
        make(rsps).collect()
    assert info.value.reason == "parse"
    assert info.value.message == (
        "no portal figure found in the pages: egov_portal_required_section_present: no link on the home page"
    )


def test_changed_layout_read_by_a_profile_file(rsps):
    """A redesign is configuration: the province points the target at its own profile."""
    html(rsps, URL, "home-redesign.html")
    html(rsps, URL + "tin-tuc", "articles-redesign.html")
    out = make(rsps, profile_file=str(PAGES / "profile-redesign.yaml")).collect()
    got = samples(out)
    redesign = [
        dt.datetime(2026, 11, 27, 9, 15, tzinfo=TZ),
        dt.datetime(2026, 11, 26, 8, 5, tzinfo=TZ),
        dt.datetime(2026, 11, 15, 8, 0, tzinfo=TZ),
        dt.datetime(2026, 10, 20, tzinfo=TZ),
    ]
    assert out.skipped == []
    assert got[key("egov_portal_newest_article_timestamp_seconds")] == max(redesign).timestamp()
    assert got[key("egov_portal_articles_published", window="7d")] == within(redesign, 7) == 2
    assert got[key("egov_portal_articles_published", window="30d")] == within(redesign, 30) == 3
    assert got[key("egov_portal_required_sections_present")] == got[key("egov_portal_required_sections")] == 2


def test_undated_entries_are_counted_as_skipped(rsps):
    body = page("articles-1.html").replace(b"25/11/2026", "Đang cập nhật".encode())
    html(rsps, URL, "home.html")
    rsps.get(URL + "tin-tuc?page=1", body=body, content_type="text/html")
    html(rsps, URL + "tin-tuc?page=2", "articles-2.html")
    out = make(rsps, qa=False).collect()
    dated = [d for d in LISTED if d != dt.datetime(2026, 11, 25, tzinfo=TZ)]
    assert out.skipped == ["egov_portal_articles_published: 1 of 16 articles without a readable date"]
    assert samples(out)[key("egov_portal_articles_published", window="7d")] == within(dated, 7) == 7


def test_an_old_pinned_article_does_not_stop_the_walk(rsps):
    pinned = (
        '<div class="news-list">\n  <div class="news-item"><h3><a class="news-title" href="/tin-tuc/-/view/'
        'quy-che-cong-thong-tin">Quy chế hoạt động của Cổng thông tin điện tử</a></h3>'
        '<span class="news-date">02/01/2024</span></div>'
    )
    body = page("articles-1.html").decode().replace('<div class="news-list">', pinned, 1)
    html(rsps, URL, "home.html")
    rsps.get(URL + "tin-tuc?page=1", body=body.encode(), content_type="text/html")
    html(rsps, URL + "tin-tuc?page=2", "articles-2.html")  # still read: page 1 ends inside the window
    got = samples(make(rsps, qa=False).collect())
    assert got[key("egov_portal_articles_published", window="30d")] == within(LISTED, 30)
    assert got[key("egov_portal_newest_article_timestamp_seconds")] == max(LISTED).timestamp()


def test_stops_at_an_empty_page(rsps):
    html(rsps, URL, "home.html")
    html(rsps, URL + "tin-tuc?page=1", "articles-1.html")
    html(rsps, URL + "tin-tuc?page=2", "qa.html")  # past the last page: no entries
    got = samples(make(rsps, qa=False).collect())
    assert got[key("egov_portal_articles_published", window="30d")] == within(LISTED[:10], 30) == 10


def test_max_pages_bounds_the_walk(rsps, tmp_path):
    profile = (Path(__file__).parents[1] / "collectors" / "profiles" / "portal-example.yaml").read_text(
        "utf-8"
    )
    mine = tmp_path / "one-page.yaml"
    mine.write_text(profile.replace("max_pages: 10", "max_pages: 1"), "utf-8")
    html(rsps, URL, "home.html")
    html(rsps, URL + "tin-tuc?page=1", "articles-1.html")
    got = samples(make(rsps, profile_file=str(mine), qa=False).collect())
    assert got[key("egov_portal_articles_published", window="30d")] == 10


@pytest.mark.parametrize("where", ["home", "list", "qa"])
@pytest.mark.parametrize(
    "answer,reason",
    [
        ("5xx", "http_status"),
        ("timeout", "timeout"),
        ("waf", "blocked"),
        ("empty", "parse"),
        ("json", "parse"),
        ("404", "http_status"),
    ],
)
def test_failures_fail_the_target_with_their_reason(rsps, where, answer, reason):
    urls = {"home": URL, "list": URL + "tin-tuc?page=1", "qa": URL + "hoi-dap"}
    order = ["home", "list", "qa"]
    for name in order[: order.index(where)]:
        html(rsps, urls[name], {"home": "home.html", "list": "articles-1.html"}[name])
        if name == "list":
            html(rsps, URL + "tin-tuc?page=2", "articles-2.html")
    url = urls[where]
    if answer == "5xx":
        rsps.get(url, status=502, body="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    elif answer == "404":
        rsps.get(
            url, status=404, body="<html><body>Không tìm thấy trang</body></html>", content_type="text/html"
        )
    elif answer == "timeout":
        rsps.get(url, body=TransportError("timeout"))
    elif answer == "waf":
        html(rsps, url, "waf.html")
    elif answer == "empty":
        html(rsps, url, "empty.html")
    else:
        rsps.get(url, json={"status": "ok"})
    with pytest.raises(CollectError) as info:
        make(rsps).collect()
    assert info.value.reason == reason


# ------------------------------------------------------------------------------ configuration


def test_shipped_profile_is_valid_and_has_the_decree_42_checklist():
    assert {"legal_documents", "procedures", "qa", "contact", "news", "plans", "budget"} <= set(CHECKLIST)
    assert DEFAULT.articles is not None and DEFAULT.qa is not None


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            {"profile": "nope"},
            "targets[0]: unknown profile 'nope' for kind portal; shipped: example, liferay",
        ),
        (
            {"profile": "default"},
            "targets[0]: unknown profile 'default' for kind portal (replaced by liferay (the default); the old "
            "layout is the template 'example'); shipped: example, liferay",
        ),
        (
            {"profile_settings": {"news_page": "tin-tuc"}},
            "targets[0]: profile_settings.instance: required by profile 'liferay' (the Asset Publisher's "
            "instance id, as in the news page's paging links (_INSTANCE_<id>_cur=2))",
        ),
        (
            {"article_windows": ["weekly"]},
            'targets[0].article_windows: must be a duration like 30s or 5m, got "weekly"',
        ),
        ({"article_windows": ["7d", "7d"]}, "targets[0].article_windows: windows must be distinct"),
        (
            {"required_sections": [{"name": "Legal Docs", "links": ["Văn bản"]}]},
            "targets[0].required_sections[0].name: must be lower-case letters, digits and '_', got 'Legal Docs'",
        ),
        (
            {"required_sections": [{"name": "legal"}]},
            "targets[0].required_sections[0]: section legal needs links, select or href",
        ),
        (
            {"required_sections": [{"name": "legal", "select": ["div[["]}]},
            "targets[0].required_sections[0].select: not a valid CSS selector 'div[[': ",
        ),
        (
            {"profile_file": "/nonexistent/portal.yaml"},
            "targets[0]: cannot read /nonexistent/portal.yaml: No such file or directory",
        ),
    ],
)
def test_config_mistakes_have_exact_messages(extra, message):
    with pytest.raises(ConfigError) as info:
        checked_config(
            {"targets": [{"name": "p", "kind": "portal", "url": URL, **extra}]}, kinds=load_kinds(), env={}
        )
    assert len(info.value.messages) == 1
    assert info.value.messages[0].startswith(message), info.value.messages[0]


def test_system_defaults_to_portal_and_profile_to_liferay():
    target = {"name": "p", "kind": "portal", "url": URL, "profile_settings": {"instance": "aBcD1234"}}
    cfg = checked_config({"targets": [target]}, kinds=load_kinds(), env={})
    assert cfg.targets[0].system == "portal" and cfg.targets[0].profile == "liferay"


# ------------------------------------------------------------------------------------ exposition


def test_full_exposition_passes_promtool(rsps):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found on PATH: install the Debian package 'prometheus' (CI does)"
    serve_site(rsps)
    collector = make(rsps)
    out = collector.collect()
    store = ResultStore()
    result = TargetResult(
        target="portal",
        system="portal",
        kind="portal",
        labels={"unit": "H44"},
        url=URL,
        state="up",
        started=T0,
        duration=0.4,
        last_success=T0,
        samples=out.samples,
    )
    store.register(result)
    store.record(result)
    registry, self_metrics = build_registry(store, lambda: all_specs(load_kinds()), clock=lambda: T0)
    self_metrics.reload_ok.set(1)
    text = MetricsCache(registry, store, self_metrics).get().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["egov_portal_questions_received"].type == "counter"
    assert families["egov_portal_required_section_present"].documentation.startswith(
        "1 when the home page links"
    )
    sample = next(s for s in families["egov_portal_articles_published"].samples if s.labels["window"] == "7d")
    assert sample.value == 8 and sample.labels["unit"] == "H44" and sample.labels["target"] == "portal"
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30, check=False
    )
    report = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0 and report.strip() == "", report
