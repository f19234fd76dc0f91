"""The landing page (``/``): what needs attention first, then a line per system, every target, and the
sections other parts add (indicators, history).

Written for the operator who opens it at any hour, on a desk screen or a phone: problems at the top with
when they began, the last success and the next retry; words rather than codes; the page says how old it
is and refreshes itself; no script, no external resource.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from typing import Any

from exporter import __version__, words
from exporter.domain import TZ

log = logging.getLogger("egov.server")
#: seconds between the page's own refreshes
REFRESH = 30
_ORDER = {"down": 0, "degraded": 1, "unknown": 2, "up": 3}
_COLOURS = {"up": "#1a7f37", "degraded": "#9a6700", "down": "#cf222e", "unknown": "#57606a"}

STYLE = """
body{font-family:system-ui,"Noto Sans","DejaVu Sans",sans-serif;margin:0 auto;max-width:1400px;
padding:1em 1.5em;color:#1f2328;line-height:1.4}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.4em 0 .5em;border-bottom:1px solid #d0d7de}
h3{font-size:1.05em;margin:1.2em 0 .4em}h4{font-size:1em;margin:1em 0 .3em}
.en,small{color:#57606a;font-weight:normal}
table{border-collapse:collapse;margin:.3em 0 1em}
td,th{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top;font-size:.9em}
th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%}
.state{font-weight:bold;white-space:nowrap}
.up{color:#1a7f37}.degraded{color:#9a6700}.down{color:#cf222e}.unknown{color:#57606a}
.asof{color:#57606a;font-size:.9em}
.ok{background:#dafbe1;border:1px solid #1a7f37;padding:.6em 1em;border-radius:6px}
.card{border:1px solid #d0d7de;border-left:6px solid #57606a;border-radius:6px;padding:.5em 1em;margin:.6em 0;
max-width:60em}
.card[data-state=down]{border-left-color:#cf222e}.card[data-state=degraded]{border-left-color:#9a6700}
tr.sub th{background:#eef3f9;text-align:left}
.card dl{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.4em 0 0}
.card dt{color:#57606a}.card dd{margin:0;overflow-wrap:anywhere}
ul.systems{list-style:none;padding:0;margin:.3em 0}ul.systems li{margin:.25em 0}
.dot{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.4em;background:#57606a}
.dot.up{background:#1a7f37}.dot.degraded{background:#9a6700}.dot.down{background:#cf222e}
td.msg{max-width:32em;overflow-wrap:anywhere}
@media (max-width:700px){
 body{padding:.6em .8em}
 table.cards thead,table.cards tr.head{display:none}
 table.cards,table.cards tbody,table.cards tr,table.cards td,table.cards tr.sub th{display:block;width:auto}
 table.cards tr{border:1px solid #d0d7de;border-radius:6px;margin:.5em 0;padding:.3em .5em}
 table.cards tr.sub{border:0;padding:0}
 table.cards td{border:0;padding:.1em 0;white-space:normal;text-align:left}
 table.cards td[data-label]::before{content:attr(data-label) ": ";color:#57606a}
 table.cards td.msg{max-width:none}
 .card dl{grid-template-columns:1fr}.card dt{margin-top:.3em}
}
"""


def _h(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def _bi(vi: str, en: str) -> str:
    return f'{_h(vi)} <span class="en">/ {_h(en)}</span>'


def _time(ts: float, now: float) -> str:
    """``09:05:12`` today, ``02/12 09:05`` otherwise (Asia/Ho_Chi_Minh)."""
    t, today = dt.datetime.fromtimestamp(ts, TZ), dt.datetime.fromtimestamp(now, TZ).date()
    return f"{t:%H:%M:%S}" if t.date() == today else f"{t:%d/%m/%Y %H:%M}"


def _span(seconds: float) -> str:
    """``45 s``, ``4 min 10 s``, ``25 min``, ``2 h 5 min``, ``3 d 4 h``."""
    s = int(max(0.0, seconds))
    if s < 90:
        return f"{s} s"
    m = s // 60
    if m < 10:
        return f"{m} min {s % 60} s" if s % 60 else f"{m} min"
    if m < 90:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def _ago(ts: float | None, now: float) -> str:
    if not ts:
        return "chưa bao giờ / never"
    return f"{_time(ts, now)} ({_span(now - ts)} trước / ago)"


def _state(state: str) -> str:
    return f'<span class="state {_h(state)}">{_h(words.both(words.STATES, state))}</span>'


def _reason(reason: str | None) -> str:
    if not reason:
        return ""
    return f"<code>{_h(reason)}</code> — {_h(words.both(words.REASONS, reason))}"


def _probe(prefix: str, target: str) -> str:
    return f'<a href="{_h(prefix)}probe?target={_h(target)}">{_h(target)}</a>'


def _attention(app: Any, results: list[Any], now: float, prefix: str) -> str:
    """Down and degraded targets first (down the longest first), then those not polled yet."""
    problems = sorted(
        (r for r in results if r.state in ("down", "degraded")),
        key=lambda r: (_ORDER[r.state], r.down_since or r.started or now, r.target),
    )
    waiting = sorted((r for r in results if r.state == "unknown"), key=lambda r: r.target)
    out = [f'<section id="attention"><h2>{_bi("Cần chú ý", "Needs attention")}</h2>']
    if not problems and not waiting:
        out.append(
            f'<p class="ok">✓ {_bi(f"Cả {len(results)} đối tượng đang hoạt động", f"all {len(results)} up")}'
            "</p>"
        )
    for r in problems:
        facts = [("Hệ thống / system", f"{words.both(words.SYSTEMS, r.system)} ({r.kind})")]
        if r.state == "down":
            since = r.down_since or r.started
            facts.append(("Ngừng từ / down since", f"{_time(since, now)} ({_span(now - since)})"))
        facts.append(("Thành công lần cuối / last success", _ago(r.last_success, now)))
        if r.next_due:
            wait = (
                f" — máy chủ yêu cầu chờ / the upstream asked to wait {_span(r.retry_after)}"
                if r.retry_after
                else ""
            )
            when = "quá hạn / overdue" if r.next_due < now else f"sau / in {_span(r.next_due - now)}"
            facts.append(("Thử lại lúc / next retry", f"{_time(r.next_due, now)} ({when}){wait}"))
        rows = "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in facts)
        reason = f"<dt>Lý do / reason</dt><dd>{_reason(r.reason)}</dd>" if r.reason else ""
        message = app.redact(r.message or "")[:500]
        msg = f"<dt>Thông báo / message</dt><dd>{_h(message)}</dd>" if message else ""
        out.append(
            f'<div class="card" data-state="{_h(r.state)}" data-target="{_h(r.target)}">'
            f"<b>{_probe(prefix, r.target)}</b> "
            f"{_state(r.state)}<dl>{reason}{rows}{msg}</dl></div>"
        )
    if waiting:
        due = [r.next_due for r in waiting if r.next_due]
        first = f" — lần đầu trước / first polls by {_time(max(due), now)}" if due else ""
        out.append(
            f'<p class="waiting">{_bi("Chưa thu thập lần nào", "not polled yet")}: '
            + ", ".join(_probe(prefix, r.target) for r in waiting)
            + f"{_h(first)}</p>"
        )
    out.append("</section>")
    return "".join(out)


def _systems(results: list[Any]) -> str:
    """One line per system (whatever systems the configuration has), worst first."""
    by_system: dict[str, list[Any]] = {}
    for r in results:
        by_system.setdefault(r.system, []).append(r)

    def worst(rs: list[Any]) -> str:
        return min((r.state for r in rs), key=lambda s: _ORDER.get(s, 9))

    lines = []
    for system, rs in sorted(by_system.items(), key=lambda kv: (_ORDER.get(worst(kv[1]), 9), kv[0])):
        counts = {s: sum(r.state == s for r in rs) for s in ("down", "degraded", "unknown", "up")}
        parts = []
        for s in ("down", "degraded", "unknown", "up"):
            if counts[s]:
                names = "" if s == "up" else " (" + ", ".join(r.target for r in rs if r.state == s) + ")"
                parts.append(f"{counts[s]} {words.STATES[s][1]}{names}")
        state = worst(rs)
        lines.append(
            f'<li data-system="{_h(system)}"><span class="dot {_h(state)}"></span><b>'
            f"{_h(words.both(words.SYSTEMS, system))}</b>: {_h(', '.join(parts))} "
            f'<span class="en">— {len(rs)} đối tượng / targets</span></li>'
        )
    return (
        f'<section id="systems"><h2>{_bi("Hệ thống", "Systems")}</h2>'
        f'<ul class="systems">{"".join(lines)}</ul></section>'
    )


def _targets(app: Any, results: list[Any], now: float, prefix: str) -> str:
    heads = [
        ("target", "đối tượng / target"),
        ("system", "hệ thống / system"),
        ("state", "trạng thái / state"),
        ("reason", "lý do / reason"),
        ("message", "thông báo / message"),
        ("last poll", "lần thu thập cuối / last poll"),
        ("duration", "thời gian / duration"),
        ("samples", "số mẫu / samples"),
    ]
    rows = []
    for r in sorted(results, key=lambda r: (_ORDER.get(r.state, 9), r.system, r.target)):
        cells = [
            _probe(prefix, r.target) + f' <span class="en">{_h(r.kind)}</span>',
            _h(words.both(words.SYSTEMS, r.system)),
            _state(r.state),
            _reason(r.reason),
            _h(app.redact(r.message or "")[:300]),
            _h(f"{_span(now - r.started)} trước / ago") if r.started else "—",
            f"{r.duration:.3f} s" if r.started else "—",
            str(len(r.samples)),
        ]
        css = ["", "", "", "", ' class="msg"', "", ' class="num"', ' class="num"']
        rows.append(
            f'<tr data-target="{_h(r.target)}">'
            + "".join(
                f'<td data-label="{_h(label)}"{c}>{cell}</td>'
                for (_key, label), c, cell in zip(heads, css, cells, strict=True)
            )
            + "</tr>"
        )
    head = "".join(f"<th>{_h(label)}</th>" for _key, label in heads)
    return (
        f'<section id="targets"><h2>{_bi("Đối tượng giám sát", "Targets")}</h2>'
        f'<table class="targets cards"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "</section>"
    )


def render_landing(app: Any, external_url: str = "") -> str:
    """The page.  ``external_url``: where users reach the exporter (``--web.external-url``); its path is
    the prefix of the page's links (a reverse proxy serving it under /egov/)."""
    from urllib.parse import urlsplit

    snap = app.store.snapshot()
    now = app.clock()
    results = list(snap["results"])
    prefix = (urlsplit(external_url).path.rstrip("/") + "/") if external_url else "/"
    counts = {s: sum(r.state == s for r in results) for s in ("up", "degraded", "down", "unknown")}
    sections = []
    for section in app.page_sections:
        try:
            sections.append(section())
        except Exception as exc:  # a broken section must not take the page down
            log.warning("landing page section failed: %s", exc)
    problems = counts["down"] + counts["degraded"]
    title = (
        f"egov-exporter — {counts['down']} down, {counts['degraded']} degraded"
        if problems
        else "egov-exporter"
    )
    links = " · ".join(f'<a href="{_h(prefix)}{p}">/{p}</a>' for p in ("metrics", "-/healthy", "-/ready"))
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH}"><title>{_h(title)}</title>
<style>{STYLE}</style>
</head><body>
<h1>egov-exporter {__version__}</h1>
<p>Giám sát hệ thống chính quyền điện tử / e-government monitoring. {links}</p>
<p class="asof">Trang lập lúc / page as of <b>{_time(now, now)}</b> (Asia/Ho_Chi_Minh), tự làm mới sau
{REFRESH} giây / refreshes every {REFRESH} s · {len(results)} đối tượng / targets: {counts["up"]} up,
{counts["degraded"]} degraded, {counts["down"]} down, {counts["unknown"]} not polled yet · cấu hình /
configuration {_h(app.config_path)} · /metrics is served from the poll cache.</p>
{_attention(app, results, now, prefix)}
{_systems(results)}
{_targets(app, results, now, prefix)}
{"".join(sections)}
</body></html>
"""
