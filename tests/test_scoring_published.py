"""Every real capture in tests/fixtures/dvcqg-766 goes through the qd766 collector (HTTP stubbed with the
stored bodies, requests matched to manifest.m0.json) and the indicator engine (indicators/qd766.yaml):
the computed score of every unit and group equals the published one within 0.01 points (in fact exactly),
per-metric points equal the published metric scores, and where a payload has no raw counts (the units of
provide-online-tree) there is no computed series."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from httpstub import POST, HttpStub, matchers

import collectors
from collectors.qd766 import Qd766Collector
from exporter.config import parse_config
from exporter.fetch import HttpClient
from exporter.plugin import CollectContext
from exporter.scoring.engine import build_index, evaluate
from exporter.scoring.scorecard import load_scorecard

ROOT = Path(__file__).resolve().parent.parent
REAL = Path(__file__).parent / "fixtures" / "dvcqg-766"
API = "https://dichvucong.gov.vn/api/v1/reporting/evaluation/"
ROOT_ID = "019d2be3-6a88-732b-8b17-b68020c8553a"
FORMALITY = "019d2bfd-8e22-77ef-819f-e49460350904"
ORDER = (
    "dvc-progress-tree",
    "formality-online-payment-tree",
    "provide-online-tree",
    "dossier-digitized",
    "transparency",
    "handling-satisfaction",
)
MANIFEST = json.loads((REAL / "manifest.m0.json").read_text(encoding="utf-8"))
PAYLOADS = sorted(p.relative_to(REAL).as_posix() for p in REAL.glob("*/*.json"))
CARD = load_scorecard(ROOT / "indicators" / "qd766.yaml")


def run(scope: str) -> tuple[list, dict]:
    """One poll round over the captures of a scope ("all" or "formality"); (samples, files fed)."""
    files = [f"{ep}/month-{scope}.json" for ep in ORDER if (REAL / ep / f"month-{scope}.json").is_file()]
    endpoints = [f.split("/")[0] for f in files]
    raw = {
        "name": "dvcqg",
        "kind": "qd766",
        "url": "https://dichvucong.gov.vn",
        "root_department_id": ROOT_ID,
        "periods": ["month"],
        "pause": "0s",
        "endpoints": endpoints,
        "labels": {"province": "H44"},
    }
    if scope == "formality":
        raw["formality_id"] = FORMALITY
    t = parse_config({"targets": [raw]}, kinds=collectors.KINDS, env={}).targets[0]
    clock = lambda: 1787194800.0  # 2026-08-20 10:00 in Asia/Ho_Chi_Minh: the captures' month  # noqa: E731
    with HttpStub(assert_all_requests_are_fired=True) as rs:
        for f in files:
            payload = next(c["payload"] for c in MANIFEST["captures"] if c["file"] == f)
            rs.add(
                POST,
                API + f.split("/")[0],
                body=(REAL / f).read_bytes(),
                status=201,
                content_type="application/json; charset=utf-8",
                match=[matchers.json_params_matcher(payload)],
            )
        out = Qd766Collector(t, CollectContext(http=HttpClient(t, rs, clock=clock), clock=clock)).collect()
    assert out.skipped == []
    samples = [
        (s.name, {"target": "dvcqg", "system": "national", "province": "H44", **s.labels}, s.value)
        for s in out.samples
    ]
    return samples, files


@pytest.fixture(scope="module", params=["all", "formality"])
def scope(request):
    samples, files = run(request.param)
    return request.param, samples, files, evaluate(CARD, build_index(samples))


def test_every_capture_is_fed(scope):
    name, _samples, files, _e = scope
    assert sorted(files) == [p for p in PAYLOADS if p.endswith(f"-{name}.json")]
    assert len(PAYLOADS) == 11  # 6 endpoints x month-all, 5 x month-formality (no formality capture of MDHL)


def test_computed_equals_published_for_every_unit_and_group(scope, capsys):
    name, _samples, files, e = scope
    published = {(k, g): v for (s, k, g), v in e.groups.items() if s == "published"}
    computed = {(k, g): v for (s, k, g), v in e.groups.items() if s == "computed"}
    without = sorted(published.keys() - computed.keys())
    # only the units of provide-online-tree (no raw counts) have no computed score; the province has one
    assert {g for _k, g in without} == {"CLGQ"}
    assert all(k[0] != "H44" for k, _g in without)
    assert len(without) == 163
    assert computed.keys() <= published.keys()
    worst = max(computed, key=lambda kg: abs(computed[kg] - published[kg]))
    largest = abs(computed[worst] - published[worst])
    with capsys.disabled():
        where = f"at {worst[0][0]} {worst[1]}" if largest else "every score reproduced exactly"
        print(
            f"\n[{name}] {len(files)} captures, {len(computed)} unit x group scores compared; largest "
            f"|computed - published| = {largest:g} ({where})"
        )
    for kg, value in computed.items():
        assert abs(value - published[kg]) <= 0.01, (kg, value, published[kg])
    assert largest == 0.0
    per_group = {
        g: sum(1 for _k, gg in computed if gg == g) for g in ("CKMB", "TDGQ", "CLGQ", "TTTT", "MDHL", "MDSH")
    }
    expected = {
        g: (0 if f"{ep}/month-{name}.json" not in files else 1 if g == "CLGQ" else 164)
        for g, ep in (
            ("CKMB", "transparency"),
            ("TDGQ", "dvc-progress-tree"),
            ("CLGQ", "provide-online-tree"),
            ("TTTT", "formality-online-payment-tree"),
            ("MDHL", "handling-satisfaction"),
            ("MDSH", "dossier-digitized"),
        )
    }
    assert per_group == expected


def test_computed_metric_points_equal_published_metric_scores(scope):
    _name, samples, _files, e = scope
    published = {
        (lab["unit"], lab["group"], lab["metric"]): v
        for n, lab, v in samples
        if n == "egov_qd766_metric_score"
    }
    compared = 0
    for (source, key, group, code), r in e.indicators.items():
        if source != "computed" or (key[0], group, code) not in published:
            continue
        assert r.points == published[(key[0], group, code)], (key, group, code, r)
        compared += 1
    assert compared == len(published)


def test_no_computed_series_without_raw_counts(scope):
    _name, _samples, _files, e = scope
    series = e.samples()
    clgq_units = {
        s.labels["unit"] for s in series if s.name == "egov_qd766_score" and s.labels["group"] == "CLGQ"
    }
    assert clgq_units <= {"H44"}
    assert not any(
        s.name == "egov_qd766_indicator_points" and s.labels["group"] == "CLGQ" and s.labels["unit"] != "H44"
        for s in series
    )


def test_province_total_and_ranks(scope):
    name, _samples, _files, e = scope
    if name != "all":
        return  # the formality scope has no handling-satisfaction capture, hence no total
    assert e.totals[("computed", ("H44", "month"))] == e.totals[("published", ("H44", "month"))]
    published = [v for (s, k, g), v in e.groups.items() if s == "published" and k == ("H44", "month")]
    assert e.totals[("published", ("H44", "month"))] == round(sum(published), 2)
    ranks = {k[0]: r for (s, k, g), r in e.ranks.items() if s == "published" and g is None}
    assert "H44" not in ranks  # the province is not ranked among its units
    assert sorted(r[0] for r in ranks.values() if r[2] == "department") == list(range(1, 16))
    assert sorted(r[0] for r in ranks.values() if r[2] == "commune") == list(range(1, 149))
