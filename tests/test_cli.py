"""Command line: help lists the kinds, --version, check-config on the shipped configuration, one-line
errors for bad flags, and a full run of the exporter through ``serve``."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from exporter import __version__
from exporter.cli import build_parser, main, serve
from exporter.registry import load_kinds

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).parent / "fixtures" / "config"
MINIMAL = str(CONFIG / "valid-minimal.yml")


def test_help_lists_every_collector_kind(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "collector kinds (the targets[].kind key):" in out
    for name, cls in load_kinds().items():
        assert f"  {name:10} {cls.summary}" in out
    for flag in ("--version", "check-config", "simulate", "demo"):
        assert flag in out


def test_run_help_shows_prometheus_style_flags(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in (
        "--config.file",
        "--web.listen-address",
        "--web.config.file",
        "--web.external-url",
        "--web.enable-lifecycle",
        "--no-web.enable-probe",
        "--shard",
    ):
        assert flag in out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"egov-exporter {__version__}"


def test_python_m_exporter_version():
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"egov-exporter {__version__}"


def test_check_config_on_shipped_config(capsys):
    shipped = ROOT / "config.yaml"
    assert shipped.is_file(), "the shipped config.yaml is missing"
    assert main(["check-config", "--config.file", str(shipped)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{shipped}: valid (") and "Traceback" not in err


def test_check_config_valid_fixture(capsys):
    assert main(["check-config", "--config.file", MINIMAL]) == 0
    assert capsys.readouterr().out.strip() == f"{MINIMAL}: valid (1 targets: 1 http)"


@pytest.mark.parametrize(
    "flags,message",
    [
        (
            ["--web.listen-address", "nonsense"],
            "egov-exporter: --web.listen-address must be [host]:port, got 'nonsense'",
        ),
        (
            ["--web.listen-address", ":70000"],
            "egov-exporter: --web.listen-address must be [host]:port, got ':70000'",
        ),
        (["--shard", "4/3"], "egov-exporter: --shard must be i/n with 1 <= i <= n, like 2/3, got '4/3'"),
        (
            ["--web.external-url", "mon.example.gov.vn/egov"],
            "egov-exporter: --web.external-url must be an http:// or https:// URL, got "
            "'mon.example.gov.vn/egov'",
        ),
    ],
)
def test_bad_flag_values_give_one_line(capsys, flags, message):
    assert main(["--config.file", MINIMAL, *flags]) == 1
    assert capsys.readouterr().err.splitlines() == [message]


def test_unknown_flag_is_usage_error(capsys):
    assert main(["--config.fiel", MINIMAL]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --config.fiel" in err and "Traceback" not in err


def test_run_with_invalid_config_exits_1(capsys):
    path = str(CONFIG / "invalid-duration.yml")
    assert main(["--config.file", path, "--web.listen-address", "127.0.0.1:0"]) == 1
    err = capsys.readouterr().err
    assert f'{path}: targets[0].interval: must be a duration like 30s or 5m, got "fast"' in err.splitlines()
    assert "Traceback" not in err


def test_address_in_use_is_one_clear_line(capsys):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        assert main(["--config.file", MINIMAL, "--web.listen-address", f"127.0.0.1:{port}"]) == 1
    finally:
        busy.close()
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"egov-exporter: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in err


def test_serve_runs_until_stopped(tmp_path):
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        "scheduler:\n  start_spread: 0s\ntargets:\n"
        "  - {name: nowhere, kind: http, system: portal, url: 'http://127.0.0.1:9/', retries: 0}\n"
    )
    where: list[str] = []
    ready = threading.Event()
    stop = threading.Event()
    codes: list[int] = []

    def on_ready(url: str) -> None:
        where.append(url)
        ready.set()

    args = build_parser().parse_args(
        [
            "run",
            "--config.file",
            str(cfg),
            "--web.listen-address",
            "127.0.0.1:0",
            "--no-web.enable-probe",
            "--no-web.enable-lifecycle",
        ]
    )
    assert (args.probe, args.lifecycle) == (False, False)
    thread = threading.Thread(
        target=lambda: codes.append(
            serve(
                args.config_file,
                args.listen,
                probe=args.probe,
                lifecycle=args.lifecycle,
                ready=on_ready,
                stop_event=stop,
            )
        ),
        daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(10), "the exporter did not start"
        assert where[0].startswith("http://127.0.0.1:")
        session = requests.Session()
        session.trust_env = False
        assert session.get(where[0] + "/-/healthy", timeout=5).status_code == 200
        assert "egov_exporter_build_info" in session.get(where[0] + "/metrics", timeout=5).text
        assert session.get(where[0] + "/probe?target=nowhere", timeout=5).status_code == 403
        assert session.post(where[0] + "/-/reload", timeout=5).status_code == 403
    finally:
        stop.set()
        thread.join(10)
    assert codes == [0]
