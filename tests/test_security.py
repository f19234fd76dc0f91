"""Security of the exporter's own endpoints and of the secrets it holds, end to end on real processes.

* ``--web.config.file`` (exporter-toolkit format): TLS with a certificate made for the test, basic auth
  with a bcrypt hash; every endpoint refuses a missing or wrong password; plain HTTP to the TLS port is
  refused without a traceback.
* ``--no-web.enable-lifecycle`` / ``--no-web.enable-probe`` close ``/-/reload`` and ``/probe``.
* No endpoint fetches a URL that is not in the configuration: /probe with URLs and path tricks,
  /metrics?target=..., absolute-form request lines; a canary server counts any request that gets through.
* Secrets (basic password from ${ENV}, bearer token from a ``token_file``, OAuth2 ``client_secret``, a
  header ``value``, a ``password_file``) never appear in /metrics (text, OpenMetrics, gzip), /probe (text
  and JSON), the landing page, the reload answer, the log at debug level, or exception messages, in any
  form the exporter sends them (raw, the base64 of ``user:password``, the OAuth2 access token it was
  issued, URL-encoded) -- while the upstream echoes every request header back in its answers.
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import bcrypt
import pytest
import yaml
from harness import ExporterProcess, Http, parse_metrics, wait_for

from exporter.simulator.tls import make_certificates

pytestmark = pytest.mark.e2e

# the secrets: random per run, with characters that URL- and JSON-encoding change
S_BASIC = "basic+pw/" + secrets.token_hex(6)
S_BEARER = "bearer-" + secrets.token_hex(8)
S_CLIENT = "client=secret&" + secrets.token_hex(6)
S_HEADER = "apikey-" + secrets.token_hex(8)
S_FILE = "file-pw-" + secrets.token_hex(6)
S_WRONG = "wrong-client-" + secrets.token_hex(6)
S_PLAIN = "plain-hdr-" + secrets.token_hex(6)  # in plain ``headers:`` named like credentials
S_COOKIE = "sid-" + secrets.token_hex(8)
WEB_USER, WEB_PASSWORD = "prometheus", "scrape-" + secrets.token_hex(6)


class Upstream:
    """An upstream that echoes every request header (and a token request's form) back in its answers, an
    OAuth2 token endpoint issuing random access tokens, and a canary: requests to paths outside the
    configured ones are counted (the exporter must never make them)."""

    CONFIGURED = {"/echo.json", "/echo.html", "/fail", "/token"}

    def __init__(self, redirect_to: str | None = None) -> None:
        self.issued: list[str] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: str, ctype: str) -> None:
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                up.paths.append(self.path)
                form = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                up.headers.append({**dict(self.headers.items()), "body": form})
                if self.path == "/token-moved" and redirect_to:  # 307: the client re-sends the same body
                    self.send_response(307)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fields = dict(urllib.parse.parse_qsl(form))
                if self.path != "/token":
                    return self._answer(404, "no", "text/plain")
                if fields.get("client_secret") != S_CLIENT:  # an error page that echoes what it got
                    return self._answer(
                        401, json.dumps({"error": "invalid_client", "received": form}), "application/json"
                    )
                token = "atk-" + secrets.token_hex(12)
                up.issued.append(token)
                self._answer(200, json.dumps({"access_token": token, "expires_in": 3600}), "application/json")

            def do_GET(self) -> None:
                up.paths.append(self.path)
                echo = {k: v for k, v in self.headers.items()}
                up.headers.append(echo)
                if self.path == "/moved" and redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/echo.json":
                    return self._answer(
                        200, json.dumps({"value": 42, "request_headers": echo}), "application/json"
                    )
                if self.path == "/echo.html":
                    rows = "".join(f"<li>{k}: {v}</li>" for k, v in echo.items())
                    return self._answer(
                        200,
                        f"<html><body><p class='v'>42</p><ul>{rows}</ul></body></html>",
                        "text/html; charset=utf-8",
                    )
                if self.path == "/fail":
                    return self._answer(
                        500, "Internal error while handling " + json.dumps(echo), "text/plain"
                    )
                self._answer(404, "not found", "text/plain")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def unexpected(self) -> list[str]:
        return [p for p in self.paths if p not in self.CONFIGURED]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def secret_forms() -> dict[str, str]:
    """Every form in which a configured secret could leak: raw, base64 of user:password, URL-encoded."""
    forms = {}
    for name, value in (
        ("basic", S_BASIC),
        ("bearer", S_BEARER),
        ("client_secret", S_CLIENT),
        ("header", S_HEADER),
        ("password_file", S_FILE),
        ("wrong_client_secret", S_WRONG),
        ("plain Authorization header", S_PLAIN),
        ("plain Cookie header", S_COOKIE),
    ):
        forms[name] = value
        forms[name + " (url-encoded)"] = urllib.parse.quote_plus(value)
        forms[name + " (url-encoded, %20)"] = urllib.parse.quote(value, safe="")
    forms["basic (base64)"] = base64.b64encode(f"alice:{S_BASIC}".encode()).decode()
    forms["password_file (base64)"] = base64.b64encode(f"bob:{S_FILE}".encode()).decode()
    return forms


def leaks(text: str, forms: dict[str, str]) -> list[str]:
    return [name for name, value in forms.items() if value in text]


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    up = Upstream()
    certs = make_certificates(tmp / "tls")
    (tmp / "bearer.txt").write_text(S_BEARER + "\n")
    (tmp / "password.txt").write_text(S_FILE + "\n")
    config = {
        "scheduler": {"start_spread": "200ms"},
        "defaults": {"interval": "1s", "timeout": "1s", "retries": 0},
        "history": {
            "enabled": True,
            "path": str(tmp / "history.sqlite"),
            "interval": "1s",
            "families": ["egov_*"],
        },  # everything, so that the grep of the history means something
        "targets": [
            {
                "name": "basic-env",
                "kind": "json",
                "system": "services",
                "url": up.base + "/echo.json",
                "auth": {"type": "basic", "username": "alice", "password": "${SEC_BASIC}"},
                "metrics": [{"name": "egov_sec_value", "path": "$.value"}],
            },
            {
                "name": "bearer-file",
                "kind": "html",
                "system": "portal",
                "url": up.base + "/echo.html",
                "auth": {"type": "bearer", "token_file": "bearer.txt"},
                "metrics": [{"name": "egov_sec_page_value", "select": "p.v"}],
            },
            {
                "name": "oauth2",
                "kind": "json",
                "system": "lgsp",
                "url": up.base + "/echo.json",
                "auth": {
                    "type": "oauth2",
                    "token_url": up.base + "/token",
                    "client_id": "exporter",
                    "client_secret": S_CLIENT,
                },
                "metrics": [{"name": "egov_sec_value", "path": "$.value"}],
            },
            {
                "name": "header",
                "kind": "http",
                "system": "documents",
                "url": up.base + "/echo.json",
                "auth": {"type": "header", "name": "X-Api-Key", "value": S_HEADER},
            },
            # credentials in plain headers: (not under auth:) are recognised by the header's name
            {
                "name": "plain-headers",
                "kind": "http",
                "system": "documents",
                "url": up.base + "/echo.json",
                "headers": {"Authorization": "Token " + S_PLAIN, "Cookie": S_COOKIE, "Accept-Language": "vi"},
            },
            {
                "name": "password-file-500",
                "kind": "http",
                "system": "national",
                "url": up.base + "/fail",
                "auth": {"type": "basic", "username": "bob", "password_file": "password.txt"},
            },
            {
                "name": "oauth2-refused",
                "kind": "json",
                "system": "lgsp",
                "url": up.base + "/echo.json",
                "auth": {
                    "type": "oauth2",
                    "token_url": up.base + "/token",
                    "client_id": "exporter",
                    "client_secret": S_WRONG,
                },
                "metrics": [{"name": "egov_sec_value", "path": "$.value"}],
            },
        ],
    }
    (tmp / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    hashed = (
        bcrypt.hashpw(WEB_PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode().replace("$2b$", "$2y$", 1)
    )
    (tmp / "web.yaml").write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {"cert_file": certs["good"][0], "key_file": certs["good"][1]},
                "basic_auth_users": {WEB_USER: hashed},
            }
        )
    )
    exporter = ExporterProcess.serve(
        tmp / "config.yaml",
        tmp / "exporter.log",
        "--web.config.file",
        str(tmp / "web.yaml"),
        "--log.level",
        "debug",
        env={"SEC_BASIC": S_BASIC},
        scheme="https",
        ca_file=certs["ca"][0],
        auth=(WEB_USER, WEB_PASSWORD),
        wait=False,
    )
    try:
        wait_for(
            lambda: exporter.alive() and exporter.get("/-/healthy")[0] == 200, 30, "the exporter over TLS"
        )

        def polled():
            view = parse_metrics(exporter.scrape())
            states = {
                s.labels["target"]: s.labels["state"] for s in view["egov_target_state"] if s.value == 1
            }
            return states if "unknown" not in states.values() and len(states) == 7 else None

        states = wait_for(polled, 30, "every target polled")
        yield {"tmp": tmp, "up": up, "exporter": exporter, "certs": certs, "states": states}
    finally:
        exporter.stop()
        up.close()


def test_targets_poll_with_their_credentials(secured):
    """The secrets are really used (so the grep below means something): the targets with good
    credentials are up, the refused OAuth2 client and the 500 are down with their reasons."""
    assert secured["states"] == {
        "basic-env": "up",
        "bearer-file": "up",
        "oauth2": "up",
        "header": "up",
        "plain-headers": "up",
        "password-file-500": "down",
        "oauth2-refused": "down",
    }
    m = parse_metrics(secured["exporter"].scrape())
    fails = {(s.labels["target"], s.labels["reason"]) for s in m["egov_target_failures_total"] if s.value}
    assert ("password-file-500", "http_status") in fails and ("oauth2-refused", "auth") in fails
    assert secured["up"].issued, "the OAuth2 target never got a token"

    # the refused client stays refused: it never borrows the token the other client (same token URL and
    # client id, another secret) was issued
    def refused_again():
        m = parse_metrics(secured["exporter"].scrape())
        n = next(
            s.value
            for s in m["egov_target_failures_total"]
            if s.labels["target"] == "oauth2-refused" and s.labels["reason"] == "auth"
        )
        state = {
            s.labels["state"]
            for s in m["egov_target_state"]
            if s.labels["target"] == "oauth2-refused" and s.value == 1
        }
        return (n, state) if n >= 4 else None

    n, state = wait_for(refused_again, 20, "four refused polls of oauth2-refused")
    assert state == {"down"}


def test_tls_and_basic_auth_guard_every_endpoint(secured):
    ex = secured["exporter"]
    base, ca = ex.http.base, secured["certs"]["ca"][0]
    paths = ["/", "/metrics", "/probe?target=header", "/-/healthy", "/-/ready", "/nope"]
    for who, auth in (
        ("no credentials", None),
        ("wrong password", (WEB_USER, "nope")),
        ("unknown user", ("mallory", WEB_PASSWORD)),
    ):
        client = Http(base, ca, auth)
        for path in paths:
            status, headers, _ = client.request(path)
            assert status == 401 and headers.get("www-authenticate", "").startswith("Basic"), (
                who,
                path,
                status,
            )
        status, _h, _b = client.request("/-/reload", method="POST", data=b"")
        assert status == 401, (who, "/-/reload", status)
    assert ex.get("/metrics")[0] == 200 and ex.get("/")[0] == 200
    # the certificate is checked by the client: a client that trusts another CA refuses it
    other = ssl.create_default_context()
    with pytest.raises(OSError):
        import urllib.request

        urllib.request.urlopen(base + "/-/healthy", context=other, timeout=5)  # noqa: S310 - loopback
    # plain HTTP to the TLS port gets nothing, and costs the exporter no traceback
    plain = Http(base.replace("https://", "http://"))
    with pytest.raises(OSError):
        plain.request("/metrics", timeout=5)
    assert ex.alive()
    assert "Traceback" not in ex.output()


def test_no_endpoint_fetches_an_unconfigured_url(secured):
    ex, up = secured["exporter"], secured["up"]
    canary = up.base + "/canary"
    attempts = [
        "/probe?target=" + urllib.parse.quote(canary, safe=""),
        "/probe?target=" + canary,
        "/probe?target=header&target=" + urllib.parse.quote(canary, safe=""),
        "/probe?target=../canary",
        "/probe?target=%2e%2e%2fcanary",
        "/probe?module=http&target=127.0.0.1",
        "/probe/../probe?target=" + urllib.parse.quote(canary, safe=""),
        "/metrics?target=" + urllib.parse.quote(canary, safe=""),
        "/?target=" + urllib.parse.quote(canary, safe=""),
        "//" + canary.split("//")[1],
        "/-/ready?target=" + canary,
    ]
    for path in attempts:
        status, _body = ex.get(path)
        assert status in (200, 400, 404), (path, status)
    # an absolute-form request line names another host: still our own endpoint, nothing fetched
    import http.client

    conn = http.client.HTTPSConnection(
        "127.0.0.1", int(ex.http.base.rsplit(":", 1)[1]), context=ex.http.ctx, timeout=5
    )
    conn.putrequest("GET", canary, skip_host=True)
    conn.putheader("Host", canary.split("//")[1].split("/")[0])
    conn.putheader(
        "Authorization", "Basic " + base64.b64encode(f"{WEB_USER}:{WEB_PASSWORD}".encode()).decode()
    )
    conn.endheaders()
    assert conn.getresponse().status in (200, 404)
    conn.close()
    assert up.unexpected() == [], f"the exporter fetched unconfigured URLs: {up.unexpected()}"


def test_secrets_never_appear_in_any_output(secured):
    ex, up = secured["exporter"], secured["up"]
    forms = secret_forms()
    outputs: dict[str, str] = {}
    outputs["/metrics"] = ex.scrape()
    outputs["/metrics (OpenMetrics)"] = ex.request(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )[2].decode()
    _s, headers, gz = ex.request("/metrics", headers={"Accept-Encoding": "gzip"})
    outputs["/metrics (gzip)"] = (
        gzip.decompress(gz).decode() if headers.get("content-encoding") == "gzip" else gz.decode()
    )
    outputs["/"] = ex.get("/")[1].decode()
    for name in secured["states"]:
        outputs[f"/probe?target={name}"] = ex.get(f"/probe?target={name}")[1].decode()
        outputs[f"/probe?target={name}&format=json"] = ex.get(f"/probe?target={name}&format=json")[1].decode()
    # every access token the exporter was issued (the probes above fetched some) is a secret too
    for i, token in enumerate(up.issued):
        forms[f"issued access token {i}"] = token
    found = {where: leaks(text, forms) for where, text in outputs.items()}
    assert not any(found.values()), {w: f for w, f in found.items() if f}
    # the upstream did echo the credentials: the probe shows the echo, redacted
    for name in ("basic-env", "bearer-file", "oauth2", "header", "plain-headers"):
        assert "<redacted>" in outputs[f"/probe?target={name}"], f"/probe of {name} shows no redacted echo"


def test_a_rejected_reload_does_not_echo_secrets(secured):
    """A new file with a mistake: the 400 answer lists it without the secrets of either file."""
    ex, tmp = secured["exporter"], secured["tmp"]
    path = tmp / "config.yaml"
    good = path.read_text(encoding="utf-8")
    cfg = yaml.safe_load(good)
    cfg["targets"][0]["auth"]["password"] = S_BASIC  # written out, no longer from the environment
    cfg["targets"][1]["auth"]["token"] = 12345678  # a secret written unquoted
    cfg["targets"][3]["interval"] = "fast"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    try:
        status, body = ex.get("/-/reload", method="POST", data=b"")
    finally:
        path.write_text(good, encoding="utf-8")
    text = body.decode()
    assert status == 400, text
    assert "targets[3].interval" in text and "targets[1].auth.token" in text
    assert "12345678" not in text and not leaks(text, secret_forms()), text


def _raw(ex: ExporterProcess, request: bytes) -> bytes:
    """Send bytes as they are over the exporter's TLS port; the start of the answer (or b'')."""
    import socket

    host, port = "127.0.0.1", int(ex.http.base.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=5) as raw:
        with ex.http.ctx.wrap_socket(raw, server_hostname=host) as conn:
            conn.sendall(request)
            try:
                return conn.recv(4096)
            except OSError:
                return b""


def test_malformed_requests_are_refused_without_a_traceback(secured):
    ex = secured["exporter"]
    auth = base64.b64encode(f"{WEB_USER}:{WEB_PASSWORD}".encode())
    for length in (b"abc", b"-5", b"99999999"):
        head = (
            b"POST /-/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
            + auth
            + b"\r\nContent-Length: "
            + length
            + b"\r\n\r\n"
        )
        assert _raw(ex, head).startswith(b"HTTP/1.1 400"), length
    # a request line that is no HTTP/1.x: http.server answers the HTTP/0.9 way, a bare 400 page
    assert b"Error code: 400" in _raw(ex, b"\x16\x03garbage\r\n\r\n")
    assert _raw(ex, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n\r\n").startswith(
        b"HTTP/1.1 401"
    )
    assert ex.get("/-/healthy")[0] == 200
    assert "Traceback" not in ex.output()


def test_unknown_user_costs_a_bcrypt_check(monkeypatch):
    """No user enumeration by timing: an unknown name is checked against a hash like a known one."""
    from exporter import webconfig

    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(webconfig.bcrypt, "checkpw", lambda pw, h: calls.append(h) or real(pw, h))
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=4)).decode()
    auth = webconfig.BasicAuth({"alice": hashed})

    def header(user: str, pw: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()

    assert auth.check(header("mallory", "right")) is False
    assert auth.check(header("alice", "wrong")) is False
    assert auth.check(header("alice", "right")) is True
    assert len(calls) == 3 and calls[0] != hashed.encode()


def test_history_and_snapshots_hold_no_secret(secured):
    """The history file (raw bytes, WAL included) and a snapshot in every format, read back."""
    import datetime as dt
    import zipfile
    from zoneinfo import ZoneInfo

    from harness import run_cli

    tmp, up = secured["tmp"], secured["up"]
    history = tmp / "history.sqlite"
    wait_for(lambda: history.exists() and history.stat().st_size > 0, 20, "the history file")
    today = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()
    out = tmp / "snapshot"
    proc = run_cli(
        "snapshot",
        "--from",
        today,
        "--to",
        today,
        "--history.file",
        str(history),
        "--format",
        "xlsx,csv,json,html",
        "--output-dir",
        str(out),
        "--quiet",
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr
    forms = secret_forms()
    for i, token in enumerate(up.issued):
        forms[f"issued access token {i}"] = token
    texts: dict[str, str] = {}
    for file in sorted(out.iterdir()):
        if file.suffix == ".xlsx":
            with zipfile.ZipFile(file) as z:
                texts[file.name] = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        else:
            texts[file.name] = file.read_text(encoding="utf-8", errors="replace")
    assert {f.rsplit(".", 1)[-1] for f in texts} >= {"xlsx", "csv", "json", "html"}, sorted(texts)
    for file in tmp.glob("history.sqlite*"):
        texts[file.name] = file.read_bytes().decode("latin-1")
    assert "basic-env" in texts["history.sqlite"] + texts.get("history.sqlite-wal", ""), (
        "the history is empty"
    )
    found = {name: leaks(text, forms) for name, text in texts.items()}
    assert not any(found.values()), {n: f for n, f in found.items() if f}


def test_the_log_holds_no_secret_at_debug_level(secured):
    """Run last in this module: everything above has been logged by now."""
    ex, up = secured["exporter"], secured["up"]
    forms = secret_forms()
    for i, token in enumerate(up.issued):
        forms[f"issued access token {i}"] = token
    log = ex.output()
    assert "level=debug" in log, "the log is not at debug level"
    assert not leaks(log, forms), leaks(log, forms)
    assert "Traceback" not in log, log[log.index("Traceback") - 300 :][:2000]


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "header", "name": "X-Api-Key", "value": S_HEADER},
        {"type": "bearer", "token": S_BEARER},
        {"type": "basic", "username": "alice", "password": S_BASIC},
        None,  # credentials in plain headers:
    ],
    ids=["header", "bearer", "basic", "plain-headers"],
)
def test_credentials_do_not_follow_a_redirect_to_another_host(auth):
    """A target that redirects to another host (a misconfigured proxy, a compromised portal): the other
    host never receives the target's credentials, whatever header carries them."""
    from collectors.http import HttpConfig
    from exporter.config import Secret
    from exporter.fetch import HttpClient

    elsewhere = Upstream()
    upstream = Upstream(redirect_to=elsewhere.base + "/echo.json")
    try:
        target = {
            "name": "t",
            "kind": "http",
            "system": "portal",
            "retries": 0,
            "url": upstream.base + "/moved",
        }
        if auth is None:
            target["headers"] = {"Authorization": "Token " + S_PLAIN, "Cookie": S_COOKIE}
        else:
            secret_key = {"header": "value", "bearer": "token", "basic": "password"}[auth["type"]]
            target["auth"] = {**auth, secret_key: Secret(auth[secret_key])}
        cfg = HttpConfig.model_validate(target)
        resp = HttpClient(cfg).request()
        assert resp.status == 200 and resp.redirects == 1
        assert upstream.headers and elsewhere.headers, "the redirect was not followed"
        sent_here = json.dumps(upstream.headers[0])
        sent_there = json.dumps(elsewhere.headers)
        assert leaks(sent_here, secret_forms()), "the credentials were not sent to the target itself"
        assert leaks(sent_there, secret_forms()) == [], f"credentials followed the redirect: {sent_there}"
    finally:
        upstream.close()
        elsewhere.close()


def test_the_token_request_is_not_resent_to_another_host():
    """A token endpoint answering 307 to another host would have the client secret posted there."""
    from collectors.http import HttpConfig
    from exporter.config import Secret
    from exporter.fetch import HttpClient, _OAuth2Token
    from exporter.plugin import CollectError

    elsewhere = Upstream()
    upstream = Upstream(redirect_to=elsewhere.base + "/token")
    try:
        cfg = HttpConfig.model_validate(
            {
                "name": "t",
                "kind": "http",
                "system": "lgsp",
                "retries": 0,
                "url": upstream.base + "/echo.json",
                "auth": {
                    "type": "oauth2",
                    "token_url": upstream.base + "/token-moved",
                    "client_id": "exporter",
                    "client_secret": Secret(S_CLIENT),
                },
            }
        )
        _OAuth2Token.clear()
        with pytest.raises(CollectError) as err:
            HttpClient(cfg).request()
        assert err.value.reason == "auth" and "redirected to another host" in err.value.message
        assert upstream.paths == ["/token-moved"] and elsewhere.paths == [], elsewhere.paths
        assert not leaks(err.value.message, secret_forms())
    finally:
        upstream.close()
        elsewhere.close()


def test_lifecycle_and_probe_can_be_switched_off(tmp_path):
    up = Upstream()
    config = tmp_path / "config.yaml"
    one = {
        "targets": [
            {
                "name": "a",
                "kind": "http",
                "system": "portal",
                "url": up.base + "/echo.json",
                "interval": "1s",
                "timeout": "1s",
            }
        ],
        "history": {"enabled": False},
    }
    config.write_text(yaml.safe_dump(one))
    ex = ExporterProcess.serve(config, tmp_path / "log", "--no-web.enable-lifecycle", "--no-web.enable-probe")
    try:
        two = {**one, "targets": [*one["targets"], {**one["targets"][0], "name": "b"}]}
        config.write_text(yaml.safe_dump(two))
        status, body = ex.get("/-/reload", method="POST", data=b"")
        assert status == 403 and b"--no-web.enable-lifecycle" in body
        before = len(up.paths)
        status, body = ex.get("/probe?target=a")
        assert status == 403 and b"--no-web.enable-probe" in body
        targets = {s.labels["target"] for s in parse_metrics(ex.scrape())["egov_target_info"]}
        assert targets == {"a"}, "the configuration was reloaded although lifecycle is off"
        # the probe fetched nothing (polls of "a" may have happened meanwhile: count /probe-only paths)
        assert all(p == "/echo.json" for p in up.paths[before:])
    finally:
        ex.stop()
        up.close()
