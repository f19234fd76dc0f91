"""Load, CI-sized: 20 concurrent scrapers hammer /metrics while 500 targets poll a loopback stub every
second (60 times faster than the shipped one-minute default: a minute of test is an hour of polling).
No scrape may fail, polls may only (rarely) time out on a busy machine, every target ends up, and the
exporter's memory after the run is within a generous bound of its memory after the warm-up.  ``bench/load.py`` runs the same for longer and
reports the figures (scrapes/s, latency percentiles, polls/s, RSS over time)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from harness import ROOT

pytestmark = pytest.mark.e2e


def _load_module():
    spec = importlib.util.spec_from_file_location("egov_bench_load", ROOT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_500_targets_20_scrapers(tmp_path):
    load = _load_module()
    figures = load.run(
        targets=500, scrapers=20, duration=45, warmup=15, interval="1s", hosts=10, workdir=tmp_path
    )
    print("\nload figures: " + json.dumps({k: v for k, v in figures.items() if k != "rss_series_mib"}))
    assert figures["scrape_errors"] == 0, figures["scrape_error_examples"]
    assert figures["scrapes"] > 0 and figures["metrics_series"] > 500 * 20
    # polls fail only by timing out, and hardly ever: a 1 s deadline on a 2-core machine running the
    # exporter, the stub and 20 scrapers can be missed when the machine is busy with more than this test
    assert set(figures["poll_failures_by_reason"]) <= {"timeout"}, figures["poll_failures_by_reason"]
    assert figures["poll_failures"] <= 0.01 * figures["polls"]
    assert figures["targets_up_at_end"] == 500
    assert figures["rounds"] >= 5, "the targets hardly polled"
    # memory: steady after the warm-up (Python keeps what it once used, so RSS does not shrink; it must
    # not grow with the number of polls or scrapes either)
    assert figures["rss_growth_mib"] < max(32.0, 0.25 * figures["rss_start_mib"]), figures["rss_series_mib"]
    assert figures["exporter_log_tracebacks"] == 0
