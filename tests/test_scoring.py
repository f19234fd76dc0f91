"""The indicator engine's parts: rounding, selectors, rules, gaps, ranks, sources, PAR 7, and the validation
of scorecard files and of the scoring configuration (exact messages, one fixture file per mistake)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

import collectors
from exporter.config import ConfigError, parse_config
from exporter.exposition import HEALTH_METRICS
from exporter.scoring import check_scoring, load_scoring
from exporter.scoring.engine import Manual, build_index, evaluate, gap, score, target_ratio
from exporter.scoring.live import input_names
from exporter.scoring.rounding import r2
from exporter.scoring.scorecard import Indicator, ScorecardError, load_scorecard, parse_scorecard
from exporter.scoring.selector import parse_selector

ROOT = Path(__file__).resolve().parent.parent
CARDS = Path(__file__).parent / "fixtures" / "scorecards"
REAL = Path(__file__).parent / "fixtures" / "dvcqg-766"
QD766 = load_scorecard(ROOT / "indicators" / "qd766.yaml")
PAR7 = load_scorecard(ROOT / "indicators" / "par7.yaml")

# ------------------------------------------------------------------------------------ rounding

# (expression, JavaScript's Number(x.toFixed(2)) as printed by node 18 for the same double)
JS_TO_FIXED = [
    ("6*98.75/100", 5.92),
    ("6*65.75/100", 3.94),
    ("28.125", 28.13),
    ("1.005", 1.0),
    ("2*97.75/100", 1.96),
    ("0.125", 0.13),
    ("-0.125", -0.13),
    ("2.675", 2.67),
    ("1.045", 1.04),
    ("0.015", 0.01),
    ("10.005", 10.01),
    ("0.285", 0.28),
    ("8.345", 8.35),
    ("-1.005", -1.0),
    ("4.35", 4.35),
    ("1.0000000000000002", 1.0),
]


@pytest.mark.parametrize("expr, expected", JS_TO_FIXED, ids=[e for e, _ in JS_TO_FIXED])
def test_r2_is_javascript_to_fixed_on_the_exact_binary_value(expr, expected):
    assert r2(eval(expr)) == expected  # noqa: S307 - literal arithmetic from the table above


def test_rounding_the_shortest_repr_would_miss_published_scores():
    """H44.156 and H44.197 (TTTT, month-all): 6 × 98.75 / 100 is stored as 5.92499999…; the portal gives
    5.92, as JavaScript's toFixed does; rounding the printed 5.925 half up would give 5.93."""
    data = json.loads(
        (REAL / "formality-online-payment-tree" / "month-all.json").read_text(encoding="utf-8")
    )["data"]
    rows = {c["departmentCode"]: c for c in data["children"]}
    for unit, part, js, shortest_half_up in (
        ("H44.156", 6 * 98.75 / 100, 5.92, 5.93),
        ("H44.197", 6 * 65.75 / 100, 3.94, 3.95),
    ):
        shortest = float(Decimal(repr(part)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        assert (r2(part), shortest) == (js, shortest_half_up)
        r = rows[unit]
        p_a = r2(100 * r["totalDossierOnlinePaymentSuccess"] / r["totalDossierFinancialObligation"])
        assert 6 * p_a / 100 == part
        p_b = r2(100 * r["totalDossierOnlineFormalityPaymentSuccess"] / r["totalFeeFormality"])
        p_c = r2(100 * r["totalFeeDossierFormality"] / r["totalFeeFormality"])
        rest = r2(min(2, 2.5 * p_b / 100)) + r2(min(2, 2.5 * p_c / 100))
        assert r2(r2(part) + rest) == r["totalScore"]
        assert r2(shortest + rest) != r["totalScore"]


# ------------------------------------------------------------------------------------ selectors


def test_selector_selects_and_sums_by_the_key_labels():
    index = build_index(
        [
            ("egov_x", {"unit": "A", "period": "month", "channel": "online"}, 3),
            ("egov_x", {"unit": "A", "period": "month", "channel": "direct"}, 4),
            ("egov_x", {"unit": "B", "period": "month", "channel": "postal"}, 5),
            ("egov_x", {"period": "month", "channel": "online"}, 100),  # no unit: not attributed
            ("egov_y", {"unit": "A", "period": "month"}, 1),
        ]
    )
    assert parse_selector("egov_x").evaluate(index, ("unit", "period")) == {
        ("A", "month"): 7,
        ("B", "month"): 5,
    }
    assert parse_selector('egov_x{channel=~"online|postal"}').evaluate(index, ("unit",)) == {
        ("A",): 3,
        ("B",): 5,
    }
    assert parse_selector('egov_x{channel!="online"}').evaluate(index, ()) == {(): 9}
    assert parse_selector('egov_x{channel!~"on.*"}').evaluate(index, ()) == {(): 9}
    assert parse_selector('min(egov_x{ unit = "A" })').evaluate(index, ()) == {(): 3}
    assert parse_selector("count(egov_x)").evaluate(index, ()) == {(): 4}
    assert parse_selector('egov_x{channel=~"line"}').evaluate(index, ()) == {}  # anchored, as in Prometheus
    assert parse_selector("egov_x").promql(("unit", "period")) == "sum by (unit, period) (egov_x)"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not a valid selector: '' (expected name{label=\"value\",...})"),
        ("9lives", "not a valid selector: '9lives' (expected a metric name)"),
        ("egov_x{a=b}", "not a valid selector: 'egov_x{a=b}' (expected a double-quoted value for a)"),
        ('egov_x{a~"b"}', "not a valid selector: 'egov_x{a~\"b\"}' (expected =, !=, =~ or !~ after a)"),
        (
            'egov_x{a="b" c="d"}',
            "not a valid selector: 'egov_x{a=\"b\" c=\"d\"}' (expected ',' between matchers at 'c=\"d\"')",
        ),
        (
            'egov_x{a=~"("}',
            "not a valid selector: 'egov_x{a=~\"(\"}' (bad regular expression for a: missing ), "
            "unterminated subpattern at position 0)",
        ),
        (
            "egov_x[5m]",
            "not a valid selector: 'egov_x[5m]' (expected {label=\"value\",...} after the metric name)",
        ),
    ],
)
def test_bad_selectors_are_refused_with_a_message(text, message):
    with pytest.raises(ValueError) as err:
        parse_selector(text)
    assert str(err.value) == message


# ------------------------------------------------------------------------------------ rules


def ind(**kw) -> Indicator:
    return Indicator.model_validate(
        {"code": "X", "max": 6, "rule": "proportional", "inputs": {"computed": {"value": "egov_v"}}, **kw}
    )


@pytest.mark.parametrize(
    "settings, n, d, ratio, points",
    [
        ({}, 3, 4, 0.75, 4.5),  # 6 x 75 %
        ({"round": "r2"}, 1, 3, 1 / 3, 2.0),  # 6 x 33.33… % = 1.999… -> 2.0
        (
            {"percent_round": "r2", "round": "r2"},
            552,
            559,
            552 / 559,
            5.92,
        ),  # 98.75 %: 5.925 is 5.92499… in binary
        ({"percent_round": "r2", "round": "r2"}, 1, 48, 1 / 48, 0.12),  # 2.0833 % -> 2.08 % -> 0.1248
        ({"round": "r2"}, 1, 48, 1 / 48, 0.13),  # unrounded: 0.125 -> 0.13
        ({"rule": "threshold", "full_at": 0.8}, 2, 5, 0.4, 3.0),  # half the threshold: half the points
        ({"rule": "threshold", "full_at": 0.8}, 9, 10, 0.9, 6.0),  # above it: full points, no more
        (
            {"rule": "threshold", "full_at": 0.9, "round": "r2"},
            486,
            588,
            486 / 588,
            5.51,
        ),  # real: H44.03 MDHL
        ({"rule": "capped", "cap": 2, "factor": 2.5, "max": 6}, 1, 2, 0.5, 1.25),
        ({"rule": "capped", "cap": 2, "factor": 2.5, "max": 6}, 9, 10, 0.9, 2.0),
        ({"rule": "binary"}, 1, None, 1.0, 6.0),
        ({"rule": "binary", "at_least": 0.95}, 0.94, None, 0.94, 0.0),
        (
            {"rule": "banded", "bands": [{"at_least": 1, "points": 6}, {"at_least": 0.8, "points": 3}]},
            0.85,
            None,
            0.85,
            3.0,
        ),
        (
            {"rule": "banded", "bands": [{"at_least": 1, "points": 6}, {"at_least": 0.8, "points": 3}]},
            0.5,
            None,
            0.5,
            0.0,
        ),
        ({"when_zero": "zero"}, 0, 0, None, 0.0),
        ({"when_zero": "full"}, 0, 0, None, 6.0),
        ({"when_zero": "unscored"}, 0, 0, None, None),
        ({"informational": True, "max": 0}, 1, 4, 0.25, None),
    ],
)
def test_rules(settings, n, d, ratio, points):
    s = score(ind(**settings), n, d)
    assert (s.ratio, s.points) == (ratio, points)


def test_threshold_arithmetic_is_the_portals():
    # min(max, max x p / (100 x full_at)), p in percent, full_at as written (0.9 -> 90, not 90.000…01)
    s = score(ind(rule="threshold", full_at=0.9, round="r2"), 2043, 2473)
    assert s.points == r2(min(6, 6 * (100 * 2043 / 2473) / 90))


@pytest.mark.parametrize(
    "settings, n, d, gap_ratio, events",
    [
        # 70 of 100 paid online, target 80 %: (70 + k) / (100 + k) >= 0.8  ->  k = 50
        ({"gap": {"target": 0.8, "adds_to": "both"}}, 70, 100, 0.1, 50),
        # digitizing dossiers already received moves the numerator only: 80 - 70 = 10
        ({"gap": {"target": 0.8, "adds_to": "numerator"}}, 70, 100, 0.1, 10),
        ({"rule": "threshold", "full_at": 0.5, "gap": {}}, 49, 100, 0.01, 2),  # (49 + 2) / 102 = 0.5
        ({"gap": {"target": 0.8}}, 80, 100, 0.0, 0),
        ({"gap": {}}, 70, 100, 0.3, None),  # 100 % unreachable by new events
        ({"gap": {"adds_to": "both", "target": 0.8}}, 0, 0, 0.8, 1),  # nothing yet: one event gives 100 %
        ({"when_zero": "full", "gap": {"target": 0.8}}, 0, 0, 0.0, 0),
        ({"rule": "binary", "gap": {}}, 0.0, None, 1.0, None),  # a measured state: no count
    ],
)
def test_gap_to_target(settings, n, d, gap_ratio, events):
    got = gap(ind(**settings), n, d)
    assert got[1] == events
    assert got[0] == pytest.approx(gap_ratio, abs=1e-12)
    if events:  # the events found do reach the target, one fewer does not
        i = ind(**settings)
        t = target_ratio(i)
        both = i.gap.adds_to == "both"
        assert (n + events) / ((d + events) if both else d) >= t
        assert d == 0 or (n + events - 1) / ((d + events - 1) if both else d) < t


# ------------------------------------------------------------------------------------ evaluation

MINI = {
    "scorecard": "mini",
    "title": "mini",
    "total_max": 10,
    "by": ["unit", "period"],
    "round": "r2",
    "sources": [{"name": "computed"}, {"name": "provincial", "fallback": "computed", "rollup": True}],
    "published": {"score": 'egov_t_score{source="published"}'},
    "ranking": {"info": "egov_t_unit_info", "exclude_levels": ["province"]},
    "metrics": {
        "score": "egov_t_score",
        "total_score": "egov_t_total",
        "rank": "egov_t_rank",
        "total_rank": "egov_t_total_rank",
        "ranked_units": "egov_t_ranked",
        "indicator_ratio": "egov_t_ratio",
        "indicator_points": "egov_t_points",
        "indicator_gap_ratio": "egov_t_gap",
        "indicator_events_needed": "egov_t_needed",
    },
    "groups": [
        {
            "code": "A",
            "max": 6,
            "round": "r2",
            "indicators": [
                {
                    "code": "PAY",
                    "max": 6,
                    "rule": "proportional",
                    "round": "r2",
                    "gap": {"target": 0.8},
                    "inputs": {
                        "computed": {
                            "numerator": 'egov_t_fig{f="paid"}',
                            "denominator": 'egov_t_fig{f="fee"}',
                        },
                        "provincial": {"numerator": "egov_s_paid", "denominator": "egov_s_fee"},
                    },
                }
            ],
        },
        {
            "code": "B",
            "max": 4,
            "round": "r2",
            "indicators": [
                {
                    "code": "PROC",
                    "max": 4,
                    "rule": "threshold",
                    "full_at": 0.8,
                    "inputs": {
                        "computed": {
                            "numerator": 'egov_t_fig{f="online"}',
                            "denominator": 'egov_t_fig{f="all"}',
                        }
                    },
                }
            ],
        },
    ],
}


def samples_for(units: dict[str, tuple[str, int, int, int, int]]) -> list:
    out = []
    for unit, (level, paid, fee, online, every) in units.items():
        out.append(("egov_t_unit_info", {"unit": unit, "level": level}, 1))
        for f, value in (("paid", paid), ("fee", fee), ("online", online), ("all", every)):
            out.append(("egov_t_fig", {"unit": unit, "period": "month", "f": f}, value))
    return out


def test_groups_totals_and_stable_ranks():
    card = parse_scorecard(MINI, "mini")
    units = {
        "P": ("province", 30, 40, 7, 10),
        "P.9": ("commune", 3, 4, 4, 5),
        "P.10": ("commune", 3, 4, 4, 5),
        "P.2": ("commune", 4, 4, 1, 5),
        "P.1": ("department", 0, 0, 0, 0),
    }
    e = evaluate(card, build_index(samples_for(units)))
    assert e.groups[("computed", ("P.9", "month"), "A")] == 4.5
    assert e.groups[("computed", ("P.9", "month"), "B")] == 4.0  # 80 % reaches the threshold
    assert e.groups[("computed", ("P.2", "month"), "B")] == 1.0  # 20 % of 80 % of 4 points
    assert e.totals[("computed", ("P.9", "month"))] == 8.5
    assert e.totals[("computed", ("P.1", "month"))] == 0.0  # zero denominators score 0 here
    ranks = {k[0]: v for (s, k, g), v in e.ranks.items() if s == "computed" and g is None}
    # P.9 and P.10 tie at 8.5: P.9 before P.10 (codes compared as numbers), then P.2 (5.0)
    assert ranks == {
        "P.9": (1, 3, "commune"),
        "P.10": (2, 3, "commune"),
        "P.2": (3, 3, "commune"),
        "P.1": (1, 1, "department"),
    }
    names = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in e.samples()}
    assert (
        names[
            (
                "egov_t_total_rank",
                (("level", "commune"), ("period", "month"), ("source", "computed"), ("unit", "P.10")),
            )
        ]
        == 2
    )
    assert (
        names[
            (
                "egov_t_ranked",
                (("group", "A"), ("level", "commune"), ("period", "month"), ("source", "computed")),
            )
        ]
        == 3
    )
    assert (
        names[
            (
                "egov_t_needed",
                (
                    ("group", "A"),
                    ("indicator", "PAY"),
                    ("period", "month"),
                    ("source", "computed"),
                    ("unit", "P"),
                ),
            )
        ]
        == 10
    )  # (30 + 10) / (40 + 10) = 0.8


def test_ranking_only_the_sources_the_scorecard_names():
    card = parse_scorecard({**MINI, "ranking": {**MINI["ranking"], "sources": ["provincial"]}}, "mini")
    units = {"P": ("province", 30, 40, 7, 10), "P.9": ("commune", 3, 4, 4, 5), "P.2": ("commune", 4, 4, 1, 5)}
    e = evaluate(card, build_index(samples_for(units)))
    assert ("computed", ("P.9", "month")) in e.totals and not e.ranks  # nothing provincial to rank here
    with pytest.raises(ScorecardError) as err:
        parse_scorecard({**MINI, "ranking": {**MINI["ranking"], "sources": ["national"]}}, "mini")
    assert err.value.messages == [
        "mini: ranking.sources: unknown source 'national' (sources: computed, provincial, published)"
    ]


def test_provincial_source_falls_back_and_rolls_up_to_the_province():
    card = parse_scorecard(MINI, "mini")
    samples = samples_for({"P": ("province", 30, 40, 7, 10), "P.9": ("commune", 3, 4, 4, 5)})
    # the province's own system reports units only (P.9, P.10), with figures of its own
    samples += [
        ("egov_s_paid", {"unit": "P.9", "period": "month", "target": "svc"}, 2),
        ("egov_s_fee", {"unit": "P.9", "period": "month", "target": "svc"}, 4),
        ("egov_s_paid", {"unit": "P.10", "period": "month", "target": "svc"}, 5),
        ("egov_s_fee", {"unit": "P.10", "period": "month", "target": "svc"}, 6),
    ]
    e = evaluate(card, build_index(samples))
    r = e.indicators[("provincial", ("P", "month"), "A", "PAY")]
    assert (r.numerator, r.denominator, r.points, r.origin) == (7, 10, 4.2, "measured")  # 2+5 of 4+6
    assert e.indicators[("provincial", ("P", "month"), "B", "PROC")].origin == "fallback:computed"
    assert e.totals[("provincial", ("P", "month"))] == r2(4.2 + 4 * 70 / 80)  # PROC: the computed 7 of 10
    assert e.groups[("provincial", ("P.9", "month"), "A")] == 3.0
    assert ("provincial", ("P.10", "month"), "B") not in e.groups  # no computed PROC for P.10 to fall back on
    series = e.samples()
    assert not any(
        s.name == "egov_t_points" and s.labels["source"] == "provincial" and s.labels["indicator"] == "PROC"
        for s in series
    )  # a fallback result is shown under its own source only


def test_published_scores_are_totalled_and_ranked():
    card = parse_scorecard(MINI, "mini")
    samples = [("egov_t_unit_info", {"unit": u, "level": "commune"}, 1) for u in ("P.1", "P.2")]
    samples += [
        ("egov_t_score", {"unit": u, "period": "month", "group": g, "source": "published"}, v)
        for u, g, v in (("P.1", "A", 5), ("P.1", "B", 1.5), ("P.2", "A", 6), ("P.2", "B", 0.5))
    ]
    e = evaluate(card, build_index(samples))
    assert e.totals[("published", ("P.1", "month"))] == 6.5
    assert e.ranks[("published", ("P.1", "month"), None)] == (1, 2, "commune")
    assert e.ranks[("published", ("P.2", "month"), "A")] == (1, 2, "commune")


# ------------------------------------------------------------------------------------ PAR 7


def par7_samples(**over) -> list:
    values = {
        "lgsp_up": 1,
        "ndxp": 1,
        "apps": (9, 10),
        "sections": (12, 12),
        "sent": (930, 70),
        "files_p": (95, 100),
        "files_c": (50, 100),
        "svc_up": 1,
        "digitized": (70, 100),
        "full": (85, 100),
        "paid": (60, 100),
        **over,
    }
    up = {"target": "lgsp", "system": "lgsp"}
    return [
        ("egov_target_up", up, values["lgsp_up"]),
        ("egov_target_up", {"target": "svc", "system": "services"}, values["svc_up"]),
        ("egov_lgsp_national_platform_up", up, values["ndxp"]),
        ("egov_lgsp_shared_data_applications_connected", up, values["apps"][0]),
        ("egov_lgsp_shared_data_applications", up, values["apps"][1]),
        ("egov_portal_required_sections_present", {"target": "portal"}, values["sections"][0]),
        ("egov_portal_required_sections", {"target": "portal"}, values["sections"][1]),
        (
            "egov_documents_sent_total",
            {"unit": "A", "level": "province", "period": "year", "channel": "electronic"},
            values["sent"][0],
        ),
        (
            "egov_documents_sent_total",
            {"unit": "A", "level": "province", "period": "year", "channel": "paper"},
            values["sent"][1],
        ),
        (
            "egov_documents_sent_total",
            {"unit": "A", "level": "province", "period": "month", "channel": "paper"},
            999,
        ),
        (
            "egov_documents_work_files_online_total",
            {"unit": "A", "level": "province", "period": "year"},
            values["files_p"][0],
        ),
        (
            "egov_documents_work_files_total",
            {"unit": "A", "level": "province", "period": "year"},
            values["files_p"][1],
        ),
        (
            "egov_documents_work_files_online_total",
            {"unit": "B", "level": "commune", "period": "year"},
            values["files_c"][0],
        ),
        (
            "egov_documents_work_files_total",
            {"unit": "B", "level": "commune", "period": "year"},
            values["files_c"][1],
        ),
        ("egov_services_dossiers_digitized_total", {"unit": "A", "period": "year"}, values["digitized"][0]),
        ("egov_services_dossiers_full_online_total", {"unit": "A", "period": "year"}, values["full"][0]),
        ("egov_services_dossiers_paid_online_total", {"unit": "A", "period": "year"}, values["paid"][0]),
        ("egov_services_dossiers_with_fee_total", {"unit": "A", "period": "year"}, values["paid"][1]),
        ("egov_services_dossiers_received_total", {"unit": "A", "period": "year", "channel": "online"}, 100),
    ]


MANUAL = {
    "C03": Manual("C03", 1.0, "Phòng CĐS", 1_790_000_000.0),
    "C04": Manual("C04", 0.0, "Phòng CĐS", 1.0),
    "C12": Manual("C12", 0.5, "Phòng CĐS", 1.0),
    "C13": Manual("C13", 1.0, "Phòng CĐS", 1.0),
}


def test_par7_criteria_from_metrics_and_manual_values():
    e = evaluate(PAR7, build_index(par7_samples()), MANUAL)
    got = {g: e.groups.get(("measured", (), g)) for g in (f"C{i:02d}" for i in range(1, 15))}
    assert got == {
        "C01": 1.0,  # LGSP up and linked to NDXP
        "C02": 0.5,  # 9/10 applications: the 80-100 % band
        "C03": 0.5,  # manual: met
        "C04": 0.0,  # manual: not met
        "C05": 1.0,  # every required section
        "C06": 1.0,  # 93 % electronic: half of 2
        "C07": 0.92,  # province 95 % (>= 90: 0.5) + commune 50 % of 60 % (0.5 x 0.5 / 0.6 = 0.4167)
        "C08": 1.0,
        "C09": 0.88,  # 70 % of 80 %
        "C10": 2.0,  # 85 % >= 80 %
        "C11": 0.6,  # 60 % x 1
        "C12": 0.25,  # manual 0.5 of 0.5
        "C13": 0.5,
        "C14": None,  # no metric and no manual value: scores nothing
    }
    assert e.totals[("measured", ())] == r2(sum(v for v in got.values() if v is not None))
    series = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in e.samples()}
    assert series[("egov_par7_score", ())] == 10.15
    assert series[("egov_par7_max_score", ())] == 13.5
    assert series[("egov_par7_criteria_at_max", ())] == 6  # C01 C03 C05 C08 C10 C13
    assert series[("egov_par7_criteria", ())] == 14
    assert series[("egov_par7_criterion_data_available", (("criterion", "C14"),))] == 0
    assert series[("egov_par7_criterion_data_available", (("criterion", "C09"),))] == 1
    assert ("egov_par7_criterion_score", (("criterion", "C14"),)) not in series
    assert series[("egov_par7_criterion_manual", (("criterion", "C03"),))] == 1
    assert series[("egov_par7_criterion_manual", (("criterion", "C09"),))] == 0
    assert (
        series[
            (
                "egov_par7_criterion_manual_set_timestamp_seconds",
                (("criterion", "C03"), ("set_by", "Phòng CĐS")),
            )
        ]
        == 1_790_000_000.0
    )
    assert (
        series[
            (
                "egov_par7_criterion_info",
                (
                    ("criterion", "C07"),
                    ("name", "Hồ sơ công việc xử lý trên môi trường mạng / work files handled online"),
                    ("verified", "false"),
                ),
            )
        ]
        == 1
    )
    # 70 of 100 dossiers digitized, 80 % wanted: 10 more (digitizing adds to the numerator only)
    assert (
        series[("egov_par7_indicator_events_needed", (("criterion", "C09"), ("indicator", "DIGITIZED")))]
        == 10
    )


def test_par7_criterion_without_its_metrics_scores_nothing_and_says_so():
    samples = [s for s in par7_samples() if not s[0].startswith("egov_lgsp_")]
    samples = [s for s in samples if s[1].get("system") != "lgsp"]
    e = evaluate(PAR7, build_index(samples), {})
    assert ("measured", (), "C01") not in e.groups and ("measured", (), "C02") not in e.groups
    series = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in e.samples()}
    assert series[("egov_par7_criterion_data_available", (("criterion", "C01"),))] == 0
    assert series[("egov_par7_criterion_data_available", (("criterion", "C02"),))] == 0
    assert series[("egov_par7_score", ())] == r2(sum(v for (_s, _k, _g), v in e.groups.items()))


def test_a_manual_value_wins_over_a_measured_one():
    e = evaluate(PAR7, build_index(par7_samples(svc_up=0)), {"C08": Manual("C08", 1.0, "Thanh tra", 1.0)})
    assert e.groups[("measured", (), "C08")] == 1.0
    assert e.indicators[("measured", (), "C08", "SERVICES_UP")].origin == "manual"


# ------------------------------------------------------------------------------------ scorecard files


def test_shipped_scorecards():
    assert (QD766.total_max, sum(g.max for g in QD766.groups)) == (100, 100)
    assert {g.code: g.max for g in QD766.groups} == {
        "CKMB": 18,
        "TDGQ": 20,
        "CLGQ": 12,
        "TTTT": 10,
        "MDHL": 18,
        "MDSH": 22,
    }
    assert PAR7.total_max == 13.5 and len(PAR7.groups) == 14 and not PAR7.verified
    assert not any(g.verified for g in PAR7.groups)


def test_every_metric_the_scorecards_read_is_produced_by_a_collector():
    produced = {s.name for cls in collectors.KINDS.values() for s in cls.describe()}
    produced |= {s.name for s in HEALTH_METRICS}
    for card in (QD766, PAR7):
        used = input_names(card)
        assert "egov_qd766_figure" in used or card is PAR7
        assert used <= produced, sorted(used - produced)


BROKEN = [
    ("bad-sum.yaml", ["groups' maxima add up to 98, expected total_max 100"]),
    ("qd766-not-100.yaml", ["scorecard qd766 must total 100 points (Decision 766/QĐ-TTg), got total_max 98"]),
    (
        "par7-not-13.5.yaml",
        ["scorecard par7 must total 13.5 points (PAR Index component 7), got total_max 13"],
    ),
    ("bad-group-sum.yaml", ["groups[0]: indicators' maxima add up to 8, expected the group's max 10"]),
    (
        "unknown-rule.yaml",
        [
            "groups[0].indicators[0].rule: must be one of 'proportional', 'threshold', 'capped', "
            "'binary' or 'banded', got \"linear\""
        ],
    ),
    (
        "missing-metric.yaml",
        [
            "groups[0].indicators[0].inputs.computed: needs numerator and denominator, or value "
            "(missing denominator)"
        ],
    ),
    (
        "no-inputs.yaml",
        [
            "groups[0].indicators[0]: needs inputs (numerator and denominator, or value, per source), "
            "or manual_only: true"
        ],
    ),
    (
        "bad-selector.yaml",
        [
            "groups[0].indicators[0].inputs.computed.numerator: not a valid selector: "
            "'egov_qd766_figure{field=on_time}' (expected a double-quoted value for field)"
        ],
    ),
    (
        "unknown-source.yaml",
        ["groups[0].indicators[0].inputs: unknown source 'national' (sources: computed)"],
    ),
    (
        "rule-settings.yaml",
        [
            "groups[0].indicators[0]: rule threshold needs full_at",
            "groups[0].indicators[1]: cap 3 exceeds max 2",
            "groups[0].indicators[2]: bands must be listed from the highest at_least down",
        ],
    ),
]


@pytest.mark.parametrize("name, messages", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_scorecards_are_refused_with_exact_messages(name, messages):
    with pytest.raises(ScorecardError) as err:
        load_scorecard(CARDS / name, label=name)
    assert err.value.messages == [f"{name}: {m}" for m in messages]


def test_invalid_yaml_names_the_line():
    with pytest.raises(ScorecardError) as err:
        load_scorecard(CARDS / "invalid-yaml.yaml", label="invalid-yaml.yaml")
    assert err.value.messages == [
        "invalid-yaml.yaml:4:4: invalid YAML: expected <block end>, but found '<block mapping start>'"
    ]


# ------------------------------------------------------------------------------------ configuration


def config(scoring: dict) -> list[str]:
    try:
        parse_config(
            {"scoring": scoring},
            kinds=collectors.KINDS,
            check_scoring=check_scoring,
            env={},
            base_dir=ROOT,
        )
    except ConfigError as exc:
        return exc.messages
    return []


def test_the_scoring_section_is_checked_with_the_configuration():
    fixtures = "tests/fixtures/scorecards"
    assert config({}) == []
    assert config(
        {
            "scorecards": ["indicators/qd766.yaml", f"{fixtures}/bad-sum.yaml", "nope.yaml"],
            "manual": [{"criterion": "C03", "value": True, "set_by": "x", "set_at": "2026-10-15"}],
        }
    ) == [
        f"scoring.scorecards[1]: {fixtures}/bad-sum.yaml: groups' maxima add up to 98, expected "
        "total_max 100",
        "scoring.scorecards[2]: nope.yaml: cannot read: No such file or directory",
    ]
    assert config(
        {
            "scorecards": ["indicators/qd766.yaml"],
            "manual": [{"criterion": "C03", "value": True, "set_by": "x", "set_at": "2026-10-15"}],
        }
    ) == [
        'scoring.manual[0].criterion: unknown criterion "C03"; criteria taking manual values: none '
        "(no scorecard takes manual values)"
    ]


@pytest.mark.parametrize(
    "manual, message",
    [
        (
            {"criterion": "C99", "value": 1, "set_by": "x", "set_at": "2026-10-15"},
            'scoring.manual[0].criterion: unknown criterion "C99"; criteria taking manual values: '
            "C01, C02, C03, C04, C05, C06, C07, C08, C09, C10, C11, C12, C13, C14",
        ),
        (
            {"criterion": "C03", "value": 1.5, "set_by": "x", "set_at": "2026-10-15"},
            "scoring.manual[0].value: must be between 0 and 1 (a ratio; true/false for met / not met), "
            "got 1.5",
        ),
        (
            {"criterion": "C03", "value": 1, "set_by": "", "set_at": "2026-10-15"},
            "scoring.manual[0].set_by: must name who set the value",
        ),
        ({"criterion": "C03", "value": 1, "set_by": "x"}, "scoring.manual[0].set_at: required"),
        (
            {"criterion": "C03", "value": 1, "set_by": "x", "set_at": "2026-10-15", "setby": "y"},
            'scoring.manual[0].setby: unknown key (did you mean "set_by"?)',
        ),
    ],
)
def test_manual_value_mistakes(manual, message):
    assert config({"manual": [manual]}) == [message]


def test_a_criterion_set_twice_is_refused():
    entry = {"criterion": "C03", "value": 1, "set_by": "x", "set_at": "2026-10-15"}
    assert config({"manual": [entry, entry]}) == [
        "scoring.manual[1].criterion: criterion C03 is set twice (first at scoring.manual[0])"
    ]


def test_manual_values_are_loaded_with_who_and_when():
    cfg = parse_config(
        {
            "scoring": {
                "manual": [
                    {
                        "criterion": "C12",
                        "value": 0.5,
                        "set_by": "Phòng CĐS",
                        "set_at": "2026-10-15T09:30:00+07:00",
                    }
                ]
            }
        },
        kinds=collectors.KINDS,
        env={},
        base_dir=ROOT,
    )
    cards, manual = load_scoring(cfg.scoring, ROOT)
    assert [c.scorecard for c in cards] == ["qd766", "par7"]
    assert manual["par7"]["C12"] == Manual("C12", 0.5, "Phòng CĐS", 1_792_031_400.0, "")
