"""A real browser for the tests that look at pages as people do: Debian's ``chromium``, headless, with a new
empty profile each time and no network of its own (the README's test command installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

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
    if (el.closest('.scroll')) return;  // a box that scrolls sideways on purpose (wide tables on a phone)
    if (el.getBoundingClientRect().right > width + 1)
      out.push('page ' + el.tagName + ': ' + el.textContent.slice(0, 60));
  });
  var pre = document.createElement('pre');
  pre.id = 'overflow';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def tool(path: str) -> str:
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
            tool(CHROMIUM),
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
