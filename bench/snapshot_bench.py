#!/usr/bin/env python3
"""How long does ``egov-exporter snapshot --quarter`` take for a province of 200 units, from the embedded
history and from a real Prometheus holding the same data?

Generates two quarters (2026Q2 and 2026Q3, the second compared with the first) of a simulated province
(tests/snapshot_synth.py, time-compressed: no waiting), writes them into a history file through the
writer's own method and backfills them into a Prometheus TSDB with ``promtool tsdb create-blocks-from
openmetrics``, starts ``prometheus`` on loopback, then times the snapshot (every figure, trend and
rank, and the four output formats) from each source.

    python bench/snapshot_bench.py                         # 200 units, daily ticks, both sources
    python bench/snapshot_bench.py --step 3h --skip-prometheus   # denser history only

Prints one table; ``--json`` adds the figures as JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from snapshot_synth import Province  # noqa: E402

from exporter.config import parse_duration  # noqa: E402
from exporter.history import HistoryDB  # noqa: E402
from exporter.snapshot.compute import Builder  # noqa: E402
from exporter.snapshot.outputs import write_outputs  # noqa: E402
from exporter.snapshot.periods import quarter  # noqa: E402
from exporter.snapshot.sources import HistorySource, PrometheusSource  # noqa: E402
from exporter.snapshot.spec import load_report  # noqa: E402


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _time_snapshots(make_source, runs: int, out: Path) -> tuple[list[float], list[float], list[float], int]:
    """Wall time of building the snapshot, CPU time of this process for it, wall time of the outputs."""
    spec, period = load_report(), quarter(2026, 3)
    builds, cpus, writes, queries = [], [], [], 0
    for _ in range(runs):
        source = make_source()
        t0, c0 = time.perf_counter(), time.process_time()
        doc = Builder(source, spec, period).build()
        t1, c1 = time.perf_counter(), time.process_time()
        write_outputs(doc, ["xlsx", "csv", "json", "html"], out)
        t2 = time.perf_counter()
        source.close()
        builds.append(t1 - t0)
        cpus.append(c1 - c0)
        writes.append(t2 - t1)
        queries = len(doc["queries"])
    return builds, cpus, writes, queries


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--step", default="1d", help="interval between recorded ticks (default: 1d)")
    ap.add_argument("--periods", default="quarter", help="period labels recorded (default: quarter)")
    ap.add_argument("--runs", type=int, default=3, help="snapshots timed per source (default: 3)")
    ap.add_argument("--skip-prometheus", action="store_true")
    ap.add_argument("--keep", default=None, metavar="DIR", help="keep the data and reports in DIR")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: time the snapshots on the data a previous run left there",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    step = int(parse_duration(args.step))
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="egov-snapshot-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    province = Province(
        units=args.units,
        step=step,
        offset=20 * 3600 if step >= 86400 else 0,
        periods=tuple(p.strip() for p in args.periods.split(",")),
        table_units=min(20, args.units - 1),
        cache=False,
    )
    ticks = province.ticks()
    series = len(province.samples(ticks[-1]))
    fig: dict[str, object] = {
        "units": args.units,
        "step_seconds": step,
        "ticks": len(ticks),
        "series": series,
        "samples": series * len(ticks),
    }
    print(
        f"province: {args.units} units, {series} series, {len(ticks)} ticks every {args.step} "
        f"(2026Q2-2026Q3) = {series * len(ticks):,} samples",
        flush=True,
    )

    hist = work / "egov-history.sqlite"
    reuse = args.reuse and args.keep and hist.exists() and (work / "tsdb").exists()
    if not reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{hist}{suffix}").unlink(missing_ok=True)
        t0 = time.perf_counter()
        db = HistoryDB(hist, synchronous="NORMAL")
        rows = province.write_history(db)
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        fig.update(
            history_write_seconds=time.perf_counter() - t0, history_rows=rows, history_bytes=_size(hist)
        )
        print(
            f"history: written in {fig['history_write_seconds']:.1f}s (including generating the samples), "
            f"{rows:,} rows, {_size(hist) / 1e6:.1f} MB",
            flush=True,
        )
    else:
        print(f"history: reusing {hist} ({_size(hist) / 1e6:.1f} MB) and {work / 'tsdb'}", flush=True)
    builds, cpus, writes, queries = _time_snapshots(
        lambda: HistorySource(str(hist)), args.runs, work / "out-history"
    )
    fig.update(
        history_snapshot_seconds=builds,
        history_snapshot_cpu_seconds=cpus,
        history_output_seconds=writes,
        history_queries=queries,
    )

    if not args.skip_prometheus:
        promtool, prom = shutil.which("promtool"), shutil.which("prometheus")
        if not promtool or not prom:
            print("promtool/prometheus not found (Debian package prometheus)", file=sys.stderr)
            return 1
        om, data = work / "quarters.om", work / "tsdb"
        if not reuse:
            shutil.rmtree(data, ignore_errors=True)
            t0 = time.perf_counter()
            with open(om, "w", encoding="utf-8") as f:
                f.writelines(province.openmetrics())
            t1 = time.perf_counter()
            subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(om), str(data)],
                check=True,
            )
            t2 = time.perf_counter()
            fig.update(
                openmetrics_seconds=t1 - t0,
                openmetrics_bytes=_size(om),
                promtool_seconds=t2 - t1,
                tsdb_bytes=_size(data),
            )
            print(
                f"prometheus: OpenMetrics {_size(om) / 1e6:.0f} MB in {t1 - t0:.1f}s, promtool backfill "
                f"{t2 - t1:.1f}s, TSDB {_size(data) / 1e6:.1f} MB",
                flush=True,
            )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        (work / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n", encoding="utf-8")
        log = open(work / "prometheus.log", "wb")
        proc = subprocess.Popen(
            [
                prom,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            t0 = time.perf_counter()
            deadline = time.monotonic() + 600
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/-/ready", timeout=5) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    print("prometheus did not start; see", work / "prometheus.log", file=sys.stderr)
                    return 1
                time.sleep(0.5)
            fig["prometheus_ready_seconds"] = time.perf_counter() - t0
            builds, cpus, writes, queries = _time_snapshots(
                lambda: PrometheusSource(url), args.runs, work / "out-prometheus"
            )
            fig.update(
                prometheus_snapshot_seconds=builds,
                prometheus_snapshot_cpu_seconds=cpus,
                prometheus_output_seconds=writes,
                prometheus_queries=queries,
            )
            a = json.loads((work / "out-history" / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8"))
            b = json.loads(
                (work / "out-prometheus" / "egov-snapshot-2026Q3.json").read_text(encoding="utf-8")
            )
            fig["sources_agree"] = all(a[k] == b[k] for k in ("indicators", "scorecards", "availability"))
        finally:
            proc.terminate()
            proc.wait(60)
            log.close()

    print()
    print(
        f"{'source':<12} {f'snapshot (median of {args.runs})':>24} {'min':>8} {'max':>8} {'client CPU':>11} "
        f"{'outputs':>8} {'queries':>8}"
    )
    for name in ("history", "prometheus"):
        if f"{name}_snapshot_seconds" in fig:
            b, w = fig[f"{name}_snapshot_seconds"], fig[f"{name}_output_seconds"]
            c = fig[f"{name}_snapshot_cpu_seconds"]
            print(
                f"{name:<12} {statistics.median(b):>23.2f}s {min(b):>7.2f}s {max(b):>7.2f}s "
                f"{statistics.median(c):>10.2f}s {statistics.median(w):>7.2f}s {fig[f'{name}_queries']:>8}"
            )
    if "sources_agree" in fig:
        print(f"\nfigures identical from both sources: {fig['sources_agree']}")
    print(f"data and reports in {work}" if args.keep else "")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
