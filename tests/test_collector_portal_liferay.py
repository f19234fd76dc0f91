"""The ``portal`` kind's default profile ``liferay`` on Liferay pages (tests/fixtures/http/portal-liferay, whose
README names the public source of the markup): menu links matched as sets of words, the Asset Publisher's
news list and its own paging parameter, and the checklist's bookkeeping (every item marked verified or not,
with its basis)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from httpstub import HttpStub, matchers

from collectors.portal import PortalCollector, PortalProfile
from collectors.profiles import load_profile
from exporter.fetch import HttpClient
from exporter.plugin import CollectContext

PAGES = Path(__file__).parent / "fixtures" / "http" / "portal-liferay"
URL = "https://danang.example.gov.vn/web/guest/"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
T0 = NOW.timestamp()
LIFERAY = load_profile("portal", PortalProfile, "liferay")
#: the dates on news-1.html and news-2.html, in list order
LISTED = [
    dt.datetime(2026, 11, 27, 8, 30, tzinfo=TZ),
    dt.datetime(2026, 11, 26, 15, 10, tzinfo=TZ),
    dt.datetime(2026, 11, 24, 9, 0, tzinfo=TZ),
    dt.datetime(2026, 11, 18, 14, 0, tzinfo=TZ),
    dt.datetime(2026, 11, 2, 8, 0, tzinfo=TZ),
    dt.datetime(2026, 10, 15, 10, 0, tzinfo=TZ),
]


def make(stub, **kw) -> PortalCollector:
    cfg = PortalCollector.Config.model_validate(
        {"name": "portal", "kind": "portal", "system": "portal", "url": URL, "retries": 0} | kw
    )
    return PortalCollector(
        cfg, CollectContext(http=HttpClient(cfg, stub, clock=lambda: T0), clock=lambda: T0)
    )


def samples(out) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in out.samples}


def key(name: str, **labels: str) -> tuple:
    return name, tuple(sorted(labels.items()))


def page(rsps, url: str, name: str, **query: str) -> None:
    rsps.get(
        url,
        body=(PAGES / name).read_bytes(),
        content_type="text/html; charset=UTF-8",
        match=[matchers.query_param_matcher(query)],
    )


@pytest.fixture()
def rsps():
    with HttpStub(assert_all_requests_are_fired=True) as r:
        yield r


def test_liferay_6_portal_sections_and_news_pages(rsps):
    page(rsps, URL, "home.html")
    cur = "_101_INSTANCE_kX3uTlnQ2Bmz_cur"
    page(rsps, URL + "tin-tuc", "news-1.html", **{cur: "1"})
    page(rsps, URL + "tin-tuc", "news-2.html", **{cur: "2"})
    # page 2 reaches back past the longest window (30 days): no page 3 is asked for
    settings = {"portlet": "101", "instance": "kX3uTlnQ2Bmz"}
    out = make(rsps, profile_settings=settings).collect()
    got = samples(out)
    assert out.state == "up" and out.skipped == []
    present = {
        s.name for s in LIFERAY.sections if got[key("egov_portal_required_section_present", section=s.name)]
    }
    # "Tổ chức bộ máy" is the checklist's "Bộ máy tổ chức"; "Thống kê - Số liệu" is "Số liệu thống kê";
    # the news title in the body holds "Bộ máy tổ chức", "văn bản pháp luật" and "kế hoạch phát triển" among
    # many more words: no section on its account (plans, for one, stays absent)
    assert present == {
        "organization",
        "news",
        "direction",
        "legal_documents",
        "official_gazette",
        "procedures",
        "public_investment",
        "draft_consultation",
        "statistics",
        "contact",
    }
    assert got[key("egov_portal_required_sections")] == len(LIFERAY.sections) == 16
    assert got[key("egov_portal_newest_article_timestamp_seconds")] == LISTED[0].timestamp()
    for days in (7, 30):
        window = sum(1 for d in LISTED if d >= NOW - dt.timedelta(days=days))
        assert got[key("egov_portal_articles_published", window=f"{days}d")] == window
    assert key("egov_portal_questions_received_total") not in got


def test_liferay_7_paging_parameter_is_the_default(rsps):
    page(rsps, URL, "home.html")
    cur = "_com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_aBc123_cur"
    page(rsps, URL + "tin-moi", "news-2.html", **{cur: "1"})
    out = make(rsps, profile_settings={"instance": "aBc123", "news_page": "tin-moi"}).collect()
    got = samples(out)
    assert got[key("egov_portal_newest_article_timestamp_seconds")] == LISTED[3].timestamp()


def test_checklist_items_say_whether_they_were_verified_and_on_what_basis():
    for section in LIFERAY.sections:
        assert section.basis, section.name
        # Decree 42/2022's own list could not be read: nothing claims to be checked against it
        assert section.verified is False, section.name
    from_decree_43 = {s.name for s in LIFERAY.sections if s.basis.startswith("Decree 43/2011 Art. 10")}
    assert {"organization", "news", "direction", "legal_dissemination", "plans", "legal_documents"} <= (
        from_decree_43
    )
