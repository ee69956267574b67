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
from search.spec.train import parse_train
from trainables.config import TrainConfig
from trainables.recipe import Recipe
from trainables.sources import ImageSource

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
    recipe: Recipe = Recipe()  # the `train:` section
    every_steps: int | None = None  # `checkpoint.every_steps`: inside long epochs too

    @property
    def reported_metrics(self) -> tuple[str, ...]:
        """The per-epoch metrics every trial reports (a step of yours may add more)."""
        return self.recipe.columns(self.data.task)

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
    recipe = parse_train(top.sub("train"))
    objectives = parse_objectives(top, data, recipe)
    space = _parse_space(top)
    fixed = parse_fixed(top.sub("fixed"), space)
    search = parse_search(top.sub("search"), space, fixed)
    scheduler = parse_scheduler(top.sub("scheduler"), max_epochs=max_epochs(space, fixed))
    checkpoint = parse_checkpoint(top.sub("checkpoint"))
    resources = parse_resources(top.sub("resources"))
    failure = parse_failure(top.sub("failure"))
    tracking = parse_tracking(top.sub("tracking"))
    architecture = _for_data(top, parse_model(top.sub("model")), data)
    top.done()
    check_combinations(top, space, search, scheduler, objectives, checkpoint)
    if resources.distributed and checkpoint.every_steps is not None:
        top.fail(
            "`checkpoint.every_steps` is not supported with `resources.workers_per_trial` > 1 "
            "yet; data-parallel trials write a checkpoint every `checkpoint.every` epochs"
        )
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
        recipe=recipe,
        every_steps=checkpoint.every_steps,
    )


def _for_data(top: Section, architecture: Architecture, data: DataSpec) -> Architecture:
    """Images give the network its input shape; a CNN is their default network."""
    source = data.trial_data.source if data.trial_data is not None else None
    if not isinstance(source, ImageSource):
        return architecture
    shape = source.input_shape
    model = (top.raw.get("model") or {}) if isinstance(top.raw.get("model"), dict) else {}
    kind = architecture.type if ("type" in model or "factory" in model) else "cnn"
    if architecture.input_shape is not None and tuple(architecture.input_shape) != shape:
        top.fail(
            f"`model.input_shape` must be the images' [channels, size, size] = {list(shape)}, "
            f"but got {list(architecture.input_shape)}"
        )
    return Architecture(kind, shape, architecture.factory)


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
    source = data.trial_data.source if data.trial_data is not None else None
    if isinstance(source, ImageSource):  # the folder's classes and statistics, once
        out["data"] = {
            **raw["data"],
            "images": source.root,
            "classes": list(source.classes),
            "normalize": {"mean": list(source.mean), "std": list(source.std)},
        }
    return out
