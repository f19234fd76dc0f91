"""``egov-exporter snapshot``: a quarter's (month's, year's) figures as XLSX, CSV, JSON and an HTML report,
from the embedded history (default) or from a Prometheus server.

Exit codes: 0 written; 1 no source, no data for the period, unreadable source or output; 2 invalid flags
(a period like 2026Q5, an unknown format).  Every problem is one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "config.yaml"
PREFIX = "egov-exporter snapshot: "


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Write a snapshot of every indicator for a calendar quarter, month or year (Asia/Ho_Chi_Minh) "
        "or a date range, compared with the period before: XLSX, CSV, JSON and an HTML report."
    )
    g = p.add_argument_group("period (exactly one)")
    g.add_argument("--quarter", metavar="YYYYQn", help="a calendar quarter, e.g. 2026Q3")
    g.add_argument("--month", metavar="YYYY-MM", help="a calendar month, e.g. 2026-08")
    g.add_argument("--year", metavar="YYYY", help="a calendar year, e.g. 2026")
    g.add_argument(
        "--from", dest="start", metavar="DATE", help="start of a range, e.g. 2026-07-01 (with --to)"
    )
    g.add_argument(
        "--to", dest="end", metavar="DATE", help="last day of a range, e.g. 2026-09-30 (inclusive)"
    )
    add_source_arguments(p)
    o = p.add_argument_group("output")
    o.add_argument(
        "--format",
        default="xlsx,csv,json,html",
        metavar="LIST",
        help="comma-separated: xlsx, csv, json, html (default: all four)",
    )
    o.add_argument(
        "--output-dir", dest="output_dir", default=".", metavar="DIR", help="where to write (default: .)"
    )
    o.add_argument(
        "--report.file",
        dest="report_file",
        default=None,
        metavar="FILE",
        help="the report definition (default: the shipped exporter/snapshot/report.yaml)",
    )
    o.add_argument(
        "--lookback",
        default="1d",
        metavar="DURATION",
        help="how far before the end of the period a value may date from (default: 1d)",
    )
    o.add_argument("--step", default="1d", metavar="DURATION", help="resolution of the trends (default: 1d)")
    o.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--log.level",
        dest="log_level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help=argparse.SUPPRESS,
    )


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Where the figures are read: the embedded history, or a Prometheus-compatible server (shared with
    ``egov-exporter digest``)."""
    s = p.add_argument_group("source (the embedded history unless --prometheus-url)")
    s.add_argument(
        "--config.file",
        dest="config_file",
        default=None,
        metavar="FILE",
        help=f"exporter configuration whose history.path is read (default: {DEFAULT_CONFIG} when present)",
    )
    s.add_argument(
        "--history.file",
        dest="history_file",
        default=None,
        metavar="FILE",
        help="the history file (default: history.path of --config.file, else egov-history.sqlite)",
    )
    s.add_argument(
        "--prometheus-url",
        "--prometheus.url",
        dest="prometheus_url",
        default=None,
        metavar="URL",
        help="read a Prometheus-compatible server instead (Prometheus, Thanos, Mimir, VictoriaMetrics), "
        "e.g. http://127.0.0.1:9090",
    )
    s.add_argument(
        "--prometheus.header",
        dest="prometheus_headers",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an HTTP header for every request (repeatable), e.g. 'X-Scope-OrgID: egov'",
    )
    s.add_argument(
        "--prometheus.bearer-token-file",
        dest="prometheus_token_file",
        default=None,
        metavar="FILE",
        help="send the token in this file as Authorization: Bearer",
    )
    s.add_argument(
        "--prometheus.timeout",
        dest="prometheus_timeout",
        default="2m",
        metavar="DURATION",
        help="deadline of each query (default: 2m)",
    )
    s.add_argument(
        "--prometheus.ignore-label",
        dest="ignore_labels",
        action="append",
        default=None,
        metavar="LABEL",
        help="labels the scrape adds, ignored so that replicas count once (default: job, instance)",
    )


def _fail(message: str, code: int = 1) -> int:
    print(PREFIX + message, file=sys.stderr)
    return code


def _history_path(args: argparse.Namespace) -> str:
    """--history.file, else history.path of the configuration (read without its targets, so that a
    missing secret of a target does not stop a report), else the default file name."""
    import yaml

    from exporter.config import ConfigError, HistoryConfig, _errors_of, _prepare

    if args.history_file:
        return args.history_file
    config_file = args.config_file or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None)
    if config_file is None:
        return HistoryConfig().path
    try:
        data = yaml.safe_load(Path(config_file).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError([f"{config_file}: cannot read: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{config_file}: invalid YAML: {str(exc).splitlines()[0]}"]) from None
    raw = data.get("history") if isinstance(data, dict) else None
    errors: list[str] = []
    raw = _prepare(raw or {}, ("history",), dict(os.environ), Path(config_file).parent, errors)
    if errors:
        raise ConfigError([f"{config_file}: {e}" for e in errors])
    from pydantic import ValidationError

    try:
        return HistoryConfig.model_validate(raw).path
    except ValidationError as exc:
        raise ConfigError(
            [f"{config_file}: {line}" for line in _errors_of(exc, ("history",), HistoryConfig)]
        ) from None


def _open_source(args: argparse.Namespace) -> Any:
    from exporter.config import parse_duration
    from exporter.snapshot.sources import HistorySource, PrometheusSource, SourceError, parse_header

    if args.prometheus_url:
        url = args.prometheus_url
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"--prometheus-url must be an http:// or https:// URL, got {url!r}")
        headers = dict(parse_header(h) for h in args.prometheus_headers)
        if args.prometheus_token_file:
            try:
                token = Path(args.prometheus_token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SourceError(
                    f"--prometheus.bearer-token-file {args.prometheus_token_file}: {exc.strerror or exc}"
                ) from None
            headers["Authorization"] = f"Bearer {token}"
        try:
            timeout = parse_duration(args.prometheus_timeout)
        except ValueError as exc:
            raise SourceError(f"--prometheus.timeout {exc}") from None
        source = PrometheusSource(
            url,
            headers=headers,
            timeout=timeout,
            drop_labels=args.ignore_labels if args.ignore_labels is not None else ("job", "instance"),
        )
        source.check()
        return source
    path = _history_path(args)
    if not Path(path).exists():
        raise SourceError(
            f"no history file {path} (the exporter writes it while history.enabled is true); "
            "give --history.file, or --prometheus-url to read a Prometheus server"
        )
    return HistorySource(path)


def open_source(args: argparse.Namespace, prefix: str) -> Any:
    """The source the flags name, or None after printing why it cannot be read (one line per problem,
    each after ``prefix``)."""
    from exporter.config import ConfigError
    from exporter.snapshot.sources import SourceError

    try:
        return _open_source(args)
    except ConfigError as exc:
        for line in exc.messages:
            print(prefix + line, file=sys.stderr)
    except SourceError as exc:
        print(prefix + str(exc), file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    from exporter.config import ConfigError, parse_duration
    from exporter.snapshot.compute import Builder, NoDataError, Progress
    from exporter.snapshot.outputs import FORMATS, write_outputs
    from exporter.snapshot.periods import PeriodError, period_from_args
    from exporter.snapshot.sources import SourceError
    from exporter.snapshot.spec import load_report

    try:
        period = period_from_args(args.quarter, args.month, args.year, args.start, args.end)
    except PeriodError as exc:
        return _fail(str(exc), 2)
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        return _fail(f"--format takes {', '.join(FORMATS)} (comma-separated), got {args.format!r}", 2)
    try:
        lookback, step = parse_duration(args.lookback), parse_duration(args.step)
    except ValueError as exc:
        return _fail(f"--lookback/--step {exc}", 2)
    if step < 60 or lookback <= 0:
        return _fail("--step must be at least 1m and --lookback positive", 2)
    try:
        spec = load_report(args.report_file)
    except ConfigError as exc:
        for line in exc.messages:
            print(PREFIX + line, file=sys.stderr)
        return 1
    source = open_source(args, PREFIX)
    if source is None:
        return 1
    progress = Progress(sys.stderr, enabled=not args.quiet)
    try:
        doc = Builder(source, spec, period, lookback=lookback, step=step, progress=progress).build()
    except (NoDataError, SourceError) as exc:
        return _fail(str(exc))
    finally:
        source.close()
    for warning in doc["warnings"]:
        print(f"{PREFIX}warning: {warning}", file=sys.stderr)
    try:
        paths = write_outputs(doc, formats, args.output_dir)
    except OSError as exc:
        return _fail(f"cannot write to {args.output_dir}: {exc.strerror or exc}")
    for path in paths:
        print(path)
    return 0
