"""The sweep spec: a YAML mapping parsed once, at the edge, into a frozen ``SweepSpec``.

Parsing is pure: it reads structure and values and touches nothing of the machine, so a
finished experiment's saved spec reads back anywhere. What a run additionally needs (the model
factory importable, MLflow installed, the model fitting the data) is ``search.sweep.preflight``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from search.spec.combinations import check_combinations
from search.spec.data import DataSpec, parse_data
from search.spec.fields import Section
from search.spec.model import Architecture, parse_model
from search.spec.objectives import MetricSpec, parse_objectives
from search.spec.scheduler import SchedulerSpec, parse_scheduler
from search.spec.search_settings import SearchSpec, parse_search
from search.spec.sections import (
    CheckpointSpec,
    FailureSpec,
    ResourcesSpec,
    TrackingSpec,
    parse_checkpoint,
    parse_failure,
    parse_fixed,
    parse_resources,
    parse_tracking,
)
from search.spec.space import ParamSpec, check_conditions, parse_param
from trainables.config import TrainConfig

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RESUMABLE_CHANGES = ("name", "resources")


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep. ``raw`` is the YAML mapping it came from, overrides applied."""

    name: str
    data: DataSpec
    metric: MetricSpec
    space: Mapping[str, ParamSpec]
    fixed: Mapping[str, Any]
    search: SearchSpec
    scheduler: SchedulerSpec
    checkpoint: CheckpointSpec
    resources: ResourcesSpec
    failure: FailureSpec
    raw: Mapping[str, Any] = field(compare=False, repr=False)
    tracking: TrackingSpec = TrackingSpec()
    objectives: tuple[MetricSpec, ...] = ()  # metric is the first; more for multi-objective
    architecture: Architecture = Architecture()  # the `model:` section

    @property
    def max_epochs(self) -> int:
        return max_epochs(self.space, self.fixed)

    def identity(self) -> dict[str, Any]:
        """What a resumed sweep must share with the original: everything but its name and
        resources, which Ray restores from the experiment or which change nothing computed."""
        identity = {k: v for k, v in self.raw.items() if k not in RESUMABLE_CHANGES}
        identity["search"] = {
            **(self.raw.get("search") or {}),
            "baseline": [dict(b) for b in self.search.baselines],
        }
        return json.loads(json.dumps(identity, default=str))  # type: ignore[no-any-return]

    def to_yaml(self) -> str:
        return yaml.safe_dump(dict(self.raw), sort_keys=False)


def max_epochs(space: Mapping[str, ParamSpec], fixed: Mapping[str, Any]) -> int:
    """The longest a trial can train: ASHA's ``max_t``."""
    if "epochs" in space:
        return int(max(space["epochs"].choices or (space["epochs"].high,)))  # type: ignore[type-var]
    return int(fixed.get("epochs", TrainConfig.epochs))


def parse_spec(raw: Mapping[str, Any], *, source: str = "<spec>") -> SweepSpec:
    top = Section(raw, "", source)
    name = top.take(
        "name",
        str,
        check=lambda n: bool(NAME_PATTERN.match(n)),
        expect="letters, digits, '_', '.' or '-'",
    )
    data = parse_data(top.sub("data"))
    objectives = parse_objectives(top, data)
    space = _parse_space(top)
    fixed = parse_fixed(top.sub("fixed"), space)
    search = parse_search(top.sub("search"), space, fixed)
    scheduler = parse_scheduler(top.sub("scheduler"), max_epochs=max_epochs(space, fixed))
    checkpoint = parse_checkpoint(top.sub("checkpoint"))
    resources = parse_resources(top.sub("resources"))
    failure = parse_failure(top.sub("failure"))
    tracking = parse_tracking(top.sub("tracking"))
    architecture = parse_model(top.sub("model"))
    top.done()
    check_combinations(top, space, search, scheduler, objectives, checkpoint)
    return SweepSpec(
        name,
        data,
        objectives[0],
        space,
        fixed,
        search,
        scheduler,
        checkpoint,
        resources,
        failure,
        raw=_resolved(raw, data),
        tracking=tracking,
        objectives=objectives,
        architecture=architecture,
    )


def _parse_space(top: Section) -> dict[str, ParamSpec]:
    section = top.sub("space")
    bad = [k for k in section.raw if not isinstance(k, str)]
    if bad:
        top.fail(f"`space` keys must be hyperparameter names, but got {bad}")
    # Sorted: the sampler draws parameters in this order, so YAML key order must not matter.
    space = {k: parse_param(k, section.sub(k)) for k in sorted(section.raw)}
    if not space:
        top.fail("`space` must declare at least one hyperparameter to search")
    check_conditions(section, space)
    return space


def _resolved(raw: Mapping[str, Any], data: DataSpec) -> dict[str, Any]:
    """The raw spec with what was inferred at parse time written in, so that the copy saved
    with the experiment reads the same later, without the data file."""
    out = dict(raw)
    if data.table is not None:
        out["data"] = {**raw["data"], "task": data.task}
    return out
