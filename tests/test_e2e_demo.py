"""End to end: the simulator and the exporter as real processes on loopback, with the shipped config.

The shipped ``config.yaml`` is used as is, except that intervals and timeouts are shortened so that the
test runs in seconds.  Checks: every target of every system comes up, ``promtool check metrics`` is clean,
and switching one simulated system into a fault mode turns only that system's targets down, with the
reason the mode implies, while the other systems stay up; recovery is automatic.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = ("portal", "lgsp", "documents", "services", "national")
pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, data: bytes | None = None, timeout: float = 5.0) -> str:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read().decode("utf-8")


def wait_for(predicate, timeout: float, what: str, step: float = 0.25):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = predicate()
        except OSError:
            last = None
        if last:
            return last
        time.sleep(step)
    not_up = {k: v for k, v in LAST_STATES.items() if v[1] != "up"}
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; not up: {not_up}")


def scrape(base: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(fetch(base + "/metrics")):
        for s in fam.samples:
            out.setdefault(s.name, []).append(s)
    return out


def states(base: str) -> dict[str, tuple[str, str, float]]:
    """target -> (system, state, up)"""
    m = scrape(base)
    up = {s.labels["target"]: s.value for s in m.get("egov_target_up", [])}
    out = {}
    for s in m.get("egov_target_state", []):
        if s.value == 1:
            out[s.labels["target"]] = (s.labels["system"], s.labels["state"], up.get(s.labels["target"]))
    return out


def failures(base: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["target"], s.labels["reason"]): s.value
        for s in scrape(base).get("egov_target_failures_total", [])
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    cfg["scheduler"]["start_spread"] = "1s"
    cfg["scheduler"]["max_backoff"] = "3s"  # blocked targets retry quickly in this test
    cfg["defaults"].update(interval="2s", timeout="1500ms", retries=0)
    for t in cfg["targets"]:
        t["interval"], t["timeout"] = "2s", "1500ms"
        t.pop("degraded_after", None)
    if "history" in cfg:
        cfg["history"]["path"] = str(tmp / "history.sqlite")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    sim_port, exp_port = free_port(), free_port()
    env = {**os.environ, "EGOV_SIM_URL": f"http://127.0.0.1:{sim_port}", "PYTHONUNBUFFERED": "1"}
    logs = tmp / "logs"
    logs.mkdir()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                "simulate",
                "--listen-address",
                f"127.0.0.1:{sim_port}",
                "--speed",
                "60",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "sim.out", "w"),
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                "--config.file",
                str(config),
                "--web.listen-address",
                f"127.0.0.1:{exp_port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "exporter.out", "w"),
            stderr=subprocess.STDOUT,
        ),
    ]
    sim, base = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{exp_port}"
    try:
        wait_for(
            lambda: fetch(sim + "/-/healthy") and fetch(base + "/-/healthy"), 30, "both processes to listen"
        )
        yield {"sim": sim, "base": base, "targets": cfg["targets"], "logs": logs}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


LAST_STATES: dict = {}


def all_up(base: str) -> dict:
    st = states(base)
    LAST_STATES.clear()
    LAST_STATES.update(st)
    return st if st and all(v[1] == "up" for v in st.values()) else {}


def test_every_system_comes_up_and_metrics_lint_clean(stack):
    st = wait_for(lambda: all_up(stack["base"]), 90, "every target up")
    assert {v[0] for v in st.values()} == set(SYSTEMS)
    assert set(st) == {t["name"] for t in stack["targets"]}
    assert all(v[2] == 1.0 for v in st.values())
    assert fetch(stack["base"] + "/-/ready").startswith("Ready")
    promtool = shutil.which("promtool")
    assert promtool, (
        "promtool not found: install Debian's prometheus package (the README's test command does)"
    )
    body = fetch(stack["base"] + "/metrics")
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=body.encode(), capture_output=True, timeout=60
    )
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), (
        lint.stdout + lint.stderr
    ).decode()[:3000]


# (mode, the reason every target of the faulted system must show)
TRANSPORT_FAULTS = [
    ("5xx", "http_status"),
    ("429", "blocked"),
    ("waf", "blocked"),
    ("hang", "timeout"),
    ("redirect_loop", "http_status"),
    ("huge", "parse"),
]


@pytest.mark.parametrize("rotation", range(len(SYSTEMS)))
def test_a_fault_downs_only_its_system_with_the_right_reason(stack, rotation):
    """Each round faults one system with a different mode; every system meets several modes overall."""
    base, sim = stack["base"], stack["sim"]
    wait_for(lambda: all_up(base), 90, "every target up before the fault")
    system = SYSTEMS[rotation]
    mode, reason = TRANSPORT_FAULTS[rotation % len(TRANSPORT_FAULTS)]
    before = failures(base)
    extra = "&size=20000000" if mode == "huge" else ""
    fetch(f"{sim}/-/fault?system={system}&mode={mode}{extra}", data=b"")
    try:

        def system_down():
            st = states(base)
            mine = [v for v in st.values() if v[0] == system]
            return st if mine and all(v[1] == "down" for v in mine) else None

        st = wait_for(system_down, 60, f"{system} targets down under {mode}")
        mine = {n: v for n, v in st.items() if v[0] == system}
        others = {n: v for n, v in st.items() if v[0] != system}
        assert mine and all(v[1] == "down" and v[2] == 0.0 for v in mine.values()), mine
        assert all(v[1] == "up" for v in others.values()), (
            f"other systems affected by {system}={mode}: {others}"
        )
        after = failures(base)
        for name in mine:
            assert after[(name, reason)] > before.get((name, reason), 0), (
                f"{name}: expected reason {reason} under {mode}, failures now "
                f"{ {r: v for (n, r), v in after.items() if n == name and v} }"
            )
    finally:
        fetch(f"{sim}/-/fault?system={system}&mode=none", data=b"")
    wait_for(lambda: all_up(base), 90, f"recovery of {system} after {mode}")


def test_probe_and_landing_page(stack):
    base = stack["base"]
    wait_for(lambda: all_up(base), 90, "every target up")
    name = stack["targets"][0]["name"]
    text = fetch(f"{base}/probe?target={name}")
    assert f"target {name}" in text and "fetched GET" in text
    with pytest.raises(urllib.error.HTTPError) as err:
        fetch(f"{base}/probe?target=http://example.com/")
    assert err.value.code == 400
    page = fetch(base + "/")
    for t in stack["targets"]:
        assert f">{t['name']}<" in page


def test_the_demo_speaks_the_real_shapes(stack):
    """The shipped configuration against the simulator: the national ranking of all 34 provinces, and the
    public-service figures read with the igate profile (the reports it asks answered; its online report is
    turned off there, the public table giving those counts)."""
    base = stack["base"]
    wait_for(lambda: all_up(base), 90, "every target up")
    m = scrape(base)
    provinces = {s.labels["province"] for s in m["egov_qd766_province_score"] if s.labels["group"] == "total"}
    assert len(provinces) == 34 and "H99" in provinces
    ranks = sorted(s.value for s in m["egov_qd766_province_rank"] if s.labels["period"] == "month")
    assert ranks == list(range(1, 35))
    sources = {
        s.labels["source"]: s.value
        for s in m["egov_services_source_up"]
        if s.labels["target"] == "services-api"
    }
    assert sources == {"dossier-statistic": 1.0, "digitization": 1.0}
    igate = {
        s.labels["channel"]
        for s in m["egov_services_dossiers_received_total"]
        if s.labels["target"] == "services-api"
    }
    assert igate == {"online", "direct"}
