"""Configuration: one fixture per kind of mistake with its exact messages, the check-config command on
each, and the valid features (defaults, ${ENV}, *_file secrets, redaction)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.html import HtmlCollector
from collectors.http import HttpCollector
from collectors.json import JsonCollector
from exporter.cli import main
from exporter.config import ConfigError, Secret, load_config, parse_config, parse_duration, parse_size
from exporter.registry import load_kinds

CONFIG = Path(__file__).parent / "fixtures" / "config"
#: the generic kinds only, so that messages listing the kinds do not change when system kinds are added
GENERIC_KINDS = {cls.kind: cls for cls in (HttpCollector, JsonCollector, HtmlCollector)}
#: environment of the valid fixture
ENV = {"EGOV_TEST_LGSP_HOST": "lgsp.example.vn", "EGOV_TEST_TOKEN": "bearer-token-from-env-5521"}

# fixture -> exact messages; {path} is the fixture's path, {kinds} the known kinds
INVALID = {
    "invalid-yaml.yml": [
        "{path}:6:1: invalid YAML: found unexpected end of stream "
        "(while scanning a quoted scalar at line 4, column 10)"
    ],
    "invalid-top-level.yml": ["{path}: the top level must be a mapping of keys, got list"],
    "invalid-unknown-top-key.yml": ['target: unknown key (did you mean "targets"?)'],
    "invalid-source-key.yml": ["source: unknown key"],
    "invalid-unknown-target-key.yml": ['targets[0].intervall: unknown key (did you mean "interval"?)'],
    "invalid-unknown-kind.yml": [
        'targets[0].kind: unknown kind "htp", known kinds: {kinds} (did you mean "http"?)'
    ],
    "invalid-missing-kind.yml": ["targets[0].kind: required (one of {kinds})"],
    "invalid-duration.yml": ['targets[0].interval: must be a duration like 30s or 5m, got "fast"'],
    "invalid-size.yml": ['targets[0].max_body_size: must be a size like 10MiB or 500KB, got "huge"'],
    "invalid-url.yml": ['targets[0].url: must be an http:// or https:// URL, got "ftp://portal.example.vn/"'],
    "invalid-system.yml": [
        "targets[0].system: must be lower-case letters, digits and '_' (e.g. portal, lgsp, documents, "
        'services, national), got "Website Portal"'
    ],
    "invalid-system-missing.yml": [
        "targets[0].system: required (one of portal, lgsp, documents, services, national, or a name of "
        "your own)"
    ],
    # a name used twice is reported with the other mistakes of both targets
    "invalid-duplicate-name.yml": [
        'targets[0].interval: must be a duration like 30s or 5m, got "often"',
        'targets[1].name: duplicate target name "portal" (first used by targets[0])',
        'targets[1].retries: must be an integer, got "many"',
    ],
    "invalid-duplicate-key.yml": ['{path}:6:5: invalid YAML: duplicate key "url"'],
    "invalid-missing-env.yml": [
        "targets[0].auth.token: environment variable EGOV_TEST_UNSET_TOKEN is not set"
    ],
    "invalid-secret-file.yml": [
        "targets[0].auth.password_file: cannot read no-such-secret.txt: No such file or directory"
    ],
    "invalid-secret-both.yml": ["targets[0].auth.password_file: set password or password_file, not both"],
    "invalid-secret-unquoted.yml": [
        "targets[0].auth.password: must be a non-empty string (quote it), got an integer"
    ],
    "invalid-auth-fields.yml": ["targets[0].auth: auth type oauth2 needs client_id, client_secret"],
    "invalid-label-name.yml": ['targets[0].labels: label name "1unit" is not a valid Prometheus label name'],
    "invalid-reserved-label.yml": ['targets[0].labels: label name "target" is reserved'],
    "invalid-timeout-interval.yml": ["targets[0]: timeout (30s) must not exceed interval (10s)"],
    "invalid-regex.yml": [
        "targets[0].body_must_match: not a valid regular expression 'Cổng thông tin (điện tử': "
        "missing ), unterminated subpattern at position 15"
    ],
    "invalid-jsonpath.yml": [
        "targets[0].metrics[0].path: not a valid JSONPath: '$.apis[?(' (Parse error near the end of string!)"
    ],
    "invalid-css.yml": [
        "targets[0].metrics[0].select: not a valid CSS selector: The combinator '>' at "
        "position 7, must have a selector before it"
    ],
    "invalid-counter-suffix.yml": ["targets[0].metrics[0]: counter egov_lgsp_api_calls must end in _total"],
    "invalid-metric-name.yml": [
        "targets[0].metrics[0].name: metric name must match egov_[a-z0-9_]+, got 'lgsp-calls'"
    ],
    "invalid-metric-label.yml": ['targets[0].metrics[0].labels: label name "system" is reserved'],
    "invalid-gauge-total.yml": [
        "targets[0].metrics[0]: egov_services_dossiers_total ends in _total, which is "
        "for counters: set type: counter or rename it"
    ],
    "invalid-maintenance-order.yml": ["maintenance[0]: end must be after start"],
    "invalid-maintenance-target.yml": ['maintenance[0].targets[0]: no target named "portl"'],
    "invalid-type-int.yml": ['targets[0].retries: must be an integer, got "many"'],
    "invalid-type-bool.yml": [
        "targets[0].jitter: must be a number, got false",
        "targets[0].retries: must be an integer, got true",
    ],
    "invalid-type-mapping.yml": ['targets[0].labels: must be a mapping, got ["unit", "H44"]'],
    "invalid-defaults-value.yml": ['defaults.interval: must be a duration like 30s or 5m, got "fast"'],
    "invalid-defaults-key.yml": [
        'defaults.timout: unknown key (did you mean "timeout"?)',
        "defaults.url: cannot be a default, set it on each target",
    ],
    "invalid-many.yml": [
        'targets[0].url: must be an http:// or https:// URL, got "portal.example.vn"',
        'targets[0].timeout: must be a duration like 30s or 5m, got "1x"',
        "targets[1].metrics: required",
        "scheduler.max_concurrency: input should be greater than or equal to 1, got 0",
    ],
}


def expected(name: str, kinds: dict) -> list[str]:
    path = str(CONFIG / name)
    return [m.format(path=path, kinds=", ".join(sorted(kinds))) for m in INVALID[name]]


def test_every_invalid_fixture_is_in_the_table():
    on_disk = {p.name for p in CONFIG.glob("invalid-*.yml")}
    assert on_disk == set(INVALID)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_config_exact_messages(name):
    with pytest.raises(ConfigError) as info:
        load_config(CONFIG / name, kinds=GENERIC_KINDS, env={})
    assert info.value.messages == expected(name, GENERIC_KINDS)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_check_config_prints_messages_and_exits_1(name, capsys, monkeypatch):
    monkeypatch.delenv("EGOV_TEST_UNSET_TOKEN", raising=False)
    path = str(CONFIG / name)
    assert main(["check-config", "--config.file", path]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [m if m.startswith(path) else f"{path}: {m}" for m in expected(name, load_kinds())]
    assert err.splitlines() == lines


def test_check_config_valid_fixture(capsys, monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    path = str(CONFIG / "valid-full.yml")
    assert main(["check-config", "--config.file", path]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{path}: valid (4 targets: 1 html, 2 http, 1 json)"
    assert "Traceback" not in err


def test_check_config_missing_file(capsys, tmp_path):
    path = str(tmp_path / "nope.yml")
    assert main(["check-config", "--config.file", path]) == 1
    assert capsys.readouterr().err.splitlines() == [f"{path}: cannot read: No such file or directory"]


def test_secret_value_is_not_echoed_in_messages():
    with pytest.raises(ConfigError) as info:
        load_config(CONFIG / "invalid-secret-unquoted.yml", kinds=GENERIC_KINDS, env={})
    assert "20261128" not in str(info.value)


# ------------------------------------------------------------------------------------ valid configs


@pytest.fixture()
def full_config():
    return load_config(CONFIG / "valid-full.yml", kinds=GENERIC_KINDS, env=ENV)


def test_defaults_are_merged_into_targets(full_config):
    cfg = full_config
    assert [t.name for t in cfg.targets] == ["portal-home", "lgsp-version", "lgsp-stats", "services-stats"]
    home, version, stats, services = cfg.targets
    assert home.interval == 300 and home.timeout == 20
    assert version.interval == 60  # a target's own value wins
    assert home.labels == {"province": "H44", "unit": "H44"}  # labels merged
    assert stats.labels == {"province": "H45"}  # a target's label overrides the default's
    assert services.labels == {"province": "H44"}
    assert home.headers == {"Accept-Language": "vi"}
    assert stats.max_body_size == 2 * 1024 * 1024
    assert home.max_body_size == 10 * 1024 * 1024  # built-in default
    assert cfg.scheduler.max_concurrency == 8 and cfg.scheduler.start_spread == 2
    assert cfg.source == str(CONFIG / "valid-full.yml")


def test_env_expansion_and_secret_file(full_config):
    version, stats, services = full_config.targets[1:]
    assert version.url == "https://lgsp.example.vn/services/Version"
    assert version.auth.password.reveal() == "s3cret-from-file-4471"  # read from file, stripped
    assert isinstance(stats.auth.token, Secret)
    assert stats.auth.token.reveal() == "bearer-token-from-env-5521"
    assert services.auth.client_secret.reveal() == "oauth-client-secret-9931"
    assert full_config.secrets() == [
        "bearer-token-from-env-5521",
        "oauth-client-secret-9931",
        "s3cret-from-file-4471",
    ]


def test_credentials_in_urls_count_as_secrets():
    cfg = parse_config(
        {
            "targets": [
                {
                    "name": "a",
                    "kind": "http",
                    "system": "portal",
                    "url": "https://monitor:pass-in-url@h.example.vn/x?access_token=tok-in-url&page=2",
                }
            ]
        },
        kinds=GENERIC_KINDS,
        env={},
    )
    assert cfg.secrets() == ["pass-in-url", "tok-in-url"]


def test_secrets_never_in_repr_or_str(full_config):
    texts = [
        repr(full_config),
        str(full_config),
        repr(full_config.targets),
        str(full_config.targets[1].auth),
        full_config.model_dump_json(),
    ]
    assert '"password":"<redacted>"' in full_config.targets[1].auth.model_dump_json()
    for secret in full_config.secrets():
        for text in texts:
            assert secret not in text
    assert repr(Secret("abc")) == "Secret('<redacted>')" == str(Secret("abc"))


def test_env_default_used_only_when_unset():
    data = {
        "targets": [
            {"name": "p", "kind": "http", "system": "portal", "url": "${SIM:-http://127.0.0.1:9880}/p"}
        ]
    }
    assert parse_config(data, kinds=GENERIC_KINDS, env={}).targets[0].url == "http://127.0.0.1:9880/p"
    assert (
        parse_config(data, kinds=GENERIC_KINDS, env={"SIM": "https://dvc.example.vn"}).targets[0].url
        == "https://dvc.example.vn/p"
    )


def test_parse_config_from_data_and_empty_document():
    cfg = parse_config(None, kinds=GENERIC_KINDS, env={})
    assert cfg.targets == [] and cfg.scheduler.max_concurrency == 32
    cfg = parse_config(
        {"targets": [{"name": "p", "kind": "http", "system": "portal", "url": "http://127.0.0.1/"}]},
        kinds=GENERIC_KINDS,
        env={},
    )
    assert cfg.target("p").kind == "http" and cfg.target("q") is None


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1d", 86400),
        ("2w", 1209600),
        ("1.5s", 1.5),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["30", 30, "fast", "", "5 m", None, "-1s"])
def test_parse_duration_refuses(bad):
    with pytest.raises(ValueError, match="must be a duration like 30s or 5m"):
        parse_duration(bad)


@pytest.mark.parametrize(
    "text,size",
    [
        ("10MiB", 10 * 1024**2),
        ("500KB", 500_000),
        ("1GiB", 1024**3),
        ("2048", 2048),
        (4096, 4096),
        ("1.5 MB", 1_500_000),
    ],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["huge", 0, -5, "0MB", "10 parsecs", True])
def test_parse_size_refuses(bad):
    with pytest.raises(ValueError, match="must be a size like 10MiB or 500KB"):
        parse_size(bad)


def test_any_system_name_is_a_system():
    """The five known systems have their dashboards; another name is accepted (the generic ones show it)."""
    cfg = parse_config(
        {"targets": [{"name": "gis", "kind": "http", "system": "gis_portal", "url": "http://127.0.0.1/"}]},
        kinds=GENERIC_KINDS,
        env={},
    )
    assert cfg.targets[0].system == "gis_portal"


@pytest.mark.parametrize(
    "keys, timeout",
    [
        ({"interval": "5s"}, 5.0),  # the default 10 s would not fit: the interval is the timeout
        ({"interval": "500ms"}, 0.5),
        ({"interval": "30s"}, 10.0),  # the default
        ({}, 10.0),
        ({"interval": "5s", "timeout": "2s"}, 2.0),  # set: kept
    ],
)
def test_default_timeout_never_exceeds_the_interval(keys, timeout):
    target = {"name": "p", "kind": "http", "system": "portal", "url": "http://127.0.0.1/", **keys}
    cfg = parse_config({"targets": [target]}, kinds=GENERIC_KINDS, env={})
    assert cfg.targets[0].timeout == timeout


def test_a_timeout_set_in_defaults_is_still_checked_against_the_interval():
    data = {
        "defaults": {"timeout": "10s"},
        "targets": [
            {"name": "p", "kind": "http", "system": "portal", "url": "http://127.0.0.1/", "interval": "5s"}
        ],
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, kinds=GENERIC_KINDS, env={})
    assert info.value.messages == ["targets[0]: timeout (10s) must not exceed interval (5s)"]


# ------------------------------------------------------------------ the YAML reader (libyaml when present)

ROOT = Path(__file__).resolve().parent.parent


def _utf8(path: Path) -> bool:
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # tests/fixtures/bad-input/not-utf8.yml: refused before any YAML is read
        return False
    return True


YAML_FILES = sorted(
    p
    for pattern in ("*.yml", "*.yaml")
    for p in ROOT.rglob(pattern)
    if not {".venv", ".git", "node_modules"} & set(p.relative_to(ROOT).parts) and _utf8(p)
)


def test_the_fast_reader_is_libyaml_when_pyyaml_has_it():
    import yaml

    from exporter.config import _FastUniqueKeyLoader

    assert issubclass(_FastUniqueKeyLoader, yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_reads_the_same_with_both_readers(path: Path):
    """What the configuration reader returns is what PyYAML's pure-Python SafeLoader (with the duplicate-key
    check) returns, for every YAML file of the repository; a document either refuses gives the same error."""
    import yaml

    from exporter.config import _load_yaml, _UniqueKeyLoader

    text = path.read_text(encoding="utf-8")
    try:
        expected = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        with pytest.raises(yaml.YAMLError) as got:
            _load_yaml(text)
        assert str(got.value) == str(exc)
        return
    assert _load_yaml(text) == expected


def test_a_duplicate_key_is_refused_by_the_fast_reader_too():
    import yaml

    from exporter.config import _FastUniqueKeyLoader

    with pytest.raises(yaml.constructor.ConstructorError, match='duplicate key "url"'):
        yaml.load("a:\n  url: x\n  url: y\n", Loader=_FastUniqueKeyLoader)  # noqa: S506
