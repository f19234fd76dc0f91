"""``egov-exporter digest --week``: the weekly bilingual digest, printed (``--dry-run``) or delivered by
e-mail, Telegram and/or a webhook.

Exit codes: 0 printed or delivered everywhere asked; 1 no source, no data, or a channel failed (the others
are still tried); 2 invalid flags.  Every problem is one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

PREFIX = "egov-exporter digest: "


def add_arguments(p: argparse.ArgumentParser) -> None:
    from exporter.snapshot.cli import add_source_arguments

    p.description = (
        "Compose the weekly digest (Decision 766 total and rank among the provinces, units below the "
        "thresholds, largest drops, availability per system, alerts that fired) in Vietnamese and English, "
        "and print it or deliver it by e-mail, Telegram or a webhook."
    )
    w = p.add_argument_group("window")
    w.add_argument("--week", action="store_true", help="the 7 days before --until (the default window)")
    w.add_argument(
        "--since", metavar="DATE", help="start of the window instead, e.g. 2026-11-24 or 2026-11-24T08:00"
    )
    w.add_argument("--until", metavar="DATE", help="end of the window (default: now)")
    add_source_arguments(p)
    f = p.add_argument_group("figures")
    f.add_argument(
        "--period",
        default="month",
        choices=["month", "quarter", "year"],
        help="the Decision 766 period whose scores are read (default: month)",
    )
    f.add_argument(
        "--province",
        metavar="CODE",
        help="the province's code in the national ranking (default: the qd766 province unit)",
    )
    f.add_argument(
        "--threshold",
        dest="thresholds",
        type=float,
        action="append",
        metavar="POINTS",
        help="list units whose 766 total is below POINTS (repeatable; default: 80 and 90)",
    )
    f.add_argument("--top", type=int, default=5, help="units named per threshold (default: 5)")
    d = p.add_argument_group("delivery (any of them; --dry-run prints instead)")
    d.add_argument(
        "--dry-run", action="store_true", help="print the message (and --json the document), send nothing"
    )
    d.add_argument("--json", action="store_true", help="with --dry-run: print the digest as JSON")
    d.add_argument(
        "--smtp.server", dest="smtp_server", metavar="HOST:PORT", help="send by e-mail through this server"
    )
    d.add_argument("--smtp.from", dest="smtp_from", metavar="ADDRESS", help="sender address")
    d.add_argument(
        "--smtp.to",
        dest="smtp_to",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="recipient (repeatable)",
    )
    d.add_argument("--smtp.username", dest="smtp_username", metavar="NAME", help="SMTP login")
    d.add_argument(
        "--smtp.password-file", dest="smtp_password_file", metavar="FILE", help="SMTP password, in a file"
    )
    d.add_argument(
        "--smtp.starttls",
        dest="smtp_starttls",
        default=None,
        action=argparse.BooleanOptionalAction,
        help="require STARTTLS (default: used when the server offers it)",
    )
    d.add_argument(
        "--telegram.bot-token-file",
        dest="telegram_token_file",
        metavar="FILE",
        help="send to Telegram with this bot's token (in a file)",
    )
    d.add_argument(
        "--telegram.chat-id", dest="telegram_chat", metavar="ID", help="the chat (group) to send to"
    )
    d.add_argument(
        "--telegram.api-url",
        dest="telegram_api",
        default="https://api.telegram.org",
        metavar="URL",
        help="Bot API base URL (default: https://api.telegram.org)",
    )
    d.add_argument(
        "--webhook.url", dest="webhook_url", metavar="URL", help="POST the digest as JSON to this URL"
    )
    d.add_argument(
        "--webhook.template",
        dest="webhook_template",
        metavar="FILE",
        help='JSON template of the body: strings "${digest}" become the digest document, '
        "${subject} and ${text} are replaced inside strings (default: "
        '{"subject": "${subject}", "text": "${text}", "digest": "${digest}"})',
    )
    d.add_argument(
        "--timeout", default="30s", metavar="DURATION", help="deadline of each delivery (default: 30s)"
    )
    p.add_argument(
        "--log.level",
        dest="log_level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help=argparse.SUPPRESS,
    )


def _fail(message: str, code: int = 1) -> int:
    print(PREFIX + message, file=sys.stderr)
    return code


def _when(text: str, flag: str) -> dt.datetime:
    from exporter.snapshot.periods import TZ

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{flag} must be a date like 2026-11-24 or 2026-11-24T08:00, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=TZ)


def _read_secret(path: str, flag: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{flag} {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    from exporter.config import parse_duration
    from exporter.digest.compose import Options, compose, render_text, subject
    from exporter.digest.deliver import (
        DeliveryError,
        load_template,
        send_email,
        send_telegram,
        send_webhook,
        webhook_body,
    )
    from exporter.snapshot.cli import open_source
    from exporter.snapshot.periods import TZ
    from exporter.snapshot.sources import SourceError

    try:
        end = _when(args.until, "--until") if args.until else dt.datetime.now(TZ)
        start = _when(args.since, "--since") if args.since else end - dt.timedelta(days=7)
        timeout = parse_duration(args.timeout)
    except ValueError as exc:
        return _fail(str(exc), 2)
    if start >= end:
        return _fail(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})", 2)
    channels = [
        c
        for c, on in (
            ("e-mail", args.smtp_server),
            ("Telegram", args.telegram_token_file),
            ("webhook", args.webhook_url),
        )
        if on
    ]
    if not channels and not args.dry_run:
        return _fail(
            "nowhere to send: give --smtp.server, --telegram.bot-token-file or --webhook.url, "
            "or --dry-run to print",
            2,
        )
    if args.smtp_server and not (args.smtp_from and args.smtp_to):
        return _fail("--smtp.server needs --smtp.from and at least one --smtp.to", 2)
    if args.telegram_token_file and not args.telegram_chat:
        return _fail("--telegram.bot-token-file needs --telegram.chat-id", 2)
    if args.top < 0:
        return _fail("--top must be 0 or more", 2)
    try:
        template = load_template(args.webhook_template) if args.webhook_url else None
        password = (
            _read_secret(args.smtp_password_file, "--smtp.password-file") if args.smtp_password_file else None
        )
        token = (
            _read_secret(args.telegram_token_file, "--telegram.bot-token-file")
            if args.telegram_token_file
            else None
        )
    except (ValueError, DeliveryError) as exc:
        return _fail(str(exc))
    source = open_source(args, PREFIX)
    if source is None:
        return 1
    opts = Options(
        start=start.astimezone(TZ),
        end=end.astimezone(TZ),
        period=args.period,
        province=args.province,
        thresholds=tuple(args.thresholds or (80.0, 90.0)),
        top=args.top,
    )
    try:
        doc = compose(source, opts)
    except SourceError as exc:
        return _fail(str(exc))
    finally:
        source.close()
    if not doc["availability"] and not doc["units_scored"] and doc["province"]["total"] is None:
        return _fail(f"no data from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}: {source.holds()}")
    text, title = render_text(doc), subject(doc)
    if args.dry_run:
        print(
            json.dumps(doc, ensure_ascii=False, indent=2) if args.json else text,
            end="" if not args.json else "\n",
        )
        return 0
    failed = 0
    for channel in channels:
        try:
            if channel == "e-mail":
                send_email(
                    args.smtp_server,
                    args.smtp_from,
                    args.smtp_to,
                    title,
                    text,
                    username=args.smtp_username,
                    password=password,
                    starttls=args.smtp_starttls,
                    timeout=timeout,
                )
            elif channel == "Telegram":
                send_telegram(args.telegram_api, token or "", args.telegram_chat, text, timeout=timeout)
            else:
                send_webhook(args.webhook_url, webhook_body(template, title, text, doc), timeout=timeout)
            print(f"digest sent by {channel}")
        except DeliveryError as exc:
            failed += 1
            print(PREFIX + str(exc), file=sys.stderr)
    return 1 if failed else 0
