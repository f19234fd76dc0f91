"""Alerts reach people: simulator -> exporter -> Prometheus (the shipped rules) -> a real Alertmanager
(Debian's prometheus-alertmanager) running the shipped deploy/alertmanager/alertmanager.yml and its
Vietnamese+English templates, with its e-mail, Telegram and webhook receivers pointed at loopback: a
local SMTP server, and a local HTTP receiver standing in for the webhook consumer and for Telegram's Bot API
(``api_url``).

What is shortened for the test, and only here: the targets' intervals (2s), Prometheus' scrape and
evaluation intervals (1s), every alert's ``for:`` (1s), Alertmanager's group_wait (4s: the three
public-service targets fail within it) and the nightly mute window (left out: the test may run at 01:00).

Checks:
* the public-service system failing (fault 5xx) makes EgovTargetDown arrive at the webhook, on Telegram and
  by e-mail: one message for the system listing its three targets, with labels, summary, description and
  dashboard link, the text bilingual; the latency from the fault to the webhook is measured;
* the LGSP failing under the exporter's maintenance window sends nothing; the document system failing
  under an Alertmanager silence (``amtool silence add``) sends nothing, though Prometheus fires it;
* a drop of the online-payment ratio against last week (EgovOnlinePaymentRatioDrop) on synthetic history
  (last week's recorded ratio backfilled with ``promtool tsdb create-blocks-from openmetrics``; this hour's
  counters served by a synthetic target) arrives at the tickets webhook and by e-mail.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from engines import (
    ALERTMANAGER,
    AMTOOL,
    PROMETHEUS,
    PROMTOOL,
    Procs,
    SmtpReceiver,
    WebhookReceiver,
    http_get,
    http_post,
    prom_query,
    require,
)
from harness import ROOT, free_port, wait_for
from nationwide import SIM_URL, rewrite

from exporter.simulator.world import World
from rules import build as rules_build

pytestmark = pytest.mark.e2e
AM_DIR = ROOT / "deploy" / "alertmanager"
UNITS = 10
TELEGRAM_OK = json.dumps(
    {"ok": True, "result": {"message_id": 1, "date": 1, "chat": {"id": -1001234567890, "type": "group"}}}
).encode()


# ------------------------------------------------------------------------------------------ configs


def exporter_config(sim: str) -> dict:
    """The shipped config.yaml polling every 2s, with a maintenance window over the LGSP active now."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    units = World(units=UNITS).by_code
    cfg["targets"] = [t for t in cfg["targets"] if (t.get("labels") or {}).get("unit", "H99") in units]
    cfg["scheduler"].update(start_spread="1s", max_backoff="2s")
    cfg["defaults"].update(interval="2s", timeout="1500ms", retries=0)
    for t in cfg["targets"]:
        t.update(interval="2s", timeout="1500ms")
        t.pop("degraded_after", None)
        if t.get("kind") == "qd766":
            t.update(pause="10ms", interval="10s", timeout="8s")
    fmt = "%Y-%m-%dT%H:%M:%S+00:00"
    now = time.time()
    cfg["maintenance"] = [
        {
            "name": "nang-cap-lgsp",
            "systems": ["lgsp"],
            "start": time.strftime(fmt, time.gmtime(now - 3600)),
            "end": time.strftime(fmt, time.gmtime(now + 3600)),
        }
    ]
    cfg["history"] = {"enabled": False}
    cfg["scoring"] = {"scorecards": []}
    return rewrite(cfg, SIM_URL, sim)


def alertmanager_config(out: Path, smtp_port: int, receiver: str) -> dict:
    """The shipped configuration, its receivers pointed at loopback (see the module's docstring)."""
    cfg = yaml.safe_load((AM_DIR / "alertmanager.yml").read_text(encoding="utf-8"))
    g = cfg["global"]
    g["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
    g["smtp_require_tls"] = False
    for key in ("smtp_auth_username", "smtp_auth_password_file"):
        g.pop(key)
    cfg["route"]["group_wait"] = "4s"
    cfg["route"]["group_interval"] = "30s"
    for route in cfg["route"]["routes"]:
        route.pop("mute_time_intervals", None)
    for r in cfg["receivers"]:
        for w in r.get("webhook_configs", []):
            w["url"] = receiver + urllib.parse.urlsplit(w["url"]).path
        for t in r.get("telegram_configs", []):
            t["api_url"] = receiver + "/telegram"
            t["bot_token"] = "123456:TEST"
    shutil.copytree(AM_DIR / "templates", out / "templates")
    return cfg


class SyntheticServices(BaseHTTPRequestHandler):
    """This hour of a public-service system whose online payments fell: counters of dossiers with a fee and
    paid online, growing 10 and 4 per second since start (a ratio of 0.4)."""

    started = time.time()

    def do_GET(self) -> None:
        n = time.time() - self.started
        labels = 'period="month",system="services",target="synthetic-services",unit="H99.100"'
        body = (
            "# TYPE egov_services_dossiers_with_fee_total counter\n"
            f"egov_services_dossiers_with_fee_total{{{labels}}} {int(10 * n)}\n"
            "# TYPE egov_services_dossiers_paid_online_total counter\n"
            f"egov_services_dossiers_paid_online_total{{{labels}}} {int(4 * n)}\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


def backfill_last_week(tmp: Path, tsdb: Path, instance: str) -> None:
    """Last week's recorded online-payment ratio (0.9) and hourly volume (100) of the synthetic target,
    around this time a week ago, written as TSDB blocks by promtool (how an operator backfills)."""
    labels = f'instance="{instance}",job="synthetic",system="services",target="synthetic-services"'
    week_ago = int(time.time()) - 7 * 86400
    lines = []
    for name, value in (
        ("target:egov_services_online_payment:ratio1h", 0.9),
        ("target:egov_services_dossiers_with_fee:increase1h", 100),
    ):
        lines += [f"{name}{{{labels}}} {value} {t}" for t in range(week_ago - 1800, week_ago + 1800, 30)]
    (tmp / "last-week.om").write_text("\n".join(lines) + "\n# EOF\n", encoding="utf-8")
    proc = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(tmp / "last-week.om"), str(tsdb)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -------------------------------------------------------------------------------------------- stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require(PROMETHEUS, PROMTOOL, ALERTMANAGER, AMTOOL)
    tmp = tmp_path_factory.mktemp("alerts")
    procs = Procs(tmp)
    receiver = WebhookReceiver({"/sendMessage": TELEGRAM_OK})
    smtp = SmtpReceiver()
    synthetic = ThreadingHTTPServer(("127.0.0.1", 0), SyntheticServices)
    threading.Thread(target=synthetic.serve_forever, daemon=True).start()
    s = type("Stack", (), {})()
    s.tmp, s.procs, s.receiver, s.smtp = tmp, procs, receiver, smtp
    try:
        sim_port, exp_port, prom_port, am_port = free_port(), free_port(), free_port(), free_port()
        s.sim, s.exporter = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{exp_port}"
        s.prom, s.am = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
        procs.exporter(
            "simulator", "simulate", "--listen-address", f"127.0.0.1:{sim_port}", "--units", str(UNITS)
        )
        procs.wait_http("simulator", s.sim + "/-/healthy", 30)
        s.config = exporter_config(s.sim)
        (tmp / "config.yaml").write_text(yaml.safe_dump(s.config, allow_unicode=True), encoding="utf-8")
        procs.exporter(
            "exporter",
            "--config.file",
            str(tmp / "config.yaml"),
            "--web.listen-address",
            f"127.0.0.1:{exp_port}",
            "--log.level",
            "warning",
        )

        am_dir = tmp / "alertmanager"
        am_dir.mkdir()
        am_cfg = alertmanager_config(am_dir, smtp.port, receiver.url)
        (am_dir / "alertmanager.yml").write_text(yaml.safe_dump(am_cfg, allow_unicode=True), encoding="utf-8")
        check = subprocess.run(
            [AMTOOL, "check-config", str(am_dir / "alertmanager.yml")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        procs.start(
            "alertmanager",
            [
                ALERTMANAGER,
                f"--config.file={am_dir / 'alertmanager.yml'}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
        )

        rules = tmp / "rules"
        (rules / "alerts").mkdir(parents=True)
        shutil.copytree(ROOT / "rules" / "recording", rules / "recording")
        for name, text in rules_build.render(rules_build.load_thresholds(), for_override="1s").items():
            (rules / "alerts" / name).write_text(text, encoding="utf-8")
        synthetic_instance = f"127.0.0.1:{synthetic.server_address[1]}"
        backfill_last_week(tmp, tmp / "tsdb", synthetic_instance)
        job = rules_build.load_thresholds().exporter_job
        prom_cfg = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules / "recording" / "*.yml"), str(rules / "alerts" / "*.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{exp_port}"]}]},
                {"job_name": "synthetic", "static_configs": [{"targets": [synthetic_instance]}]},
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom_cfg), encoding="utf-8")
        procs.start(
            "prometheus",
            [
                PROMETHEUS,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
        )
        procs.wait_http("exporter", s.exporter + "/-/ready", 60)
        procs.wait_http("alertmanager", s.am + "/-/ready", 30)
        procs.wait_http("prometheus", s.prom + "/-/ready", 60)
        wait_for(
            lambda: prom_query(s.prom, f'up{{job="{job}"}} == 1'), 30, "Prometheus to scrape the exporter"
        )
        yield s
    finally:
        procs.stop_all()
        synthetic.shutdown()
        synthetic.server_close()
        receiver.close()
        smtp.close()


def by_system(config: dict, system: str) -> set[str]:
    from exporter.registry import load_kinds

    kinds = load_kinds()
    return {
        t["name"] for t in config["targets"] if (t.get("system") or kinds[t["kind"]].default_system) == system
    }


def fault(s, system: str, mode: str) -> None:
    status, body = http_post(f"{s.sim}/-/fault?system={system}&mode={mode}")
    assert status == 200, body


def alertmanager_messages(s, path: str, alertname: str) -> list[dict]:
    return [m for m in s.receiver.messages(path) if m["body"]["groupLabels"].get("alertname") == alertname]


# -------------------------------------------------------------------------------------------- tests


def test_shipped_configuration_passes_amtool():
    require(AMTOOL)
    proc = subprocess.run(
        [AMTOOL, "check-config", str(AM_DIR / "alertmanager.yml")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = yaml.safe_load((AM_DIR / "alertmanager.yml").read_text(encoding="utf-8"))
    kinds = {k for r in cfg["receivers"] for k in r if k.endswith("_configs")}
    assert kinds == {"email_configs", "telegram_configs", "webhook_configs"}
    assert cfg["route"]["group_by"] == ["alertname", "province", "system"]


def test_every_alert_has_a_vietnamese_title():
    text = (AM_DIR / "templates" / "egov.tmpl").read_text(encoding="utf-8")
    titled = set(re.findall(r'eq \. "(Egov\w+)"', text))
    alerts = {
        r["alert"]
        for p in (ROOT / "rules" / "alerts").glob("*.yml")
        for g in yaml.safe_load(p.read_text(encoding="utf-8"))["groups"]
        for r in g["rules"]
    }
    assert alerts - titled == set(), "alerts without a Vietnamese title in egov.tmpl"


def test_a_fault_reaches_webhook_telegram_and_email_once_per_system(stack):
    s = stack
    services, lgsp, documents = (by_system(s.config, x) for x in ("services", "lgsp", "documents"))
    assert len(services) >= 3
    silence = subprocess.run(
        [
            AMTOOL,
            "silence",
            "add",
            f"--alertmanager.url={s.am}",
            "system=documents",
            "--duration=1h",
            "--author=test",
            "--comment=nâng cấp hệ thống QLVB (bảo trì có kế hoạch)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert silence.returncode == 0, silence.stderr
    faulted_at = time.time()
    for system in ("services", "lgsp", "documents"):
        fault(s, system, "5xx")
    try:
        wait_for(
            lambda: alertmanager_messages(s, "/alerts/on-call", "EgovTargetDown"),
            90,
            "EgovTargetDown at the webhook",
        )
        first = alertmanager_messages(s, "/alerts/on-call", "EgovTargetDown")[0]
        s.latency = round(first["at"] - faulted_at, 1)
        # Prometheus fires for documents too (no exporter maintenance there): Alertmanager holds it back
        wait_for(
            lambda: (
                {
                    a["labels"]["target"]
                    for a in json.loads(http_get(s.prom + "/api/v1/alerts")[1])["data"]["alerts"]
                    if a["labels"]["alertname"] == "EgovTargetDown" and a["state"] == "firing"
                }
                >= documents
            ),
            30,
            "Prometheus to fire EgovTargetDown for the document system",
        )
        time.sleep(6)  # one more group_wait: anything else that were to be sent is sent
    finally:
        for system in ("services", "lgsp", "documents"):
            fault(s, system, "none")

    body = first["body"]
    assert body["status"] == "firing" and body["receiver"] == "on-call"
    assert body["groupLabels"] == {"alertname": "EgovTargetDown", "province": "H99", "system": "services"}
    assert {a["labels"]["target"] for a in body["alerts"]} == services  # one message, every target
    for a in body["alerts"]:
        assert a["labels"]["severity"] == "critical" and a["labels"]["system"] == "services"
        assert a["annotations"]["summary"] == f"services target {a['labels']['target']} is down"
        assert a["annotations"]["description"].startswith(
            f"Polls of {a['labels']['target']} (services) have failed for"
        )
        assert (
            a["annotations"]["dashboard"]
            == f"http://localhost:3000/d/egov-overview?var-target={a['labels']['target']}"
        )
    down = [
        m["body"]
        for m in s.receiver.messages()
        if m["path"].startswith("/alerts/") and m["body"]["groupLabels"].get("alertname") == "EgovTargetDown"
    ]
    assert {b["groupLabels"]["system"] for b in down} == {
        "services"
    }  # LGSP: maintenance; documents: silenced
    assert len({b["groupKey"] for b in down}) == 1

    suppressed = json.loads(
        http_get(s.am + "/api/v2/alerts?silenced=true&filter=system%3D%22documents%22")[1]
    )
    assert {a["labels"]["target"] for a in suppressed if a["status"]["state"] == "suppressed"} == documents

    telegram = [m for m in s.receiver.messages() if m["path"] == "/telegram/bot123456:TEST/sendMessage"]
    text = next(m["body"]["text"] for m in telegram if "EgovTargetDown" in m["body"]["text"])
    assert str(telegram[0]["body"]["chat_id"]) == "-1001234567890"
    assert text.startswith("ĐANG XẢY RA · FIRING: Hệ thống không hoạt động / EgovTargetDown\n")
    assert (
        "Hệ thống / system: services\nTỉnh / province: H99\n" in text
        and "Mức độ / severity: nghiêm trọng / critical\n" in text
    )
    for target in services:
        assert f"• services target {target} is down\n  Mục tiêu / target: {target}\n" in text
        assert (
            f"Bảng điều khiển / dashboard: http://localhost:3000/d/egov-overview?var-target={target}" in text
        )

    mails = [email.message_from_bytes(m[2], policy=email.policy.default) for m in s.smtp.messages]
    page = next(
        m for m in mails if m["To"] == "truc-he-thong@example.vn" and "EgovTargetDown" in m["Subject"]
    )
    assert (
        page["Subject"]
        == f"[FIRING:{len(services)}] Hệ thống không hoạt động / EgovTargetDown · services · H99"
    )
    html = page.get_body(("html",)).get_content()
    (s.tmp / "on-call-mail.html").write_text(html, encoding="utf-8")  # to look at
    assert "<h2>ĐANG XẢY RA: Hệ thống không hoạt động</h2>" in html
    assert all(f'<a href="http://localhost:3000/d/egov-overview?var-target={t}">' in html for t in services)
    print(f"\nfault -> webhook: {s.latency} s (intervals 2s, for: 1s, group_wait 4s)\nTelegram:\n{text}")


def test_a_rate_drop_on_synthetic_history_reaches_the_tickets(stack):
    s = stack
    wait_for(
        lambda: alertmanager_messages(s, "/alerts/tickets", "EgovOnlinePaymentRatioDrop"),
        90,
        "EgovOnlinePaymentRatioDrop at the tickets webhook",
    )
    body = alertmanager_messages(s, "/alerts/tickets", "EgovOnlinePaymentRatioDrop")[0]["body"]
    (alert,) = body["alerts"]
    assert alert["labels"]["target"] == "synthetic-services" and alert["labels"]["severity"] == "warning"
    ratio = float(re.search(r"dropped to ([0-9.]+)%", alert["annotations"]["summary"]).group(1))
    assert 35 <= ratio <= 45  # 4 paid online of 10 with a fee, last week 90 %
    assert "more than 25 % below the same hour last week" in alert["annotations"]["description"]
    assert (
        alert["annotations"]["dashboard"]
        == "http://localhost:3000/d/egov-services?var-target=synthetic-services"
    )
    wait_for(
        lambda: any("EgovOnlinePaymentRatioDrop" in m[2].decode("utf-8", "replace") for m in s.smtp.messages),
        30,
        "the ticket e-mail",
    )
    mails = [email.message_from_bytes(m[2], policy=email.policy.default) for m in s.smtp.messages]
    ticket = next(m for m in mails if "EgovOnlinePaymentRatioDrop" in m["Subject"])
    assert ticket["To"] == "cntt@example.vn"
    assert (
        ticket["Subject"]
        == "[FIRING:1] Tỷ lệ thanh toán trực tuyến giảm mạnh / EgovOnlinePaymentRatioDrop · services"
    )


def test_digest_from_prometheus_lists_the_alerts_that_fired(stack):
    """``egov-exporter digest --prometheus-url``: the alerts of the week are Prometheus' ALERTS series."""
    from harness import run_cli

    wait_for(
        lambda: prom_query(stack.prom, 'ALERTS{alertname="EgovTargetDown", alertstate="firing"}'),
        30,
        "ALERTS in Prometheus",
    )
    proc = run_cli("digest", "--week", "--prometheus-url", stack.prom, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    alerts = lines[lines.index("Cảnh báo đã phát / alerts fired") + 1 :]
    down = sorted(by_system(stack.config, "services") | by_system(stack.config, "documents"))
    shown = ", ".join(down[:3]) + (f", … +{len(down) - 3}" if len(down) > 3 else "")
    assert f"  EgovTargetDown (critical) × {len(down)}: {shown}" in alerts
    assert any(
        line.startswith("  EgovOnlinePaymentRatioDrop (warning) × 1: synthetic-services") for line in alerts
    )
    # the simulated national portal publishes the ranking of the 34 provinces: the province's total and rank
    assert re.search(r"^  Tổng điểm / total: [0-9.]+.*, hạng / rank \d+/34", proc.stdout, re.M), proc.stdout
