"""The HTML report as people read it: rendered by a real browser (Debian's ``chromium``, headless) and printed
to A4 PDF, then checked as a reader would look at it: how many pages, none near-empty, no label cut off by
its chart, no text wider than its table cell.  Needs chromium and poppler-utils (pdfinfo, pdftoppm), which
the README's test command installs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from browser import chromium, overflow, tool
from snapshot_checks import write_history, write_snapshot
from snapshot_synth import Province


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run([tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def filled(pdf: Path, tmp: Path) -> list[float]:
    """Per page, how far down the page the last ink is (0-1): a near-empty page has little."""
    subprocess.run([tool("pdftoppm"), "-gray", "-r", "20", str(pdf), str(tmp / "page")], check=True)
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
    history = write_history(out / "h.sqlite", Province(units=20, without=(("published", "H99.101", "MDHL"),)))
    return (
        write_snapshot(history, out, "--quarter", "2026Q3", "--format", "html") / "egov-snapshot-2026Q3.html"
    )


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
