"""``portal``: a provincial web portal (Cổng thông tin điện tử) or a department's sub-site, read as HTML.

Besides availability, latency and TLS expiry (from :class:`HttpCollector`, on the home page), one poll
reads:

* **required sections** (Decree 42/2022/NĐ-CP): a checklist of sections, each found on the home page by
  its link text (``Văn bản pháp luật``; the words as a set, so ``Bộ máy tổ chức`` is ``Tổ chức bộ máy``),
  a CSS selector or a link target;
* **freshness**: the dates on the article list (following its pages back past the longest window), in
  the Vietnamese forms portals print — ``27/11/2026``, ``Thứ Sáu, 27/11/2026 08:15``, ``27-11-2026``,
  ``Ngày 27 tháng 11 năm 2026``, ``2 giờ trước``, ``Hôm qua, 14:30`` — in Asia/Ho_Chi_Minh;
* **Q&A** (hỏi đáp for businesses and investors): questions received and answered, as the page shows them.

Which pages to fetch and which selectors read them is the vendor profile's business
(``collectors/profiles/portal-<name>.yaml``: ``liferay``, the default, for the Liferay portals most provinces
run; ``example``, a template); a target names its profile, the profile's ``profile_settings`` (the news
page, the asset publisher's instance id) and, if it must, its own checklist.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from collectors.extract import element_value, parse_number
from collectors.html import parse_html
from collectors.http import HTTP_METRICS, HttpCollector, HttpConfig
from collectors.profiles import (
    Setting,
    SettingValues,
    check_setting_names,
    load_profile,
    resolve,
    resolve_settings,
    sample_settings,
)
from exporter.config import Strict, parse_duration
from exporter.domain import TZ, norm_text, words
from exporter.fetch import Response
from exporter.plugin import Collected, CollectError, MetricSpec

# ------------------------------------------------------------------------------ Vietnamese dates

_UNIT_SECONDS = {
    "giây": 1,
    "phút": 60,
    "giờ": 3600,
    "tiếng": 3600,
    "ngày": 86400,
    "tuần": 7 * 86400,
    "tháng": 30 * 86400,
    "năm": 365 * 86400,
}
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[t ](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(z|[+-]\d{2}:?\d{2})?)?"
)
_LONG = re.compile(r"ngày\s*(\d{1,2})\s*tháng\s*(\d{1,2})\s*năm\s*(\d{4})")
_DMY = re.compile(r"(?<![\d/.-])(\d{1,2})\s*([/.-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})(?![\d/.-])")
_TIME = re.compile(
    r"(?<![\d/.:-])(\d{1,2})\s*(?::|h|giờ)\s*(\d{2})(?:\s*:\s*(\d{2}))?"
    r"(?:\s*(am|pm|sa|ch))?(?![\d/.-])"
)
_RELATIVE = re.compile(r"(\d+)\s*(giây|phút|giờ|tiếng|ngày|tuần|tháng|năm)\s*trước")
_JUST_NOW = re.compile(r"vừa\s*(?:xong|đăng|cập nhật)|mới\s*đăng")
_DAY_WORDS = {"hôm nay": 0, "hôm qua": 1, "hôm kia": 2}


def _clock_time(text: str) -> tuple[int, int, int] | None:
    m = _TIME.search(text)
    if not m:
        return None
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if m.group(4) in ("pm", "ch") and hour < 12:
        hour += 12
    elif m.group(4) in ("am", "sa") and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def _without(text: str, m: re.Match) -> str:
    return text[: m.start()] + " " + text[m.end() :]


def _local(year: int, month: int, day: int, clock: tuple[int, int, int] | None) -> float | None:
    try:
        return dt.datetime(year, month, day, *(clock or (0, 0, 0)), tzinfo=TZ).timestamp()
    except ValueError:
        return None


def parse_vi_datetime(text: str | None, now: float) -> float | None:
    """The moment a Vietnamese portal's date text names, as a unix timestamp (None if there is none).

    Absolute dates are local time (Asia/Ho_Chi_Minh); a date without a time is that day's midnight.
    Relative forms count back from ``now``: ``5 phút trước``, ``2 giờ trước``, ``3 ngày trước``
    (a month is 30 days, a year 365), ``Vừa xong``; ``Hôm nay``/``Hôm qua``/``Hôm kia`` take the time
    printed beside them, else midnight."""
    if not text:
        return None
    t = norm_text(text)
    m = _ISO.search(t)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        clock = (int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)) if m.group(4) else None
        zone = m.group(7)
        if zone:
            offset = (
                dt.timedelta(0)
                if zone == "z"
                else (1 if zone[0] == "+" else -1)
                * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))
            )
            try:
                return dt.datetime(y, mo, d, *(clock or (0, 0, 0)), tzinfo=dt.timezone(offset)).timestamp()
            except ValueError:
                return None
        return _local(y, mo, d, clock)
    m = _LONG.search(t)
    if m:  # the time, if any, is printed before or after the date
        return _local(int(m.group(3)), int(m.group(2)), int(m.group(1)), _clock_time(_without(t, m)))
    m = _DMY.search(t)
    if m:
        year = int(m.group(4))
        year += 2000 if year < 100 else 0
        return _local(year, int(m.group(3)), int(m.group(1)), _clock_time(_without(t, m)))
    m = _RELATIVE.search(t)
    if m:
        return now - int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if _JUST_NOW.search(t):
        return now
    for day_words, back in _DAY_WORDS.items():
        if day_words in t:
            day = dt.datetime.fromtimestamp(now, TZ).date() - dt.timedelta(days=back)
            return _local(day.year, day.month, day.day, _clock_time(t))
    return None


# ------------------------------------------------------------------------------- configuration

_SECTION_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _css(value: str) -> str:
    import soupsieve

    try:
        soupsieve.compile(value)
    except soupsieve.SelectorSyntaxError as exc:
        raise ValueError(f"not a valid CSS selector {value!r}: {str(exc).splitlines()[0]}") from None
    return value


class Section(Strict):
    """One required section: present when any of its link texts, selectors or link targets is found."""

    #: label value of ``section`` (lower-case English, e.g. legal_documents)
    name: str
    #: the section's Vietnamese name, for people reading the checklist
    title: str = ""
    #: link texts (case-insensitive, punctuation ignored) that a menu link equals or starts with
    links: list[str] = []
    #: CSS selectors; any match on the home page counts
    select: list[str] = []
    #: substrings of a link's href (e.g. /van-ban-phap-luat)
    href: list[str] = []
    #: whether this item was checked against the text of the decree (checklist bookkeeping, not used to poll)
    verified: bool = False
    #: where the item comes from (an article of a decree, or "ours")
    basis: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _SECTION_RE.match(v):
            raise ValueError(f"must be lower-case letters, digits and '_', got {v!r}")
        return v

    @field_validator("select")
    @classmethod
    def _selectors(cls, v: list[str]) -> list[str]:
        return [_css(s) for s in v]

    @model_validator(mode="after")
    def _something(self) -> Section:
        if not (self.links or self.select or self.href):
            raise ValueError(f"section {self.name} needs links, select or href")
        return self


class Articles(Strict):
    """Where the article list is and how an entry and its date are read."""

    #: path of the list page; ``{page}`` is replaced by the page number (no placeholder: one page); the
    #: profile's settings are template variables too (``{news_page}?_{portlet}_INSTANCE_{instance}_cur=..``)
    page: str
    first_page: int = Field(default=1, ge=0)
    max_pages: int = Field(default=10, ge=1, le=100)
    #: CSS selector of one article entry on the list page
    item: str
    #: CSS selector of the date inside the entry (none: the entry's own text)
    date: str | None = None
    #: read the date from this attribute instead of the text (e.g. datetime of <time>)
    date_attr: str | None = None
    #: CSS selector of the entry's link: its href identifies the article across pages
    link: str = "a"

    @field_validator("item", "date", "link")
    @classmethod
    def _selector(cls, v: str | None) -> str | None:
        return v if v is None else _css(v)


class Counter(Strict):
    """A number printed on a page: the first element matching ``select``, read with ``regex``."""

    #: a CSS selector, or a template of the profile's settings (``{qa_received}``)
    select: str
    #: ``text`` or ``attr:NAME`` of the element
    value: str = "text"
    #: the first group (or the whole match) is the number, in Vietnamese format (1.234)
    regex: str = r"\d[\d.]*"

    @field_validator("select")
    @classmethod
    def _selector(cls, v: str) -> str:
        return v if "{" in v else _css(v)  # a template is checked filled, by the profile

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v

    def read(self, soup: Any) -> tuple[float | None, str]:
        """The number, or None and why not."""
        el = soup.select_one(self.select)
        if el is None:
            return None, f"nothing matches {self.select!r}"
        raw = element_value(el, self.value) or ""
        m = re.search(self.regex, raw)
        value = parse_number(m.group(1) if m and m.groups() else m.group(0)) if m else None
        return value, "" if value is not None else f"no number in {self.select!r} (got {raw[:40]!r})"


class QA(Strict):
    #: path of the Q&A page; a template that fills to nothing (an unset setting) turns the Q&A off
    page: str
    received: Counter
    answered: Counter

    def filled(self, settings: dict[str, str]) -> QA | None:
        """This Q&A with the settings filled in (None when its page is unset)."""
        page = self.page.format(**settings)
        if not page.strip():
            return None
        return QA(
            page=page,
            received=self.received.model_copy(update={"select": self.received.select.format(**settings)}),
            answered=self.answered.model_copy(update={"select": self.answered.select.format(**settings)}),
        )


class PortalProfile(Strict):
    description: str = ""
    #: values a deployment differs by, given per target in ``profile_settings`` (template variables of the
    #: pages' paths)
    settings: dict[str, Setting] = {}
    #: path of the home page (the target URL itself when empty)
    home: str = ""
    #: CSS selector of the parts of the home page searched for section links (menus, header, footer);
    #: none: the whole page
    sections_scope: str | None = None
    sections: list[Section] = Field(min_length=1)
    articles: Articles | None = None
    qa: QA | None = None

    @field_validator("sections")
    @classmethod
    def _unique(cls, v: list[Section]) -> list[Section]:
        names = [s.name for s in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"section {dup[0]} is listed twice")
        return v

    @model_validator(mode="after")
    def _templates(self) -> PortalProfile:
        check_setting_names(self.settings, ("page",))
        values = {**sample_settings(self.settings), "page": 1}
        for where, text in self.paths().items():
            try:
                filled = text.format(**values)
            except (KeyError, IndexError, ValueError) as exc:
                known = ", ".join("{" + k + "}" for k in values)
                raise ValueError(f"{where}: bad template {text!r} ({exc}); known: {known}") from None
            if where.endswith(".select") and filled.strip():
                _css(filled)
        return self

    def paths(self) -> dict[str, str]:
        """The page paths, by where they are in the profile."""
        out = {"home": self.home}
        if self.articles is not None:
            out["articles.page"] = self.articles.page
        if self.qa is not None:
            out["qa.page"] = self.qa.page
            out["qa.received.select"] = self.qa.received.select
            out["qa.answered.select"] = self.qa.answered.select
        return out


class PortalConfig(HttpConfig):
    kind: Literal["portal"] = "portal"  # type: ignore[assignment]
    #: a shipped profile (collectors/profiles/portal-<name>.yaml)
    profile: str = "liferay"
    #: or a profile file of your own (overrides ``profile``)
    profile_file: str | None = None
    #: values of the profile's settings (liferay: news_page, instance, portlet)
    profile_settings: SettingValues = {}
    #: this target's own checklist of required sections (default: the profile's)
    required_sections: list[Section] | None = None
    #: windows of egov_portal_articles_published (label ``window``)
    article_windows: list[str] = ["7d", "30d"]
    #: read the profile's article list (false: a site without one)
    articles: bool = True
    #: read the profile's Q&A page (false: a sub-site without one)
    qa: bool = True

    @field_validator("article_windows")
    @classmethod
    def _windows(cls, v: list[str]) -> list[str]:
        for w in v:
            parse_duration(w)
        if len(set(v)) != len(v):
            raise ValueError("windows must be distinct")
        return v

    def load_profile(self) -> PortalProfile:
        """The target's profile, read now, with the target's ``profile_settings`` checked against it."""
        profile = load_profile("portal", PortalProfile, self.profile, self.profile_file)
        self.settings_of(profile)
        return profile

    def settings_of(self, profile: PortalProfile) -> dict[str, str]:
        label = self.profile_file or f"profile {self.profile!r}"
        return resolve_settings(label, profile.settings, self.profile_settings)


# ------------------------------------------------------------------------------------- metrics

PORTAL_METRICS = (
    MetricSpec(
        "egov_portal_newest_article_timestamp_seconds",
        "gauge",
        "Publication time of the newest article on the portal's article list, as a unix timestamp "
        "(a date printed without a time counts from local midnight, Asia/Ho_Chi_Minh).",
        vi="thời điểm đăng tin bài mới nhất",
    ),
    MetricSpec(
        "egov_portal_newest_article_age_seconds",
        "gauge",
        "Seconds since the newest article was published, at poll time (0 for a future date).",
        vi="tuổi tin bài mới nhất",
    ),
    MetricSpec(
        "egov_portal_articles_published",
        "gauge",
        "Articles on the article list published within the window before the poll (label window, "
        "e.g. 7d, 30d); read from at most the profile's max_pages list pages.",
        ("window",),
        vi="số tin bài đăng trong kỳ",
    ),
    MetricSpec(
        "egov_portal_required_section_present",
        "gauge",
        "1 when the home page links to the required section (Decree 42/2022/NĐ-CP checklist), else 0.",
        ("section",),
        vi="chuyên mục bắt buộc theo Nghị định 42/2022/NĐ-CP",
    ),
    MetricSpec(
        "egov_portal_required_sections_present",
        "gauge",
        "Required sections (Decree 42/2022/NĐ-CP checklist) the home page links to.",
        vi="số chuyên mục bắt buộc đã có",
    ),
    MetricSpec(
        "egov_portal_required_sections",
        "gauge",
        "Size of the target's required-section checklist (the denominator of portal compliance).",
        vi="số chuyên mục bắt buộc",
    ),
    MetricSpec(
        "egov_portal_questions_received_total",
        "counter",
        "Questions received by the portal's Q&A for citizens, businesses and investors, all time, "
        "as the Q&A page shows it.",
        vi="số câu hỏi đã tiếp nhận (hỏi đáp)",
    ),
    MetricSpec(
        "egov_portal_questions_answered_total",
        "counter",
        "Questions the portal's Q&A has answered, all time, as the Q&A page shows it.",
        vi="số câu hỏi đã trả lời (hỏi đáp)",
    ),
)


def _words(text: str) -> frozenset[str]:
    """Link text for matching: its words as a set (case, accents' composition, punctuation, spacing and
    word order ignored: "Bộ máy tổ chức" is "Tổ chức bộ máy")."""
    return frozenset(words(text))


#: a menu link may hold this many words beyond a checklist entry's ("Tin tức - Sự kiện" for "Tin tức"), so
#: that a long article title containing the entry's words is not taken for the menu item
EXTRA_WORDS = 4


class PortalCollector(HttpCollector):
    kind = "portal"
    summary = (
        "web portal or department sub-site: availability, freshness of articles, Decree 42 required "
        "sections, Q&A received/answered"
    )
    Config = PortalConfig
    default_system = "portal"
    metrics = HTTP_METRICS + PORTAL_METRICS
    target: PortalConfig

    def __init__(self, target: PortalConfig, ctx: Any) -> None:
        super().__init__(target, ctx)
        self.profile = target.load_profile()
        self.settings = target.settings_of(self.profile)
        self.sections = (
            target.required_sections if target.required_sections is not None else self.profile.sections
        )
        self.windows = sorted(((w, parse_duration(w)) for w in target.article_windows), key=lambda x: x[1])

    # pages -----------------------------------------------------------------------------------
    def page(self, path: str, what: str) -> tuple[Response, Any]:
        resp = self.fetch("GET", resolve(self.target.url, path), what=what)
        if resp.content_type and "html" not in resp.content_type and "xml" not in resp.content_type:
            raise CollectError("parse", f"{what}: expected HTML, got {resp.content_type}")
        soup = parse_html(resp.body)
        if soup.find(True) is None:
            raise CollectError("parse", f"{what}: the answer is not an HTML page")
        return resp, soup

    def inputs(self) -> object:
        return self.profile

    def collect(self) -> Collected:
        out = Collected()
        resp, home = self.page(self.profile.home.format(**self.settings), "home page")
        self.checked(resp, out)
        self.read_sections(home, out)
        if self.target.articles and self.profile.articles is not None:
            self.read_articles(self.profile.articles, out)
        qa = self.profile.qa.filled(self.settings) if self.profile.qa is not None else None
        if self.target.qa and qa is not None:
            self.read_qa(qa, out)
        if out.skipped and not any(s.name.startswith("egov_portal_") for s in out.samples):
            raise CollectError("parse", "no portal figure found in the pages: " + out.skipped[0])
        return out

    # sections --------------------------------------------------------------------------------
    def read_sections(self, soup: Any, out: Collected) -> None:
        # links are looked for in the menus; a redesign without them: the whole page (links are still links)
        scope = (soup.select(self.profile.sections_scope) if self.profile.sections_scope else []) or [soup]
        links = [a for part in scope for a in part.find_all("a")]
        if (
            not links
        ):  # not a portal's home page (a maintenance page, a stripped answer): no finding either way
            out.skipped += [
                f"{name}: no link on the home page"
                for name in ("egov_portal_required_section_present", "egov_portal_required_sections_present")
            ]
            return
        texts = {_words(t) for a in links for t in (a.get_text(" "), a.get("title") or "") if t.strip()}
        hrefs = [a.get("href") or "" for a in links]
        present = 0
        for section in self.sections:
            wanted = [_words(w) for w in section.links]
            found = (
                any(w <= t and len(t) <= len(w) + EXTRA_WORDS for t in texts for w in wanted if w)
                or any(h in href for h in section.href for href in hrefs)
                or any(soup.select_one(sel) is not None for sel in section.select)
            )
            present += found
            out.add("egov_portal_required_section_present", int(found), section=section.name)
        out.add("egov_portal_required_sections_present", present)
        out.add("egov_portal_required_sections", len(self.sections))

    # articles --------------------------------------------------------------------------------
    def read_articles(self, rules: Articles, out: Collected) -> None:
        now = self.ctx.clock()
        horizon = now - (self.windows[-1][1] if self.windows else 0)
        seen: set[str] = set()
        dates: list[float] = []
        undated = 0
        paged = "{page}" in rules.page
        for number in range(rules.first_page, rules.first_page + (rules.max_pages if paged else 1)):
            path = rules.page.format(**self.settings, page=number)
            _, soup = self.page(path, f"article list page {number}")
            new, last = 0, now
            for item in soup.select(rules.item):
                link = item.select_one(rules.link) if rules.link else None
                key = (link.get("href") if link is not None else None) or item.get_text(" ", strip=True)
                if key in seen:
                    continue
                seen.add(key)
                new += 1
                holder = item.select_one(rules.date) if rules.date else item
                raw = (
                    None
                    if holder is None
                    else (
                        holder.get(rules.date_attr) if rules.date_attr else holder.get_text(" ", strip=True)
                    )
                )
                ts = parse_vi_datetime(raw if isinstance(raw, str) else None, now)
                if ts is None:
                    undated += 1
                    continue
                dates.append(ts)
                last = ts
            # an empty (or repeated) page, or one whose last entry is past the longest window (lists run newest
            # first; the last entry, not the oldest, so that an old article pinned on top does not stop the walk)
            if new == 0 or last < horizon:
                break
        if not dates:
            why = f"no dated article matches {rules.item!r}"
            if undated:
                why += f" ({undated} without a readable date)"
            out.skipped += [
                f"egov_portal_newest_article_timestamp_seconds: {why}",
                f"egov_portal_articles_published: {why}",
            ]
            return
        if undated:
            out.skipped.append(
                f"egov_portal_articles_published: {undated} of {undated + len(dates)} "
                "articles without a readable date"
            )
        newest = max(dates)
        out.add("egov_portal_newest_article_timestamp_seconds", newest)
        out.add("egov_portal_newest_article_age_seconds", max(0.0, now - newest))
        for label, seconds in self.windows:
            published = sum(1 for d in dates if d >= now - seconds)  # a future date counts as published
            out.add("egov_portal_articles_published", published, window=label)

    # Q&A -------------------------------------------------------------------------------------
    def read_qa(self, rules: QA, out: Collected) -> None:
        _, soup = self.page(rules.page, "Q&A page")
        for name, counter in (
            ("egov_portal_questions_received_total", rules.received),
            ("egov_portal_questions_answered_total", rules.answered),
        ):
            value, why = counter.read(soup)
            if value is None:
                out.skipped.append(f"{name}: {why}")
            out.add(name, value)
