"""``egov-exporter digest``: the weekly digest from a synthetic week of history, printed (--dry-run) and
delivered to a loopback SMTP server (aiosmtpd), a loopback webhook (a Zalo-OA-shaped template) and a
loopback stand-in for Telegram's Bot API, each checked exactly; with and without the national ranking of the
provinces (``egov_qd766_province_*``, the qd766 collector's); and its mistakes as one-line errors."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json

import pytest
from engines import SmtpReceiver, WebhookReceiver
from harness import run_cli

from exporter.history.store import HistoryDB
from exporter.snapshot.periods import TZ

END = dt.datetime(2026, 11, 30, 8, 0, tzinfo=TZ)
START = END - dt.timedelta(days=7)
UNITS = {  # unit -> (name, level)
    "H99": ("UBND tỉnh Mô Phỏng", "province"),
    "H99.1": ("Sở Tư pháp", "department"),
    "H99.100": ("UBND xã Hòa Phú", "commune"),
    "H99.101": ("UBND xã Bình Thịnh", "commune"),
    "H99.102": ("UBND xã An Long", "commune"),
}
#: group scores (CKMB, TDGQ, CLGQ, TTTT, MDHL, MDSH) a week ago and now
THEN = {
    "H99": (17.0, 18.0, 11.0, 9.0, 16.0, 14.0),  # 85.00
    "H99.1": (18.0, 19.0, 12.0, 9.5, 17.0, 17.0),  # 92.50
    "H99.100": (16.0, 17.0, 10.0, 8.0, 15.0, 14.0),  # 80.00
    "H99.101": (17.0, 16.0, 11.0, 9.0, 16.0, 16.0),  # 85.00
    "H99.102": (12.0, 10.0, 8.0, 6.0, 12.0, 15.0),  # 63.00
}
NOW = {
    "H99": (17.5, 18.5, 11.0, 9.5, 16.5, 14.5),  # 87.50
    "H99.1": (18.0, 19.0, 12.0, 9.5, 17.0, 17.0),  # 92.50
    "H99.100": (15.0, 16.25, 10.0, 8.0, 15.0, 14.0),  # 78.25: CKMB -1.00, TDGQ -0.75
    "H99.101": (17.0, 16.0, 11.0, 9.0, 16.0, 16.0),  # 85.00
    "H99.102": (12.0, 10.0, 8.0, 6.0, 12.0, 12.0),  # 60.00: MDSH -3.00
}
GROUPS = ("CKMB", "TDGQ", "CLGQ", "TTTT", "MDHL", "MDSH")
TARGETS = {  # target -> (system, ticks down in the week)
    "portal-main": ("portal", 0),
    "services-api": ("services", 10),
    "services-home": ("services", 0),
    "dvcqg": ("national", 5),
}
#: the national ranking: province -> (total then, total now, rank then, rank now); 34 provinces
RANKING = {f"H{i:02d}": (90.0 - i * 0.5, 90.0 - i * 0.5, i, i) for i in range(1, 34)}
RANKING["H99"] = (85.0, 87.5, 12, 9)


def write_week(path, ranking: bool) -> None:
    """Hourly ticks from 2 hours before the week to its last hour; the scores switch after its start."""
    db = HistoryDB(path)
    ticks = list(range(int(START.timestamp()) - 7200, int(END.timestamp()), 3600))
    in_week = [t for t in ticks if t > START.timestamp()]
    assert len(in_week) == 167
    for ts in ticks:
        after = ts > START.timestamp()
        samples = []
        for unit, (name, level) in UNITS.items():
            labels = {"target": "dvcqg", "system": "national", "unit": unit}
            samples.append(("egov_qd766_unit_info", {**labels, "unit_name": name, "level": level}, 1.0))
            for group, score in zip(GROUPS, (NOW if after else THEN)[unit], strict=True):
                samples.append(
                    (
                        "egov_qd766_score",
                        {**labels, "group": group, "period": "month", "source": "published"},
                        score,
                    )
                )
        if ranking:
            for province, (then, now, rank_then, rank_now) in RANKING.items():
                base = {"target": "dvcqg", "system": "national", "province": province}
                samples.append(
                    (
                        "egov_qd766_province_score",
                        {**base, "group": "total", "period": "month"},
                        now if after else then,
                    )
                )
                samples.append(
                    (
                        "egov_qd766_province_rank",
                        {**base, "period": "month"},
                        rank_now if after else rank_then,
                    )
                )
            samples.append(("egov_qd766_province_info", {"province": "H99", "name": "Tỉnh Mô Phỏng"}, 1.0))
        for target, (system, down) in TARGETS.items():
            is_down = after and in_week.index(ts) < down
            samples.append(("egov_target_up", {"target": target, "system": system}, 0.0 if is_down else 1.0))
        db.write_tick(ts, samples, 3600)
    db.close()


EXPECTED = """\
Bản tin tuần chính quyền số / Weekly e-government digest — H99 Tỉnh Mô Phỏng — 2026-11-30
Tuần / week: 2026-11-23 08:00 → 2026-11-30 08:00 (Asia/Ho_Chi_Minh)

Chỉ số 766 (kỳ / period: month)
  Tổng điểm / total: 87.50 (+2.50), hạng / rank 9/34 (↑3)

Đơn vị dưới ngưỡng / units below thresholds (4 đơn vị / units scored)
  < 80: 2 — UBND xã An Long 60.00, UBND xã Hòa Phú 78.25
  < 90: 3 — UBND xã An Long 60.00, UBND xã Hòa Phú 78.25, UBND xã Bình Thịnh 85.00

Giảm nhiều nhất theo nhóm / largest drops per group
  CKMB: UBND xã Hòa Phú 16.00 → 15.00 (−1.00)
  TDGQ: UBND xã Hòa Phú 17.00 → 16.25 (−0.75)
  MDSH: UBND xã An Long 15.00 → 12.00 (−3.00)

Khả dụng theo hệ thống / availability per system
  national 97.01 %, portal 100.00 %, services 97.01 %
  Thấp nhất / lowest: services-api 94.01 %, dvcqg 97.01 %

Cảnh báo đã phát / alerts fired
  không có trong lịch sử nhúng / not recorded in the embedded history (use --prometheus-url)
"""

WINDOW = ("--week", "--until", END.isoformat())


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("digest") / "history.sqlite"
    write_week(path, ranking=True)
    return path


def test_dry_run_prints_the_digest(history):
    proc = run_cli("digest", *WINDOW, "--history.file", str(history), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == EXPECTED


def test_without_the_national_ranking_it_says_so(tmp_path):
    path = tmp_path / "history.sqlite"
    write_week(path, ranking=False)
    proc = run_cli("digest", *WINDOW, "--history.file", str(path), "--dry-run", "--threshold", "80")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert (
        lines[0]
        == "Bản tin tuần chính quyền số / Weekly e-government digest — H99 UBND tỉnh Mô Phỏng — 2026-11-30"
    )
    assert lines[4:7] == [
        "  Xếp hạng các tỉnh: chưa có dữ liệu / National ranking: no data (egov_qd766_province_score, "
        "egov_qd766_province_rank absent: the qd766 collector's province ranking)",
        "  Tổng điểm của tỉnh / province total (own units' published scores): 87.50 (+2.50)",
        "",
    ]
    assert "  < 80: 2 — UBND xã An Long 60.00, UBND xã Hòa Phú 78.25" in lines
    assert not any(line.startswith("  < 90") for line in lines)
    doc = json.loads(run_cli("digest", *WINDOW, "--history.file", str(path), "--dry-run", "--json").stdout)
    assert doc["province"] == {
        "code": "H99",
        "name": "UBND tỉnh Mô Phỏng",
        "total": 87.5,
        "total_change": 2.5,
        "rank": None,
        "rank_change": None,
        "ranked_among": None,
        "ranking_available": False,
    }


def test_delivered_by_email_webhook_and_telegram(history, tmp_path):
    smtp = SmtpReceiver()
    hook = WebhookReceiver({"/sendMessage": b'{"ok": true, "result": {"message_id": 7}}'})
    try:
        (tmp_path / "zalo.json").write_text(
            json.dumps({"recipient": {"user_id": "2468"}, "message": {"text": "${subject}\n\n${text}"}}),
            encoding="utf-8",
        )
        (tmp_path / "token").write_text("98765:SECRET-TOKEN\n")
        proc = run_cli(
            "digest",
            *WINDOW,
            "--history.file",
            str(history),
            *("--smtp.server", f"127.0.0.1:{smtp.port}", "--smtp.from", "egov@example.vn"),
            *("--smtp.to", "lanh-dao@example.vn", "--smtp.to", "cntt@example.vn"),
            *("--webhook.url", hook.url + "/zalo", "--webhook.template", str(tmp_path / "zalo.json")),
            *("--telegram.bot-token-file", str(tmp_path / "token"), "--telegram.chat-id", "-100777"),
            *("--telegram.api-url", hook.url + "/telegram"),
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == [
            "digest sent by e-mail",
            "digest sent by Telegram",
            "digest sent by webhook",
        ]
        assert "SECRET-TOKEN" not in proc.stdout + proc.stderr

        ((sender, rcpts, raw),) = smtp.messages
        assert sender == "egov@example.vn" and rcpts == ["lanh-dao@example.vn", "cntt@example.vn"]
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        assert mail["Subject"] == EXPECTED.splitlines()[0]
        assert mail["To"] == "lanh-dao@example.vn, cntt@example.vn"
        assert mail.get_content() == EXPECTED

        (zalo,) = hook.messages("/zalo")
        assert zalo["body"] == {
            "recipient": {"user_id": "2468"},
            "message": {"text": EXPECTED.splitlines()[0] + "\n\n" + EXPECTED},
        }
        (telegram,) = hook.messages("/telegram/bot98765:SECRET-TOKEN/sendMessage")
        assert telegram["body"] == {"chat_id": "-100777", "text": EXPECTED}
    finally:
        smtp.close()
        hook.close()


def test_default_webhook_body_carries_the_document(history):
    hook = WebhookReceiver()
    try:
        proc = run_cli("digest", *WINDOW, "--history.file", str(history), "--webhook.url", hook.url + "/hook")
        assert proc.returncode == 0, proc.stderr
        (msg,) = hook.messages("/hook")
        body = msg["body"]
        assert body["text"] == EXPECTED and body["subject"] == EXPECTED.splitlines()[0]
        doc = body["digest"]
        assert doc["province"]["rank"] == 9 and doc["province"]["rank_change"] == 3
        assert doc["province"]["ranked_among"] == 34
        assert doc["largest_drops"][2] == {
            "group": "MDSH",
            "unit": "H99.102",
            "name": "UBND xã An Long",
            "from": 15.0,
            "to": 12.0,
            "drop": 3.0,
        }
        assert doc["availability"][2] == {"system": "services", "availability": 0.97006, "targets": 2}
    finally:
        hook.close()


def test_a_failing_channel_is_one_line_and_exit_1(history):
    hook = WebhookReceiver()
    hook.status = 503
    try:
        proc = run_cli("digest", *WINDOW, "--history.file", str(history), "--webhook.url", hook.url + "/x")
    finally:
        hook.close()
    assert proc.returncode == 1
    assert proc.stderr == f"egov-exporter digest: webhook {hook.url}/x answered HTTP 503\n"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            (),
            "nowhere to send: give --smtp.server, --telegram.bot-token-file or --webhook.url, "
            "or --dry-run to print",
            2,
        ),
        (
            ("--dry-run", "--since", "yesterday"),
            "--since must be a date like 2026-11-24 or 2026-11-24T08:00, got 'yesterday'",
            2,
        ),
        (("--smtp.server", "127.0.0.1:25"), "--smtp.server needs --smtp.from and at least one --smtp.to", 2),
        (("--dry-run", "--history.file", "/nonexistent/h.sqlite"), None, 1),
    ],
)
def test_mistakes_are_one_line(args, message, code, tmp_path):
    proc = run_cli("digest", *args, cwd=tmp_path)
    assert proc.returncode == code
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    if message:
        assert proc.stderr == f"egov-exporter digest: {message}\n"
