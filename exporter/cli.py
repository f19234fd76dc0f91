"""Command line: ``egov-exporter [run] | check-config | probe | simulate | demo | snapshot | digest``.

``main(argv) -> int`` is both the console script and ``python -m exporter``.  A user's mistake gives one
clear line per problem on stderr and exit code 1 (2 for bad flags), never a traceback."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from exporter import __version__

DEFAULT_LISTEN = ":9877"
DEFAULT_CONFIG = "config.yaml"
log = logging.getLogger("egov")


class _LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().replace('"', "'")
        return (
            f"ts={self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} level={record.levelname.lower()} "
            f'logger={record.name} msg="{msg}"'
        )


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def _kinds_epilog() -> str:
    from exporter.registry import load_kinds

    lines = ["collector kinds (the targets[].kind key):"]
    lines += [f"  {name:10} {cls.summary}" for name, cls in sorted(load_kinds().items())]
    return "\n".join(lines)


def _add_run_flags(p: Any, listen_default: str = DEFAULT_LISTEN) -> None:
    p.add_argument(
        "--config.file",
        dest="config_file",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"configuration file (default: {DEFAULT_CONFIG})",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen",
        default=listen_default,
        metavar="ADDR",
        help=f"address to serve /metrics on, [host]:port (default: {listen_default})",
    )
    p.add_argument(
        "--web.external-url",
        dest="external_url",
        default="",
        metavar="URL",
        help="the URL users reach the exporter at, e.g. behind a reverse proxy "
        "https://mon.example.gov.vn/egov/ (the landing page's links use its path; default: served at /)",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config",
        default=None,
        metavar="FILE",
        help="TLS and basic-auth settings in the exporter-toolkit format",
    )
    p.add_argument(
        "--web.enable-lifecycle",
        dest="lifecycle",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="serve POST /-/reload (default: on)",
    )
    p.add_argument(
        "--web.enable-probe",
        dest="probe",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="serve /probe?target=NAME for configured targets (default: on)",
    )
    p.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="poll only the targets of shard I of N (stable hash of the target name)",
    )
    p.add_argument(
        "--log.level",
        dest="log_level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: info)",
    )


#: the commands; anything else on the command line is a flag of ``run``, the default
COMMANDS = ("run", "check-config", "probe", "simulate", "demo", "snapshot", "digest")


class _TopParser(argparse.ArgumentParser):
    """The top-level parser, whose epilog (every collector kind with its summary) is written when the help
    is shown: listing the kinds imports every kind, which running the exporter must not do.  (The commands'
    parsers are of this class too, made by ``add_parser``; they list no kinds.)"""

    def __init__(self, *args: Any, list_kinds: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.list_kinds = list_kinds

    def format_help(self) -> str:
        if self.list_kinds and self.epilog is None:
            self.epilog = _kinds_epilog()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line; ``parser.commands`` maps each command to its own parser.
    Building it imports no collector kind, no simulator and no engine (every process builds it)."""
    parser = _TopParser(
        prog="egov-exporter",
        description="Prometheus exporter for a province's e-government systems (web portal, LGSP, document "
        "management, public-service portal) and the national Decision 766 evaluation API. "
        "Without a command it runs the exporter.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        list_kinds=True,
    )
    parser.add_argument("--version", action="version", version=f"egov-exporter {__version__}")
    # run's flags, shown by the top-level --help too (without a command, the command line is run's)
    _add_run_flags(parser.add_argument_group("flags of run (the default command)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the exporter (the default command)")
    _add_run_flags(run)

    check = sub.add_parser("check-config", help="validate a configuration file and exit (0 valid, 1 not)")
    check.add_argument("--config.file", dest="config_file", default=DEFAULT_CONFIG, metavar="FILE")

    from exporter.probe import add_arguments as probe_args

    probe = sub.add_parser(
        "probe", help="poll one target once and print what was fetched and extracted (no server)"
    )
    probe_args(probe)

    from exporter.simulator import add_arguments as sim_args

    sim = sub.add_parser(
        "simulate", help="serve simulated provincial systems and the national 766 API on loopback"
    )
    sim_args(sim)
    sim.add_argument(
        "--log.level", dest="log_level", default="info", choices=["debug", "info", "warning", "error"]
    )

    demo = sub.add_parser(
        "demo", help="start the simulator and the exporter together with the demo configuration"
    )
    demo.add_argument(
        "--web.listen-address",
        dest="listen",
        default="127.0.0.1:9877",
        metavar="ADDR",
        help="address of the exporter (default: 127.0.0.1:9877)",
    )
    demo.add_argument(
        "--simulator.listen-address",
        dest="sim_listen",
        default="127.0.0.1:9880",
        metavar="ADDR",
        help="address of the simulator (default: 127.0.0.1:9880)",
    )
    demo.add_argument(
        "--log.level", dest="log_level", default="info", choices=["debug", "info", "warning", "error"]
    )

    try:
        from exporter.snapshot.cli import add_arguments as snap_args
    except ImportError:
        snap_args = None
    if snap_args is not None:
        snap = sub.add_parser(
            "snapshot", help="write a quarterly (monthly, yearly) snapshot of every indicator"
        )
        snap_args(snap)
    from exporter.digest.cli import add_arguments as digest_args

    digest = sub.add_parser(
        "digest",
        help="the weekly digest (766 rank, units below thresholds, availability, alerts): print or send",
    )
    digest_args(digest)
    parser.commands = {  # type: ignore[attr-defined]
        name: p
        for name, p in (
            ("run", run),
            ("check-config", check),
            ("probe", probe),
            ("simulate", sim),
            ("demo", demo),
            ("digest", digest),
        )
    }
    if snap_args is not None:
        parser.commands["snapshot"] = snap  # type: ignore[attr-defined]
    return parser


def _error(message: str) -> int:
    print(f"egov-exporter: {message}", file=sys.stderr)
    return 1


def cmd_check_config(args: argparse.Namespace) -> int:
    from exporter.config import ConfigError, load_config
    from exporter.fetch import SessionPool
    from exporter.registry import load_kinds, scoring_check
    from exporter.scheduler import build_collectors

    kinds = load_kinds()
    try:
        config = load_config(args.config_file, kinds=kinds, check_scoring=scoring_check())
        # as the exporter will: every collector built, reading its vendor profile (nothing is fetched)
        for _client, collector in build_collectors(config, kinds, SessionPool()).values():
            collector.close()
    except ConfigError as exc:
        for line in exc.messages:
            print(
                line if line.startswith(args.config_file) else f"{args.config_file}: {line}", file=sys.stderr
            )
        return 1
    kinds: dict[str, int] = {}
    for t in config.targets:
        kinds[t.kind] = kinds.get(t.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no targets"
    print(f"{args.config_file}: valid ({len(config.targets)} targets: {summary})")
    return 0


def serve(
    config_file: str,
    listen: str,
    *,
    web_config: str | None = None,
    lifecycle: bool = True,
    probe: bool = True,
    shard: str | None = None,
    external_url: str = "",
    ready: Callable[[str], None] | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Run the exporter until SIGTERM/SIGINT (or ``stop_event``); SIGHUP reloads the configuration."""
    from exporter.app import App
    from exporter.config import ConfigError
    from exporter.registry import load_kinds, scoring_check
    from exporter.server import Server, check_external_url, parse_listen_address
    from exporter.shard import parse_shard
    from exporter.webconfig import load_web_config

    try:
        address = parse_listen_address(listen)
        shard_t = parse_shard(shard) if shard else None
        check_external_url(external_url)
    except ValueError as exc:
        return _error(str(exc))
    try:
        web = load_web_config(web_config) if web_config else None
    except ConfigError as exc:
        for line in exc.messages:
            print(line, file=sys.stderr)
        return 1
    app = App(config_file, kinds=load_kinds(), check_scoring=scoring_check(), shard=shard_t)
    try:
        app.load()
    except ConfigError as exc:
        for line in exc.messages:
            print(line if line.startswith(config_file) else f"{config_file}: {line}", file=sys.stderr)
        return 1
    _attach_extensions(app)
    try:
        server = Server(
            address, app, web, enable_lifecycle=lifecycle, enable_probe=probe, external_url=external_url
        )
    except OSError as exc:
        return _error(f"cannot listen on {listen}: {exc.strerror or exc}")
    # Tuned for serving while 100s of threads poll: what start-up allocated (modules, the configuration's
    # models) lives as long as the process, so it is kept out of the garbage collector's full passes, which
    # stop every thread (a scrape's too) for tens of ms, and those passes are made rarer; and the GIL changes
    # hands after 1 ms instead of 5, so the /metrics thread does not wait behind a render or a burst of polls.
    gc.collect()
    gc.freeze()
    thresholds, switch_interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(thresholds[0], thresholds[1], 100)
    sys.setswitchinterval(0.001)
    app.start()
    stop = stop_event or threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if signum == signal.SIGHUP:
            threading.Thread(target=_reload_quietly, args=(app,), daemon=True).start()
        else:
            stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)
    server.serve_in_thread()
    host, port = server.server_address[:2]
    where = f"{'https' if server.web.tls_server_config else 'http'}://{host}:{port}"
    log.info("listening on %s (metrics at %s/metrics)", where, where)
    if ready:
        ready(where)
    # wake up now and then: the kernel may deliver SIGHUP/SIGTERM to any of our threads, and Python runs
    # the handler only when the main thread runs, so an endless wait could hold a reload back for ever
    while not stop.wait(0.5):
        pass
    log.info("shutting down")
    server.shutdown()
    server.server_close()
    app.stop()
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(switch_interval)
    return 0


def _reload_quietly(app: Any) -> None:
    from exporter.config import ConfigError

    try:
        app.load()
    except ConfigError:
        pass  # logged by App.load; the last good configuration keeps running


def _attach_extensions(app: Any) -> None:
    """Parts that read the results: the indicator engine (when the configuration has scorecards) and the
    history writer (when ``history.enabled``), each imported and attached when a configuration first asks
    for it, on start-up or on a reload; an exporter that only polls loads neither (nor SQLite).  Once
    attached, a part stays and follows later configurations (a reload that turns history off stops it)."""
    attached: set[str] = set()
    parts = (
        ("exporter.scoring.live", lambda config: bool(config.scoring.scorecards)),
        ("exporter.history", lambda config: config.history.enabled),
    )

    def attach_needed(config: Any) -> None:
        for module, wanted in parts:
            if module in attached or not wanted(config):
                continue
            attached.add(module)
            try:
                attach = importlib.import_module(module).attach
            except ImportError:  # an installation without that part
                continue
            attach(app)

    if app.config is not None:
        attach_needed(app.config)
    app.on_config.append(attach_needed)


def cmd_demo(args: argparse.Namespace) -> int:
    from exporter.demo import run_demo

    return run_demo(args.listen, args.sim_listen, serve)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["run", *argv]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    setup_logging(getattr(args, "log_level", "info"))
    try:
        if args.command == "check-config":
            return cmd_check_config(args)
        if args.command == "probe":
            from exporter.probe import run as run_probe

            return run_probe(args)
        if args.command == "simulate":
            from exporter.simulator import run as run_simulator

            return run_simulator(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "snapshot":
            from exporter.snapshot.cli import run as run_snapshot

            return run_snapshot(args)
        if args.command == "digest":
            from exporter.digest.cli import run as run_digest

            return run_digest(args)
        return serve(
            args.config_file,
            args.listen,
            web_config=args.web_config,
            lifecycle=args.lifecycle,
            probe=args.probe,
            shard=args.shard,
            external_url=args.external_url,
        )
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
