"""Bad input, as a table: every mistake gives one clear message naming its place, a non-zero exit where
the process must stop, and never a traceback.  Each row runs ``python -m exporter ...`` as a subprocess.

The configuration mistakes are tiny files in ``tests/fixtures/bad-input/`` (copied next to the secret
files they name); scorecards are broken copies of the shipped ones, made by the test so they cannot rot.
A bad reload (``POST /-/reload`` and SIGHUP) keeps the last good configuration serving.
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import socket
from pathlib import Path

import pytest
import yaml
from harness import ROOT, ExporterProcess, parse_metrics, run_cli, wait_for

FIXTURES = Path(__file__).parent / "fixtures" / "bad-input"


@dataclasses.dataclass(frozen=True)
class Row:
    id: str
    args: tuple[str, ...]  # "{dir}" is the folder holding the fixtures (the current directory of the run)
    exit: int
    #: the whole of stderr, line by line ("{dir}" as above); each line names the place of its problem
    stderr: tuple[str, ...]


def _kinds() -> str:
    from collectors import KINDS

    return ", ".join(sorted(KINDS))


def config_rows() -> list[Row]:
    """Configuration mistakes: each checked by check-config and by the exporter itself (which must stop)."""
    mistakes = {
        "malformed-yaml": [
            "malformed-yaml.yml:4:4: invalid YAML: expected <block end>, but found "
            "'<block mapping start>' (while parsing a block collection at line 2, column 3)"
        ],
        "unclosed-quote": [
            "unclosed-quote.yml:5:1: invalid YAML: found unexpected end of stream "
            "(while scanning a quoted scalar at line 2, column 11)"
        ],
        "not-utf8": ["not-utf8.yml: not UTF-8 text"],
        "top-level-list": ["top-level-list.yml: the top level must be a mapping of keys, got list"],
        "wrong-type-interval": [
            "wrong-type-interval.yml: targets[0].interval: must be a duration like 30s or 5m, got 30"
        ],
        "wrong-type-retries": ['wrong-type-retries.yml: targets[0].retries: must be an integer, got "many"'],
        "wrong-type-targets": [
            'wrong-type-targets.yml: targets: must be a list, got {"portal-home": {"kind": "http"}}'
        ],
        "unknown-kind": [
            f'unknown-kind.yml: targets[0].kind: unknown kind "htp", known kinds: {_kinds()} '
            '(did you mean "http"?)'
        ],
        "duplicate-names": [
            'duplicate-names.yml: targets[1].name: duplicate target name "portal-home" '
            "(first used by targets[0])"
        ],
        "bad-duration": [
            'bad-duration.yml: targets[0].timeout: must be a duration like 30s or 5m, got "fast"'
        ],
        "bad-duration-default": [
            'bad-duration-default.yml: defaults.interval: must be a duration like 30s or 5m, got "1 minute"'
        ],
        "missing-secret-file": [
            "missing-secret-file.yml: targets[0].auth.password_file: cannot read "
            "no-such-secret.txt: No such file or directory"
        ],
        "secret-file-is-a-directory": [
            "secret-file-is-a-directory.yml: targets[0].auth.token_file: cannot read .: Is a directory"
        ],
        "secret-file-not-text": [
            "secret-file-not-text.yml: targets[0].auth.token_file: cannot read "
            "binary-secret.bin: not UTF-8 text"
        ],
        "missing-env": [
            "missing-env.yml: targets[0].auth.token: environment variable EGOV_TEST_UNSET_TOKEN is not set"
        ],
        "missing-file": ["no-such-config.yml: cannot read: No such file or directory"],
    }
    rows = []
    for name, lines in mistakes.items():
        file = "no-such-config.yml" if name == "missing-file" else f"{name}.yml"
        rows.append(Row(f"check-config/{name}", ("check-config", "--config.file", file), 1, tuple(lines)))
        rows.append(
            Row(
                f"run/{name}", ("--config.file", file, "--web.listen-address", "127.0.0.1:0"), 1, tuple(lines)
            )
        )
    return rows


def flag_rows() -> list[Row]:
    run = ("--config.file", "valid.yml")
    listen = ("--web.listen-address", "127.0.0.1:0")
    rows = [
        Row(
            "listen/no-port",
            (*run, "--web.listen-address", "abc"),
            1,
            ("egov-exporter: --web.listen-address must be [host]:port, got 'abc'",),
        ),
        Row(
            "listen/port-out-of-range",
            (*run, "--web.listen-address", "127.0.0.1:99999"),
            1,
            ("egov-exporter: --web.listen-address must be [host]:port, got '127.0.0.1:99999'",),
        ),
        Row(
            "listen/empty",
            (*run, "--web.listen-address", ""),
            1,
            ("egov-exporter: --web.listen-address must be [host]:port, got ''",),
        ),
        Row(
            "shard/zero",
            (*run, *listen, "--shard", "0/3"),
            1,
            ("egov-exporter: --shard must be i/n with 1 <= i <= n, like 2/3, got '0/3'",),
        ),
        Row(
            "shard/beyond",
            (*run, *listen, "--shard", "4/3"),
            1,
            ("egov-exporter: --shard must be i/n with 1 <= i <= n, like 2/3, got '4/3'",),
        ),
        Row(
            "shard/text",
            (*run, *listen, "--shard", "half"),
            1,
            ("egov-exporter: --shard must be i/n with 1 <= i <= n, like 2/3, got 'half'",),
        ),
        Row(
            "web-config/missing",
            (*run, *listen, "--web.config.file", "no-such-web.yml"),
            1,
            ("no-such-web.yml: cannot read: No such file or directory",),
        ),
        Row(
            "web-config/bad-yaml",
            (*run, *listen, "--web.config.file", "web-bad-yaml.yml"),
            1,
            ("web-bad-yaml.yml: invalid YAML: expected ',' or ']', but got '<stream end>'",),
        ),
        Row(
            "web-config/unknown-keys",
            (*run, *listen, "--web.config.file", "web-unknown-key.yml"),
            1,
            (
                "web-unknown-key.yml: tls_server_config.client_auth: unknown key",
                'web-unknown-key.yml: basic_auth_user: unknown key (did you mean "basic_auth_users"?)',
            ),
        ),
        Row(
            "web-config/plain-password",
            (*run, *listen, "--web.config.file", "web-bad-hash.yml"),
            1,
            ("web-bad-hash.yml: basic_auth_users.prometheus: must be a bcrypt hash ($2y$...)",),
        ),
        Row(
            "web-config/missing-cert",
            (*run, *listen, "--web.config.file", "web-missing-cert.yml"),
            1,
            (
                "web-missing-cert.yml: tls_server_config.cert_file: cannot read no-such-cert.pem: No such file or "
                "directory",
                "web-missing-cert.yml: tls_server_config.key_file: cannot read no-such-key.pem: No such file or "
                "directory",
            ),
        ),
    ]
    return rows


def _broken_scorecards(folder: Path) -> dict[str, str]:
    """Copies of the shipped scorecards with one mistake each: (file name -> the mistake's message part)."""
    qd766 = (ROOT / "indicators" / "qd766.yaml").read_text(encoding="utf-8")
    assert "total_max: 100\n" in qd766
    (folder / "bad-sum.yaml").write_text(
        qd766.replace("total_max: 100\n", "total_max: 90\n", 1), encoding="utf-8"
    )
    (folder / "bad-yaml.yaml").write_text(qd766 + "\n  - [unclosed\n", encoding="utf-8")
    return {
        "bad-sum.yaml": "bad-sum.yaml",
        "bad-yaml.yaml": "bad-yaml.yaml",
        "no-such-scorecard.yaml": "no-such-scorecard.yaml",
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for f in FIXTURES.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def check_output(proc, row_exit: int, expected: tuple[str, ...] | None, what: str) -> list[str]:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, f"{what}: traceback\n{out[-3000:]}"
    assert proc.returncode == row_exit, f"{what}: exit {proc.returncode}, want {row_exit}\n{out[-2000:]}"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if expected is not None:
        assert lines == list(expected), f"{what}: stderr was\n" + "\n".join(lines)
    return lines


@pytest.mark.parametrize("row", config_rows() + flag_rows(), ids=lambda r: r.id)
def test_bad_input(row: Row, workdir: Path):
    proc = run_cli(*row.args, cwd=workdir)
    check_output(proc, row.exit, row.stderr, row.id)


def test_a_valid_file_still_passes(workdir: Path):
    """The table's files differ from a valid one by their mistake only."""
    proc = run_cli("check-config", "--config.file", "valid.yml", cwd=workdir)
    assert proc.returncode == 0 and proc.stdout.strip() == "valid.yml: valid (1 targets: 1 http)", proc.stderr


def test_many_mistakes_are_all_reported_at_once(workdir: Path):
    cfg = {
        "targets": [
            {"name": "a", "kind": "http", "system": "portal", "url": "http://127.0.0.1/", "interval": "soon"},
            {"name": "a", "kind": "htp", "url": "http://127.0.0.1/"},
            {"name": "b", "kind": "http", "system": "portal", "url": "ftp://x", "retries": -1},
        ]
    }
    (workdir / "many.yml").write_text(yaml.safe_dump(cfg))
    proc = run_cli("check-config", "--config.file", "many.yml", cwd=workdir)
    lines = check_output(proc, 1, None, "many mistakes")
    places = [line.split(": ")[1] for line in lines]
    assert places == [
        "targets[0].interval",
        "targets[1].name",  # the duplicate name too, though both targets have other mistakes
        "targets[1].kind",
        "targets[2].url",
        "targets[2].retries",
    ], lines
    assert all(line.startswith("many.yml: ") for line in lines)


def test_listen_address_in_use(workdir: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = run_cli("--config.file", "valid.yml", "--web.listen-address", f"127.0.0.1:{port}", cwd=workdir)
    lines = check_output(proc, 1, None, "address in use")
    assert lines[-1] == f"egov-exporter: cannot listen on 127.0.0.1:{port}: Address already in use", lines


def test_bad_log_level_is_a_usage_error(workdir: Path):
    proc = run_cli("--config.file", "valid.yml", "--log.level", "loud", cwd=workdir)
    lines = check_output(proc, 2, None, "bad log level")
    assert lines[0].startswith("usage: egov-exporter run")
    assert lines[-1].startswith("egov-exporter run: error: argument --log.level: invalid choice: 'loud'"), (
        lines
    )


@pytest.mark.parametrize("card", ["bad-sum.yaml", "bad-yaml.yaml", "no-such-scorecard.yaml"])
def test_invalid_scorecard(card: str, workdir: Path):
    _broken_scorecards(workdir)
    cfg = yaml.safe_load((workdir / "valid.yml").read_text())
    cfg["scoring"] = {"scorecards": [card]}
    (workdir / "scoring.yml").write_text(yaml.safe_dump(cfg))
    for args in (
        ("check-config", "--config.file", "scoring.yml"),
        ("--config.file", "scoring.yml", "--web.listen-address", "127.0.0.1:0"),
    ):
        proc = run_cli(*args, cwd=workdir)
        lines = check_output(proc, 1, None, f"scorecard {card}")
        assert lines and all(
            line.startswith(f"scoring.yml: scoring.scorecards[0]: {card}") for line in lines
        ), lines


@pytest.mark.parametrize(
    "args,message",
    [
        (("--quarter", "2026Q5"), "--quarter must be a year and a quarter 1-4 like 2026Q3, got '2026Q5'"),
        (("--quarter", "Q3-2026"), "--quarter must be a year and a quarter 1-4 like 2026Q3, got 'Q3-2026'"),
        (("--quarter", "2026Q3", "--month", "2026-08"), "give exactly one period"),
        ((), "give exactly one period"),
        (("--month", "2026-13"), "--month must be a year and a month 01-12 like 2026-08, got '2026-13'"),
        (
            ("--from", "2026-09-30", "--to", "2026-07-01"),
            "--to (2026-07-01) must be after --from (2026-09-30)",
        ),
    ],
    ids=["quarter-5", "quarter-order", "two-periods", "no-period", "month-13", "from-after-to"],
)
def test_invalid_snapshot_period(args, message, workdir: Path):
    proc = run_cli("snapshot", *args, "--history.file", "none.sqlite", cwd=workdir)
    (line,) = check_output(proc, 2, None, f"snapshot {args}")
    assert line.startswith("egov-exporter snapshot: ") and message in line, line


@pytest.mark.parametrize(
    "content",
    [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["garbage", "truncated-sqlite"],
)
def test_corrupt_history_file(content: bytes, workdir: Path):
    """The snapshot stops with one line naming the file; the exporter keeps monitoring (history is a
    side job) and says once, in one log line, that it is not recording."""
    (workdir / "history.sqlite").write_bytes(content)
    proc = run_cli(
        "snapshot",
        "--quarter",
        "2026Q3",
        "--history.file",
        "history.sqlite",
        "--output-dir",
        str(workdir),
        cwd=workdir,
    )
    (line,) = check_output(proc, 1, None, "snapshot of a corrupt history")
    assert "history.sqlite" in line and ("corrupt" in line or "not" in line), line
    assert not list(workdir.glob("*.xlsx")), "a report was written from a corrupt history"

    cfg = yaml.safe_load((workdir / "valid.yml").read_text())
    cfg["history"] = {"enabled": True, "path": str(workdir / "history.sqlite"), "interval": "1s"}
    (workdir / "history.yml").write_text(yaml.safe_dump(cfg))
    ex = ExporterProcess.serve(workdir / "history.yml", workdir / "exporter.log")
    try:
        wait_for(
            lambda: "history" in ex.output() and "not being recorded" in ex.output(),
            20,
            "the history error in the log",
        )
        assert ex.get("/metrics")[0] == 200 and ex.alive()
    finally:
        ex.stop()
    log = ex.output()
    errors = [line for line in log.splitlines() if "level=error" in line]
    assert len(errors) == 1 and "history.sqlite" in errors[0], errors
    assert "Traceback" not in log
    assert (workdir / "history.sqlite").read_bytes() == content, "the corrupt file was overwritten"


# ------------------------------------------------------------------------------------- reloads


def _targets(ex: ExporterProcess) -> set[str]:
    return {s.labels["target"] for s in parse_metrics(ex.scrape())["egov_target_info"]}


def _reload_ok(ex: ExporterProcess) -> float:
    return parse_metrics(ex.scrape())["egov_exporter_config_last_reload_successful"][0].value


@pytest.mark.parametrize(
    "mistake",
    [
        "malformed-yaml.yml",
        "unknown-kind.yml",
        "missing-secret-file.yml",
        "secret-file-not-text.yml",
        "not-utf8.yml",
    ],
)
def test_a_bad_reload_keeps_the_last_good_config(mistake: str, workdir: Path):
    good = (workdir / "valid.yml").read_text()
    config = workdir / "running.yml"
    config.write_text(good)
    ex = ExporterProcess.serve(config, workdir / "exporter.log")
    try:
        assert _targets(ex) == {"portal-home"} and _reload_ok(ex) == 1
        # a bad file arrives: POST /-/reload answers 400 with the messages and changes nothing
        shutil.copy(workdir / mistake, config)  # its secret files are beside it, in workdir
        status, body = ex.get("/-/reload", method="POST", data=b"")
        text = body.decode()
        assert status == 400 and text.startswith("Reload rejected, the running configuration is kept:\n"), (
            text
        )
        assert all(line.startswith(f"{config}:") for line in text.splitlines()[1:]), text
        # /metrics is served from a cache at most about a second old: the failed reload shows within seconds
        wait_for(lambda: _reload_ok(ex) == 0, 10, "egov_exporter_config_last_reload_successful 0")
        assert _targets(ex) == {"portal-home"}
        # SIGHUP: the same, logged
        lines_before = ex.output().count("config reload rejected")
        ex.signal(signal.SIGHUP)
        wait_for(lambda: ex.output().count("config reload rejected") > lines_before, 20, "the SIGHUP reload")
        assert _targets(ex) == {"portal-home"} and _reload_ok(ex) == 0 and ex.alive()
        # a good file again: SIGHUP applies it
        fixed = yaml.safe_load(good)
        fixed["targets"].append({**fixed["targets"][0], "name": "portal-news"})
        config.write_text(yaml.safe_dump(fixed))
        ex.signal(signal.SIGHUP)
        wait_for(
            lambda: _targets(ex) == {"portal-home", "portal-news"} and _reload_ok(ex) == 1,
            20,
            "the good reload",
        )
    finally:
        ex.stop()
    log = ex.output()
    assert "Traceback" not in log, log[-3000:]
    rejected = [line for line in log.splitlines() if "config reload rejected" in line]
    assert rejected and all("running.yml" in line for line in rejected), rejected
