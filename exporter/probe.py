"""``egov-exporter probe --config.file F --target NAME``: one poll of one target from the command line, no
server, no schedule, nothing stored.

It loads the configuration as the exporter does (every collector built, every vendor profile read), polls the
target once in this process and prints what ``/probe?target=NAME`` shows: each request with its status, time
and the start of its body, the fields of the profile that matched nothing (skipped), and every sample
extracted, then a count of samples per metric.  Secrets of the configuration are redacted.  The exit status
says how the poll ended: 0 up or degraded, 1 down (or a configuration problem), so a script or an operator
adapting a profile (README: "Adapting a profile to your vendor") sees at once whether the change worked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

DEFAULT_CONFIG = "config.yaml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config.file",
        dest="config_file",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"configuration file (default: {DEFAULT_CONFIG})",
    )
    p.add_argument(
        "--target",
        required=True,
        metavar="NAME",
        help="the target to poll (its targets[].name in the configuration)",
    )
    p.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text for people (default), json for scripts (the /probe?format=json document)",
    )
    p.add_argument(
        "--log.level",
        dest="log_level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: warning)",
    )


def summary(out: dict[str, Any]) -> str:
    """Samples per metric, and the skipped fields per metric (what each profile rule gave)."""
    got = Counter(s["name"] for s in out["samples"])
    missed = Counter(s.split(":", 1)[0] for s in out["skipped"])
    lines = ["per metric (samples extracted / answers where its field matched nothing):"]
    for name in sorted(set(got) | set(missed)):
        lines.append(f"  {name}: {got.get(name, 0)} / {missed.get(name, 0)}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from exporter.app import App
    from exporter.config import ConfigError
    from exporter.registry import load_kinds, scoring_check
    from exporter.server import render_probe_text

    app = App(args.config_file, kinds=load_kinds(), check_scoring=scoring_check())
    try:
        config = app.load()
    except ConfigError as exc:
        for line in exc.messages:
            print(line, file=sys.stderr)
        return 1
    if config.target(args.target) is None:
        names = ", ".join(t.name for t in config.targets) or "none"
        print(
            f"egov-exporter: no target {args.target!r} in {args.config_file}; targets: {names}",
            file=sys.stderr,
        )
        return 1
    try:
        out = app.probe(args.target)
    finally:
        app.stop()
    assert out is not None  # the target is configured
    if args.format == "json":
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(render_probe_text(out) + "\n" + summary(out), end="")
    return 0 if out["state"] in ("up", "degraded") else 1
