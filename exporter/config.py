"""Configuration: YAML parsed strictly into typed models.

Every problem is reported at once with its path (``targets[3].interval: must be a duration like 30s
or 5m, got "fast"``).  Unknown keys are errors.  Secrets come from ``${ENV}`` or ``<key>_file`` and are
held in :class:`Secret`, whose ``repr``/``str`` never show the value.  ``defaults:`` is merged into
every target so 200 targets don't repeat themselves.  Each collector kind validates its own keys with
its ``Config`` model; the list of kinds is read from the registry, never repeated here.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from exporter.plugin import SYSTEMS

# --------------------------------------------------------------------------------------------- errors


class ConfigError(Exception):
    """One or more problems in a configuration; ``messages`` holds one line each."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


# ------------------------------------------------------------------------------------- scalar types

_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 365 * 86400}


def parse_duration(value: Any) -> float:
    """``30s``, ``5m``, ``1h30m``, ``500ms``, ``1d`` -> seconds.  Bare numbers are refused: units matter."""
    if isinstance(value, str) and _DURATION_RE.match(value.strip()):
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value.strip()))
    raise ValueError(f"must be a duration like 30s or 5m, got {_show(value)}")


_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}


def parse_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE_RE.match(value.strip()) if isinstance(value, str) else None
    if m and float(m.group(1)) > 0:
        return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])
    raise ValueError(f"must be a size like 10MiB or 500KB, got {_show(value)}")


def _show(value: Any) -> str:
    if isinstance(value, Secret):
        return "<secret>"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


Duration = Annotated[float, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]


class Secret:
    """A secret string: compares by value, never printed.  ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('<redacted>')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: Any) -> core_schema.CoreSchema:
        def coerce(v: Any) -> Secret:
            if isinstance(v, Secret):
                return v
            if isinstance(v, str) and v:
                return Secret(v)
            # never echo the value: a secret written unquoted (password: 123456) is still a secret
            what = "an empty string" if v == "" else _TYPE_WORDS.get(type(v).__name__, type(v).__name__)
            hint = " (quote it)" if isinstance(v, (int, float)) else ""
            raise ValueError(f"must be a non-empty string{hint}, got {what}")

        # dumped (model_dump_json, mode="json") as a placeholder, never as the value
        return core_schema.no_info_plain_validator_function(
            coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda _s: "<redacted>", when_used="json"
            ),
        )


_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
#: labels every per-target series carries already.
RESERVED_LABELS = frozenset({"target", "system", "reason", "state", "le", "quantile", "instance", "job"})


def _check_url(value: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"must be an http:// or https:// URL, got {_show(value)}")
    return value


HttpUrl = Annotated[str, BeforeValidator(_check_url)]

_SECRET_PARAM = re.compile(r"token|key|secret|pass|pwd|sig|auth|credential", re.I)


def _url_secrets(url: str) -> list[str]:
    """The password of a URL's user info and the values of query parameters named like secrets."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if _SECRET_PARAM.search(k) and v]
    return found


_SECRET_HEADER = re.compile(
    r"authorization|cookie|token|key|secret|pass|pwd|sig|auth|credential|session", re.I
)


def header_secrets(headers: dict[str, str]) -> dict[str, list[str]]:
    """Headers of a target's plain ``headers:`` whose names say they carry credentials (``Authorization``,
    ``Cookie``, ``X-API-Key``, ...), with the values to hide: the whole value, and of a value like
    ``Bearer abc`` also the part after the scheme (an upstream may echo either)."""
    out: dict[str, list[str]] = {}
    for name, value in headers.items():
        if _SECRET_HEADER.search(name) and value:
            out[name] = [value] + ([value.partition(" ")[2]] if " " in value.strip() else [])
    return out


# ------------------------------------------------------------------------------------------- models


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, v: Any, info: Any) -> Any:
        """``retries: true`` is a mistake, not 1 (YAML's booleans are ints to Python)."""
        if isinstance(v, bool) and info.field_name in cls.model_fields:
            ann = cls.model_fields[info.field_name].annotation
            types = set(get_args(ann)) or {ann}
            if types & {int, float} and bool not in types:
                raise ValueError(
                    f"must be {'an integer' if int in types else 'a number'}, got {str(v).lower()}"
                )
        return v


class Auth(Strict):
    """Authentication of requests to a target."""

    type: Literal["basic", "bearer", "header", "oauth2"]
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    name: str | None = None  # header name
    value: Secret | None = None  # header value
    token_url: HttpUrl | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    scopes: list[str] = []
    #: extra form fields of the token request (e.g. audience)
    params: dict[str, str] = {}

    @model_validator(mode="after")
    def _fields_for_type(self) -> Auth:
        need = {
            "basic": ("username", "password"),
            "bearer": ("token",),
            "header": ("name", "value"),
            "oauth2": ("token_url", "client_id", "client_secret"),
        }[self.type]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"auth type {self.type} needs {', '.join(missing)}")
        return self


class TLS(Strict):
    insecure_skip_verify: bool = False
    ca_file: str | None = None
    #: days before certificate expiry at which the target turns degraded (0: never)
    expiry_warning_days: int = Field(default=14, ge=0)


#: a target's timeout unless it sets one (or its interval is shorter)
DEFAULT_TIMEOUT = 10.0
_SYSTEM_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class TargetBase(Strict):
    """Keys every target has, whatever its kind.  Kinds subclass this with their own keys."""

    name: str
    kind: str
    #: the system the target belongs to (label ``system``): one of exporter.plugin.SYSTEMS, whose dashboards
    #: and rules know it, or a name of your own (the generic dashboards and rules show it)
    system: str
    url: HttpUrl
    interval: Duration = 60.0
    #: total deadline of one request; unset: DEFAULT_TIMEOUT, or the interval when that is shorter
    timeout: Duration = DEFAULT_TIMEOUT
    #: random spread added to each interval, as a fraction of it
    jitter: float = Field(default=0.1, ge=0, le=0.5)
    retries: int = Field(default=1, ge=0, le=10)
    retry_backoff: Duration = 1.0
    max_body_size: ByteSize = 10 * 1024 * 1024
    labels: dict[str, str] = {}
    headers: dict[str, str] = {}
    auth: Auth | None = None
    tls: TLS = TLS()

    @model_validator(mode="before")
    @classmethod
    def _timeout_within_interval(cls, data: Any) -> Any:
        """A target polled more often than every DEFAULT_TIMEOUT seconds times out within its interval
        unless it sets a timeout of its own."""
        if isinstance(data, dict) and "timeout" not in data and "interval" in data:
            try:
                interval = parse_duration(data["interval"])
            except ValueError:
                return data  # reported by the field's own validation
            if interval < DEFAULT_TIMEOUT:
                return {**data, "timeout": data["interval"]}
        return data

    @field_validator("system")
    @classmethod
    def _system(cls, v: str) -> str:
        if not _SYSTEM_RE.match(v):
            raise ValueError(
                f"must be lower-case letters, digits and '_' (e.g. {', '.join(SYSTEMS)}), got {_show(v)}"
            )
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"must be letters, digits, '_', '.', ':' or '-', got {_show(v)}")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not _LABEL_RE.match(k) or k.startswith("__"):
                raise ValueError(f"label name {_show(k)} is not a valid Prometheus label name")
            if k in RESERVED_LABELS:
                raise ValueError(f"label name {_show(k)} is reserved")
        return v

    @model_validator(mode="after")
    def _timeout_fits(self) -> TargetBase:
        if self.timeout > self.interval:
            raise ValueError(f"timeout ({self.timeout:g}s) must not exceed interval ({self.interval:g}s)")
        return self


#: keys of ``defaults:``: every TargetBase key except the ones that identify a target.
DEFAULTABLE = tuple(k for k in TargetBase.model_fields if k not in ("name", "kind", "url"))


class SchedulerConfig(Strict):
    #: polls running at once, all targets together
    max_concurrency: int = Field(default=32, ge=1, le=2048)
    #: polls running at once against one host
    per_host_concurrency: int = Field(default=4, ge=1, le=256)
    #: first polls are spread over this window after start-up
    start_spread: Duration = 5.0
    #: ceiling of the backoff after consecutive 'blocked' failures (403/429/WAF)
    max_backoff: Duration = 3600.0


class MaintenanceWindow(Strict):
    """A planned outage: availability alerts for the targets it covers are suppressed."""

    name: str
    start: dt.datetime
    end: dt.datetime
    #: which targets it covers; empty lists mean all
    systems: list[str] = []
    targets: list[str] = []

    @model_validator(mode="after")
    def _order(self) -> MaintenanceWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, e.g. 2026-11-28T22:00:00+07:00")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


#: metric families the embedded history records by default (shell-style patterns on the metric name):
#: Decision 766 scores, totals, ranks and the published raw figures, PAR 7, the provincial counts and
#: ratios, and each target's availability.  The engine's derived detail (points, gaps, events needed,
#: per-group ranks) is left out: it follows from these; add "egov_qd766_*" to keep it too.
HISTORY_FAMILIES: tuple[str, ...] = (
    "egov_qd766_score",
    "egov_qd766_total_score",
    "egov_qd766_total_rank",
    "egov_qd766_unit_info",
    "egov_qd766_province_*",
    "egov_qd766_figure",
    "egov_qd766_metric_numerator",
    "egov_qd766_metric_denominator",
    "egov_par7_*",
    "egov_services_*",
    "egov_documents_*",
    "egov_lgsp_shared_data_*",
    "egov_portal_required_section*",
    "egov_portal_newest_article_timestamp_seconds",
    "egov_target_up",
    "egov_target_state",
    "egov_target_poll_duration_seconds",
)
_FAMILY_RE = re.compile(r"^[a-zA-Z_:*?\[][a-zA-Z0-9_:*?\[\]!]*$")


class HistoryConfig(Strict):
    enabled: bool = True
    #: the SQLite file; a relative path is taken from the working directory (like Prometheus's
    #: --storage.tsdb.path)
    path: str = "egov-history.sqlite"
    #: how often indicator values are written
    interval: Duration = 300.0
    retention: Duration = 3 * 366 * 86400.0
    #: metric families recorded (shell-style patterns on the metric name)
    families: list[str] = list(HISTORY_FAMILIES)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must be a file path, got an empty string")
        return v

    @field_validator("families")
    @classmethod
    def _families(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _FAMILY_RE.match(name):
                raise ValueError(f"{_show(name)} is not a metric name or a pattern like egov_qd766_*")
        return v

    @model_validator(mode="after")
    def _durations(self) -> HistoryConfig:
        if self.interval < 1:
            raise ValueError(f"interval must be at least 1s, got {self.interval:g}s")
        if self.retention < self.interval:
            raise ValueError(
                f"retention ({self.retention:g}s) must not be shorter than interval ({self.interval:g}s)"
            )
        return self


class ManualValue(Strict):
    """A criterion's value set by a person (a PAR 7 criterion no system measures), with who and when."""

    #: the criterion's code in a scorecard that takes manual values (e.g. C03 of par7)
    criterion: str
    #: the criterion's ratio from 0 to 1; true / false for met / not met
    value: bool | float
    set_by: str
    set_at: dt.datetime | dt.date
    note: str = ""

    @field_validator("set_by")
    @classmethod
    def _who(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must name who set the value")
        return v

    @field_validator("value")
    @classmethod
    def _ratio(cls, v: bool | float) -> bool | float:
        if not isinstance(v, bool) and not 0 <= v <= 1:
            raise ValueError(
                f"must be between 0 and 1 (a ratio; true/false for met / not met), got {_show(v)}"
            )
        return v


class ScoringConfig(Strict):
    #: scorecard files; relative paths are taken from the config file's folder, then the package's
    scorecards: list[str] = ["indicators/qd766.yaml", "indicators/par7.yaml"]
    #: values of criteria no system can measure (PAR 7), with who set them and when
    manual: list[ManualValue] = []


#: the indicator engine's check of ``scoring:`` (scorecard files, manual values): one line per problem
ScoringCheck = Callable[[ScoringConfig, Path], list[str]]


class Config(Strict):
    scheduler: SchedulerConfig = SchedulerConfig()
    defaults: dict[str, Any] = {}
    targets: list[TargetBase] = []
    maintenance: list[MaintenanceWindow] = []
    history: HistoryConfig = HistoryConfig()
    scoring: ScoringConfig = ScoringConfig()
    #: where the file was read from (not a key)
    source: str = ""
    #: each target's index in the file's ``targets:`` list (not a key), for messages about it
    places: dict[str, int] = {}

    def target(self, name: str) -> TargetBase | None:
        return next((t for t in self.targets if t.name == name), None)

    def place(self, name: str) -> str:
        """Where a target is written: ``targets[3]`` (``targets "NAME"`` for one not read from a file)."""
        return f"targets[{self.places[name]}]" if name in self.places else f'targets "{name}"'

    def secrets(self) -> list[str]:
        """Every secret value in the configuration (for redaction of output)."""
        found: list[str] = []

        def walk(obj: Any) -> None:
            if isinstance(obj, Secret):
                found.append(obj.reveal())
            elif isinstance(obj, BaseModel):
                for key in type(obj).model_fields:
                    walk(getattr(obj, key))
            elif isinstance(obj, dict):
                for v in obj.values():
                    walk(v)
            elif isinstance(obj, (list, tuple)):
                for v in obj:
                    walk(v)

        walk(self)
        for target in self.targets:  # credentials written into a URL (user:pass@, ?token=...) are secrets too
            found.extend(_url_secrets(target.url))
            for values in header_secrets(target.headers).values():  # and in headers named like credentials
                found.extend(values)
        return sorted({s for s in found if s}, key=len, reverse=True)


# ----------------------------------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


class _FastUniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same on libyaml (PyYAML's C parser, when installed with it): a configuration of thousands of
    targets is read several times faster and its node tree, alive while the document is read, takes about
    a third less memory (the exporter's peak RSS at start-up).  Its error messages are libyaml's, so a
    document it refuses is read again by :class:`_UniqueKeyLoader` for the message (same place, same words
    as ever)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {_show(key)}", key_node.start_mark
            )
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


for _loader in (_UniqueKeyLoader, _FastUniqueKeyLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: keys whose value is secret; ``<key>_file`` reads it from a file.
SECRET_KEYS = ("password", "token", "client_secret", "value")


def _path(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _prepare(node: Any, path: tuple, env: dict[str, str], base_dir: Path, errors: list[str]) -> Any:
    """Expand ``${ENV}`` (``${ENV:-default}`` when unset), read ``*_file`` secrets (keys of an ``auth`` mapping), recursively; collect
    errors with their paths."""
    if isinstance(node, dict) and path and path[-1] == "auth":
        out: dict[Any, Any] = {}
        for key, value in node.items():
            if isinstance(key, str) and key.endswith("_file") and key[:-5] in SECRET_KEYS:
                base = key[:-5]
                if base in node:
                    errors.append(f"{_path(path + (key,))}: set {base} or {key}, not both")
                    continue
                file_path = _prepare(value, path + (key,), env, base_dir, errors)
                if not isinstance(file_path, str):
                    errors.append(f"{_path(path + (key,))}: must be a file path, got {_show(value)}")
                    continue
                full = Path(file_path) if os.path.isabs(file_path) else base_dir / file_path
                try:
                    out[base] = Secret(full.read_text(encoding="utf-8").strip())
                except (OSError, UnicodeDecodeError) as exc:
                    why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror or exc
                    errors.append(f"{_path(path + (key,))}: cannot read {file_path}: {why}")
                    out[base] = Secret("<unreadable>")  # reported above; not "missing" a second time
                continue
            out[key] = _prepare(value, path + (key,), env, base_dir, errors)
            if isinstance(key, str) and key in SECRET_KEYS and isinstance(out[key], str):
                out[key] = Secret(out[key])
        return out
    if isinstance(node, dict):
        return {k: _prepare(v, path + (k,), env, base_dir, errors) for k, v in node.items()}
    if isinstance(node, list):
        return [_prepare(v, path + (i,), env, base_dir, errors) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def sub(m: re.Match) -> str:
            if m.group(1) not in env and m.group(2) is not None:
                return m.group(2)
            if m.group(1) not in env:
                errors.append(f"{_path(path)}: environment variable {m.group(1)} is not set")
                return ""
            return env[m.group(1)]

        return _ENV_RE.sub(sub, node)
    return node


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "dict": "a mapping",
    "list": "a list",
    "model": "a mapping",
    "datetime": "a date and time",
}


def _format_error(err: dict[str, Any], prefix: tuple, known: tuple[str, ...] = ()) -> str:
    loc = prefix + tuple(err["loc"])
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        key = str(err["loc"][-1]) if err["loc"] else ""
        hint = difflib.get_close_matches(key, known, n=1) if known else []
        msg = "unknown key" + (f' (did you mean "{hint[0]}"?)' if hint else "")
    elif kind == "missing":
        msg = "required"
    elif kind in ("value_error", "assertion_error"):
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    elif kind == "literal_error":
        msg = f"must be one of {err['ctx']['expected']}, got {_show(got)}"
    else:
        base = kind.split("_")[0]
        if base in _TYPE_WORDS:
            bound = err.get("ctx", {})
            if "ge" in bound or "le" in bound or "gt" in bound or "lt" in bound:
                msg = err["msg"][0].lower() + err["msg"][1:] + f", got {_show(got)}"
            else:
                msg = f"must be {_TYPE_WORDS[base]}, got {_show(got)}"
        else:
            msg = err["msg"][0].lower() + err["msg"][1:] + f", got {_show(got)}"
    return f"{_path(loc)}: {msg}"


_UNION_TAGS = re.compile(r"^(str|int|float|bool|list|dict|none|function-\w+|[a-z-]+\[.*\])$")


def _errors_of(exc: ValidationError, prefix: tuple, model: type[BaseModel]) -> list[str]:
    """One line per place: union alternatives' type errors at one place are merged."""
    by_place: dict[tuple, list[dict[str, Any]]] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and _UNION_TAGS.match(p)))
        by_place.setdefault(loc, []).append({**err, "loc": loc})
    out = []
    for loc, errs in by_place.items():
        types = [e for e in errs if e["type"].split("_")[0] in _TYPE_WORDS and e["type"] != "missing"]
        if len(errs) > 1 and len(types) == len(errs):
            words = " or ".join(dict.fromkeys(_TYPE_WORDS[e["type"].split("_")[0]] for e in errs))
            out.append(f"{_path(prefix + loc)}: must be {words}, got {_show(errs[0].get('input'))}")
            continue
        out.extend(_error_line(e, prefix, model) for e in errs[:1])
    return out


def _error_line(err: dict[str, Any], prefix: tuple, model: type[BaseModel]) -> str:
    # the field names known at the place of the error, for "did you mean"
    sub: Any = model
    for part in err["loc"][:-1]:
        if isinstance(part, int):
            continue
        field = getattr(sub, "model_fields", {}).get(part)
        ann = getattr(field, "annotation", None) if field else None
        sub = next((a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), None)
        if sub is None:
            break
    known = (
        tuple(k for k in sub.model_fields if k not in _NOT_KEYS)
        if sub is not None and hasattr(sub, "model_fields")
        else ()
    )
    return _format_error(err, prefix, known)


def _blame_defaults(line: str, where: tuple, raw: dict[str, Any], defaults: dict[str, Any]) -> str:
    """An error in a key a target took from ``defaults:`` is reported (once) at ``defaults.<key>``."""
    head = _path(where) + "."
    if line.startswith(head):
        key = re.split(r"[.\[:]", line[len(head) :], maxsplit=1)[0]
        if key in defaults and key not in raw:
            return "defaults." + line[len(head) :]
    return line


def _merge_defaults(defaults: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in target.items():
        if key in ("labels", "headers") and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


#: fields of Config that are not keys of the file
_NOT_KEYS = ("source", "places")


def parse_config(
    data: Any,
    *,
    source: str = "<config>",
    kinds: Mapping[str, type],
    check_scoring: ScoringCheck | None = None,
    env: dict[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Validate a parsed YAML document; raise ConfigError with every problem found.

    ``kinds`` maps ``kind:`` to the collector class whose ``Config`` model validates the target (the
    caller's registry: the core knows no kind); ``check_scoring``, when given, returns the problems of the
    ``scoring:`` section (the indicator engine's check)."""
    env = dict(os.environ) if env is None else env
    errors: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys, got {type(data).__name__}"])
    data = _prepare(data, (), env, base_dir or Path("."), errors)

    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        errors.append(f"defaults: must be a mapping, got {_show(defaults)}")
        defaults = {}
    for key in defaults:
        if key not in DEFAULTABLE:
            hint = difflib.get_close_matches(str(key), DEFAULTABLE, n=1)
            errors.append(
                f"defaults.{key}: unknown key" + (f' (did you mean "{hint[0]}"?)' if hint else "")
                if key not in ("name", "kind", "url")
                else f"defaults.{key}: cannot be a default, set it on each target"
            )

    raw_targets = data.get("targets") or []
    targets: list[TargetBase] = []
    if not isinstance(raw_targets, list):
        errors.append(f"targets: must be a list, got {_show(raw_targets)}")
        raw_targets = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_targets):
        where = ("targets", i)
        if not isinstance(raw, dict):
            errors.append(f"{_path(where)}: must be a mapping, got {_show(raw)}")
            continue
        # a name used twice is reported whether or not either target has other mistakes
        name = raw.get("name")
        if isinstance(name, str) and name in seen:
            errors.append(
                f"{_path(where + ('name',))}: duplicate target name {_show(name)} "
                f"(first used by targets[{seen[name]}])"
            )
        elif isinstance(name, str):
            seen[name] = i
        kind = raw.get("kind")
        if kind is None:
            errors.append(f"{_path(where + ('kind',))}: required (one of {', '.join(sorted(kinds))})")
            continue
        cls = kinds.get(kind) if isinstance(kind, str) else None
        if cls is None:
            hint = difflib.get_close_matches(str(kind), list(kinds), n=1)
            errors.append(
                f"{_path(where + ('kind',))}: unknown kind {_show(kind)}, known kinds: "
                f"{', '.join(sorted(kinds))}" + (f' (did you mean "{hint[0]}"?)' if hint else "")
            )
            continue
        merged = _merge_defaults({k: v for k, v in defaults.items() if k in DEFAULTABLE}, raw)
        if "system" not in merged and cls.default_system:
            merged["system"] = cls.default_system
        try:
            target = cls.Config.model_validate(merged)
        except ValidationError as exc:
            for line in _errors_of(exc, where, cls.Config):
                line = _blame_defaults(line, where, raw, defaults)
                if line == f"{_path(where + ('system',))}: required":
                    line += f" (one of {', '.join(SYSTEMS)}, or a name of your own)"
                if line not in errors:
                    errors.append(line)
            continue
        if seen.get(target.name) == i:
            targets.append(target)

    rest = {k: v for k, v in data.items() if k not in ("targets", "defaults")}
    for key in _NOT_KEYS:  # fields of Config, but not keys of the file
        if key in rest:
            errors.append(f"{key}: unknown key")
            del rest[key]
    try:
        cfg = Config.model_validate({**rest, "source": source})
    except ValidationError as exc:
        errors.extend(_errors_of(exc, (), Config))
        cfg = None
    if cfg is not None:
        for j, window in enumerate(cfg.maintenance):
            for k, name in enumerate(window.targets):
                if name not in seen:
                    errors.append(f"maintenance[{j}].targets[{k}]: no target named {_show(name)}")
        if check_scoring is not None:
            errors.extend(check_scoring(cfg.scoring, base_dir or Path(".")))
    if errors:
        raise ConfigError(errors)
    assert cfg is not None
    return cfg.model_copy(update={"targets": targets, "defaults": defaults, "places": seen})


def _load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FastUniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError:
        pass
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - the error, in PyYAML's own words


def load_config(
    path: str | os.PathLike,
    *,
    kinds: Mapping[str, type],
    check_scoring: ScoringCheck | None = None,
    env: dict[str, str] | None = None,
) -> Config:
    """Read and validate a configuration file; raise ConfigError naming the file and each place."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and cmark is not None and mark is not None and cmark.line != mark.line:
            # e.g. an unclosed quote is found at the end of the file: say where it was opened
            problem += f" ({context} at line {cmark.line + 1}, column {cmark.column + 1})"
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    return parse_config(
        data, source=str(path), kinds=kinds, check_scoring=check_scoring, env=env, base_dir=p.parent
    )
