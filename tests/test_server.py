"""The HTTP server on a real loopback socket, polling a real loopback upstream: /metrics, /, health and
readiness, reload, /probe (known, unknown, redaction), basic auth from the web config, disabled endpoints."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bcrypt
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from waits import wait_until

from exporter.app import App
from exporter.registry import load_kinds, scoring_check
from exporter.server import Server, parse_listen_address
from exporter.webconfig import load_web_config

BODIES = Path(__file__).parent / "fixtures" / "http" / "generic"
TOKEN = "secret-token-8812"


class Upstream:
    """A loopback upstream: /stats answers stats.json plus an echo of the Authorization header (as some
    error pages do, which is why /probe must redact), /page the portal page.  Counts requests."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                upstream.requests.append(self.path)
                if self.path == "/stats":
                    data = json.loads((BODIES / "stats.json").read_text())
                    data["echo"] = self.headers.get("Authorization", "")
                    body, ctype = json.dumps(data).encode(), "application/json"
                else:
                    body, ctype = (BODIES / "portal-home.html").read_bytes(), "text/html; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def config_text(port: int, extra_target: bool = False) -> str:
    text = f"""
scheduler:
  start_spread: 100ms
defaults:
  interval: 1h
  timeout: 5s
  retries: 0
  labels:
    unit: H44
targets:
  - name: lgsp-stats
    kind: json
    system: lgsp
    url: http://127.0.0.1:{port}/stats
    auth:
      type: bearer
      token: {TOKEN}
    metrics:
      - name: egov_lgsp_api_calls_total
        type: counter
        path: "$.apis[*]"
        value: "@.calls"
        labels:
          api: "@.name"
  - name: portal-home
    kind: http
    system: portal
    url: http://127.0.0.1:{port}/page
    body_must_match: ["Cổng thông tin"]
"""
    if extra_target:
        text += f"""
  - name: portal-contact
    kind: http
    system: portal
    url: http://127.0.0.1:{port}/lien-he
"""
    return text


class Running:
    def __init__(
        self,
        tmp_path: Path,
        *,
        web=None,
        probe: bool = True,
        lifecycle: bool = True,
        start: bool = True,
        text=config_text,
    ) -> None:
        self.upstream = Upstream()
        self.config = tmp_path / "config.yml"
        self.config.write_text(text(self.upstream.port), encoding="utf-8")
        self.app = App(str(self.config), kinds=load_kinds(), check_scoring=scoring_check())
        self.app.load()
        self.server = Server(("127.0.0.1", 0), self.app, web, enable_lifecycle=lifecycle, enable_probe=probe)
        # like Server.serve_in_thread, with a short poll interval so that teardown is quick
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.http = requests.Session()
        self.http.trust_env = False
        self.started = False
        if start:
            self.start()

    def start(self) -> None:
        self.app.start()
        self.started = True
        assert wait_until(self.app.ready, 5.0), "first polls did not finish"

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.base + path, timeout=5, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.http.post(self.base + path, timeout=10, **kw)

    def metrics(self) -> dict[tuple, float]:
        text = self.get("/metrics").text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.started:
            self.app.stop()
        self.upstream.close()
        self.http.close()


@pytest.fixture()
def running(tmp_path):
    made: list[Running] = []

    def make(**kw) -> Running:
        r = Running(tmp_path, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def up(name: str, system: str) -> tuple:
    return ("egov_target_up", (("system", system), ("target", name), ("unit", "H44")))


# ---------------------------------------------------------------------------------------- endpoints


def test_ready_only_after_first_polls(running):
    r = running(start=False)
    assert r.get("/-/healthy").status_code == 200
    resp = r.get("/-/ready")
    assert resp.status_code == 503 and "not been polled" in resp.text
    r.start()
    assert r.get("/-/ready").status_code == 200


def test_metrics_text(running):
    r = running()
    resp = r.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    got = r.metrics()
    assert got[up("lgsp-stats", "lgsp")] == 1 and got[up("portal-home", "portal")] == 1
    key = (
        "egov_lgsp_api_calls_total",
        (("api", "dvc-hoso"), ("system", "lgsp"), ("target", "lgsp-stats"), ("unit", "H44")),
    )
    assert got[key] == 15230
    assert got[("egov_exporter_config_last_reload_successful", ())] == 1
    assert got[("egov_exporter_targets", (("system", "lgsp"),))] == 1
    assert got[("egov_exporter_scheduler_lag_seconds_count", ())] == 2


def test_live_metrics_pass_promtool(running):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found on PATH: install the Debian package 'prometheus' (CI does)"
    r = running()
    body = r.get("/metrics").content  # promtool check metrics reads the Prometheus text format
    proc = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    report = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0 and report.strip() == "", report


def test_metrics_openmetrics_and_gzip(running):
    r = running()
    om = r.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    raw = r.http.get(r.base + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True)
    assert raw.headers["Content-Encoding"] == "gzip"
    body = gzip.decompress(raw.raw.read())
    assert b"egov_target_up{" in body


def test_landing_page_lists_targets(running):
    r = running()
    resp = r.get("/")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    for name in ("lgsp-stats", "portal-home"):
        assert f"/probe?target={name}" in resp.text
    assert "2 up" in resp.text and "poll cache" in resp.text


def test_unknown_path_is_404(running):
    assert running(start=False).get("/debug/vars").status_code == 404


def test_secrets_never_served(running):
    r = running()
    for path in ("/metrics", "/", "/probe?target=lgsp-stats", "/probe?target=lgsp-stats&format=json"):
        resp = r.get(path)
        assert resp.status_code == 200, path
        assert TOKEN not in resp.text, path


def test_credentials_in_urls_are_redacted(running):
    def text(port: int) -> str:
        return (
            config_text(port)
            + f"""
  - name: legacy-api
    kind: http
    system: documents
    url: http://monitor:url-pass-5531@127.0.0.1:{port}/missing?api_key=qs-secret-7790&page=1
    valid_status_codes: [204]
"""
        )

    r = running(text=text)
    landing = r.get("/").text
    assert "legacy-api" in landing and "HTTP 200" in landing  # its error message is shown...
    probe = r.get("/probe?target=legacy-api").text
    assert "fetched GET http://monitor:<redacted>@127.0.0.1" in probe
    for out in (landing, probe, r.get("/metrics").text, r.get("/probe?target=legacy-api&format=json").text):
        assert "url-pass-5531" not in out and "qs-secret-7790" not in out  # ...without the credentials


# ------------------------------------------------------------------------------------------ reload


def test_reload_good_then_bad(running):
    r = running()
    assert r.get("/-/reload").status_code == 405
    r.config.write_text(config_text(r.upstream.port, extra_target=True), encoding="utf-8")
    resp = r.post("/-/reload")
    assert resp.status_code == 200, resp.text
    assert [t.name for t in r.app.config.targets] == ["lgsp-stats", "portal-home", "portal-contact"]
    assert wait_until(lambda: r.metrics().get(up("portal-contact", "portal")) == 1, 5.0)

    r.config.write_text("targets:\n  - name: broken\n    kind: http\n    interval: fast\n", encoding="utf-8")
    resp = r.post("/-/reload")
    assert resp.status_code == 400
    assert "the running configuration is kept" in resp.text
    assert 'targets[0].interval: must be a duration like 30s or 5m, got "fast"' in resp.text
    assert [t.name for t in r.app.config.targets] == ["lgsp-stats", "portal-home", "portal-contact"]
    assert wait_until(lambda: r.metrics().get(("egov_exporter_config_last_reload_successful", ())) == 0, 3.0)
    got = r.metrics()
    assert got[up("lgsp-stats", "lgsp")] == 1 and got[up("portal-contact", "portal")] == 1


def test_reload_disabled(running):
    r = running(start=False, lifecycle=False)
    assert r.post("/-/reload").status_code == 403


# ------------------------------------------------------------------------------------------- probe


def test_probe_known_target_shows_fetched_and_extracted(running):
    r = running()
    before = len(r.upstream.requests)
    resp = r.get("/probe?target=lgsp-stats")
    assert resp.status_code == 200
    text = resp.text
    assert text.startswith("target lgsp-stats (kind json, system lgsp): up")
    assert f"fetched GET http://127.0.0.1:{r.upstream.port}/stats: HTTP 200" in text
    assert '"dvc-hoso"' in text  # the body it fetched
    assert "Bearer <redacted>" in text and TOKEN not in text
    assert 'egov_lgsp_api_calls_total{api="dancu-tracuu"} 8841' in text
    assert len(r.upstream.requests) == before + 1  # polled now

    data = r.get("/probe?target=lgsp-stats&format=json").json()
    assert data["state"] == "up" and data["reason"] is None
    assert {"name": "egov_lgsp_api_calls_total", "labels": {"api": "dat-dai"}, "value": 77.0} in data[
        "samples"
    ]
    assert data["fetched"][0]["status"] == 200


@pytest.mark.parametrize(
    "query",
    [
        "target=nope",
        "target=http://127.0.0.1:{port}/stats",
        "",
        "target=",
        "target=lgsp-stats&target=portal-home",
    ],
)
def test_probe_unknown_target_is_400_and_fetches_nothing(running, query):
    r = running()
    before = list(r.upstream.requests)
    resp = r.get("/probe?" + query.format(port=r.upstream.port))
    assert resp.status_code == 400
    assert r.upstream.requests == before


def test_probe_disabled(running):
    r = running(start=False, probe=False)
    assert r.get("/probe?target=lgsp-stats").status_code == 403
    assert r.upstream.requests == []


# -------------------------------------------------------------------------------------- basic auth


def test_basic_auth_from_web_config(running, tmp_path):
    hashed = bcrypt.hashpw(b"prom-pass", bcrypt.gensalt(4)).decode()
    web_file = tmp_path / "web.yml"
    web_file.write_text(f"basic_auth_users:\n  prometheus: '{hashed.replace('$2b$', '$2y$', 1)}'\n")
    r = running(web=load_web_config(str(web_file)))
    for path in ("/metrics", "/", "/-/ready", "/probe?target=lgsp-stats"):
        resp = r.get(path)
        assert resp.status_code == 401, path
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="egov-exporter"'
    assert r.post("/-/reload").status_code == 401
    assert r.get("/metrics", auth=("prometheus", "wrong")).status_code == 401
    assert r.get("/metrics", auth=("someone", "prom-pass")).status_code == 401
    assert r.get("/metrics", auth=("prometheus", "prom-pass")).status_code == 200
    assert r.get("/metrics", auth=("prometheus", "prom-pass")).status_code == 200  # remembered pair


@pytest.mark.parametrize(
    "text,address",
    [(":9877", ("0.0.0.0", 9877)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:9100", ("::1", 9100))],
)
def test_parse_listen_address(text, address):
    assert parse_listen_address(text) == address


@pytest.mark.parametrize("bad", ["9877", "localhost", "host:port", ":99999", ""])
def test_parse_listen_address_refuses(bad):
    with pytest.raises(ValueError, match=r"--web.listen-address must be \[host\]:port"):
        parse_listen_address(bad)


# ------------------------------------------------------------------------------------- the landing page


class PageApp:
    """What the landing page reads from the App: results at a fixed clock (12:00:00 on 3 December 2026,
    Asia/Ho_Chi_Minh)."""

    NOW = 1796274000.0  # 2026-12-03T12:00:00+07:00

    def __init__(self, results: list, sections: tuple = ()) -> None:
        from exporter.results import ResultStore

        self.store = ResultStore()
        for r in results:
            self.store.results[r.target] = r
        self.page_sections = list(sections)
        self.config_path = "/etc/egov-exporter/config.yaml"

    def clock(self) -> float:
        return self.NOW

    def redact(self, text: str) -> str:
        return text.replace("s3cret", "<redacted>")


def page_results() -> list:
    from exporter.results import TargetResult

    now = PageApp.NOW
    return [
        TargetResult("portal-home", "portal", "http", {}, state="up", started=now - 20, duration=0.2),
        TargetResult(
            "services-home",
            "services",
            "http",
            {},
            state="down",
            reason="blocked",
            message="refused by the upstream firewall (token s3cret)",
            started=now - 30,
            last_success=now - 3 * 3600 - 125,
            down_since=now - 3 * 3600,
            next_due=now + 95,
            retry_after=600,
        ),
        TargetResult(
            "lgsp-version",
            "lgsp",
            "http",
            {},
            state="down",
            reason="timeout",
            started=now - 40,
            down_since=now - 300,
            next_due=now + 20,
        ),
        TargetResult("documents-api", "documents", "documents", {}, state="degraded", started=now - 5),
        TargetResult("camera-gate", "cameras", "http", {}, state="unknown", next_due=now + 12),
    ]


def test_landing_page_puts_what_needs_attention_first():
    from bs4 import BeautifulSoup

    from exporter.landing import render_landing

    page = render_landing(PageApp(page_results()), "https://mon.example.gov.vn/egov/")
    soup = BeautifulSoup(page, "html.parser")
    assert soup.title.text == "egov-exporter — 2 down, 1 degraded"
    assert soup.find("meta", attrs={"http-equiv": "refresh"})["content"] == "30"
    assert "page as of 12:00:00 (Asia/Ho_Chi_Minh)" in soup.select_one("p.asof").get_text(" ", strip=True)
    # down targets first, the longest down first, then degraded; each says since when, the last success and
    # the next retry, the reason in words; secrets redacted
    cards = soup.select("#attention .card")
    assert [c["data-target"] for c in cards] == ["services-home", "lgsp-version", "documents-api"]

    def facts_of(card) -> dict[str, str]:
        return {dt.get_text(): dd.get_text() for dt, dd in zip(card("dt"), card("dd"), strict=True)}

    facts = facts_of(cards[0])
    assert facts == {
        "Lý do / reason": "blocked — bị tường lửa / giới hạn truy cập chặn / refused by a firewall or rate "
        "limit",
        "Hệ thống / system": "Cổng dịch vụ công / Public-service portal (http)",
        "Ngừng từ / down since": "09:00:00 (3 h)",
        "Thành công lần cuối / last success": "08:57:55 (3 h 2 min trước / ago)",
        "Thử lại lúc / next retry": "12:01:35 (sau / in 1 min 35 s) — máy chủ yêu cầu chờ / the upstream "
        "asked to wait 10 min",
        "Thông báo / message": "refused by the upstream firewall (token <redacted>)",
    }
    assert "s3cret" not in page
    second = facts_of(cards[1])
    assert second["Thành công lần cuối / last success"] == "chưa bao giờ / never"
    assert second["Ngừng từ / down since"] == "11:55:00 (5 min)"
    assert soup.select_one("#attention p.waiting").get_text(" ", strip=True) == (
        "Chưa thu thập lần nào / not polled yet : camera-gate — lần đầu trước / first polls by 12:00:12"
    )
    # one line per system, worst first; a system of another name is shown by its name
    systems = [li.get_text(" ", strip=True) for li in soup.select("#systems li")]
    assert systems == [
        "Nền tảng LGSP / LGSP platform : 1 down (lgsp-version) — 1 đối tượng / targets",
        "Cổng dịch vụ công / Public-service portal : 1 down (services-home) — 1 đối tượng / targets",
        "QLVB&ĐH / Document management : 1 degraded (documents-api) — 1 đối tượng / targets",
        "cameras : 1 not polled yet (camera-gate) — 1 đối tượng / targets",
        "Cổng thông tin điện tử / Web portal : 1 up — 1 đối tượng / targets",
    ]
    # links go through the external URL's path
    assert soup.select_one("#attention a")["href"] == "/egov/probe?target=services-home"
    assert soup.find("a", string="/metrics")["href"] == "/egov/metrics"


def test_landing_page_when_all_is_well():
    from exporter.landing import render_landing
    from exporter.results import TargetResult

    app = PageApp([TargetResult("portal-home", "portal", "http", {}, state="up", started=PageApp.NOW - 3)])
    page = render_landing(app)
    assert '✓ Cả 1 đối tượng đang hoạt động <span class="en">/ all 1 up</span>' in page
    assert '<a href="/probe?target=portal-home">' in page


@pytest.mark.parametrize("width", [1400, 420])
def test_landing_page_fits_a_desk_screen_and_a_phone(tmp_path, width):
    """Nothing overflows the window (wide indicator tables scroll in their own box), at 1400 and 420 px."""
    from browser import overflow

    from exporter.landing import render_landing

    page = tmp_path / "landing.html"
    page.write_text(render_landing(PageApp(page_results())), encoding="utf-8")
    assert overflow(page, tmp_path, width) == []
