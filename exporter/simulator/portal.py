"""The simulated provincial web portal (Cổng thông tin điện tử) and its department sub-sites, built as
Liferay portals are (collectors/profiles/portal-liferay.yaml names the public source of the markup).

``/portal/`` is the province's portal; ``/portal/<slug>/`` a department's sub-site (``so-tu-phap`` for
Sở Tư pháp), one per department of the world.  Each site has a home page whose menu
(``li.header-menu-sub-item > a.title-menu``) links the sections of the portal checklist (a department may
lack some; menu texts vary in word order, "Tổ chức bộ máy"), and a news page (``tin-tuc``) holding an Asset
Publisher in its "abstracts" display (``div.asset-abstract``, ``.asset-title a``, ``.asset-metadata``),
20 articles per page, paged with the portlet's own parameter
``_com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_<instance>_cur=N``
(:func:`instance_id`: each site's instance).  Dates move with ``World.now()`` and are printed in the
site's own Vietnamese style (``Thứ Sáu, 27/11/2026 08:15`` and ``2 giờ trước`` on the province's portal;
``27/11/2026``, ``27-11-2026 08:15`` or ``Ngày 27 tháng 11 năm 2026`` on sub-sites).  Most sites have a Q&A
page (``hoi-dap``) with all-time counters of questions received and answered, in a markup of our own (no
standard Liferay one exists).

Everything is deterministic for the world's seed and simulated time: :meth:`PortalSystem.articles` and
:meth:`PortalSystem.questions` are what tests compare the collector with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import math
import unicodedata

from exporter.simulator.protocol import Reply, Request
from exporter.simulator.world import TZ, Unit, World, _hash01, _weekday_weight

PORTAL_TITLE = "Cổng thông tin điện tử tỉnh Mô Phỏng"
PAGE_SIZE = 20
#: how far back article lists go (days)
HISTORY_DAYS = 400

#: (section name, menu text, path) — the menu of a site; names follow the liferay profile's checklist, texts
#: are written as portals write them (other word orders, punctuation)
MENU: tuple[tuple[str, str, str], ...] = (
    ("organization", "Tổ chức bộ máy", "to-chuc-bo-may"),
    ("news", "Tin tức - Sự kiện", "tin-tuc"),
    ("direction", "Chỉ đạo - Điều hành", "chi-dao-dieu-hanh"),
    ("legal_dissemination", "Phổ biến, giáo dục pháp luật", "pho-bien-phap-luat"),
    ("legal_documents", "Văn bản pháp luật", "van-ban-phap-luat"),
    ("official_gazette", "Công báo", "cong-bao"),
    ("procedures", "Thủ tục hành chính", "thu-tuc-hanh-chinh"),
    ("plans", "Chiến lược - Quy hoạch - Kế hoạch", "quy-hoach-ke-hoach"),
    ("budget", "Công khai ngân sách", "cong-khai-ngan-sach"),
    ("public_investment", "Đầu tư công - Mua sắm công", "dau-tu-cong"),
    ("draft_consultation", "Lấy ý kiến dự thảo văn bản", "lay-y-kien-du-thao"),
    ("qa", "Hỏi đáp", "hoi-dap"),
    ("statistics", "Số liệu thống kê", "thong-ke"),
    ("research", "Đề tài khoa học", "de-tai-khoa-hoc"),
    ("spokesperson", "Phát ngôn báo chí", "phat-ngon"),
)
#: sections every site has (the footer's contact link is always there too)
ALWAYS = frozenset({"news", "organization"})
#: sections only the province's own portal has (the People's Committee's Official Gazette)
PROVINCE_ONLY = frozenset({"official_gazette"})
#: the "Liên kết website" block every site shows after its content, as provincial portals do
WEB_LINKS: tuple[tuple[str, str], ...] = (
    ("Cổng thông tin điện tử Chính phủ", "https://chinhphu.vn"),
    ("Cổng Dịch vụ công quốc gia", "https://dichvucong.gov.vn"),
    ("Cơ sở dữ liệu quốc gia về văn bản pháp luật", "https://vbpl.vn"),
    ("Công báo Chính phủ", "https://congbao.chinhphu.vn"),
    ("Bộ Nội vụ", "https://moha.gov.vn"),
    ("Bộ Tài chính", "https://mof.gov.vn"),
    ("Bộ Tư pháp", "https://moj.gov.vn"),
    ("Bộ Khoa học và Công nghệ", "https://most.gov.vn"),
    ("Bộ Xây dựng", "https://moc.gov.vn"),
    ("Bộ Công Thương", "https://moit.gov.vn"),
    ("Bộ Nông nghiệp và Môi trường", "https://mae.gov.vn"),
    ("Bộ Y tế", "https://moh.gov.vn"),
    ("Bộ Giáo dục và Đào tạo", "https://moet.gov.vn"),
    ("Bộ Văn hóa, Thể thao và Du lịch", "https://bvhttdl.gov.vn"),
    ("Văn phòng Chính phủ", "https://vpcp.chinhphu.vn"),
    ("Thanh tra Chính phủ", "https://thanhtra.gov.vn"),
    ("Báo Điện tử Chính phủ", "https://baochinhphu.vn"),
    ("Hệ thống thông tin báo cáo quốc gia", "https://baocao.chinhphu.vn"),
    ("Cổng thông tin tiếp nhận phản ánh, kiến nghị", "https://pakn.dichvucong.gov.vn"),
    ("Tổng đài 1022", "https://1022.vn"),
)
#: the Asset Publisher's portlet name in its request parameters (Liferay 7.x)
PORTLET = "com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet"

_WEEKDAY_NAMES = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
_TOPICS = (
    "Hội nghị triển khai nhiệm vụ chuyển đổi số",
    "Công bố danh mục thủ tục hành chính mới",
    "Đoàn công tác kiểm tra tiến độ giải ngân vốn đầu tư công",
    "Tập huấn sử dụng dịch vụ công trực tuyến",
    "Thông báo tuyển dụng công chức",
    "Kết quả chỉ số cải cách hành chính",
    "Tiếp công dân định kỳ",
    "Hướng dẫn thanh toán trực tuyến phí, lệ phí",
    "Sơ kết công tác quý",
    "Đối thoại với doanh nghiệp",
    "Lấy ý kiến nhân dân về dự thảo nghị quyết",
    "Phát động phong trào thi đua",
)


def instance_id(slug: str) -> str:
    """The site's news Asset Publisher instance id (Liferay makes up one per portlet placement)."""
    digest = hashlib.sha256(f"portal/{slug}".encode()).hexdigest()
    return "tintuc" + digest[:6]


def cur_param(slug: str) -> str:
    """The request parameter of the news list's page number on a site."""
    return f"_{PORTLET}_INSTANCE_{instance_id(slug)}_cur"


def slugify(text: str) -> str:
    """``Sở Tư pháp`` -> ``so-tu-phap``."""
    plain = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return "-".join("".join(c if c.isalnum() else " " for c in plain).split())


@dataclasses.dataclass(frozen=True)
class Site:
    slug: str  # "" for the province's portal
    unit: Unit
    title: str
    style: str  # how dates are printed: province, dmy, dmy_time, long
    per_day: float  # articles per working day
    sections: frozenset[str]
    has_qa: bool


@dataclasses.dataclass(frozen=True)
class Article:
    id: str
    title: str
    published: float  # unix time
    shown: str  # the date as the list prints it
    shown_at: float  # the moment that printed text names (what a reader of the page can know)


class PortalSystem:
    name = "portal"

    def __init__(self, world: World) -> None:
        self.world = world
        self._days: dict[tuple[str, dt.date], tuple[tuple[float, str, str], ...]] = {}
        province = world.units[0]
        self.sites: dict[str, Site] = {
            "": Site("", province, PORTAL_TITLE, "province", 3.0, frozenset(s for s, _, _ in MENU), True)
        }
        styles = ("dmy", "dmy_time", "long")
        depts = [u for u in world.units if u.level == "DEPARTMENT"]
        for i, unit in enumerate(depts):
            sections = frozenset(
                s
                for s, _, _ in MENU
                if s not in PROVINCE_ONLY
                and (s in ALWAYS or _hash01(world.seed, "portal.section", unit.code, s) >= 0.2)
            )
            self.sites[slugify(unit.name)] = Site(
                slugify(unit.name),
                unit,
                f"{unit.name} - {PORTAL_TITLE}",
                styles[i % 3],
                world.share(unit, "portal.articles", 0.1, 1.6),
                sections,
                "qa" in sections,
            )

    # the model -------------------------------------------------------------------------------
    def _day(self, slug: str, day: dt.date) -> tuple[tuple[float, str, str], ...]:
        """The articles a site publishes on a local day: (unix time, id, title), oldest first."""
        cached = self._days.get((slug, day))
        if cached is not None:
            return cached
        site = self.sites[slug]
        expected = site.per_day * _weekday_weight(day)
        n = int(expected + _hash01(self.world.seed, "portal.n", slug, day))
        out = []
        for i in range(n):
            minute = int(450 + 570 * _hash01(self.world.seed, "portal.t", slug, day, i))  # 07:30-17:00
            when = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=TZ)
            topic = _TOPICS[int(len(_TOPICS) * _hash01(self.world.seed, "portal.topic", slug, day, i))]
            out.append((when.timestamp(), f"{day:%Y%m%d}-{i + 1}", topic))
        if len(self._days) > 20000:  # bounded: a long-running simulator moves on through the days
            self._days.clear()
        self._days[(slug, day)] = result = tuple(sorted(out))
        return result

    def articles(self, slug: str, now: dt.datetime | None = None, limit: int | None = None) -> list[Article]:
        """The site's articles published by ``now``, newest first (at most ``limit``)."""
        now = (now or self.world.now()).astimezone(TZ)
        stamp = now.timestamp()
        out: list[Article] = []
        for back in range(HISTORY_DAYS):
            day = now.date() - dt.timedelta(days=back)
            for ts, ident, title in reversed(self._day(slug, day)):
                if ts <= stamp:
                    shown, shown_at = self._shown(self.sites[slug].style, ts, now)
                    out.append(Article(ident, title, ts, shown, shown_at))
            if limit is not None and len(out) >= limit:
                return out[:limit]
        return out

    @staticmethod
    def _shown(style: str, ts: float, now: dt.datetime) -> tuple[str, float]:
        local = dt.datetime.fromtimestamp(ts, TZ)
        midnight = local.replace(hour=0, minute=0).timestamp()
        ago = now.timestamp() - ts
        if style == "province":
            if ago < 60:
                return "Vừa xong", now.timestamp()
            if ago < 3600:
                return f"{int(ago // 60)} phút trước", now.timestamp() - 60 * int(ago // 60)
            if ago < 86400:
                return f"{int(ago // 3600)} giờ trước", now.timestamp() - 3600 * int(ago // 3600)
            if local.date() == now.date() - dt.timedelta(days=1):
                return f"Hôm qua, {local:%H:%M}", ts
            return f"{_WEEKDAY_NAMES[local.weekday()]}, {local:%d/%m/%Y %H:%M}", ts
        if style == "dmy":
            return f"{local:%d/%m/%Y}", midnight
        if style == "dmy_time":
            return f"{local:%d-%m-%Y %H:%M}", ts
        return f"Ngày {local.day} tháng {local.month} năm {local.year}", midnight

    def questions(self, slug: str, now: dt.datetime | None = None) -> tuple[int, int]:
        """All-time (received, answered) of the site's Q&A."""
        site = self.sites[slug]
        now = (now or self.world.now()).astimezone(TZ)
        per_day = 6.0 if slug == "" else 0.8
        unit = site.unit if not site.unit.is_province else self.world.units[1]
        base = int(300 + 2000 * _hash01(self.world.seed, "portal.qa.base", slug))
        received = base + self.world.count(unit, f"portal.qa.{slug}", per_day, "year", at=now)
        for year in range(2020, now.year):  # the years before this one, whole
            end = dt.datetime(year, 12, 31, 23, 59, 59, tzinfo=TZ)
            received += self.world.count(unit, f"portal.qa.{slug}", per_day, "year", at=end)
        answered = math.floor(received * self.world.share(unit, f"portal.qa.answered.{slug}", 0.86, 0.98))
        return received, answered

    # HTTP ------------------------------------------------------------------------------------
    def handle(self, req: Request) -> Reply | None:
        parts = [p for p in req.path.split("/") if p]
        slug = ""
        if parts and parts[0] in self.sites and parts[0] != "":
            slug, parts = parts[0], parts[1:]
        site = self.sites[slug]
        base = "/portal/" + (slug + "/" if slug else "")
        if not parts:
            return Reply.html(self._page(site, base, self._home(site, base)))
        if parts == ["tin-tuc"]:
            try:  # Liferay ignores a parameter of another portlet: the first page, as on a real portal
                page = max(1, int(req.arg(cur_param(slug), "1") or 1))
            except ValueError:
                page = 1
            return Reply.html(self._page(site, base, self._list(site, base, page)))
        if parts[0] == "tin-tuc" and len(parts) == 2:
            return Reply.html(
                self._page(site, base, f"<article><h2>Tin bài {html.escape(parts[1])}</h2></article>")
            )
        if parts == ["hoi-dap"] and site.has_qa:
            return Reply.html(self._page(site, base, self._qa(site)))
        if (
            len(parts) == 1
            and any(path == parts[0] and name in site.sections for name, _, path in MENU)
            or parts == ["lien-he"]
        ):
            return Reply.html(
                self._page(site, base, f"<h2>{html.escape(parts[0])}</h2><p>Đang cập nhật.</p>")
            )
        return None

    def _page(self, site: Site, base: str, main: str) -> str:
        menu = "".join(
            f'<li class="header-menu-sub-item"><a class="title-menu" href="{base}{path}">{text}</a></li>'
            for name, text, path in MENU
            if name in site.sections
        )
        subsites = (
            "".join(
                f'<li><a href="/portal/{s.slug}/">{html.escape(s.unit.name)}</a></li>'
                for s in self.sites.values()
                if s.slug
            )
            if not site.slug
            else ""
        )
        web_links = "".join(
            f'<li><a href="{url}" target="_blank" rel="noopener">{html.escape(name)}</a></li>'
            for name, url in WEB_LINKS
        )
        return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>{html.escape(site.title)}</title></head>
<body>
<header id="banner" class="portal-header"><div class="banner"><h1>{html.escape(site.title.upper())}</h1></div>
<nav id="navigation" class="navbar"><ul class="header-menu">
<li class="header-menu-item"><a href="{base}">Trang chủ</a></li>{menu}</ul></nav></header>
<main id="content" class="portal-body">{main}</main>
<aside class="links"><h3>Đơn vị trực thuộc</h3><ul>{subsites}</ul></aside>
<aside class="web-links"><h3>Liên kết website</h3><ul>{web_links}</ul></aside>
<footer class="portal-footer"><p>Cơ quan chủ quản: {html.escape(site.unit.name)}</p>
<p>Chịu trách nhiệm chính: Chánh Văn phòng. Giấy phép thiết lập trang thông tin điện tử tổng hợp trên mạng số
12/GP-TTĐT. Ghi rõ nguồn "{html.escape(site.title)}" khi phát hành lại thông tin từ cổng.</p>
<p><a href="{base}lien-he">Liên hệ</a> | Điện thoại: 0228.3640.000 |
Email: congthongtin@mophong.gov.vn</p></footer>
</body></html>"""

    def _home(self, site: Site, base: str) -> str:
        latest = "".join(
            f'<li><a href="{base}tin-tuc/{a.id}">{html.escape(a.title)}</a> '
            f'<span class="date">{html.escape(a.shown)}</span></li>'
            for a in self.articles(site.slug, limit=5)
        )
        return (
            f'<section class="tin-moi"><h2>Tin mới</h2><ul>{latest}</ul></section>'
            '<section class="dich-vu"><a href="https://dichvucong.gov.vn">Cổng Dịch vụ công quốc gia</a>'
            "</section>"
        )

    def _list(self, site: Site, base: str, page: int) -> str:
        """The news page: an Asset Publisher portlet in its "abstracts" display, paged by its own
        ``..._INSTANCE_<id>_cur`` parameter."""
        shown = self.articles(site.slug, limit=page * PAGE_SIZE)[(page - 1) * PAGE_SIZE :]
        items = "".join(
            '<div class="asset-abstract">'
            f'<h3 class="asset-title content"><a href="{base}tin-tuc/{a.id}">{html.escape(a.title)}</a></h3>'
            '<div class="asset-content"><div class="asset-summary">'
            f"{html.escape(a.title)} ({html.escape(site.unit.name)}).</div></div>"
            '<div class="asset-metadata"><span class="metadata-entry metadata-publish-date">'
            f"{html.escape(a.shown)}</span></div></div>"
            for a in shown
        )
        param = cur_param(site.slug)
        pager = (
            f'<ul class="pagination lfr-pagination-buttons"><li><a href="{base}tin-tuc?{param}={page + 1}">'
            "Trang sau</a></li></ul>"
            if shown
            else ""
        )
        portlet = f"portlet_{PORTLET}_INSTANCE_{instance_id(site.slug)}"
        return (
            f'<section class="portlet" id="{portlet}"><h2 class="portlet-title">Tin tức - Sự kiện</h2>'
            f'<div class="portlet-content">{items}{pager}</div></section>'
        )

    def _qa(self, site: Site) -> str:
        received, answered = self.questions(site.slug)

        def vi(n: int) -> str:  # 1.234 (Vietnamese thousands separator)
            return f"{n:,}".replace(",", ".")

        return (
            '<h2>Hỏi đáp doanh nghiệp, nhà đầu tư</h2><div class="qa-stats">'
            f'<p class="qa-received">Tổng số câu hỏi đã tiếp nhận: <strong>{vi(received)}</strong></p>'
            f'<p class="qa-answered">Đã trả lời: <strong>{vi(answered)}</strong></p>'
            f'<p class="qa-pending">Đang xử lý: <strong>{vi(received - answered)}</strong></p></div>'
            '<ul class="qa-list"><li>Doanh nghiệp hỏi về thủ tục cấp giấy chứng nhận đầu tư'
            ' <span class="status">Đã trả lời</span></li></ul>'
        )
