"""``egov-exporter probe``: one poll of one target from the command line against the simulator on loopback,
as an operator adapting a profile uses it -- the requests, what each metric's rules extracted, the fields
that matched nothing, the exit status -- and its mistakes (an unknown target, a broken configuration)."""

from __future__ import annotations

import json

import pytest
import yaml

from exporter.cli import COMMANDS, build_parser, main
from exporter.simulator import Simulator, World
from exporter.simulator import services as sim_services
from exporter.simulator.services import ServicesSystem


@pytest.fixture(scope="module")
def sim():
    simulator = Simulator(World(units=12, seed=766), systems=[ServicesSystem])
    simulator.start("127.0.0.1", 0)
    yield simulator
    simulator.stop()


def write_config(tmp_path, base: str, **settings) -> str:
    target = {
        "name": "services-api",
        "kind": "services",
        "url": f"{base}/services",
        "profile": "igate",
        "profile_settings": {"prefix": sim_services.PREFIX, "agency_id": sim_services.AGENCY_ID, **settings},
        "periods": ["month"],
        "retries": 0,
        "auth": {
            "type": "oauth2",
            "token_url": f"{base}/services{sim_services.TOKEN_PATH}",
            "client_id": sim_services.CLIENT_ID,
            "client_secret": sim_services.CLIENT_SECRET,
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"targets": [target]}, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_probe_is_a_command_of_the_cli():
    assert "probe" in COMMANDS and "probe" in build_parser().commands


def test_probe_prints_requests_samples_and_a_summary_per_metric(sim, tmp_path, capsys):
    config = write_config(tmp_path, sim.base_url)
    assert main(["probe", "--config.file", config, "--target", "services-api"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("target services-api (kind services, system services): up\n")
    for path in (sim_services.STATISTIC_PATH, sim_services.ONLINE_PATH, sim_services.DIGITIZE_PATH):
        assert f"fetched GET {sim.base_url}/services{path}?" in out
    units = len(sim.world.children)
    assert f"  egov_services_dossiers_received_total: {2 * units} / 0\n" in out  # online and direct
    assert f"  egov_services_dossiers_digitized_total: {units} / 0\n" in out
    assert sim_services.CLIENT_SECRET not in out


def test_probe_shows_which_source_a_wrong_prefix_breaks(sim, tmp_path, capsys):
    """The operator guessed the wrong prefix: every report answers 404, the probe says so, exit status 1."""
    config = write_config(tmp_path, sim.base_url, prefix="dni")
    assert main(["probe", "--config.file", config, "--target", "services-api"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("target services-api (kind services, system services): down, reason http_status: ")
    assert "every source failed: dossier-statistic: " in out
    assert "/services/pa/dossier-statistic/--statistic-agency-dni?" in out


def test_probe_json_is_the_probe_document(sim, tmp_path, capsys):
    config = write_config(tmp_path, sim.base_url, online_path="", digitize_path="")
    assert main(["probe", "--config.file", config, "--target", "services-api", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["state"] == "up" and doc["skipped"] == []
    assert [f["request"].split("?")[0] for f in doc["fetched"] if "request" in f] == [
        f"GET {sim.base_url}/services{sim_services.STATISTIC_PATH}"
    ]
    assert {s["labels"]["source"] for s in doc["samples"] if s["name"] == "egov_services_source_up"} == {
        "dossier-statistic"
    }


def test_probe_of_an_unknown_target_names_the_configured_ones(sim, tmp_path, capsys):
    config = write_config(tmp_path, sim.base_url)
    assert main(["probe", "--config.file", config, "--target", "services"]) == 1
    assert capsys.readouterr().err == (
        f"egov-exporter: no target 'services' in {config}; targets: services-api\n"
    )


def test_probe_of_a_broken_configuration_reports_it(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(
        "targets:\n"
        "  - {name: s, kind: services, url: 'http://127.0.0.1:1/', profile_settings: {prefix: kgg}}\n",
        encoding="utf-8",
    )
    assert main(["probe", "--config.file", str(path), "--target", "s"]) == 1
    err = capsys.readouterr().err
    assert "targets[0]: profile_settings.agency_id: required by profile 'igate'" in err


def test_probe_needs_a_target(capsys):
    assert main(["probe", "--config.file", "config.yaml"]) == 2
    assert "the following arguments are required: --target" in capsys.readouterr().err
