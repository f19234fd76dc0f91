"""``egov-exporter demo``: the simulator and the exporter together, with the shipped configuration."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from exporter.simulator import Simulator, World

DEMO_CONFIG = Path(__file__).with_name("demo") / "config.yaml"


def run_demo(listen: str, sim_listen: str, serve: Callable[..., int]) -> int:
    """Start the simulator, then ``serve`` (the CLI's exporter loop) with the demo configuration."""
    from exporter.server import parse_listen_address

    try:
        sim_host, sim_port = parse_listen_address(sim_listen)
        parse_listen_address(listen)
    except ValueError as exc:
        print(f"egov-exporter: {exc}", file=sys.stderr)
        return 1
    sim = Simulator(World(speed=float(os.environ.get("EGOV_SIM_SPEED", "60"))))
    try:
        sim_url = sim.start(sim_host if sim_host != "0.0.0.0" else "127.0.0.1", sim_port)
    except OSError as exc:
        print(
            f"egov-exporter: cannot start the simulator on {sim_listen}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    os.environ["EGOV_SIM_URL"] = sim_url

    def ready(where: str) -> None:
        print(
            f"""
egov-exporter demo is running (Ctrl-C to stop)
  simulated province : {sim_url}/  ({len(sim.world.units)} units, time runs x{sim.world.speed:g})
  landing page       : {where}/
  metrics            : {where}/metrics
  probe one target   : {where}/probe?target=portal-home
  switch a fault     : curl -X POST '{sim_url}/-/fault?system=services&mode=waf'
                       (modes: slow hang 5xx 503 429 waf forbidden malformed huge redirect_loop trickle ...;
                        mode=none to recover)
""",
            flush=True,
        )

    try:
        return serve(str(DEMO_CONFIG), listen, ready=ready)
    finally:
        sim.stop()
