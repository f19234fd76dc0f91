"""Vendor profiles: what a system collector asks and how it reads the answers, shipped as data.

A profile is a YAML file ``collectors/profiles/<kind>-<name>.yaml`` validated by the kind's profile
model.  A target picks one with ``profile: <name>`` (shipped) or ``profile_file: <path>`` (its own),
so a province whose vendor differs writes configuration, not code.

A profile is read when the target's collector is built, never while the configuration is validated and
never from a cache: every reload (``POST /-/reload``, SIGHUP) reads it again, and ``check-config``
builds every collector, so a broken or missing profile is reported there too."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin

import yaml
from pydantic import BaseModel, ValidationError

PROFILE_DIR = Path(__file__).with_name("profiles")
M = TypeVar("M", bound=BaseModel)


def shipped(kind: str) -> list[str]:
    return sorted(p.stem[len(kind) + 1 :] for p in PROFILE_DIR.glob(f"{kind}-*.yaml"))


def load_profile(kind: str, model: type[M], name: str | None = None, path: str | None = None) -> M:
    """Load and validate a profile; ValueError with a one-line message naming the profile."""
    if path is not None:
        file = Path(path)
        label = path
    else:
        file = PROFILE_DIR / f"{kind}-{name}.yaml"
        label = f"profile {name!r}"
        if not file.is_file():
            raise ValueError(
                f"unknown profile {name!r} for kind {kind}; shipped: {', '.join(shipped(kind)) or 'none'}"
            )
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {label}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{label}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        from exporter.config import _errors_of

        raise ValueError(f"{label}: " + "; ".join(_errors_of(exc, (), model))) from None


def resolve(base_url: str, path: str) -> str:
    """The URL of a profile's page or endpoint: ``path`` is relative to the target URL (taken as a folder,
    so ``tin-tuc`` under ``https://x.gov.vn/so-tu-phap`` is ``https://x.gov.vn/so-tu-phap/tin-tuc``); a
    leading ``/`` starts from the host's root, and an absolute URL is used as it is."""
    if not path:
        return base_url
    return urljoin(base_url if base_url.endswith("/") else base_url + "/", path)
