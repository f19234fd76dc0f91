"""The nationwide configuration of the tests and of docs/scaling.md: every province's targets of the shipped
config.yaml, for N simulated provinces (``egov-exporter simulate --provinces N``), in one file.

Province ``H07``'s copy of target ``services-api`` is ``H07-services-api``, its URLs point at ``/H07/`` of the
simulator, it carries ``province: H07`` and its unit labels are the province's (H99.2 -> H07.2).  Targets of
units the simulated province does not have (department sub-sites beyond its size) are left out.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from harness import ROOT

from exporter.simulator.nation import province_code
from exporter.simulator.world import PROVINCE_CODE, World

SIM_URL = "${EGOV_SIM_URL:-http://127.0.0.1:9880}"


def rewrite(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [rewrite(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: rewrite(v, old, new) for k, v in value.items()}
    return value


def nation_config(sim_url: str, provinces: int, units: int, interval: str = "1h") -> dict[str, Any]:
    base = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    known = World(units=units).by_code
    targets = []
    for i in range(1, provinces + 1):
        code = province_code(i)
        for t in base["targets"]:
            labels = dict(t.get("labels") or {})
            if labels.get("unit", PROVINCE_CODE) not in known:
                continue
            t2 = rewrite(copy.deepcopy(t), SIM_URL, f"{sim_url}/{code}")
            t2["name"] = f"{code}-{t['name']}"
            if "unit" in labels:
                labels["unit"] = code + labels["unit"][len(PROVINCE_CODE) :]
            t2["labels"] = {**labels, "province": code}
            t2["interval"] = interval
            t2.pop("degraded_after", None)
            if t2.get("kind") == "qd766":
                t2["pause"] = "10ms"
            targets.append(t2)
    defaults = {k: v for k, v in base["defaults"].items() if k != "labels"}
    return {
        "scheduler": {**base["scheduler"], "start_spread": "2s", "per_host_concurrency": 16},
        "defaults": {**defaults, "interval": interval, "retries": 0},
        "history": {"enabled": False},
        # the scorecards are per province: in a multi-province configuration the engine (vmalert) computes
        # the indicators from every shard with rules/recording/scorecards.yml
        "scoring": {"scorecards": []},
        "targets": targets,
    }
