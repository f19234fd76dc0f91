"""``egov-exporter simulate``: realistic simulated provincial systems on loopback.

One HTTP server; each system lives under its own path prefix (``/portal/``, ``/lgsp/``, ``/documents/``,
``/services/``, ``/national/``).  Fault modes are switched per system at run time::

    curl -X POST 'http://127.0.0.1:9880/-/fault?system=services&mode=waf'
    curl 'http://127.0.0.1:9880/-/faults'

A system is a class with ``name`` and ``handle(request) -> Reply | None`` (None: 404), listed in
:data:`SYSTEMS` below; the shapes it serves follow ``shared/domain.md`` and the real payloads.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from exporter.simulator.faults import FAULT_MODES

if TYPE_CHECKING:
    from exporter.simulator.server import SimServer, Simulator
    from exporter.simulator.systems import system_classes
    from exporter.simulator.world import World

log = logging.getLogger("egov.simulator")

__all__ = ["FAULT_MODES", "SimServer", "Simulator", "World", "add_arguments", "run", "system_classes"]

#: the simulator's parts, imported when first used: the command line (``add_arguments``) is built by every
#: ``egov-exporter`` process, and a running exporter must not load the simulated systems
_PARTS = {
    "SimServer": "exporter.simulator.server",
    "Simulator": "exporter.simulator.server",
    "system_classes": "exporter.simulator.systems",
    "World": "exporter.simulator.world",
}


def __getattr__(name: str) -> Any:
    module = _PARTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--listen-address",
        dest="sim_listen",
        default="127.0.0.1:9880",
        metavar="ADDR",
        help="address to serve on; loopback only (default: 127.0.0.1:9880)",
    )
    p.add_argument(
        "--units", type=int, default=100, help="units (departments + communes) of the province (default: 100)"
    )
    p.add_argument("--seed", type=int, default=766, help="seed of the simulated figures (default: 766)")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second, to watch counters grow (default: 1)",
    )
    p.add_argument(
        "--provinces",
        type=int,
        default=0,
        metavar="N",
        help="serve N provinces (codes H01..HNN, each with --units units and its own seed) under /<code>/, "
        "e.g. /H07/services/, for nationwide tests (default: one province under /)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="[PROVINCE:]SYSTEM=MODE",
        help=f"start with a fault, e.g. services=waf (with --provinces: every province, or H07:services=waf "
        f"for one); modes: {', '.join(FAULT_MODES)}",
    )
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with certificates made at start-up by a throw-away CA (see --tls-dir); "
        "switch them with POST /-/tls?cert=good|expiring|expired|self_signed|wrong_host",
    )
    p.add_argument(
        "--tls-dir",
        dest="tls_dir",
        default=None,
        metavar="DIR",
        help="where --tls writes ca.pem and the certificates (default: a new temporary folder)",
    )


def run(args: argparse.Namespace) -> int:
    from exporter.server import parse_listen_address

    try:
        host, port = parse_listen_address(args.sim_listen)
    except ValueError as exc:
        print(
            f"egov-exporter: {str(exc).replace('--web.listen-address', '--listen-address')}", file=sys.stderr
        )
        return 1
    if args.units < 2 or args.units > 5000:
        print("egov-exporter: --units must be between 2 and 5000", file=sys.stderr)
        return 1
    if args.provinces:
        return _run_nation(args, host, port)
    from exporter.simulator.server import Simulator
    from exporter.simulator.world import World

    sim = Simulator(World(units=args.units, seed=args.seed, speed=args.speed))
    if args.tls:
        import tempfile

        try:
            ca_file = sim.enable_tls(args.tls_dir or tempfile.mkdtemp(prefix="egov-sim-tls-"))
        except (OSError, RuntimeError) as exc:
            print(f"egov-exporter: --tls: {exc}", file=sys.stderr)
            return 1
        print(f"simulator CA certificate (tls.ca_file of the targets): {ca_file}", flush=True)
    for item in args.fault:
        system, _, mode = item.partition("=")
        problem = sim.set_fault(system, mode)
        if problem:
            print(f"egov-exporter: --fault {item}: {problem}", file=sys.stderr)
            return 1
    try:
        base = sim.start(host if host != "0.0.0.0" else "127.0.0.1", port)
    except OSError as exc:
        print(f"egov-exporter: cannot listen on {args.sim_listen}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"simulator serving on {base}: " + ", ".join(f"{base}/{s}/" for s in sim.systems), flush=True)
    print(f"switch faults with: curl -X POST '{base}/-/fault?system=services&mode=waf'", flush=True)
    _wait_for_signal()
    sim.stop()
    return 0


def _wait_for_signal() -> None:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    stop.wait()


def _run_nation(args: argparse.Namespace, host: str, port: int) -> int:
    from exporter.simulator.nation import Nation

    if args.tls:
        print("egov-exporter: --tls is not available with --provinces", file=sys.stderr)
        return 1
    try:
        nation = Nation(args.provinces, units=args.units, seed=args.seed, speed=args.speed)
    except ValueError as exc:
        print(f"egov-exporter: {exc}", file=sys.stderr)
        return 1
    for item in args.fault:
        where, _, mode = item.partition("=")
        province, _, system = where.rpartition(":")
        problem = nation.set_fault(province or "all", system, mode)
        if problem:
            print(f"egov-exporter: --fault {item}: {problem}", file=sys.stderr)
            return 1
    try:
        base = nation.start(host if host != "0.0.0.0" else "127.0.0.1", port)
    except OSError as exc:
        print(f"egov-exporter: cannot listen on {args.sim_listen}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    codes = list(nation.provinces)
    print(
        f"simulator serving {len(codes)} provinces on {base}: {base}/{codes[0]}/ .. {base}/{codes[-1]}/ "
        f"(systems: {', '.join(nation.provinces[codes[0]].systems)})",
        flush=True,
    )
    print(
        f"switch faults with: curl -X POST '{base}/{codes[0]}/-/fault?system=services&mode=waf'", flush=True
    )
    _wait_for_signal()
    nation.stop()
    return 0
