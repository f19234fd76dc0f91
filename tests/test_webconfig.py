"""``--web.config.file``: the exporter-toolkit format, its error messages, and the bcrypt check."""

from __future__ import annotations

import base64

import bcrypt
import pytest

from exporter.cli import main
from exporter.config import ConfigError
from exporter.webconfig import BasicAuth, load_web_config

GOOD = bcrypt.hashpw(b"prom-pass", bcrypt.gensalt(4)).decode()


def write(tmp_path, text: str):
    path = tmp_path / "web.yml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def messages(path: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    return info.value.messages


def test_valid_web_config(tmp_path):
    path = write(
        tmp_path, f"basic_auth_users:\n  prometheus: '{GOOD}'\n  grafana: '{GOOD.replace('$2b$', '$2y$')}'\n"
    )
    cfg = load_web_config(path)
    assert sorted(cfg.basic_auth_users) == ["grafana", "prometheus"]
    assert cfg.tls_server_config is None and cfg.ssl_context() is None


def test_empty_web_config_means_no_auth(tmp_path):
    cfg = load_web_config(write(tmp_path, ""))
    assert cfg.basic_auth_users == {} and BasicAuth(cfg.basic_auth_users).check(None)


@pytest.mark.parametrize(
    "hashed", ["prom-pass", "$2y$10$short", GOOD[:-1], "$1$abc$" + "x" * 22, GOOD.replace("$04$", "$xx$")]
)
def test_invalid_hash_names_file_and_user(tmp_path, hashed):
    path = write(tmp_path, f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    assert messages(path) == [f"{path}: basic_auth_users.prometheus: must be a bcrypt hash ($2y$...)"]


def test_unknown_key(tmp_path):
    path = write(tmp_path, f"basic_auth_user:\n  prometheus: '{GOOD}'\n")
    assert messages(path) == [f'{path}: basic_auth_user: unknown key (did you mean "basic_auth_users"?)']


def test_missing_file(tmp_path):
    path = str(tmp_path / "absent.yml")
    assert messages(path) == [f"{path}: cannot read: No such file or directory"]


def test_invalid_yaml(tmp_path):
    path = write(tmp_path, "basic_auth_users: [unclosed\n")
    (msg,) = messages(path)
    assert msg.startswith(f"{path}: invalid YAML")


def test_tls_files_that_cannot_be_loaded(tmp_path):
    path = write(
        tmp_path, "tls_server_config:\n  cert_file: /nonexistent/tls.crt\n  key_file: /nonexistent/tls.key\n"
    )
    assert messages(path) == [
        f"{path}: tls_server_config.cert_file: cannot read /nonexistent/tls.crt: No such file or directory",
        f"{path}: tls_server_config.key_file: cannot read /nonexistent/tls.key: No such file or directory",
    ]
    (tmp_path / "tls.crt").write_text("not a certificate")
    (tmp_path / "tls.key").write_text("not a key")
    path = write(
        tmp_path, "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n"
    )  # next to the file
    (msg,) = messages(path)
    assert msg.startswith(f"{path}: tls_server_config: cannot load certificate or key:")


def test_tls_missing_key_file_setting(tmp_path):
    path = write(tmp_path, "tls_server_config:\n  cert_file: tls.crt\n")
    assert messages(path) == [f"{path}: tls_server_config.key_file: required"]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "header,ok",
    [
        (None, False),
        ("", False),
        ("Bearer abc", False),
        ("Basic !!!not-base64", False),
        (basic("prometheus", "wrong"), False),
        (basic("nobody", "prom-pass"), False),
        (basic("prometheus", "prom-pass"), True),
        (basic("grafana", "prom-pass"), True),
    ],
)
def test_basic_auth_check(header, ok):
    auth = BasicAuth({"prometheus": GOOD, "grafana": GOOD.replace("$2b$", "$2y$")})
    assert auth.check(header) is ok
    assert auth.check(header) is ok  # the remembered-pair path gives the same answer


def test_cli_refuses_bad_web_config(tmp_path, capsys):
    web = write(tmp_path, "basic_auth_users:\n  prometheus: plain-text\n")
    cfg = tmp_path / "config.yml"
    cfg.write_text("targets: []\n")
    assert (
        main(["--config.file", str(cfg), "--web.listen-address", "127.0.0.1:0", "--web.config.file", web])
        == 1
    )
    err = capsys.readouterr().err
    assert err.splitlines() == [f"{web}: basic_auth_users.prometheus: must be a bcrypt hash ($2y$...)"]
