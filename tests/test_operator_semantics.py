"""What operators rely on, with a real exporter process on loopback (issue: one-way core):

* a vendor profile is read again on every reload: an edited profile changes what is extracted, a deleted one
  is a clear reload error while the running configuration keeps polling;
* a target not polled yet is neither up nor down: a scrape made at once has no ``egov_target_up`` for it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from harness import ExporterProcess, parse_metrics, wait_for

pytestmark = pytest.mark.e2e

#: what the upstream statistics endpoint answers: one unit, two figures
ANSWER = {"content": [{"agency": {"code": "H99.1", "name": "Sở A"}, "online": 40, "direct": 2}]}

PROFILE = """
description: a test profile reading one unit's figures
sources:
  - name: stats
    request: {{path: stats}}
    metrics:
      - {{name: egov_services_dossiers_received_total, type: counter, path: "$.content[*]",
         value: "@.{field}", labels: {{unit: "@.agency.code", channel: online}}}}
"""


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture()
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _received(proc: ExporterProcess) -> float | None:
    for s in parse_metrics(proc.scrape()).get("egov_services_dossiers_received_total", []):
        if s.labels.get("unit") == "H99.1":
            return s.value
    return None


def _write_config(tmp: Path, url: str, profile: Path) -> Path:
    cfg = tmp / "config.yaml"
    target = {
        "name": "dvc",
        "kind": "services",
        "url": url,
        "profile_file": str(profile),
        "periods": ["month"],
        "interval": "1s",
    }
    cfg.write_text(
        yaml.safe_dump(
            {"history": {"enabled": False}, "scheduler": {"start_spread": "0s"}, "targets": [target]}
        ),
        encoding="utf-8",
    )
    return cfg


def test_an_edited_profile_is_read_again_on_reload_and_a_deleted_one_refused(tmp_path, upstream):
    profile = tmp_path / "dvc-profile.yaml"
    profile.write_text(PROFILE.format(field="online"), encoding="utf-8")
    proc = ExporterProcess.serve(_write_config(tmp_path, upstream, profile), tmp_path / "log")
    try:
        assert wait_for(lambda: _received(proc) == 40, 20, "the profile's first extraction")

        profile.write_text(PROFILE.format(field="direct"), encoding="utf-8")  # the same key, another field
        status, body = proc.get("/-/reload", method="POST")
        assert status == 200, body
        assert wait_for(lambda: _received(proc) == 2, 20, "the edited profile's extraction")

        profile.unlink()
        status, body = proc.get("/-/reload", method="POST")
        assert status == 400
        assert f"targets[0]: cannot read {profile}: No such file or directory" in body.decode()
        assert wait_for(
            lambda: "egov_exporter_config_last_reload_successful 0.0" in proc.scrape(), 10, "the reload gauge"
        )
        # the running configuration (with the profile as it was read) keeps polling
        polls = proc.targets().polls["dvc"]
        assert wait_for(lambda: proc.targets().polls["dvc"] > polls, 20, "polls after the refused reload")
        assert _received(proc) == 2 and proc.targets().state["dvc"] == "up"
        assert "Traceback" not in proc.output()
    finally:
        proc.stop()


def test_a_target_not_polled_yet_exports_no_up(tmp_path):
    """An upstream that accepts and never answers: the first scrape, made at once, shows the target in
    state unknown, with no egov_target_up (so no dip in availability, no alert after a restart)."""
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    cfg = tmp_path / "config.yaml"
    target = {
        "name": "hanging",
        "kind": "http",
        "system": "portal",
        "url": f"http://127.0.0.1:{hang.getsockname()[1]}/",
        "interval": "1m",
        "timeout": "30s",
    }
    cfg.write_text(
        yaml.safe_dump(
            {"history": {"enabled": False}, "scheduler": {"start_spread": "0s"}, "targets": [target]}
        ),
        encoding="utf-8",
    )
    proc = ExporterProcess.serve(cfg, tmp_path / "log")
    try:
        started = time.monotonic()
        view = proc.targets()
        assert time.monotonic() - started < 30  # well inside the poll's timeout: it has not ended yet
        assert view.state == {"hanging": "unknown"}
        assert "egov_target_up" not in view.metrics
        assert "egov_target_up{" not in proc.scrape()
    finally:
        proc.stop()
        hang.close()
