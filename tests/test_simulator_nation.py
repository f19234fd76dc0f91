"""``egov-exporter simulate --provinces N``: N provinces under /H01/ .. of one server, each its own units,
figures and faults; mistakes are one line."""

from __future__ import annotations

import json

import pytest
from engines import http_get, http_post
from harness import run_cli

from exporter.simulator.nation import Nation


@pytest.fixture()
def nation():
    n = Nation(3, units=6)
    base = n.start()
    yield base, n
    n.stop()


def test_each_province_under_its_code(nation):
    base, n = nation
    status, body = http_get(base + "/")
    index = json.loads(body)
    assert status == 200 and list(index["provinces"]) == ["H01", "H02", "H03"]
    assert index["provinces"]["H02"] == {
        "name": "UBND tỉnh Mô Phỏng 02",
        "path": "/H02/",
        "units": 6,
        "faults": {},
    }
    assert [u.code for u in n.provinces["H03"].world.units[:3]] == ["H03", "H03.1", "H03.100"]
    # the same system answers each province with its own figures (own seed)
    pages = {code: http_get(f"{base}/{code}/national/")[0] for code in ("H01", "H02")}
    assert pages == {"H01": 200, "H02": 200}
    assert http_get(base + "/H04/services/")[0] == 404
    assert http_get(base + "/services/")[0] == 404
    assert http_get(base + "/-/healthy")[0] == 200


def test_a_fault_touches_one_province(nation):
    base, _n = nation
    status, _ = http_post(f"{base}/H02/-/fault?system=portal&mode=5xx")
    assert status == 200
    assert http_get(base + "/H02/portal/")[0] == 500
    assert http_get(base + "/H01/portal/")[0] == 200
    assert json.loads(http_get(base + "/")[1])["provinces"]["H02"]["faults"] == {"portal": "5xx"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--provinces", "100"), "--provinces must be between 1 and 99, got 100"),
        (
            ("--provinces", "2", "--fault", "H07:services=5xx"),
            "--fault H07:services=5xx: unknown province 'H07'; provinces: H01, H02, all",
        ),
        (("--provinces", "2", "--tls"), "--tls is not available with --provinces"),
    ],
)
def test_mistakes_are_one_line(args, message):
    proc = run_cli("simulate", "--listen-address", "127.0.0.1:0", *args, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr == f"egov-exporter: {message}\n"
