"""rules/recording/scorecards.yml: promtool checks the file, then runs the rules over the samples the
indicator engine sees (the qd766 collector's output on the real captures, provincial statistics, the PAR 7
inputs) and must produce exactly the ratios the engine computes from them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from httpstub import POST, HttpStub

import collectors
from collectors.qd766 import Qd766Collector
from exporter.config import parse_config
from exporter.fetch import HttpClient
from exporter.plugin import CollectContext
from exporter.scoring.engine import build_index, evaluate
from exporter.scoring.scorecard import load_scorecard

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "recording" / "scorecards.yml"
REAL = Path(__file__).parent / "fixtures" / "dvcqg-766"
QD766 = load_scorecard(ROOT / "indicators" / "qd766.yaml")
PAR7 = load_scorecard(ROOT / "indicators" / "par7.yaml")
ENDPOINTS = (
    "dvc-progress-tree",
    "formality-online-payment-tree",
    "provide-online-tree",
    "dossier-digitized",
    "transparency",
    "handling-satisfaction",
)

#: recording rule -> (scorecard, source, group, indicator or None for every indicator of the metrics shape)
AGREES_WITH = {
    "unit_period:egov_qd766_dossiers_on_time:ratio": ("qd766", "computed", "TDGQ", "ON_TIME"),
    "unit_period:egov_qd766_procedures_online:ratio": ("qd766", "computed", "CLGQ", "PROCEDURES_ONLINE"),
    "unit_period:egov_qd766_dossiers_online:ratio": ("qd766", "computed", "CLGQ", "ONLINE_DOSSIERS"),
    "unit_period:egov_qd766_online_services_used:ratio": (
        "qd766",
        "computed",
        "CLGQ",
        "ONLINE_SERVICES_USED",
    ),
    "unit_period:egov_qd766_dossiers_paid_online:ratio": ("qd766", "computed", "TTTT", "PAID_ONLINE"),
    "unit_period:egov_qd766_fee_procedures_online_payment:ratio": (
        "qd766",
        "computed",
        "TTTT",
        "FEE_PROCEDURES_ONLINE_PAYMENT",
    ),
    "unit_period:egov_qd766_fee_procedures_with_dossiers:ratio": (
        "qd766",
        "computed",
        "TTTT",
        "FEE_PROCEDURES_WITH_DOSSIERS",
    ),
    "unit_group_metric_period:egov_qd766_metric:ratio": ("qd766", "computed", ("CKMB", "MDHL", "MDSH"), None),
    "unit_period:egov_services_dossiers_on_time:ratio": ("qd766", "provincial", "TDGQ", "ON_TIME"),
    "unit_period:egov_services_dossiers_online:ratio": ("qd766", "provincial", "CLGQ", "ONLINE_DOSSIERS"),
    "unit_period:egov_services_dossiers_paid_online:ratio": ("qd766", "provincial", "TTTT", "PAID_ONLINE"),
    "unit_period:egov_services_dossiers_digitized:ratio": (
        "qd766",
        "provincial",
        "MDSH",
        "SO_HOA_GIAY_TO_GIAI_QUYET",
    ),
    # the province as the sum of its units: the engine's rollup of the provincial source (unit H44)
    "period:egov_services_dossiers_on_time:ratio": ("qd766", "provincial-province", "TDGQ", "ON_TIME"),
    "period:egov_services_dossiers_online:ratio": ("qd766", "provincial-province", "CLGQ", "ONLINE_DOSSIERS"),
    "period:egov_services_dossiers_paid_online:ratio": (
        "qd766",
        "provincial-province",
        "TTTT",
        "PAID_ONLINE",
    ),
    "period:egov_services_dossiers_digitized:ratio": (
        "qd766",
        "provincial-province",
        "MDSH",
        "SO_HOA_GIAY_TO_GIAI_QUYET",
    ),
    "province:egov_lgsp_shared_data_applications_connected:ratio": (
        "par7",
        "measured",
        "C02",
        "SHARED_DATA_APPLICATIONS",
    ),
    "province:egov_portal_required_sections_present:ratio": ("par7", "measured", "C05", "PORTAL_SECTIONS"),
    "period:egov_documents_sent_electronic:ratio": ("par7", "measured", "C06", "DOCUMENTS_ELECTRONIC"),
    "level_period:egov_documents_work_files_online:ratio": ("par7", "measured", "C07", None),
    "period:egov_services_dossiers_full_online:ratio": ("par7", "measured", "C10", "FULL_ONLINE"),
}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: install Debian's prometheus package (the README's test command does)"
    return path


def qd766_samples() -> list[tuple[str, dict[str, str], float]]:
    raw = {
        "name": "dvcqg",
        "kind": "qd766",
        "url": "https://dichvucong.gov.vn",
        "periods": ["month"],
        "root_department_id": "019d2be3-6a88-732b-8b17-b68020c8553a",
        "pause": "0s",
    }
    t = parse_config({"targets": [raw]}, kinds=collectors.KINDS, env={}).targets[0]
    clock = lambda: 1787194800.0  # noqa: E731 - August 2026, the captures' month
    with HttpStub(assert_all_requests_are_fired=True) as rs:
        for ep in ENDPOINTS:
            rs.add(
                POST,
                f"https://dichvucong.gov.vn/api/v1/reporting/evaluation/{ep}",
                body=(REAL / ep / "month-all.json").read_bytes(),
                status=201,
                content_type="application/json",
            )
        out = Qd766Collector(t, CollectContext(http=HttpClient(t, rs, clock=clock), clock=clock)).collect()
    wanted = (
        "egov_qd766_figure",
        "egov_qd766_metric_numerator",
        "egov_qd766_metric_denominator",
        "egov_qd766_unit_info",
    )
    return [
        (s.name, {"target": "dvcqg", "system": "national", **s.labels}, s.value)
        for s in out.samples
        if s.name in wanted
    ]


def services_samples() -> list[tuple[str, dict[str, str], float]]:
    """The province's own statistics for three of its units (two services targets, as in config.yaml)."""
    out = []
    # unit: received by channel, completed by timeliness, with_fee, paid_online, digitized, full_online
    figures = {
        "H44.01": ((120, 30, 0), (40, 70, 9), 50, 41, 77, 90),
        "H44.100": ((300, 13, 2), (100, 180, 20), 140, 99, 151, 250),
        "H44.101": ((0, 0, 0), (0, 0, 0), 0, 0, 0, 0),  # nothing yet: no ratio
    }
    for target, share in (("services-api", 1.0), ("services-public-table", 0.5)):
        base = {"target": target, "system": "services"}
        for unit, (channels, timeliness, fee, paid, digitized, full) in figures.items():
            for period, scale in (("month", 1), ("quarter", 3), ("year", 9)):
                labels = {**base, "unit": unit, "period": period}
                k = scale * share
                for channel, n in zip(("online", "direct", "postal"), channels):
                    out.append(
                        ("egov_services_dossiers_received_total", {**labels, "channel": channel}, int(n * k))
                    )
                for timeliness_, n in zip(("early", "on_time", "late"), timeliness):
                    out.append(
                        (
                            "egov_services_dossiers_completed_total",
                            {**labels, "timeliness": timeliness_},
                            int(n * k),
                        )
                    )
                out += [
                    ("egov_services_dossiers_with_fee_total", labels, int(fee * k)),
                    ("egov_services_dossiers_paid_online_total", labels, int(paid * k)),
                    ("egov_services_dossiers_digitized_total", labels, int(digitized * k)),
                    ("egov_services_dossiers_full_online_total", labels, int(full * k)),
                ]
    return out


def par7_samples() -> list[tuple[str, dict[str, str], float]]:
    lgsp = {"target": "lgsp", "system": "lgsp"}
    out = [
        ("egov_lgsp_shared_data_applications_connected", lgsp, 17),
        ("egov_lgsp_shared_data_applications", lgsp, 19),
        ("egov_portal_required_sections_present", {"target": "portal-home", "system": "portal"}, 11),
        ("egov_portal_required_sections", {"target": "portal-home", "system": "portal"}, 12),
        ("egov_portal_required_sections_present", {"target": "portal-so-tu-phap", "system": "portal"}, 12),
        ("egov_portal_required_sections", {"target": "portal-so-tu-phap", "system": "portal"}, 12),
    ]
    docs = {"target": "documents-stats", "system": "documents"}
    for unit, level, sent_e, sent_p, files_online, files in (
        ("H44.01", "province", 900, 31, 410, 433),
        ("H44.100", "commune", 300, 44, 120, 260),
        ("H44.101", "commune", 120, 3, 80, 90),
    ):
        for period, k in (("month", 1), ("year", 10)):
            labels = {**docs, "unit": unit, "level": level, "period": period}
            out += [
                ("egov_documents_sent_total", {**labels, "channel": "electronic"}, sent_e * k),
                ("egov_documents_sent_total", {**labels, "channel": "paper"}, sent_p * k),
                ("egov_documents_work_files_online_total", labels, files_online * k),
                ("egov_documents_work_files_total", labels, files * k),
            ]
    return out


def series_text(name: str, labels: dict[str, str]) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{body}}}"


def expected(rule: str, evaluations: dict) -> list[dict]:
    card, source, groups, indicator = AGREES_WITH[rule]
    e = evaluations[card]
    groups = groups if isinstance(groups, tuple) else (groups,)
    out = []
    for (src, key, group, code), r in e.indicators.items():
        if group not in groups or (indicator is not None and code != indicator) or r.ratio is None:
            continue
        if r.origin != "measured":
            continue
        labels = dict(zip(e.card.by, key))
        if source == "provincial-province":
            if src != "provincial" or labels.get("unit") != "H44":
                continue
            labels.pop("unit")
        elif src != source or (source == "provincial" and labels.get("unit") == "H44"):
            continue
        if rule.startswith("unit_group_metric_period:"):
            labels.update(group=group, metric=code)
        if card == "par7":
            g = e.card.group(group)
            ind = next(i for i in g.indicators if i.code == code)
            sel = ind.inputs["measured"].denominator
            labels = {
                m.label: m.value for m in sel.matchers if m.op == "=" and m.label in ("level", "period")
            }
        out.append({"labels": series_text(rule, labels), "value": r.ratio})
    return sorted(out, key=lambda s: s["labels"])


def expr(rule: str) -> str:
    """PAR 7 reads the year: its rules are compared on period="year" (they record every period)."""
    if AGREES_WITH[rule][0] == "par7" and "period" in rule.split(":")[0]:
        return rule + '{period="year"}'
    return rule


@pytest.fixture(scope="module")
def data():
    samples = qd766_samples() + services_samples() + par7_samples()
    index = build_index(samples)
    return samples, {"qd766": evaluate(QD766, index), "par7": evaluate(PAR7, index)}


def test_promtool_check_rules_is_clean():
    out = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "WARNING" not in out.stdout + out.stderr
    assert f"SUCCESS: {len(AGREES_WITH)} rules found" in out.stdout


def test_every_rule_is_checked_against_the_engine_and_follows_level_metric_operation():
    rules = [
        r["record"] for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for r in g["rules"]
    ]
    assert sorted(rules) == sorted(AGREES_WITH)
    for name in rules:
        level, metric, operation = name.split(":")
        assert level and metric.startswith("egov_") and operation == "ratio", name


def rules_test(samples, expr_tests: list[dict]) -> dict:
    """A promtool rule-test document: ``samples`` as constant input series, ``expr_tests`` checked at 2m."""
    return {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series_text(n, labels), "values": f"{value!r}+0x3"}
                    for n, labels, value in samples
                ],
                "promql_expr_test": expr_tests,
            }
        ],
    }


def run_rules_test(test: dict, path: Path) -> subprocess.CompletedProcess:
    path.write_text(yaml.safe_dump(test, allow_unicode=True, width=1000), encoding="utf-8")
    return subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=300
    )


def test_rules_and_engine_agree_on_the_same_samples(data, tmp_path):
    samples, evaluations = data
    test = rules_test(
        samples,
        [
            {"expr": expr(rule), "eval_time": "2m", "exp_samples": expected(rule, evaluations)}
            for rule in AGREES_WITH
        ],
    )
    counts = {t["expr"].split("{")[0]: len(t["exp_samples"]) for t in test["tests"][0]["promql_expr_test"]}
    # every rule has something to agree on: real units (164 with dossiers or fewer), provincial units, PAR 7
    assert (
        counts["unit_period:egov_qd766_dossiers_on_time:ratio"]
        == sum(
            1
            for (s, _k, g, c), r in evaluations["qd766"].indicators.items()
            if s == "computed" and c == "ON_TIME" and r.ratio is not None
        )
        > 100
    )
    assert counts["unit_period:egov_qd766_procedures_online:ratio"] == 1  # the province only
    assert counts["unit_group_metric_period:egov_qd766_metric:ratio"] > 1000
    assert (
        counts["unit_period:egov_services_dossiers_paid_online:ratio"] == 6
    )  # 2 units x 3 periods (1 has none)
    assert counts["period:egov_services_dossiers_paid_online:ratio"] == 3
    assert counts["level_period:egov_documents_work_files_online:ratio"] == 2
    assert all(counts.values()), counts
    out = run_rules_test(test, tmp_path / "scorecards.test.yml")
    assert out.returncode == 0 and "SUCCESS" in out.stdout, (out.stdout + out.stderr)[-4000:]


def test_agreement_is_not_vacuous(data, tmp_path):
    """A wrong expectation fails: the comparison really happens."""
    samples, evaluations = data
    rule = "unit_period:egov_qd766_dossiers_paid_online:ratio"
    exp = expected(rule, evaluations)
    exp[0] = {**exp[0], "value": exp[0]["value"] + 0.01}
    used = {"egov_qd766_figure"}
    test = rules_test(
        [x for x in samples if x[0] in used], [{"expr": rule, "eval_time": "2m", "exp_samples": exp}]
    )
    out = run_rules_test(test, tmp_path / "wrong.test.yml")
    assert out.returncode != 0 and "FAILED" in out.stdout + out.stderr
    assert json.dumps(exp[0]["labels"])[1:-1].split("{")[0] in out.stdout + out.stderr
