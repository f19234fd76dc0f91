"""Several simulated provinces in one process (``egov-exporter simulate --provinces N``), for nationwide
deployments and their tests.

Province ``i`` (1..N) has the code ``H01`` .. ``HNN`` (its units ``H07.1``, ``H07.100``, ...), its own seed
(``seed + i``, so the provinces' figures differ) and its own fault modes; all its systems live under
``/<code>/``, exactly as the single-province simulator serves them under ``/``::

    http://127.0.0.1:9880/H07/services/...      the public-service portal of province H07
    curl -X POST 'http://127.0.0.1:9880/H07/-/fault?system=services&mode=5xx'
    curl http://127.0.0.1:9880/                 the provinces and their paths

One HTTP server and one clock for all of them, so a nation of small provinces costs one process.
"""

from __future__ import annotations

import threading
from typing import Any

from exporter.simulator.server import SimServer, Simulator
from exporter.simulator.world import World

MAX_PROVINCES = 99


def province_code(i: int) -> str:
    """The unit code of simulated province ``i`` (1-based): H01, H02, ..."""
    return f"H{i:02d}"


class Nation:
    """``n`` simulated provinces of ``units`` units each."""

    def __init__(self, n: int, units: int = 100, seed: int = 766, speed: float = 1.0) -> None:
        if not 1 <= n <= MAX_PROVINCES:
            raise ValueError(f"--provinces must be between 1 and {MAX_PROVINCES}, got {n}")
        self.stopping = threading.Event()
        self.provinces: dict[str, Simulator] = {}
        for i in range(1, n + 1):
            code = province_code(i)
            world = World(
                units=units,
                seed=seed + i,
                speed=speed,
                province_code=code,
                province_name=f"UBND tỉnh Mô Phỏng {i:02d}",
            )
            sim = Simulator(world)
            sim.stopping = self.stopping
            self.provinces[code] = sim
        self.server: NationServer | None = None

    def set_fault(self, province: str, system: str, mode: str, **params: Any) -> str | None:
        """Switch a fault of one province (``all`` for every province); returns a problem or None."""
        codes = list(self.provinces) if province == "all" else [province]
        for code in codes:
            if code not in self.provinces:
                return f"unknown province {province!r}; provinces: {', '.join(self.provinces)}, all"
        for code in codes:
            problem = self.provinces[code].set_fault(system, mode, **params)
            if problem:
                return problem
        return None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.server = NationServer((host, port), self)
        threading.Thread(target=self.server.serve_forever, name="egov-sim-nation", daemon=True).start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class NationServer(SimServer):
    """Routes ``/<code>/...`` to that province's simulator; ``/`` lists the provinces."""

    def __init__(self, address: tuple[str, int], nation: Nation) -> None:
        self.nation = nation
        super().__init__(address, next(iter(nation.provinces.values())))

    def route(self, path: str) -> tuple[Simulator | None, str]:
        if path == "/-/healthy":
            return self.sim, path
        code, sep, rest = path.lstrip("/").partition("/")
        sim = self.nation.provinces.get(code)
        if sim is None:
            return None, path
        return sim, "/" + rest if sep else "/"

    def index(self, sim: Simulator | None) -> dict[str, Any]:
        if sim is not None:
            return super().index(sim)
        return {
            "provinces": {
                code: {
                    "name": p.world.province_name,
                    "path": f"/{code}/",
                    "units": len(p.world.units),
                    "faults": {s: f["mode"] for s, f in p.faults.items() if f["mode"] != "none"},
                }
                for code, p in self.nation.provinces.items()
            },
            "systems": list(self.sim.systems),
        }
