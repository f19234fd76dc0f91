"""``--web.config.file``: TLS and basic auth for the exporter's own endpoints, in the exporter-toolkit
format Prometheus users know::

    tls_server_config:
      cert_file: /etc/egov-exporter/tls.crt
      key_file: /etc/egov-exporter/tls.key
    basic_auth_users:
      prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')
"""

from __future__ import annotations

import base64
import hmac
import re
import ssl
import threading
from pathlib import Path

import bcrypt
import yaml
from pydantic import ValidationError

from exporter.config import ConfigError, Strict, _errors_of

_BCRYPT_RE = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")


class TLSServerConfig(Strict):
    cert_file: str
    key_file: str
    min_version: str = "TLS12"


class WebConfig(Strict):
    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, str] = {}

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.tls_server_config is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = {"TLS13": ssl.TLSVersion.TLSv1_3}.get(
            self.tls_server_config.min_version, ssl.TLSVersion.TLSv1_2
        )
        ctx.load_cert_chain(self.tls_server_config.cert_file, self.tls_server_config.key_file)
        return ctx


def load_web_config(path: str) -> WebConfig:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    try:
        cfg = WebConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{path}: {m}" for m in _errors_of(exc, (), WebConfig)]) from None
    errors = []
    for user, hashed in cfg.basic_auth_users.items():
        if not _BCRYPT_RE.match(hashed):  # a truncated or mangled hash would silently refuse everyone
            errors.append(f"{path}: basic_auth_users.{user}: must be a bcrypt hash ($2y$...)")
    if cfg.tls_server_config is not None:
        # relative paths are taken from the web config file's folder, as exporter-toolkit does
        tls = cfg.tls_server_config
        files = {
            key: str(Path(path).parent / getattr(tls, key))
            if not Path(getattr(tls, key)).is_absolute()
            else getattr(tls, key)
            for key in ("cert_file", "key_file")
        }
        cfg = cfg.model_copy(update={"tls_server_config": tls.model_copy(update=files)})
        for key, file in files.items():
            try:
                Path(file).read_bytes()
            except OSError as exc:
                errors.append(
                    f"{path}: tls_server_config.{key}: cannot read {getattr(tls, key)}: {exc.strerror or exc}"
                )
        if not errors:
            try:
                cfg.ssl_context()
            except (OSError, ssl.SSLError) as exc:
                errors.append(f"{path}: tls_server_config: cannot load certificate or key: {exc}")
    if errors:
        raise ConfigError(errors)
    return cfg


#: checked for an unknown user name (exporter-toolkit does the same)
_NO_USER_HASH = b"$2b$10$TIxmqGXI9GePaW7K1uwe2OdPmURXgqt0LJQqXrFtbo2BtRm0MH3Vi"


class BasicAuth:
    """Checks ``Authorization: Basic`` against bcrypt hashes; remembers good pairs (bcrypt is slow)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self._good: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, header: str | None) -> bool:
        if not self.users:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        if hashed is None:
            # as slow as a known user's wrong password, so that timing does not tell which users exist
            bcrypt.checkpw(password.encode(), _NO_USER_HASH)
            return False
        key = hmac.new(hashed.encode(), password.encode(), "sha256").digest()
        with self._lock:
            if key in self._good:
                return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed.replace("$2y$", "$2b$", 1).encode())
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._good.add(key)
        return ok
