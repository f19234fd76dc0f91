"""A nationwide deployment run for real, as docs/scaling.md describes it: 34 simulated provinces (one
``egov-exporter simulate --provinces 34`` process), their targets in one configuration split over three
exporter shards (``--shard i/3``), two ``vmagent`` in cluster mode (``-promscrape.cluster.membersCount=2``)
scraping the shards and remote-writing to ``victoria-metrics``, and ``vmalert`` evaluating the shipped
recording and alert rules against it (Debian's victoria-metrics package).

A single Prometheus is the reference: it receives the very same samples (the vmagents remote-write to it
too, ``--web.enable-remote-write-receiver``) and evaluates the same rules, so any difference is the
engine's, not the scrape instants'.

Every target of the configuration is polled once (interval 1h: the values stay put while both engines
read them, so both see the same data).  One province's public-service system answers 500, so alerts fire.

Checks: every system target polled by exactly one shard; every shard scraped by exactly one vmagent, once
per interval; VictoriaMetrics holds exactly the series of each shard's /metrics (none lost, none
duplicated); vmalert's recording-rule results and firing alerts equal Prometheus's; ``egov-exporter
snapshot`` from VictoriaMetrics equals the snapshot from Prometheus figure for figure.  The sizing figures
(targets, series per shard and per province, bytes per sample, storage per year) are measured and written
to ``nationwide.json`` in the test's tmp folder and printed (pytest -s).
"""

from __future__ import annotations

import json
import math
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from engines import (
    PROMETHEUS,
    VICTORIA_METRICS,
    VMAGENT,
    VMALERT,
    Procs,
    WebhookReceiver,
    http_get,
    prom_query,
    require,
)
from harness import ROOT, free_port, parse_metrics, run_cli, wait_for
from nationwide import nation_config

from exporter.shard import shard_of
from exporter.simulator.nation import province_code
from rules import build as rules_build

pytestmark = pytest.mark.e2e
PROVINCES = 34
UNITS = 8  # units per simulated province (a real one has 100-200: see docs/scaling.md for its series)
SHARDS = 3
VMAGENTS = 2
SCRAPE = 5  # seconds, scrape interval of the test (30s in the recipe)
EVALUATE = 2  # seconds, rule evaluation interval of the test (30s in the recipe)
FAULTY = province_code(5)  # its public-service system answers 500
#: series the scraper adds per scrape target (not in /metrics)
SCRAPE_SERIES = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
}
#: rules whose value depends on the engine's definition of increase() (see docs/scaling.md)
INCREASE = re.compile(r"\b(increase|rate|irate)\(")


def series_key(name: str, labels: dict[str, str], drop=("job", "instance", "shard")) -> tuple:
    return (name, tuple(sorted((k, v) for k, v in labels.items() if k not in drop)))


def metrics_series(text: str) -> set[tuple]:
    """Every series of a /metrics page as (name, sorted labels)."""
    return {series_key(name, s.labels, ()) for name, samples in parse_metrics(text).items() for s in samples}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


# ------------------------------------------------------------- the recipe's command lines (docs/scaling.md)
#: flags of the test only, not of the recipe: log levels, and no staleness markers when the test ends the
#: scrapes (both stores keep the last values for the snapshots compared)
TEST_ONLY_FLAGS = {"-loggerLevel", "--log.level", "-promscrape.noStaleMarkers"}


def exporter_argv(config: Path, listen: str, shard: int) -> list[str]:
    return [
        *("--config.file", str(config)),
        *("--web.listen-address", listen),
        *("--shard", f"{shard}/{SHARDS}"),
        *("--log.level", "warning"),
    ]


def vm_argv(data: Path, listen: str) -> list[str]:
    return [
        VICTORIA_METRICS,
        f"-storageDataPath={data}",
        f"-httpListenAddr={listen}",
        "-retentionPeriod=3y",
        "-search.disableCache",
        "-search.latencyOffset=0s",
        "-search.maxSeries=5000000",
        "-loggerLevel=WARN",
    ]


def vmagent_argv(scrape: Path, member: int, writes: list[str], data: Path, listen: str) -> list[str]:
    return [
        VMAGENT,
        f"-promscrape.config={scrape}",
        f"-promscrape.cluster.membersCount={VMAGENTS}",
        f"-promscrape.cluster.memberNum={member}",
        *(f"-remoteWrite.url={url}" for url in writes),
        f"-remoteWrite.tmpDataPath={data}",
        f"-httpListenAddr={listen}",
        "-promscrape.noStaleMarkers",
        "-loggerLevel=WARN",
    ]


def vmalert_argv(rules: Path, vm: str, notifier: str, listen: str) -> list[str]:
    return [
        VMALERT,
        f"-rule={rules / 'recording' / '*.yml'}",
        f"-rule={rules / 'alerts' / '*.yml'}",
        f"-datasource.url={vm}",
        f"-remoteWrite.url={vm}",
        f"-remoteRead.url={vm}",
        f"-notifier.url={notifier}",
        f"-evaluationInterval={EVALUATE}s",
        "-remoteWrite.flushInterval=1s",
        f"-httpListenAddr={listen}",
        "-loggerLevel=WARN",
    ]


class Nation:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs = Procs(tmp)
        self.sim = self.vm = self.prom = self.vmalert = ""
        self.shards: list[str] = []
        self.vmagents: list[str] = []
        self.config: dict = {}
        self.figures: dict = {}
        self.timings: dict[str, float] = {}
        self.at = 0.0
        self.vmagent_targets: list[list[dict]] = []


@pytest.fixture(scope="module")
def nation(tmp_path_factory):
    require(VICTORIA_METRICS, VMAGENT, VMALERT, PROMETHEUS)
    tmp = tmp_path_factory.mktemp("nationwide")
    n = Nation(tmp)
    started = time.monotonic()
    sink = WebhookReceiver()  # vmalert's notifier (Alertmanager's API); alert delivery has its own test
    try:
        port = free_port()
        n.sim = f"http://127.0.0.1:{port}"
        n.procs.exporter(
            "simulator",
            "simulate",
            "--provinces",
            str(PROVINCES),
            "--units",
            str(UNITS),
            "--listen-address",
            f"127.0.0.1:{port}",
            "--fault",
            f"{FAULTY}:services=5xx",
            "--log.level",
            "warning",
        )
        n.procs.wait_http("simulator", n.sim + "/-/healthy", 30)

        # --- the engine: victoria-metrics, and the reference Prometheus (remote-write receiver) ---------
        vm_port, prom_port = free_port(), free_port()
        n.vm, n.prom = f"http://127.0.0.1:{vm_port}", f"http://127.0.0.1:{prom_port}"
        n.procs.start("victoria-metrics", vm_argv(tmp / "vm-data", f"127.0.0.1:{vm_port}"))
        rules = tmp / "rules"
        write_rules(rules)
        (tmp / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"evaluation_interval": f"{EVALUATE}s"},
                    "rule_files": [str(rules / "recording" / "*.yml"), str(rules / "alerts" / "*.yml")],
                }
            )
        )
        n.procs.start(
            "prometheus",
            [
                PROMETHEUS,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--web.enable-remote-write-receiver",
                "--log.level=warn",
            ],
        )

        # --- three exporter shards of one configuration ------------------------------------------
        n.config = nation_config(n.sim, PROVINCES, UNITS)
        config = tmp / "config.yaml"
        config.write_text(yaml.safe_dump(n.config, allow_unicode=True), encoding="utf-8")
        for i in range(1, SHARDS + 1):
            address = f"127.0.0.1:{free_port()}"
            n.shards.append(address)
            n.procs.exporter(f"exporter-{i}", *exporter_argv(config, address, i))
        for i, address in enumerate(n.shards, start=1):
            n.procs.wait_http(f"exporter-{i}", f"http://{address}/-/ready", 120)
        n.timings["all targets polled (s)"] = round(time.monotonic() - started, 1)
        n.procs.wait_http("victoria-metrics", n.vm + "/health", 30)
        n.procs.wait_http("prometheus", n.prom + "/-/ready", 60)

        # --- vmagent in cluster mode: 2 members share the 3 shards ---------------------------------
        scrape = {
            "global": {"scrape_interval": f"{SCRAPE}s", "scrape_timeout": f"{SCRAPE}s"},
            "scrape_configs": [
                {
                    "job_name": rules_build.load_thresholds().exporter_job,
                    "static_configs": [
                        {"targets": [address], "labels": {"shard": str(i)}}
                        for i, address in enumerate(n.shards, start=1)
                    ],
                }
            ],
        }
        (tmp / "scrape.yml").write_text(yaml.safe_dump(scrape))
        for member in range(VMAGENTS):
            agent_port = free_port()
            n.vmagents.append(f"http://127.0.0.1:{agent_port}")
            n.procs.start(
                f"vmagent-{member}",
                vmagent_argv(
                    tmp / "scrape.yml",
                    member,
                    [f"{n.vm}/api/v1/write", f"{n.prom}/api/v1/write"],
                    tmp / f"vmagent-{member}",
                    f"127.0.0.1:{agent_port}",
                ),
            )
        for member, url in enumerate(n.vmagents):
            n.procs.wait_http(f"vmagent-{member}", url + "/health", 30)

        # --- vmalert: the shipped rules against victoria-metrics -----------------------------------
        alert_port = free_port()
        n.vmalert = f"http://127.0.0.1:{alert_port}"
        n.procs.start("vmalert", vmalert_argv(rules, n.vm, sink.url, f"127.0.0.1:{alert_port}"))
        n.procs.wait_http("vmalert", n.vmalert + "/health", 30)

        # the engines hold every shard's series, and both have evaluated the rules a few times
        def ingested() -> bool:
            for base in (n.vm, n.prom):
                found = prom_query(base, 'count(count by (instance) (up{job="egov-exporter"} == 1))')
                if not found or int(float(found[0]["value"][1])) != SHARDS:
                    return False
            return True

        wait_for(ingested, 60, "both engines to hold the samples of the three shards", step=1)
        n.timings["samples of every shard in both engines (s)"] = round(time.monotonic() - started, 1)

        # the deepest rules (an average of recorded averages, aggregated by system) and the alerts of the
        # faulty province have been evaluated by both; then two more rounds, so every rule of a rule is
        # computed from its inputs' latest values
        def evaluated() -> bool:
            return all(
                prom_query(base, "system:egov_target_up:avg_over_time30d")
                and prom_query(base, 'ALERTS{alertname="EgovTargetDown", alertstate="firing"}')
                for base in (n.vm, n.prom)
            )

        wait_for(evaluated, 90, "vmalert and Prometheus to evaluate every rule", step=1)
        time.sleep(3 * EVALUATE + 1)
        n.at = time.time() - 1  # every comparison reads both engines at this instant
        n.timings["stack up and rules evaluated (s)"] = round(time.monotonic() - started, 1)
        # then the scrapes end (an empty scrape configuration, reloaded) and vmalert stops, and the vmagents
        # deliver what they still hold to both stores, so that both keep the same samples while the tests
        # read them
        n.vmagent_targets = [
            json.loads(http_get(url + "/api/v1/targets")[1])["data"]["activeTargets"] for url in n.vmagents
        ]
        (tmp / "scrape.yml").write_text(yaml.safe_dump({"scrape_configs": []}))
        for member in range(VMAGENTS):
            n.procs.procs[f"vmagent-{member}"].send_signal(signal.SIGHUP)
        n.procs.stop("vmalert")
        # a scrape's samples may reach a store in more than one remote-write batch: count the scrapes (up)
        # and the samples of a per-target series too, per shard
        counts = (
            'count_over_time(up{job="egov-exporter"}[1h])',
            'sum by (instance) (count_over_time(egov_target_up{job="egov-exporter"}[1h]))',
        )
        last: list = []

        def delivered() -> bool:
            now = {
                b: sorted(
                    (q, r["metric"]["instance"], r["value"][1]) for q in counts for r in prom_query(b, q)
                )
                for b in (n.vm, n.prom)
            }
            same_now = now[n.vm] == now[n.prom] and now[n.vm] == (last[-1] if last else None)
            last.append(now[n.vm])
            return same_now

        wait_for(delivered, 30, "the vmagents to deliver the same samples to both stores", step=2)
        yield n
    finally:
        n.procs.stop_all()
        sink.close()
        report = {"figures": n.figures, "timings": n.timings}
        (tmp / "nationwide.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        print("\nnationwide run:\n" + json.dumps(report, indent=2))


def write_rules(out: Path) -> None:
    """The shipped recording rules, and the alert rules with every ``for:`` at 1s (as the monitoring
    integration test does): the test cannot wait 5 minutes for EgovTargetDown."""
    import shutil

    (out / "recording").mkdir(parents=True)
    (out / "alerts").mkdir()
    for p in sorted((ROOT / "rules" / "recording").glob("*.yml")):
        shutil.copy(p, out / "recording" / p.name)
    for name, text in rules_build.render(rules_build.load_thresholds(), for_override="1s").items():
        (out / "alerts" / name).write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------------------------- tests


def shard_metrics(n: Nation) -> dict[str, str]:
    if "metrics" not in n.__dict__:
        pages = {}
        for address in n.shards:
            status, body = http_get(f"http://{address}/metrics", timeout=30)
            assert status == 200
            pages[address] = body.decode("utf-8")
        n.metrics = pages
    return n.metrics


def test_every_target_polled_once_by_exactly_one_shard(nation):
    names = [t["name"] for t in nation.config["targets"]]
    polled: dict[int, dict[str, float]] = {}
    for i, text in enumerate(shard_metrics(nation).values(), start=1):
        polls = parse_metrics(text).get("egov_target_polls_total", [])
        polled[i] = {s.labels["target"]: s.value for s in polls if s.value >= 1}
    owners = Counter(t for targets in polled.values() for t in targets)
    assert sorted(owners) == sorted(names), "targets polled by no shard"
    assert [t for t, c in owners.items() if c > 1] == [], "targets polled by two shards"
    for i, targets in polled.items():
        assert set(targets) == {t for t in names if shard_of(t, SHARDS) == i}
    assert {t: v for targets in polled.values() for t, v in targets.items() if v != 1} == {}
    provinces = {t["labels"]["province"] for t in nation.config["targets"]}
    assert len(provinces) == PROVINCES
    nation.figures.update(
        provinces=PROVINCES,
        units_per_province=UNITS,
        targets=len(names),
        shards=SHARDS,
        targets_per_shard=[len(polled[i]) for i in sorted(polled)],
        targets_polled_twice=sum(1 for c in owners.values() if c > 1),
    )


def test_every_shard_scraped_by_exactly_one_vmagent_once_per_interval(nation):
    members: dict[int, set[str]] = {}
    for member, active in enumerate(nation.vmagent_targets):
        members[member] = {t["labels"]["instance"] for t in active}
        assert all(t["health"] == "up" for t in active), active
    scrapers = Counter(i for instances in members.values() for i in instances)
    assert sorted(scrapers) == sorted(nation.shards), members
    assert [i for i, c in scrapers.items() if c > 1] == [], f"scraped by both members: {members}"
    # once per interval: a shard scraped by two members would have twice the samples of `up` (4 scrapes
    # fit in 4 intervals, 5 when one falls on the window's edge)
    window = 4 * SCRAPE
    counts = {
        r["metric"]["instance"]: float(r["value"][1])
        for r in prom_query(nation.vm, f'count_over_time(up{{job="egov-exporter"}}[{window}s])', nation.at)
    }
    assert set(counts) == set(nation.shards)
    assert all(3 <= c <= 5 for c in counts.values()), counts
    nation.figures.update(
        vmagent_members=VMAGENTS,
        shards_per_vmagent=[len(members[m]) for m in sorted(members)],
        scrape_duplicates=sum(c - 1 for c in scrapers.values()),
        up_samples_per_shard_in_4_intervals=sorted(counts.values()),
    )


def engine_series(base: str, since: float) -> dict[str, Counter]:
    """Every scraped series of job egov-exporter the engine has held since ``since``: instance -> Counter
    of keys."""
    status, body = http_get(
        f"{base}/api/v1/series?match[]=%7Bjob%3D%22egov-exporter%22%7D&start={since:.0f}&end={time.time():.0f}",
        timeout=60,
    )
    assert status == 200, body[:300]
    out: dict[str, Counter] = {}
    for labels in json.loads(body)["data"]:
        name = labels.pop("__name__")
        if ":" in name or name.startswith("ALERTS"):
            continue  # results of the rules (they keep the job and instance labels of their input)
        out.setdefault(labels["instance"], Counter())[series_key(name, labels)] += 1
    return out


def test_no_series_lost_or_duplicated(nation):
    since = time.time() - 3600
    pages = shard_metrics(nation)
    vm, prom = engine_series(nation.vm, since), engine_series(nation.prom, since)
    assert set(vm) == set(nation.shards) == set(prom)
    lost = extra = 0
    per_target: Counter = Counter()
    for address, text in pages.items():
        exported = metrics_series(text)
        stored = {k for k in vm[address] if k[0] not in SCRAPE_SERIES}
        lost += len(exported - stored)
        extra += len(stored - exported)
        assert exported - stored == set(), f"{address}: lost {sorted(exported - stored)[:5]}"
        assert stored - exported == set(), f"{address}: not in /metrics {sorted(stored - exported)[:5]}"
        assert {k for k in prom[address] if k[0] not in SCRAPE_SERIES} == exported  # the reference too
        for key in exported:
            if "target" in dict(key[1]):
                per_target[key] += 1
    duplicated = {k: c for k, c in per_target.items() if c > 1}
    assert duplicated == {}, f"per-target series exported by two shards: {list(duplicated)[:5]}"
    by_province = Counter(dict(k[1]).get("province") for k in per_target)
    assert set(by_province) == {province_code(i) for i in range(1, PROVINCES + 1)}
    total = sum(len(v) for v in vm.values())
    nation.figures.update(
        series_total=total,
        series_per_shard=[len(vm[a]) for a in nation.shards],
        series_of_targets=len(per_target),
        series_per_province={"min": min(by_province.values()), "max": max(by_province.values())},
        lost_series=lost,
        unexpected_series=extra,
        duplicated_series=len(duplicated),
    )


def recording_rules() -> list[dict]:
    out = []
    for path in sorted((ROOT / "rules" / "recording").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            out += group["rules"]
    return out


def increase_based(rules: list[dict]) -> set[str]:
    """Rules using increase()/rate(), directly or through another recording rule."""
    found = {r["record"] for r in rules if INCREASE.search(r["expr"])}
    while True:
        more = {
            r["record"] for r in rules if any(re.search(rf"\b{re.escape(f)}\b", r["expr"]) for f in found)
        }
        if more <= found:
            return found
        found |= more


def rule_results(base: str, at: float) -> dict[str, dict[tuple, float]]:
    """Every recording rule's result at ``at``: name -> labels -> value."""
    out: dict[str, dict[tuple, float]] = {}
    for r in prom_query(base, '{__name__=~".+:.+"}', at):
        labels = dict(r["metric"])
        name = labels.pop("__name__")
        out.setdefault(name, {})[tuple(sorted(labels.items()))] = float(r["value"][1])
    return out


def test_vmalert_recording_rules_equal_prometheus(nation):
    rules = recording_rules()
    increasing = increase_based(rules)
    vm_all, prom_all = rule_results(nation.vm, nation.at), rule_results(nation.prom, nation.at)
    compared = values = nan_only_in_prometheus = increase_values = increase_differ = 0
    mismatches: dict[str, list] = {}
    for rule in rules:
        name = rule["record"]
        vm, prom = vm_all.get(name, {}), prom_all.get(name, {})
        # MetricsQL drops NaN results (0/0) where PromQL keeps them
        nan = {k for k, v in prom.items() if math.isnan(v)}
        nan_only_in_prometheus += len(nan - set(vm))
        prom = {k: v for k, v in prom.items() if k not in nan or k in vm}
        assert set(vm) == set(prom), (
            f"{name}: only in vmalert {sorted(set(vm) - set(prom))[:3]}, "
            f"only in Prometheus {sorted(set(prom) - set(vm))[:3]}"
        )
        compared += 1
        if name in increasing:
            # MetricsQL's increase() does not extrapolate to the window's edges and counts a new series'
            # first sample from 0 when it is small: the same series, values of their own (docs/scaling.md)
            increase_values += len(vm)
            increase_differ += sum(1 for k in vm if not same(vm[k], prom[k]))
            continue
        values += len(vm)
        bad = [(k, vm[k], prom[k]) for k in vm if not same(vm[k], prom[k])]
        if bad:
            mismatches[name] = bad[:3]
    assert mismatches == {}
    assert values > 1000
    nation.figures.update(
        recording_rules_compared=compared,
        recording_rule_values_equal=values,
        recording_rules_increase_based=sorted(increasing),
        increase_based_values=increase_values,
        increase_based_values_differing=increase_differ,
        nan_results_only_in_prometheus=nan_only_in_prometheus,
    )


def firing(base: str, at: float) -> set[tuple]:
    """The firing alerts, as the ALERTS series each engine writes (vmalert adds the group's name)."""
    return {
        tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("__name__", "alertgroup")))
        for r in prom_query(base, 'ALERTS{alertstate="firing"}', at)
    }


def test_vmalert_alerts_equal_prometheus(nation):
    vm, prom = firing(nation.vm, nation.at), firing(nation.prom, nation.at)
    assert vm == prom, f"only vmalert: {sorted(vm - prom)[:3]}; only Prometheus: {sorted(prom - vm)[:3]}"
    down = {dict(a)["target"] for a in vm if dict(a)["alertname"] == "EgovTargetDown"}
    faulty = {
        t["name"]
        for t in nation.config["targets"]
        if t["labels"]["province"] == FAULTY and t["name"].startswith(f"{FAULTY}-services")
    }
    assert down == faulty
    nation.figures.update(
        alerts_firing=len(vm),
        alerts_by_name=dict(sorted(Counter(dict(a)["alertname"] for a in vm).items())),
    )


def leaves(doc, path=""):
    """(path, value) of every scalar of a JSON document."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from leaves(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, doc


def test_snapshot_from_victoria_metrics_equals_prometheus(nation, tmp_path):
    import datetime as dt

    from exporter.snapshot.periods import TZ

    month = dt.datetime.now(TZ).strftime("%Y-%m")
    docs = {}
    for name, url in (("victoria-metrics", nation.vm), ("prometheus", nation.prom)):
        out = tmp_path / name
        started = time.monotonic()
        proc = run_cli(
            "snapshot",
            "--month",
            month,
            "--prometheus-url",
            url,
            *("--prometheus.ignore-label", "job", "--prometheus.ignore-label", "instance"),
            *("--prometheus.ignore-label", "shard"),
            "--format",
            "json",
            "--output-dir",
            str(out),
            "--quiet",
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        nation.timings[f"snapshot from {name} (s)"] = round(time.monotonic() - started, 1)
        (path,) = out.glob("*.json")
        docs[name] = json.loads(path.read_text(encoding="utf-8"))
    for doc in docs.values():
        doc.pop("generated_at")
        doc.pop("source")  # the URL
    vm, prom = dict(leaves(docs["victoria-metrics"])), dict(leaves(docs["prometheus"]))

    def equal(a, b) -> bool:
        # VictoriaMetrics stores a value with at most 15-16 significant digits (a poll's timestamp with
        # microseconds, 1796281176.2742834, comes back 1796281176.274284), and a mean of such values carries
        # the rounding on (0.920670459 against 0.920670459001): equal to 9 significant digits, far below any
        # figure the report shows (2 decimals)
        if isinstance(a, float) and isinstance(b, float):
            return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
        return a == b

    differences = sorted(
        k for k in set(vm) | set(prom) if not equal(vm.get(k, "absent"), prom.get(k, "absent"))
    )
    assert differences == [], [(k, vm.get(k), prom.get(k)) for k in differences[:10]]
    numbers = [k for k, v in vm.items() if isinstance(v, (int, float)) and not k.startswith(".queries")]
    assert len(docs["prometheus"]["availability"]["targets"]) == len(nation.config["targets"])
    assert len(numbers) > 10000
    nation.figures.update(
        snapshot_figures_compared=len(numbers),
        snapshot_differences=len(differences),
        snapshot_figures_not_bit_identical=sum(1 for k in numbers if vm[k] != prom[k]),
    )


def test_storage_per_sample_and_per_year(nation):
    """The sizing of docs/scaling.md: what VictoriaMetrics stores per sample of this run, and a year of the
    nation's series scraped every 30 s at that rate (and at 1 byte a sample: the values here stand still,
    which compresses better than a real province's)."""
    assert http_get(nation.vm + "/internal/force_flush")[0] == 200
    time.sleep(2)
    metrics = parse_metrics(http_get(nation.vm + "/metrics")[1].decode("utf-8"))
    size = sum(s.value for s in metrics["vm_data_size_bytes"] if s.labels["type"].startswith("storage/"))
    rows = sum(s.value for s in metrics["vm_rows"] if s.labels["type"].startswith("storage/"))
    assert rows > 0 and size > 0
    series = nation.figures.get("series_total") or sum(
        1 for _ in prom_query(nation.vm, 'count by (instance) ({job="egov-exporter"})', nation.at)
    )
    per_year = 365 * 86400 / 30
    nation.figures.update(
        stored_samples=int(rows),
        stored_bytes=int(size),
        bytes_per_sample=round(size / rows, 3),
        storage_per_year_at_measured_rate_gib=round(series * per_year * size / rows / 2**30, 1),
        storage_per_year_at_1_byte_per_sample_gib=round(series * per_year / 2**30, 1),
    )
