"""Three exporter processes with ``--shard 1/3`` .. ``3/3`` on one configuration of 30 targets: every target is
polled by exactly one of them (its ``egov_target_polls_total`` is in exactly one /metrics), the one that
``exporter.shard.shard_of`` names, and the upstream sees each target's URL from one process only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.shard import shard_of

ROOT = Path(__file__).resolve().parent.parent
N_TARGETS = 30
SHARDS = 3
pytestmark = pytest.mark.e2e


class _Upstream(BaseHTTPRequestHandler):
    """Answers every GET with a small JSON document; counts the requests per path."""

    hits: Counter = Counter()
    lock = threading.Lock()

    def do_GET(self) -> None:
        body = json.dumps({"status": "ok"}).encode()
        with self.lock:
            self.hits[self.path] += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def polled_targets(metrics: str) -> set[str]:
    return {
        s.labels["target"]
        for fam in text_string_to_metric_families(metrics)
        for s in fam.samples
        if s.name == "egov_target_polls_total" and s.value >= 1
    }


@pytest.fixture()
def upstream():
    _Upstream.hits.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_every_target_polled_by_exactly_one_shard(tmp_path, upstream):
    port = upstream.server_address[1]
    names = [f"unit-{i:02d}" for i in range(N_TARGETS)]
    lines = [
        "scheduler: {start_spread: 0s}",
        "history: {enabled: false}",
        "scoring: {scorecards: []}",
        "defaults: {interval: 1h, timeout: 5s, retries: 0}",
        "targets:",
    ]
    for name in names:
        lines.append(
            f"  - {{name: {name}, kind: http, system: portal, url: 'http://127.0.0.1:{port}/{name}', "
            f'body_must_match: [\'"status": "ok"\']}}'
        )
    config = tmp_path / "config.yml"
    config.write_text("\n".join(lines) + "\n")

    procs: list[tuple[str, subprocess.Popen]] = []
    try:
        for i in range(1, SHARDS + 1):
            address = f"127.0.0.1:{free_port()}"
            log = open(tmp_path / f"shard-{i}.log", "wb")
            popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "exporter",
                    "--config.file",
                    str(config),
                    "--web.listen-address",
                    address,
                    "--shard",
                    f"{i}/{SHARDS}",
                    "--log.level",
                    "warning",
                ],
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            log.close()
            procs.append((address, popen))

        # ready = every target of the instance's shard has been polled once (bounded wait)
        deadline = time.monotonic() + 60
        pending = {address for address, _ in procs}
        while pending and time.monotonic() < deadline:
            for i, (address, popen) in enumerate(procs, start=1):
                assert popen.poll() is None, (tmp_path / f"shard-{i}.log").read_text()
                if address in pending and get(f"http://{address}/-/ready")[0] == 200:
                    pending.discard(address)
            time.sleep(0.2)
        assert not pending, f"instances not ready within 60 s: {sorted(pending)}"

        polled = {}
        for i, (address, _) in enumerate(procs, start=1):
            status, text = get(f"http://{address}/metrics")
            assert status == 200
            polled[i] = polled_targets(text)
            assert polled[i], f"shard {i}/{SHARDS} polled nothing"
    finally:
        for _, popen in procs:
            popen.terminate()
        for _, popen in procs:
            try:
                popen.wait(10)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(5)

    owners = Counter(t for targets in polled.values() for t in targets)
    assert set(owners) == set(names), f"not polled by any instance: {sorted(set(names) - set(owners))}"
    assert [t for t, n in owners.items() if n > 1] == [], "polled by more than one instance"
    for i, targets in polled.items():
        assert targets == {n for n in names if shard_of(n, SHARDS) == i}  # the stable hash decides
    assert _Upstream.hits == Counter({f"/{n}": 1 for n in names})  # the upstream saw each target once
