"""Generate the alert rules (rules/alerts/*.yml) from the thresholds in rules/thresholds.yaml.

Why a generator: thresholds live in one file that operators edit (numbers and durations, checked strictly),
while the rules Prometheus loads stay plain YAML with literal numbers, readable in the Prometheus UI and in
promtool's unit tests.  Like a monitoring mixin's ``_config``, without jsonnet.

    python -m rules.build                 # rewrite rules/alerts/*.yml from rules/thresholds.yaml
    python -m rules.build --check         # exit 1 when the committed files are stale
    python -m rules.build --out DIR --for 1s   # a copy with every ``for:`` shortened (integration tests only)
    python -m rules.build --out DIR --grafana-url https://grafana.example.gov.vn   # a site's copy

Conventions (as in node-mixin / celery-mixin): CamelCase names prefixed ``Egov``, a ``for:`` on every alert,
labels ``severity`` (critical pages, warning tickets), annotations ``summary``, ``description`` with
``{{ $labels.* }}`` and ``{{ $value }}``, and ``dashboard`` (a Grafana link).  Availability alerts are
suppressed while a maintenance window covers the target (``unless on(target)
egov_maintenance_window_active == 1``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

HERE = Path(__file__).resolve().parent
THRESHOLDS = HERE / "thresholds.yaml"
ALERTS_DIR = HERE / "alerts"
SYSTEMS = ("portal", "lgsp", "documents", "services", "national")
_PROM_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")

# ----------------------------------------------------------------------------------- thresholds model


def _duration(v: Any) -> str:
    if not isinstance(v, str) or not _PROM_DURATION.match(v):
        raise ValueError(f"must be a Prometheus duration like 30s, 5m or 1h, got {v!r}")
    return v


def _show(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else repr(v)


def _seconds(d: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", d))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PerSystem(_Strict):
    """A value with per-system overrides: ``default`` plus any of the systems."""

    default: float | str
    portal: float | str | None = None
    lgsp: float | str | None = None
    documents: float | str | None = None
    services: float | str | None = None
    national: float | str | None = None

    def overrides(self) -> dict[str, float | str]:
        return {s: getattr(self, s) for s in SYSTEMS if getattr(self, s) is not None}


class Availability(_Strict):
    down_for: str
    slow_for: str
    slow_seconds: PerSystem
    stale_after: PerSystem
    stale_for: str
    blocked_window: str
    blocked_for: str

    _d = field_validator("down_for", "slow_for", "stale_for", "blocked_window", "blocked_for")(
        lambda cls, v: _duration(v)
    )

    @field_validator("stale_after")
    @classmethod
    def _stale(cls, v: PerSystem) -> PerSystem:
        for value in (v.default, *v.overrides().values()):
            _duration(value)
        return v

    @field_validator("slow_seconds")
    @classmethod
    def _slow(cls, v: PerSystem) -> PerSystem:
        for value in (v.default, *v.overrides().values()):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"must be a number of seconds > 0, got {_show(value)}")
        return v


class Certificates(_Strict):
    warning_days: float = Field(gt=0)
    critical_days: float = Field(gt=0)
    for_: str = Field(alias="for")

    _d = field_validator("for_")(lambda cls, v: _duration(v))


class Portal(_Strict):
    max_days_without_article: float = Field(gt=0)
    for_: str = Field(alias="for")

    _d = field_validator("for_")(lambda cls, v: _duration(v))


class RateDrop(_Strict):
    max_drop: float = Field(gt=0, lt=1)
    min_volume: float = Field(ge=0)
    for_: str = Field(alias="for")

    _d = field_validator("for_")(lambda cls, v: _duration(v))


class RateDrops(_Strict):
    online_payment: RateDrop
    online_submission: RateDrop
    documents_electronic: RateDrop


class NationalTarget(_Strict):
    """The alert's volume guard; the level is the key's ratio in indicators/targets.yaml."""

    min_volume: float = Field(ge=0)


class NationalTargets(_Strict):
    period: str
    for_: str = Field(alias="for")
    targets: dict[str, NationalTarget]

    _d = field_validator("for_")(lambda cls, v: _duration(v))

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        if v not in ("month", "quarter", "year"):
            raise ValueError(f"must be month, quarter or year, got {v!r}")
        return v

    @field_validator("targets")
    @classmethod
    def _known(cls, v: dict[str, NationalTarget]) -> dict[str, NationalTarget]:
        unknown = sorted(set(v) - set(INDICATORS))
        if unknown:
            raise ValueError(f"unknown indicator {unknown[0]!r}; known: {', '.join(INDICATORS)}")
        return v


class NationalRanking(_Strict):
    places: int = Field(ge=1, le=33)
    window: str
    for_: str = Field(alias="for")

    _d = field_validator("window", "for_")(lambda cls, v: _duration(v))


class ExporterTh(_Strict):
    schema_drift_for: str
    collector_errors_for: str
    reload_failed_for: str
    down_for: str

    _d = field_validator("schema_drift_for", "collector_errors_for", "reload_failed_for", "down_for")(
        lambda cls, v: _duration(v)
    )


def _http_url(v: Any, where: str = "") -> str:
    from urllib.parse import urlsplit

    if not isinstance(v, str) or urlsplit(v).scheme not in ("http", "https") or not urlsplit(v).netloc:
        raise ValueError(f"{where + ' ' if where else ''}must be an http:// or https:// URL, got {v!r}")
    return v


class Thresholds(_Strict):
    #: the Grafana the alerts' dashboard links open (python -m rules.build --grafana-url overrides it)
    grafana_url: str
    exporter_job: str

    _u = field_validator("grafana_url")(lambda cls, v: _http_url(v))
    availability: Availability
    certificates: Certificates
    portal: Portal
    rate_drops: RateDrops
    national_targets: NationalTargets
    national_ranking: NationalRanking
    exporter: ExporterTh


class ThresholdsError(Exception):
    pass


def load_thresholds(path: Path = THRESHOLDS) -> Thresholds:
    """Read and validate the thresholds; ThresholdsError with one line per problem (with its place)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ThresholdsError(f"{path}: {exc}") from None
    try:
        return Thresholds.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = {"extra_forbidden": "unknown key", "missing": "required"}.get(
                err["type"], err["msg"].removeprefix("Value error, ")
            )
            lines.append(f"{path}: {where}: {msg}")
        raise ThresholdsError("\n".join(lines)) from None


# --------------------------------------------------------------------------------------- the rules

MAINTENANCE = "egov_maintenance_window_active == 1"
#: the province's own unit on the national portal (joined on unit)
PROVINCE_UNIT = 'egov_qd766_unit_info{level="province"}'

#: indicators with a national target: the recording rule of the province's period-to-date ratio (one
#: series per target and period; see rules/recording/province-ratios.yml), its denominator, its name, and
#: an extra selector (work files: the province level's target).
INDICATORS: dict[str, tuple[str, ...]] = {
    "online_dossiers": (
        "target:egov_services_online_dossiers:ratio",
        "target:egov_services_dossiers_received:sum",
        "dossiers received online (hồ sơ trực tuyến)",
    ),
    "online_payment": (
        "target:egov_services_online_payment:ratio",
        "target:egov_services_dossiers_with_fee:sum",
        "dossiers paid online (thanh toán trực tuyến)",
    ),
    "full_process_online": (
        "target:egov_services_full_process_online:ratio",
        "target:egov_services_dossiers_received:sum",
        "full-process online dossiers (trực tuyến toàn trình)",
    ),
    "digitized_dossiers": (
        "target:egov_services_digitized:ratio",
        "target:egov_services_dossiers_received:sum",
        "digitized dossiers (số hóa hồ sơ)",
    ),
    "documents_electronic": (
        "target:egov_documents_sent_electronic:ratio",
        "target:egov_documents_sent:sum",
        "documents sent electronically (văn bản điện tử)",
    ),
    # the national portal's figure for the province (recording rule of rules/recording/scorecards.yml)
    "procedures_online": (
        "unit_period:egov_qd766_procedures_online:ratio",
        PROVINCE_UNIT,
        "procedures offered online (TTHC cung cấp trực tuyến, Decision 766)",
    ),
    "work_files_online": (
        "target:egov_documents_work_files_online:ratio",
        "target:egov_documents_work_files:sum",
        "work files handled online at province level (hồ sơ công việc trên môi trường mạng)",
        'level="province"',
    ),
}


def _num(x: float) -> str:
    return f"{x:g}"


def _per_system(metric: str, op: str, values: PerSystem, fmt=_num) -> str:
    """``metric{system="a"} > x or metric{system="b"} > y or metric{system!~"a|b"} > default``."""
    over = values.overrides()
    parts = [f'{metric}{{system="{s}"}} {op} {fmt(v)}' for s, v in over.items()]
    rest = f'{{system!~"{"|".join(over)}"}}' if over else ""
    parts.append(f"{metric}{rest} {op} {fmt(values.default)}")
    return parts[0] if len(parts) == 1 else "\n  or\n".join(f"({p})" for p in parts)


def _link(th: Thresholds, uid: str, query: str = "") -> str:
    return f"{th.grafana_url.rstrip('/')}/d/{uid}{'?' + query if query else ''}"


def _alert(
    name: str,
    expr: str,
    for_: str,
    severity: str,
    summary: str,
    description: str,
    dashboard: str,
    **labels: str,
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr.strip() + "\n" if "\n" in expr.strip() else expr.strip(),
        "for": for_,
        "labels": {"severity": severity, **labels},
        "annotations": {"summary": summary, "description": description, "dashboard": dashboard},
    }


def _suppressed(expr: str) -> str:
    return f"(\n{_indent(expr)}\n)\nunless on(target) {MAINTENANCE}"


def _indent(text: str, n: int = 2) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())


def availability_rules(th: Thresholds) -> list[dict[str, Any]]:
    a = th.availability
    overview = _link(th, "egov-overview", "var-target={{ $labels.target }}")
    stale = _per_system(
        "time() - egov_target_last_success_timestamp_seconds",
        ">",
        a.stale_after,
        fmt=lambda d: _num(_seconds(d)),
    )
    return [
        _alert(
            "EgovTargetDown",
            f"egov_target_up == 0\nunless on(target) {MAINTENANCE}",
            a.down_for,
            "critical",
            "{{ $labels.system }} target {{ $labels.target }} is down",
            "Polls of {{ $labels.target }} ({{ $labels.system }}) have failed for "
            + a.down_for
            + ': the system does not answer or answers wrongly. egov_target_failures_total{target="{{ $labels.target }}"} '
            "names the reason; /probe?target={{ $labels.target }} on the exporter shows the last answer.",
            overview,
        ),
        _alert(
            "EgovTargetSlow",
            _suppressed(
                _per_system("target:egov_target_http_response_seconds:avg_over_time15m", ">", a.slow_seconds)
            ),
            a.slow_for,
            "warning",
            "{{ $labels.system }} target {{ $labels.target }} is slow",
            "{{ $labels.target }} ({{ $labels.system }}) has answered in {{ $value | humanizeDuration }} on "
            "average over 15 minutes, above its threshold, for " + a.slow_for + ".",
            overview,
        ),
        _alert(
            "EgovTargetDataStale",
            _suppressed(stale),
            a.stale_for,
            "warning",
            "Data of {{ $labels.target }} is not being refreshed",
            "The last successful poll of {{ $labels.target }} ({{ $labels.system }}) was "
            "{{ $value | humanizeDuration }} ago: its series are the cached values of that poll.",
            overview,
        ),
        _alert(
            "EgovTargetBlocked",
            _suppressed(
                f'increase(egov_target_failures_total{{reason="blocked"}}[{a.blocked_window}]) > 0\n'
                "and on(target) egov_target_up == 0"
            ),
            a.blocked_for,
            "warning",
            "{{ $labels.target }} is blocked by a firewall or rate limit",
            "{{ $labels.target }} ({{ $labels.system }}) is down and {{ $value | humanize }} polls in the last "
            + a.blocked_window
            + ' were refused (HTTP 403/429 or a WAF "Request Rejected" page). The exporter '
            "backs off; ask the system's operator to allow the exporter's address.",
            overview,
        ),
    ]


def certificate_rules(th: Thresholds) -> list[dict[str, Any]]:
    c = th.certificates
    expr = "(egov_target_tls_cert_expiry_timestamp_seconds - time()) / 86400 < {days}"
    out = []
    for severity, days in (("warning", c.warning_days), ("critical", c.critical_days)):
        out.append(
            _alert(
                "EgovCertificateExpiring",
                expr.format(days=_num(days)),
                c.for_,
                severity,
                "TLS certificate of {{ $labels.target }} expires in {{ $value | humanize }} days",
                "The certificate served by {{ $labels.target }} ({{ $labels.system }}) expires in "
                "{{ $value | humanize }} days (threshold " + _num(days) + " days; a negative value: already "
                "expired). Renew it before browsers and the national platforms refuse the connection.",
                _link(th, "egov-overview", "var-target={{ $labels.target }}"),
            )
        )
    return out


def portal_rules(th: Thresholds) -> list[dict[str, Any]]:
    p = th.portal
    return [
        _alert(
            "EgovPortalNotPublishing",
            f"(time() - egov_portal_newest_article_timestamp_seconds) / 86400 > {_num(p.max_days_without_article)}",
            p.for_,
            "warning",
            "Portal {{ $labels.target }} has published nothing for {{ $value | humanize }} days",
            "The newest article on {{ $labels.target }} is {{ $value | humanize }} days old (threshold "
            + _num(p.max_days_without_article)
            + " days). Decree 42/2022/NĐ-CP expects the portal to keep its "
            "news and notices current.",
            _link(th, "egov-portal", "var-target={{ $labels.target }}"),
        )
    ]


#: (alert, thresholds key, ratio recording rule, volume recording rule, what, dashboard uid, what to check)
RATE_DROPS = (
    (
        "EgovOnlinePaymentRatioDrop",
        "online_payment",
        "target:egov_services_online_payment:ratio1h",
        "target:egov_services_dossiers_with_fee:increase1h",
        "online-payment ratio (dossiers paid online / dossiers with a fee; tỷ lệ thanh toán trực tuyến)",
        "egov-services",
        "Check the online payment gateway (Payment Platform of the national portal, banks' links).",
    ),
    (
        "EgovOnlineSubmissionRatioDrop",
        "online_submission",
        "target:egov_services_online_submission:ratio1h",
        "target:egov_services_dossiers_received:increase1h",
        "share of dossiers submitted online (tỷ lệ hồ sơ trực tuyến)",
        "egov-services",
        "Check the public-service portal's online submission forms and login (VNeID).",
    ),
    (
        "EgovDocumentsElectronicRatioDrop",
        "documents_electronic",
        "target:egov_documents_sent_electronic:ratio1h",
        "target:egov_documents_sent:increase1h",
        "share of documents sent electronically (tỷ lệ văn bản điện tử)",
        "egov-documents",
        "Check the document system's digital signing and its link to the national document axis.",
    ),
)


def rate_drop_rules(th: Thresholds) -> list[dict[str, Any]]:
    out = []
    for name, key, ratio, volume, what, uid, hint in RATE_DROPS:
        d: RateDrop = getattr(th.rate_drops, key)
        expr = (
            f"{ratio}\n  < {_num(1 - d.max_drop)} * ({ratio} offset 1w)\n"
            f"and on(target) {volume} >= {_num(d.min_volume)}\n"
            f"and on(target) ({volume} offset 1w) >= {_num(d.min_volume)}"
        )
        out.append(
            _alert(
                name,
                expr,
                d.for_,
                "warning",
                "{{ $labels.target }}: "
                + what.split(" (")[0]
                + " dropped to {{ $value | humanizePercentage }}",
                "Over the last hour the "
                + what
                + " of {{ $labels.target }} was {{ $value | humanizePercentage }}, "
                "more than "
                + _num(100 * d.max_drop)
                + " % below the same hour last week, with at least "
                + _num(d.min_volume)
                + " in the denominator both weeks. "
                + hint,
                _link(th, uid, "var-target={{ $labels.target }}"),
            )
        )
    return out


def national_levels(keys: Any) -> dict[str, float]:
    """The level of each national target, from indicators/targets.yaml (the one place of the targets)."""
    from exporter.config import ConfigError
    from exporter.targets import DEFAULT_TARGETS, load_targets, unknown_target

    try:
        targets = load_targets(DEFAULT_TARGETS)
    except ConfigError as exc:
        raise ThresholdsError("\n".join(exc.messages)) from None
    missing = [k for k in keys if k not in targets]
    if missing:
        raise ThresholdsError(
            f"national_targets.targets.{missing[0]}: {unknown_target(missing[0], targets, DEFAULT_TARGETS)}"
        )
    return {k: targets[k].ratio for k in keys}


def indicator_rules(th: Thresholds) -> list[dict[str, Any]]:
    n = th.national_targets
    levels = national_levels(n.targets)
    out = []
    for key, target in n.targets.items():
        ratio, denominator, what, *extra = INDICATORS[key]
        level = levels[key]
        sel = "{" + ", ".join([f'period="{n.period}"', *extra]) + "}"
        if denominator == PROVINCE_UNIT:  # a published figure of the province's unit: no volume to guard
            expr = f"{ratio}{sel} < {_num(level)}\nand on(unit) {PROVINCE_UNIT}"
            who, link = "{{ $labels.unit }}", _link(th, "egov-qd766", "var-period=" + n.period)
        else:
            expr = f"{ratio}{sel} < {_num(level)}\nand {denominator}{sel} >= {_num(target.min_volume)}"
            who = "{{ $labels.target }}"
            link = _link(
                th,
                "egov-" + ratio.split(":")[1].split("_")[1],
                "var-target={{ $labels.target }}&var-period=" + n.period,
            )
        out.append(
            _alert(
                "EgovIndicatorBelowNationalTarget",
                expr,
                n.for_,
                "warning",
                who + ": " + what.split(" (")[0] + " at {{ $value | humanizePercentage }}, below the "
                "national target of " + _num(100 * level) + " %",
                "This "
                + n.period
                + " so far, "
                + what
                + " at "
                + who
                + " is {{ $value | humanizePercentage }}"
                " of the total, below the national target of " + _num(100 * level) + " %. See the units "
                "dragging it down on the dashboard.",
                link,
                indicator=key,
            )
        )
    return out


def ranking_rules(th: Thresholds) -> list[dict[str, Any]]:
    """The province (the qd766 target's own, egov_qd766_unit_info{level="province"}) dropped places in the
    national ranking against its rank ``window`` before, within the same period (a period younger than the
    window is not judged: its rank is compared with nothing of its own)."""
    r = th.national_ranking
    rank = "egov_qd766_province_rank"
    own = 'label_replace(egov_qd766_unit_info{level="province"}, "province", "$1", "unit", "(.+)")'
    expr = (
        f"({rank} - {rank} offset {r.window}) >= {r.places}\n"
        f"and on(province) {own}\n"
        f"and on(period) (time() - egov_qd766_period_start_timestamp_seconds) > {_num(_seconds(r.window))}"
    )
    return [
        _alert(
            "EgovProvinceRankDropped",
            expr,
            r.for_,
            "warning",
            "{{ $labels.province }} dropped {{ $value }} places in the national ranking ({{ $labels.period }})",
            "In the national portal's ranking of the 34 provinces (Decision 766), {{ $labels.province }} ranks "
            "{{ $value }} places lower this "
            + "{{ $labels.period }} than "
            + r.window
            + " ago (threshold: "
            + str(r.places)
            + " places). See which groups moved on the dashboard.",
            _link(th, "egov-qd766", "var-period={{ $labels.period }}"),
        )
    ]


def exporter_rules(th: Thresholds) -> list[dict[str, Any]]:
    e = th.exporter
    overview = _link(th, "egov-overview")
    return [
        _alert(
            "EgovTargetSchemaDrift",
            "increase(egov_target_extraction_skipped_total[1h]) > 0",
            e.schema_drift_for,
            "warning",
            "Answers of {{ $labels.target }} lack expected fields",
            "{{ $value | humanize }} metrics of {{ $labels.target }} ({{ $labels.system }}) were skipped in the "
            "last hour because the upstream answer lacked their field: the vendor changed the API or page "
            "(schema drift). Compare /probe?target={{ $labels.target }} with the profile.",
            overview,
        ),
        _alert(
            "EgovCollectorErrors",
            'increase(egov_target_failures_total{reason="other"}[30m]) > 0',
            e.collector_errors_for,
            "warning",
            "The collector of {{ $labels.target }} fails unexpectedly",
            "{{ $value | humanize }} polls of {{ $labels.target }} in the last 30 minutes failed with reason "
            '"other": an error inside the exporter, not the upstream system. The exporter\'s log has the '
            "traceback; please report it.",
            overview,
        ),
        _alert(
            "EgovExporterConfigReloadFailed",
            "egov_exporter_config_last_reload_successful == 0",
            e.reload_failed_for,
            "warning",
            "egov-exporter {{ $labels.instance }} rejected its new configuration",
            "The last configuration reload of {{ $labels.instance }} failed; the previous configuration keeps "
            "running. `egov-exporter check-config` lists the problems.",
            overview,
        ),
        _alert(
            "EgovExporterDown",
            f'up{{job="{th.exporter_job}"}} == 0',
            e.down_for,
            "critical",
            "egov-exporter {{ $labels.instance }} cannot be scraped",
            "Prometheus has not scraped {{ $labels.instance }} (job "
            + th.exporter_job
            + ") for "
            + e.down_for
            + ": no egov series are fresh, and no other egov alert can fire.",
            overview,
        ),
    ]


#: file name -> (group name, rule builder)
GROUPS = {
    "availability.yml": ("egov-availability", (availability_rules, certificate_rules)),
    "content.yml": ("egov-content", (portal_rules,)),
    "rates.yml": ("egov-rate-drops", (rate_drop_rules,)),
    "indicators.yml": ("egov-indicators", (indicator_rules,)),
    "ranking.yml": ("egov-ranking", (ranking_rules,)),
    "exporter.yml": ("egov-exporter", (exporter_rules,)),
}

HEADER = (
    "# GENERATED by rules/build.py from rules/thresholds.yaml: edit the thresholds there and run\n"
    "# `python -m rules.build`; a test fails when this file is stale.\n"
)


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _str)


def render(th: Thresholds, for_override: str | None = None) -> dict[str, str]:
    """The alert files, name -> YAML text.  ``for_override`` replaces every ``for:`` (tests only)."""
    out = {}
    for filename, (group, builders) in GROUPS.items():
        rules = [r for b in builders for r in b(th)]
        if for_override is not None:
            for r in rules:
                r["for"] = for_override
        doc = {"groups": [{"name": group, "rules": rules}]}
        out[filename] = HEADER + yaml.dump(
            doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110
        )
    return out


def stale_files(directory: Path = ALERTS_DIR, th: Thresholds | None = None) -> list[str]:
    """Files of ``directory`` that differ from what the thresholds generate (or are missing / extra)."""
    want = render(th or load_thresholds())
    have = (
        {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.yml")} if directory.is_dir() else {}
    )
    return sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rules.build", description=__doc__.split("\n\n")[0])
    p.add_argument("--thresholds", type=Path, default=THRESHOLDS)
    p.add_argument("--out", type=Path, default=ALERTS_DIR, help="where to write (default: rules/alerts)")
    p.add_argument("--check", action="store_true", help="exit 1 when the files in --out are stale")
    p.add_argument(
        "--grafana-url",
        default=None,
        metavar="URL",
        help="the Grafana the alerts' dashboard links open (default: grafana_url of the thresholds file), "
        "e.g. https://grafana.example.gov.vn",
    )
    p.add_argument(
        "--for",
        dest="for_override",
        default=None,
        metavar="DURATION",
        help="replace every for: (integration tests only; never for the shipped rules)",
    )
    args = p.parse_args(argv)
    try:
        th = load_thresholds(args.thresholds)
        if args.for_override is not None:
            _duration(args.for_override)
        if args.grafana_url is not None:
            th = th.model_copy(update={"grafana_url": _http_url(args.grafana_url, "--grafana-url")})
    except (ThresholdsError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.check:
        stale = stale_files(args.out, th)
        for name in stale:
            print(f"{args.out / name}: stale, run python -m rules.build", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    files = render(th, args.for_override)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    for extra in set(p.name for p in args.out.glob("*.yml")) - set(files):
        (args.out / extra).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
