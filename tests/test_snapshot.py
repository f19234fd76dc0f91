"""``egov-exporter snapshot`` from the embedded history: two simulated quarters written through the
history writer's own method (time-compressed), then exact figures in every format, and the mistakes a
user can make, each one clear line."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from pathlib import Path

import pytest
import responses
from snapshot_checks import Case, check_csv, check_html, check_json, check_xlsx, local, write_snapshot
from snapshot_synth import Province

from exporter.cli import main
from exporter.history import HistoryDB
from exporter.snapshot.periods import PeriodError, parse_range, period_from_args, quarter
from exporter.snapshot.selectors import SelectorError, parse_selector
from exporter.snapshot.sources import PrometheusSource, SourceError

Q3 = ("2026Q3", local(2026, 7, 1), local(2026, 10, 1), local(2026, 4, 1), local(2026, 7, 1))


@pytest.fixture(scope="module")
def province() -> Province:
    return Province()


@pytest.fixture(scope="module")
def history(tmp_path_factory, province) -> Path:
    path = tmp_path_factory.mktemp("history") / "egov-history.sqlite"
    db = HistoryDB(path, synchronous="NORMAL")
    province.write_history(db)
    db.close()
    return path


def snapshot(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    code = main(["snapshot", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


@pytest.fixture(scope="module")
def q3(history, tmp_path_factory) -> Path:
    return write_snapshot(history, tmp_path_factory.mktemp("q3"), "--quarter", "2026Q3")


def test_quarter_from_history_every_format(q3, province):
    case = Case(province, "quarter", *Q3[1:])
    check_json(q3 / "egov-snapshot-2026Q3.json", case, "history")
    check_csv(q3, "egov-snapshot-2026Q3", case)
    check_xlsx(q3 / "egov-snapshot-2026Q3.xlsx", case)
    check_html(q3 / "egov-snapshot-2026Q3.html", case)
    assert sorted(p.name for p in q3.iterdir()) == [
        "egov-snapshot-2026Q3-availability.csv",
        "egov-snapshot-2026Q3-criteria.csv",
        "egov-snapshot-2026Q3-indicators.csv",
        "egov-snapshot-2026Q3-notes.csv",
        "egov-snapshot-2026Q3-ranking.csv",
        "egov-snapshot-2026Q3-units.csv",
        "egov-snapshot-2026Q3.html",
        "egov-snapshot-2026Q3.json",
        "egov-snapshot-2026Q3.xlsx",
    ]


def test_history_source_is_described_for_reproduction(q3, history):
    doc = json.loads((q3 / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8"))
    assert doc["source"] == {
        "type": "history",
        "file": str(history),
        "schema_version": 1,
        "created_by": "egov-exporter 0.1.0",
        "first_tick": "2026-04-01T20:00:00.000+07:00",
        "last_tick": "2026-09-30T20:00:00.000+07:00",
        "ticks": 183,
    }
    first = doc["queries"][0]
    assert first == {
        "function": "last_over_time",
        "selector": "egov_qd766_unit_info",
        "at": "2026-09-30T23:59:59.999+07:00",
        "window_seconds": 86400.0,
    }
    pay = next(i for i in doc["indicators"] if i["id"] == "online_payment_ratio")
    assert pay["selectors"] == {
        "numerator": "egov_services_dossiers_paid_online_total",
        "denominator": "egov_services_dossiers_with_fee_total",
    }
    assert {
        "function": "last_over_time",
        "selector": 'egov_services_dossiers_paid_online_total{period="quarter"}',
        "at": "2026-09-30T23:59:59.999+07:00",
        "window_seconds": 86400.0,
    } in doc["queries"]


def test_month(history, province, tmp_path, capsys):
    code, out, err = snapshot(
        capsys,
        "--month",
        "2026-08",
        "--history.file",
        str(history),
        "--output-dir",
        str(tmp_path),
        "--format",
        "json,xlsx",
        "--quiet",
    )
    assert (code, err) == (0, [])
    case = Case(province, "month", local(2026, 8, 1), local(2026, 9, 1), local(2026, 7, 1), local(2026, 8, 1))
    check_json(tmp_path / "egov-snapshot-2026-08.json", case, "history")
    check_xlsx(tmp_path / "egov-snapshot-2026-08.xlsx", case)
    assert out == [str(tmp_path / "egov-snapshot-2026-08.json"), str(tmp_path / "egov-snapshot-2026-08.xlsx")]


def test_range_adds_up_the_year_counters(history, province, tmp_path, capsys):
    code, out, err = snapshot(
        capsys,
        "--from",
        "2026-08-10",
        "--to",
        "2026-08-20",
        "--history.file",
        str(history),
        "--output-dir",
        str(tmp_path),
        "--quiet",
    )
    assert (code, err) == (0, [])
    case = Case(
        province, "range", local(2026, 8, 10), local(2026, 8, 21), local(2026, 7, 30), local(2026, 8, 10)
    )
    doc = check_json(tmp_path / "egov-snapshot-2026-08-10_to_2026-08-20.json", case, "history")
    assert doc["period"]["label"] == "2026-08-10..2026-08-20"
    assert doc["previous_period"]["label"] == "2026-07-30..2026-08-09"
    check_xlsx(tmp_path / "egov-snapshot-2026-08-10_to_2026-08-20.xlsx", case)
    check_csv(tmp_path, "egov-snapshot-2026-08-10_to_2026-08-20", case)


def test_a_range_that_is_a_calendar_quarter_is_that_quarter():
    assert parse_range("2026-07-01", "2026-09-30") == quarter(2026, 3)
    assert parse_range("2026-07-01T00:00", "2026-10-01T00:00+07:00") == quarter(2026, 3)


def test_progress_on_stderr(history, tmp_path, capsys):
    code, out, err = snapshot(
        capsys,
        "--quarter",
        "2026Q3",
        "--history.file",
        str(history),
        "--output-dir",
        str(tmp_path),
        "--format",
        "csv",
    )
    assert code == 0 and len(out) == 6
    # 2 x (18 indicators + scorecard + criteria + national ranking + 2) + 2 x 19 + 2 (coverage of both
    # periods)
    assert err[0] == "snapshot: [1/86] 2026Q3: unit names"
    assert err[-1] == "snapshot: [86/86] 2026Q2: trend of qd766"
    assert len(err) == 86 and all(line.startswith("snapshot: [") for line in err)


def test_history_path_comes_from_the_config_file(history, tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "exporter.yaml"
    cfg.write_text(
        f"history:\n  path: ${{HIST_DIR}}/{history.name}\ntargets:\n  - name: x\n    kind: nope\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HIST_DIR", str(history.parent))
    code, out, err = snapshot(
        capsys,
        "--quarter",
        "2026Q3",
        "--config.file",
        str(cfg),
        "--output-dir",
        str(tmp_path),
        "--format",
        "json",
        "--quiet",
    )
    assert (code, err) == (0, [])  # the targets are not needed (nor checked) for a snapshot
    assert json.loads(Path(out[0]).read_text(encoding="utf-8"))["source"]["file"] == str(history)


def test_empty_period_is_an_error_and_writes_nothing(history, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, out, err = snapshot(
        capsys, "--quarter", "2025Q1", "--history.file", str(history), "--output-dir", str(out_dir), "--quiet"
    )
    assert (code, out) == (1, [])
    assert err == [
        f"egov-exporter snapshot: no data for 2025Q1 (2025-01-01 to 2025-03-31, Asia/Ho_Chi_Minh): "
        f"history file {history} holds 2026-04-01T20:00 to 2026-09-30T20:00"
    ]
    assert not out_dir.exists()


def _serve_html(tmp_path: Path) -> tuple[http.server.HTTPServer, str]:
    (tmp_path / "index.html").write_text("<html>not prometheus</html>", encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *_a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_mistakes_are_one_line_each(history, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"\x00garbage" * 512)
    server, html_url = _serve_html(tmp_path)
    h = ["--history.file", str(history)]
    cases = [
        (
            ["--quarter", "2026Q5", *h],
            2,
            "--quarter must be a year and a quarter 1-4 like 2026Q3, got '2026Q5'",
        ),
        (["--quarter", "Q3", *h], 2, "--quarter must be a year and a quarter 1-4 like 2026Q3, got 'Q3'"),
        (
            ["--quarter", "0026Q1", *h],
            2,
            "--quarter '0026Q1': the year must be between 1970 and 9999 (e.g. 2026Q3)",
        ),
        (
            ["--month", "2026-13", *h],
            2,
            "--month must be a year and a month 01-12 like 2026-08, got '2026-13'",
        ),
        (["--year", "26", *h], 2, "--year must be a year like 2026, got '26'"),
        (
            [*h],
            2,
            "give exactly one period: --quarter 2026Q3, --month 2026-08, --year 2026 or --from 2026-07-01 "
            "--to 2026-09-30",
        ),
        (
            ["--quarter", "2026Q3", "--year", "2026", *h],
            2,
            "give exactly one period: --quarter 2026Q3, --month 2026-08, --year 2026 or --from 2026-07-01 --to "
            "2026-09-30 (got --quarter, --year)",
        ),
        (
            ["--from", "2026-07-01", *h],
            2,
            "--from and --to go together (e.g. --from 2026-07-01 --to 2026-09-30)",
        ),
        (
            ["--from", "2026-07-10", "--to", "2026-07-01", *h],
            2,
            "--to (2026-07-01) must be after --from (2026-07-10)",
        ),
        (
            ["--from", "1/7/2026", "--to", "2026-07-01", *h],
            2,
            "--from must be a date like 2026-07-01 or a time like 2026-07-01T08:00, got '1/7/2026'",
        ),
        (
            ["--quarter", "2026Q3", "--format", "xlsx,pdf", *h],
            2,
            "--format takes xlsx, csv, json, html (comma-separated), got 'xlsx,pdf'",
        ),
        (
            ["--quarter", "2026Q3", "--history.file", str(tmp_path / "none.sqlite")],
            1,
            f"no history file {tmp_path / 'none.sqlite'} (the exporter writes it while history.enabled is true); give "
            "--history.file, or --prometheus-url to read a Prometheus server",
        ),
        (
            ["--quarter", "2026Q3", "--history.file", str(corrupt)],
            1,
            f"history file {corrupt} is corrupt or not a SQLite database (file is not a database); move it away to "
            "start a new one",
        ),
        (
            ["--quarter", "2026Q3", "--prometheus-url", "127.0.0.1:9090"],
            1,
            "--prometheus-url must be an http:// or https:// URL, got '127.0.0.1:9090'",
        ),
        (
            ["--quarter", "2026Q3", "--prometheus-url", html_url],
            1,
            f"{html_url} answered HTTP 404 without the Prometheus API's JSON; is it the server's base URL "
            "(http://host:9090)?",
        ),
        (
            ["--quarter", "2026Q3", "--report.file", str(tmp_path / "nope.yaml"), *h],
            1,
            f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory",
        ),
    ]
    try:
        for args, want_code, message in cases:
            code, out, err = snapshot(capsys, *args, "--output-dir", str(tmp_path / "out"), "--quiet")
            assert (code, out, err) == (want_code, [], [f"egov-exporter snapshot: {message}"]), args
    finally:
        server.shutdown()
    assert not (tmp_path / "out").exists()


def test_unreachable_prometheus(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = snapshot(
        capsys, "--quarter", "2026Q3", "--prometheus-url", f"http://127.0.0.1:{port}", "--quiet"
    )
    assert (code, out, len(err)) == (1, [], 1)
    assert err[0].startswith(f"egov-exporter snapshot: cannot reach Prometheus at http://127.0.0.1:{port}: ")
    assert "Traceback" not in err[0]


def test_report_definition_mistakes(tmp_path, capsys, history):
    bad = tmp_path / "report.yaml"
    bad.write_text(
        "title_vi: x\ntitle_en: x\nsections: [{id: s, vi: a, en: b}]\nunit_names: {metrics: []}\n"
        "indicators:\n  - {id: a, section: s, vi: a, en: a, metric: 'egov_x{unit=}'}\n"
        "  - {id: b, section: t, vi: b, en: b, numerator: egov_y}\n",
        encoding="utf-8",
    )
    code, out, err = snapshot(
        capsys, "--quarter", "2026Q3", "--report.file", str(bad), "--history.file", str(history), "--quiet"
    )
    assert (code, out) == (1, [])
    assert err == [
        f"egov-exporter snapshot: {bad}: indicators[0].metric: 'egov_x{{unit=}}': the value of unit must "
        "be quoted",
        f"egov-exporter snapshot: {bad}: indicators[1]: a ratio needs both numerator and denominator",
    ]


# --------------------------------------------------------------------------------- units of the parts


@pytest.mark.parametrize(
    "text, promql, labels, hit",
    [
        ("egov_x", "egov_x", {"a": "1"}, True),
        ('egov_x{a="1"}', 'egov_x{a="1"}', {"a": "1"}, True),
        ("egov_x{a!='1', b=~\"o|p\"}", 'egov_x{a!="1", b=~"o|p"}', {"a": "2", "b": "p"}, True),
        ('egov_x{b=~"o|p"}', 'egov_x{b=~"o|p"}', {"b": "op"}, False),  # anchored, like PromQL
        ('egov_x{b!~"o.*",c=""}', 'egov_x{b!~"o.*", c=""}', {"b": "x"}, True),  # c="" matches a missing label
        ('egov_x{q="say \\"hi\\""}', 'egov_x{q="say \\"hi\\""}', {"q": 'say "hi"'}, True),
    ],
)
def test_selectors(text, promql, labels, hit):
    sel = parse_selector(text)
    assert sel.promql() == promql and parse_selector(promql) == sel
    assert sel.matches(labels) is hit


@pytest.mark.parametrize(
    "text, message",
    [
        ('{a="1"}', "'{a=\"1\"}' does not start with a metric name"),
        ('egov_x{a="1"', '\'egov_x{a="1"\': expected {label="value", ...} after the metric name'),
        ('egov_x{a="1}', "'egov_x{a=\"1}': unterminated string"),
        (
            'egov_x{a=~"("}',
            "'egov_x{a=~\"(\"}': bad regular expression '(': missing ), unterminated subpattern at "
            "position 0",
        ),
    ],
)
def test_selector_mistakes(text, message):
    with pytest.raises(SelectorError) as exc:
        parse_selector(text)
    assert str(exc.value) == message


def test_periods():
    q = period_from_args("2026Q1", None, None, None, None)
    assert (q.label, q.title("vi"), q.title("en"), q.previous().label) == (
        "2026Q1",
        "Quý 1/2026",
        "Q1 2026",
        "2025Q4",
    )
    m = period_from_args(None, "2026-01", None, None, None)
    assert (m.previous().label, m.end.isoformat()) == ("2025-12", "2026-02-01T00:00:00+07:00")
    y = period_from_args(None, None, "2026", None, None)
    assert (y.title("vi"), y.previous().label, y.counter_period) == ("Năm 2026", "2025", "year")
    r = period_from_args(None, None, None, "2026-07-15T08:00", "2026-07-15T17:30")
    assert (r.kind, r.label, r.counter_period, r.seconds) == (
        "range",
        "2026-07-15T08:00..2026-07-15T17:30",
        None,
        9.5 * 3600,
    )
    assert r.previous().label == "2026-07-14T22:30..2026-07-15T08:00"
    with pytest.raises(PeriodError):
        period_from_args("2026q3", "2026-08", None, None, None)


# --------------------------------------------------------------------------------- Prometheus API


@responses.activate(assert_all_requests_are_fired=True)
def test_prometheus_replicas_count_once_and_errors_are_one_line():
    url = "http://prom.example:9090"
    vector = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"unit": "H99.1", "instance": "b:9877", "job": "egov"}, "value": [1.0, "5"]},
                {"metric": {"unit": "H99.1", "instance": "a:9877", "job": "egov"}, "value": [1.0, "4"]},
                {"metric": {"unit": "H99.2", "instance": "a:9877", "job": "egov"}, "value": [1.0, "7"]},
            ],
        },
    }
    responses.get(f"{url}/api/v1/query", json=vector)
    responses.get(
        f"{url}/api/v1/query",
        status=400,
        json={"status": "error", "errorType": "bad_data", "error": '1:10: parse error: unexpected "}"'},
    )
    src = PrometheusSource(url, headers={"X-Scope-OrgID": "egov"})
    sel = parse_selector('egov_x_total{period="quarter"}')
    got = src.last_over(sel, 1759251599.999, 86400)
    assert got == [({"unit": "H99.1"}, 4.0), ({"unit": "H99.2"}, 7.0)]  # sorted: replica a:9877 is kept
    assert responses.calls[0].request.headers["X-Scope-OrgID"] == "egov"
    assert responses.calls[0].request.params == {
        "query": 'last_over_time(egov_x_total{period="quarter"}[86400s])',
        "time": "1759251599.999",
    }
    with pytest.raises(SourceError) as exc:
        src.avg_over(sel, 1759251599.999, 86400)
    assert str(exc.value) == (
        "Prometheus at http://prom.example:9090 refused "
        "'avg_over_time(egov_x_total{period=\"quarter\"}[86400s])': HTTP 400 1:10: parse error: "
        'unexpected "}"'
    )
    assert src.queries[0] == {
        "endpoint": "/api/v1/query",
        "query": 'last_over_time(egov_x_total{period="quarter"}[86400s])',
        "time": "1759251599.999",
    }


def test_snapshot_dates_are_local_calendar_days():
    q = quarter(2026, 3)
    assert q.start == dt.datetime(2026, 6, 30, 17, 0, tzinfo=dt.UTC)
    assert q.end.timestamp() == 1790787600  # 2026-10-01T00:00+07:00
