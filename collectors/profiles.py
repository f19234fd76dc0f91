"""Vendor profiles: what a system collector asks and how it reads the answers, shipped as data.

A profile is a YAML file ``collectors/profiles/<kind>-<name>.yaml`` validated by the kind's profile
model.  A target picks one with ``profile: <name>`` (shipped) or ``profile_file: <path>`` (its own),
so a province whose vendor differs writes configuration, not code.

A profile is read when the target's collector is built, never while the configuration is validated and
never from a cache: every reload (``POST /-/reload``, SIGHUP) reads it again, and ``check-config``
builds every collector, so a broken or missing profile is reported there too.

A profile may declare **settings** (:class:`Setting`): values a deployment differs by (iGate's province
prefix ``kgg``, an agency id, an OpenCPS site id), given per target in ``profile_settings:`` and used as
template variables of the profile's requests (``{prefix}``).  They are checked when the collector is built:
an unknown name, a missing required value or one that does not match the setting's pattern is reported at
the target's place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import urljoin

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError, field_validator

from collectors.extract import HtmlMetric
from exporter.config import Strict

PROFILE_DIR = Path(__file__).with_name("profiles")
M = TypeVar("M", bound=BaseModel)
#: profiles renamed or removed, with what to use instead (named in the "unknown profile" message)
RENAMED: dict[tuple[str, str], str] = {
    ("services", "igate-json"): "renamed example-json: it is a template, not VNPT iGate's API; for iGate use "
    "profile: igate with profile_settings",
    ("documents", "eoffice-json"): "renamed example-json: it is a template (no public statistics API of "
    "iOffice/eOffice/VOffice exists)",
    ("portal", "default"): "replaced by liferay (the default); the old layout is the template 'example'",
}
_SETTING_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Setting(Strict):
    """A value a deployment of the vendor's product differs by, given per target in ``profile_settings``."""

    #: what the value is and where an operator finds it
    description: str = ""
    #: the value when the target gives none (none: the target must give one)
    default: str | None = None
    #: a regular expression the whole value must match (e.g. ``[0-9a-f]{24}`` for a MongoDB id)
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        return HtmlMetric._regex(v)


def _as_text(values: dict[str, str | int]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


#: a target's ``profile_settings``: names to values (numbers written without quotes are taken as text)
SettingValues = Annotated[dict[str, str | int], AfterValidator(_as_text)]


def check_setting_names(settings: dict[str, Setting], reserved: tuple[str, ...]) -> None:
    """A profile's setting names: snake_case, none of the built-in template variables."""
    for name in settings:
        if not _SETTING_NAME.match(name):
            raise ValueError(f"setting names are lower-case snake_case, got {name!r}")
        if name in reserved:
            raise ValueError(f"setting {name!r} would hide the built-in template variable {{{name}}}")


def _expand(values: dict[str, str], label: str) -> dict[str, str]:
    """A setting's value may use the others: ``pa/{prefix}-digitize/...`` (one level, no loops)."""
    out = {}
    for name, value in values.items():
        if "{" not in value:
            out[name] = value
            continue
        try:
            out[name] = value.format(**{k: v for k, v in values.items() if k != name})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"profile_settings.{name}: {value[:60]!r} names no other setting of {label} ({exc})"
            ) from None
    return out


def sample_settings(settings: dict[str, Setting]) -> dict[str, str]:
    """Values to check a profile's templates with before any target gives its own."""
    return _expand(
        {name: s.default if s.default is not None else "x" for name, s in settings.items()}, "the profile"
    )


def resolve_settings(label: str, settings: dict[str, Setting], given: dict[str, str]) -> dict[str, str]:
    """The target's ``profile_settings`` checked against the profile's declared settings, defaults filled
    in; ValueError naming the key (``profile_settings.agency_id: ...``)."""
    unknown = [k for k in given if k not in settings]
    if unknown:
        known = ", ".join(settings) or "none"
        raise ValueError(f"profile_settings.{unknown[0]}: not a setting of {label}; its settings: {known}")
    out: dict[str, str] = {}
    for name, setting in settings.items():
        value = given.get(name, setting.default)
        if value is None:
            what = f" ({setting.description})" if setting.description else ""
            raise ValueError(f"profile_settings.{name}: required by {label}{what}")
        if setting.pattern is not None and not re.fullmatch(setting.pattern, value):
            raise ValueError(f"profile_settings.{name}: must match {setting.pattern!r}, got {value[:60]!r}")
        out[name] = value
    return _expand(out, label)


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
            hint = RENAMED.get((kind, name or ""))
            raise ValueError(
                f"unknown profile {name!r} for kind {kind}"
                + (f" ({hint})" if hint else "")
                + f"; shipped: {', '.join(shipped(kind)) or 'none'}"
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

        problems = [e.removeprefix("(top level): ") for e in _errors_of(exc, (), model)]
        raise ValueError(f"{label}: " + "; ".join(problems)) from None


def resolve(base_url: str, path: str) -> str:
    """The URL of a profile's page or endpoint: ``path`` is relative to the target URL (taken as a folder,
    so ``tin-tuc`` under ``https://x.gov.vn/so-tu-phap`` is ``https://x.gov.vn/so-tu-phap/tin-tuc``); a
    leading ``/`` starts from the host's root, and an absolute URL is used as it is."""
    if not path:
        return base_url
    return urljoin(base_url if base_url.endswith("/") else base_url + "/", path)
