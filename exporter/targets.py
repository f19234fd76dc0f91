"""National targets (``indicators/targets.yaml``): the one place of the target every output shows beside a
figure and judges it by.

Read by the snapshot report (``target: <key>`` in ``exporter/snapshot/report.yaml``), the scorecards
(``gap: {target: <key>}``: the landing page's gap to target and ``egov_*_indicator_target_ratio``), the
Grafana dashboards' threshold lines and the alert rules (``rules/thresholds.yaml`` ``national_targets``
gives each key its volume guard; the level comes from here).  A file is found beside the file that names
a key (a province's own copy of ``indicators/``), else the shipped one.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from exporter.config import ConfigError, Strict, _errors_of

#: the shipped file (``indicators/`` is installed beside the ``exporter`` package)
DEFAULT_TARGETS = Path(__file__).resolve().parent.parent / "indicators" / "targets.yaml"


class Target(Strict):
    #: the level to reach, a ratio 0-1
    ratio: float = Field(gt=0, le=1)
    vi: str
    en: str
    #: where the figure comes from (a decision, a plan), or why it is an assumption
    source: str
    #: false: a best reconstruction or a local choice, not a published figure
    verified: bool = True


class Targets(Strict):
    targets: dict[str, Target]


def targets_file(beside: Path | None = None) -> Path:
    """``targets.yaml`` in the folder of ``beside`` (a scorecard, a report definition) when there is one,
    else the shipped file."""
    if beside is not None and (beside.parent / "targets.yaml").is_file():
        return beside.parent / "targets.yaml"
    return DEFAULT_TARGETS


def read_yaml(p: Path) -> object:
    """A YAML file's content; ConfigError with one line naming the file when it cannot be read or parsed."""
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{p}: invalid YAML: {str(exc).splitlines()[0]}"]) from None


def load_targets(path: Path | None = None) -> dict[str, Target]:
    """The targets of a file by key; ConfigError with one line per problem, each naming the file."""
    p = path or DEFAULT_TARGETS
    data = read_yaml(p)
    try:
        return Targets.model_validate(data).targets
    except ValidationError as exc:
        raise ConfigError([f"{p}: {line}" for line in _errors_of(exc, (), Targets)]) from None


def unknown_target(key: object, targets: dict[str, Target], path: Path) -> str:
    """The message for a key that is not in the targets file."""
    return f"unknown target {key!r}; the targets of {path}: {', '.join(sorted(targets))}"
