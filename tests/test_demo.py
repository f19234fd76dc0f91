"""``egov-exporter demo``: the demo configuration is the shipped config.yaml plus its demo-only HTTPS target,
and the demo, run as a user runs it, serves certificate expiry for that target."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from harness import free_port
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def test_demo_config_is_the_shipped_one_plus_the_https_portal():
    from exporter.demo import demo_config_text

    shipped = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    demo = yaml.safe_load(demo_config_text())
    extra = [t for t in demo["targets"] if t["name"] == "portal-https"]
    assert len(extra) == 1 and extra[0]["url"].startswith("${EGOV_SIM_TLS_URL")
    assert {**demo, "targets": [t for t in demo["targets"] if t["name"] != "portal-https"]} == shipped


def test_demo_serves_a_tls_target_with_its_certificate_expiry(tmp_path):
    port, sim_port = free_port(), free_port()
    env = {**os.environ, "EGOV_SIM_SPEED": "60"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "demo",
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--simulator.listen-address",
            f"127.0.0.1:{sim_port}",
            "--log.level",
            "warning",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        got: dict = {}
        end = time.monotonic() + 60
        while time.monotonic() < end and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                    text = resp.read().decode()
            except OSError:
                time.sleep(0.5)
                continue
            got = {
                (s.name, s.labels.get("target")): s.value
                for fam in text_string_to_metric_families(text)
                for s in fam.samples
                if s.labels.get("target") == "portal-https"
            }
            if ("egov_target_up", "portal-https") in got:
                break
            time.sleep(0.5)
        assert got.get(("egov_target_up", "portal-https")) == 1, got
        expiry = got[("egov_target_tls_cert_expiry_timestamp_seconds", "portal-https")]
        assert expiry > time.time() + 30 * 86400  # the simulator's good certificate, months ahead
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
