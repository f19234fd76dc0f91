"""``egov-exporter demo``: the simulator and the exporter together, with the shipped configuration."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from exporter.simulator import Simulator, World

DEMO_CONFIG = Path(__file__).with_name("demo") / "config.yaml"
#: added to the shipped configuration for the demo only: the simulated portal over HTTPS (served with a
#: throw-away CA's certificate), so that certificate expiry, its panel and its alerts have data
HTTPS_TARGET = """
  # ------------------------------------------------------- added by egov-exporter demo (not in config.yaml)
  - name: portal-https
    kind: http
    system: portal
    url: ${EGOV_SIM_TLS_URL}/portal/
    interval: 1m
    body_must_match: ["Cổng thông tin điện tử"]
    tls:
      ca_file: ${EGOV_SIM_CA_FILE}
"""


def demo_config_text() -> str:
    """The demo's configuration: the shipped config.yaml (whose targets list ends the file) and the HTTPS
    portal."""
    return DEMO_CONFIG.read_text(encoding="utf-8").rstrip() + "\n" + HTTPS_TARGET


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
    # the same province's portal over HTTPS too (certificates of a throw-away CA), so that certificate
    # expiry (egov_target_tls_cert_expiry_timestamp_seconds, its panel and alerts) has data in the demo
    tls_sim = Simulator(sim.world)
    tls_dir = tempfile.mkdtemp(prefix="egov-demo-tls-")
    try:
        os.environ["EGOV_SIM_CA_FILE"] = tls_sim.enable_tls(tls_dir)
        os.environ["EGOV_SIM_TLS_URL"] = tls_sim.start(sim_host if sim_host != "0.0.0.0" else "127.0.0.1", 0)
    except (OSError, RuntimeError) as exc:
        sim.stop()
        print(f"egov-exporter: cannot start the simulator's HTTPS server: {exc}", file=sys.stderr)
        return 1

    def ready(where: str) -> None:
        print(
            f"""
egov-exporter demo is running (Ctrl-C to stop)
  simulated province : {sim_url}/  ({len(sim.world.units)} units, time runs x{sim.world.speed:g})
                       and its portal over HTTPS: {os.environ["EGOV_SIM_TLS_URL"]}/portal/
  landing page       : {where}/
  metrics            : {where}/metrics
  probe one target   : {where}/probe?target=portal-home
  switch a fault     : curl -X POST '{sim_url}/-/fault?system=services&mode=waf'
                       (modes: slow hang 5xx 503 429 waf forbidden malformed huge redirect_loop trickle ...;
                        mode=none to recover)
""",
            flush=True,
        )

    config = Path(tls_dir) / "demo-config.yaml"
    config.write_text(demo_config_text(), encoding="utf-8")
    try:
        return serve(str(config), listen, ready=ready)
    finally:
        tls_sim.stop()
        sim.stop()
        shutil.rmtree(tls_dir, ignore_errors=True)
