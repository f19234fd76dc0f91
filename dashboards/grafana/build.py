"""Generate dashboards/grafana/json/*.json from the dashboard modules (deterministic: sorted keys, fixed
indentation, no timestamps), or check that the committed files are current.

    python -m dashboards.grafana.build           # rewrite json/
    python -m dashboards.grafana.build --check   # exit 1 when json/ is stale (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.grafana import documents, lgsp, overview, par7, portal, qd766, services

HERE = Path(__file__).resolve().parent
JSON_DIR = HERE / "json"
#: every dashboard, once
MODULES = (overview, portal, lgsp, documents, services, qd766, par7)


def render() -> dict[str, str]:
    """file name -> JSON text of every dashboard."""
    out = {}
    for mod in MODULES:
        data = json.loads(JSONEncoder().encode(mod.build().build()))
        out[f"{mod.UID}.json"] = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return out


def stale(directory: Path = JSON_DIR) -> list[str]:
    want = render()
    have = (
        {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.json")}
        if directory.is_dir()
        else {}
    )
    return sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m dashboards.grafana.build", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--check", action="store_true", help="exit 1 when the committed JSON is stale")
    args = p.parse_args(argv)
    if args.check:
        bad = stale()
        for name in bad:
            print(f"{JSON_DIR / name}: stale, run python -m dashboards.grafana.build", file=sys.stderr)
        return 1 if bad else 0
    JSON_DIR.mkdir(exist_ok=True)
    files = render()
    for name, text in files.items():
        (JSON_DIR / name).write_text(text, encoding="utf-8")
    for extra in {p.name for p in JSON_DIR.glob("*.json")} - set(files):
        (JSON_DIR / extra).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
