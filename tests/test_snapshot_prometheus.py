"""Both sources agree: the same simulated quarters recorded in the history and backfilled into a real
Prometheus (``promtool tsdb create-blocks-from openmetrics``, then the ``prometheus`` binary on loopback)
give the same figures, exactly, in every format."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from snapshot_checks import Case, check_csv, check_html, check_json, check_xlsx, local
from snapshot_synth import Province

from exporter.cli import main
from exporter.history import HistoryDB

pytestmark = pytest.mark.e2e

CASES = {
    "quarter": (
        ["--quarter", "2026Q3"],
        "egov-snapshot-2026Q3",
        ("quarter", local(2026, 7, 1), local(2026, 10, 1), local(2026, 4, 1), local(2026, 7, 1)),
    ),
    "month": (
        ["--month", "2026-08"],
        "egov-snapshot-2026-08",
        ("month", local(2026, 8, 1), local(2026, 9, 1), local(2026, 7, 1), local(2026, 8, 1)),
    ),
    "range": (
        ["--from", "2026-08-10", "--to", "2026-08-20"],
        "egov-snapshot-2026-08-10_to_2026-08-20",
        ("range", local(2026, 8, 10), local(2026, 8, 21), local(2026, 7, 30), local(2026, 8, 10)),
    ),
}
#: what the JSON of both sources must share (the rest describes the source and when the file was made)
FIGURES = (
    "period",
    "previous_period",
    "data_from",
    "data_until",
    "coverage",
    "notes",
    "days_with_data",
    "days_in_period",
    "indicators",
    "scorecards",
    "availability",
    "warnings",
    "sections",
    "title_vi",
    "title_en",
)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian package prometheus); this test needs the real binary")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def province() -> Province:
    return Province()


@pytest.fixture(scope="module")
def history(tmp_path_factory, province) -> Path:
    path = tmp_path_factory.mktemp("history") / "egov-history.sqlite"
    db = HistoryDB(path, synchronous="NORMAL")
    province.write_history(db)
    db.close()
    return path


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, province) -> str:
    promtool, prom = _tool("promtool"), _tool("prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    om = work / "quarters.om"
    with open(om, "w", encoding="utf-8") as f:
        f.writelines(province.openmetrics())
    data = work / "data"
    made = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(om), str(data)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert made.returncode == 0, made.stderr
    (work / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n", encoding="utf-8")
    port = _free_port()
    log = open(work / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [
            prom,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (work / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "prometheus did not become ready in 180s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _run(args: list[str], out: Path) -> dict:
    assert main(["snapshot", *args, "--output-dir", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_prometheus_and_history_give_the_same_figures(name, prometheus, history, province, tmp_path):
    args, base, bounds = CASES[name]
    from_prom = _run([*args, "--prometheus-url", prometheus], tmp_path / "prometheus")
    from_hist = _run([*args, "--history.file", str(history), "--format", "json"], tmp_path / "history")
    case = Case(province, *bounds)
    doc = check_json(from_prom / f"{base}.json", case, "prometheus")
    hdoc = json.loads((from_hist / f"{base}.json").read_text(encoding="utf-8"))
    assert {k: doc[k] for k in FIGURES} == {k: hdoc[k] for k in FIGURES}
    assert doc["source"] == {"type": "prometheus", "url": prometheus, "ignored_labels": ["instance", "job"]}
    check_csv(from_prom, base, case)
    check_xlsx(from_prom / f"{base}.xlsx", case)
    check_html(from_prom / f"{base}.html", case)
