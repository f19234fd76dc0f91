"""The HTML report as people read it: rendered by a real browser (Debian's ``chromium``, headless) and printed
to A4 PDF, then checked as a reader would look at it: how many pages, none near-empty, no label cut off by
its chart, no text wider than its table cell.  Needs chromium and poppler-utils (pdfinfo, pdftoppm), which
the README's test command installs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from snapshot_synth import Province

from exporter.cli import main
from exporter.history import HistoryDB

CHROMIUM = "/usr/bin/chromium"
#: A4 without the report's @page margins (10 mm each side) at 96 px/inch: the width tables must fit
A4_CONTENT_PX = 718
#: measures, in the page as the browser laid it out, every SVG text against its chart's box and every
#: cell, paragraph and heading against its own box; the result goes into the DOM that --dump-dom prints
CHECK = """
(function () {
  var out = [];
  document.querySelectorAll('svg').forEach(function (svg) {
    var vb = svg.viewBox.baseVal;
    svg.querySelectorAll('text').forEach(function (t) {
      var b = t.getBBox();
      if (b.x < vb.x - 0.5 || b.y < vb.y - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 ||
          b.y + b.height > vb.y + vb.height + 0.5)
        out.push('svg ' + svg.getAttribute('data-chart') + ': ' + t.textContent);
    });
  });
  document.querySelectorAll('td, th, dd, dt, p, li, h1, h2, h3, figcaption').forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 1)
      out.push('cell ' + el.tagName + ': ' + el.textContent.slice(0, 60));
  });
  var width = document.documentElement.clientWidth;
  document.querySelectorAll('body *').forEach(function (el) {
    if (el.getBoundingClientRect().right > width + 1)
      out.push('page ' + el.tagName + ': ' + el.textContent.slice(0, 60));
  });
  var pre = document.createElement('pre');
  pre.id = 'overflow';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def _tool(path: str) -> str:
    found = shutil.which(path)
    if found is None:
        pytest.fail(f"{path} is not installed: the README's test command installs chromium and poppler-utils")
    return found


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless chromium with a new empty profile, no network of its own."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    profile.mkdir()
    return subprocess.run(
        [
            _tool(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def overflow(html: Path, tmp: Path, width: int = A4_CONTENT_PX) -> list[str]:
    """What overflows its box in ``html`` laid out ``width`` pixels wide (the check script added to a
    copy)."""
    probe = tmp / f"probe-{html.name}"
    probe.write_text(html.read_text(encoding="utf-8").replace("</body>", f"<script>{CHECK}</script></body>"))
    done = chromium(tmp, f"--window-size={width},1200", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="overflow">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<"))


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def filled(pdf: Path, tmp: Path) -> list[float]:
    """Per page, how far down the page the last ink is (0-1): a near-empty page has little."""
    subprocess.run([_tool("pdftoppm"), "-gray", "-r", "20", str(pdf), str(tmp / "page")], check=True)
    out = []
    for page in sorted(tmp.glob("page-*.pgm")):
        magic, size, _maxval, pixels = page.read_bytes().split(b"\n", 3)
        assert magic == b"P5"
        w, h = map(int, size.split())
        inked = [y for y in range(h) if min(pixels[y * w : (y + 1) * w]) < 200]
        out.append(round(max(inked, default=0) / h, 2))
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The 2026Q3 report of a province of 20 units, one of which lacks a published group."""
    out = tmp_path_factory.mktemp("report")
    db = HistoryDB(out / "h.sqlite", synchronous="OFF")
    Province(units=20, without=(("published", "H99.101", "MDHL"),)).write_history(db)
    db.close()
    code = main(
        [
            "snapshot",
            "--quarter",
            "2026Q3",
            "--history.file",
            str(out / "h.sqlite"),
            "--output-dir",
            str(out),
            "--format",
            "html",
            "--quiet",
        ]
    )
    assert code == 0
    return out / "egov-snapshot-2026Q3.html"


def test_the_report_prints_on_a4_without_near_empty_pages(report, tmp_path):
    pdf = tmp_path / "report.pdf"
    done = chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", report.as_uri())
    assert pdf.exists(), done.stderr[-2000:]
    # cover and summary, PAR 7 criteria; Decision 766 (province, thresholds, units ranked); the national
    # ranking; trends (two pages); availability; definitions (two pages)
    assert pdf_pages(pdf) == 10
    fill = filled(pdf, tmp_path)
    assert len(fill) == 10
    assert min(fill[:-1]) >= 0.4, fill  # page breaks before sections, none leaving a page near-empty


def test_nothing_overflows_its_box(report, tmp_path):
    assert overflow(report, tmp_path) == []
    html = report.read_text(encoding="utf-8")
    # the label the old availability chart cut to "ng DVC quốc gia" is drawn whole, inside the chart
    assert ">Cổng DVC quốc gia / National public-service portal<title>" in html


def test_the_check_sees_a_label_cut_off_and_a_cell_too_narrow(tmp_path):
    """The checks above can fail: a label drawn left of its chart and a word wider than its cell."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><html><body><svg data-chart="c" viewBox="0 0 200 40" width="200" height="40">'
        '<text x="40" y="20" text-anchor="end">Cổng DVC quốc gia / National public-service portal</text>'
        "</svg>"
        '<table style="width:80px;table-layout:fixed"><tr><td style="white-space:nowrap">'
        "egov_services_dossiers_completed_total</td></tr></table></body></html>",
        encoding="utf-8",
    )
    found = overflow(page, tmp_path)
    assert found[0] == "svg c: Cổng DVC quốc gia / National public-service portal"
    assert "cell TD: egov_services_dossiers_completed_total" in found
