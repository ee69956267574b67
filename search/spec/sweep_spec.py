"""The sweep spec: YAML parsed once, at the edge, into a frozen ``SweepSpec``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from search.data_spec import DataSpec, parse_data
from search.errors import SpecError
from search.fields import Section
from search.model_spec import parse_model
from search.objectives import MetricSpec, parse_objectives
from search.overrides import apply_overrides
from search.samplers import sampler_problem
from search.scheduler_spec import SCHEDULERS, SchedulerSpec, parse_scheduler
from search.search_spec import SearchSpec, parse_search
from search.space import ParamSpec, check_conditions, parse_param
from search.yaml_io import safe_load
from trainables.config import HYPERPARAMETERS, TrainConfig
from trainables.model import Architecture

if TYPE_CHECKING:
    from trainables.storage import Location

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RESUMABLE_CHANGES = ("name", "resources")


@dataclass(frozen=True)
class CheckpointSpec:
    every: int = 1
    keep: int = 2


@dataclass(frozen=True)
class ResourcesSpec:
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0


@dataclass(frozen=True)
class FailureSpec:
    max_retries: int = 2


@dataclass(frozen=True)
class TrackingSpec:
    """Where else trials are logged. TensorBoard event files are always written by Tune."""

    mlflow: str | None = None  # tracking URI, e.g. sqlite:///mlflow.db or http://host:5000
    experiment: str | None = None  # MLflow experiment name (default: the sweep's name)


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


def load_spec(
    path: str | Path | Location,
    overrides: list[str] | None = None,
    *,
    baselines_from: str | None = None,
    baselines_top: int | None = None,
) -> SweepSpec:
    """Read, override (``--set key=value``) and validate a spec file; raise ``SpecError``.

    ``baselines_from`` replaces the baseline with the best configs of an earlier export.
    """
    source = str(path)
    file = Path(path) if isinstance(path, str) else path  # a Location reads from its storage
    try:
        text = file.read_text()
    except OSError as exc:
        reason = exc.strerror or str(exc).splitlines()[0]
        raise SpecError(f"{source}: cannot read spec: {reason}") from None
    try:
        raw = safe_load(text)
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise SpecError(f"{source}: not valid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the spec must be a mapping, but got {type(raw).__name__}")
    raw.setdefault("name", Path(file.name).stem)
    raw = apply_overrides(raw, overrides or [], source)
    if baselines_from is not None:
        from search.baselines import read_baselines, searched_names, with_baselines

        found = read_baselines(baselines_from, searched_names(raw), top=baselines_top)
        raw = with_baselines(raw, found)
    return parse_spec(raw, source=source)


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
    space_section = top.sub("space")
    # Sorted: the sampler draws parameters in this order, so YAML key order must not matter.
    bad = [k for k in space_section.raw if not isinstance(k, str)]
    if bad:
        top.fail(f"`space` keys must be hyperparameter names, but got {bad}")
    space = {k: parse_param(k, space_section.sub(k)) for k in sorted(space_section.raw)}
    if not space:
        top.fail("`space` must declare at least one hyperparameter to search")
    check_conditions(space_section, space)
    fixed = _parse_fixed(top.sub("fixed"), space)
    search = parse_search(top.sub("search"), space, fixed)
    scheduler = parse_scheduler(top.sub("scheduler"), max_epochs=max_epochs(space, fixed))
    ckpt = top.sub("checkpoint")
    checkpoint = CheckpointSpec(
        every=ckpt.take("every", int, 1, check=lambda v: v >= 1, expect=">= 1"),
        keep=ckpt.take("keep", int, 2, check=lambda v: v >= 1, expect=">= 1"),
    )
    ckpt.done()
    res = top.sub("resources")
    resources = ResourcesSpec(
        cpus_per_trial=res.take(
            "cpus_per_trial",
            float,
            1.0,
            check=lambda v: v > 0 and _ray_quantity(v),
            expect="> 0, in steps of 0.0001",
        ),
        gpus_per_trial=res.take(
            "gpus_per_trial",
            float,
            0.0,
            check=lambda v: v >= 0 and _ray_quantity(v),
            expect=">= 0, in steps of 0.0001",
        ),
    )
    res.done()
    fail = top.sub("failure")
    failure = FailureSpec(
        max_retries=fail.take("max_retries", int, 2, check=lambda v: v >= 0, expect=">= 0")
    )
    fail.done()
    tracking = _parse_tracking(top.sub("tracking"))
    architecture = parse_model(top.sub("model"))
    top.done()
    _check_combinations(top, space, search, scheduler, objectives, checkpoint)
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


def _ray_quantity(value: float) -> bool:
    """Ray accounts resources in steps of 1e-4 and refuses finer ones."""
    return abs(round(value * 10_000) - value * 10_000) < 1e-6


def _resolved(raw: Mapping[str, Any], data: DataSpec) -> dict[str, Any]:
    """The raw spec with what was inferred at parse time written in, so that the copy saved
    with the experiment reads the same later, without the data file."""
    out = dict(raw)
    if data.table is not None:
        out["data"] = {**raw["data"], "task": data.task}
    return out


def _check_pbt(
    top: Section,
    space: Mapping[str, ParamSpec],
    search: SearchSpec,
    scheduler: SchedulerSpec,
    checkpoint: CheckpointSpec,
) -> None:
    if search.sampler != "random":
        top.fail(
            "`scheduler.type` pbt draws its population at random and explores by mutation "
            "(Ray Tune allows no search algorithm with it); set search.sampler: random"
        )
    if any(p.when for p in space.values()):
        top.fail("`scheduler.type` pbt can't mutate a conditional space; drop the `when`s")
    if search.time_budget_s is not None or search.max_total_epochs is not None:
        top.fail("`search` budgets limit how many trials start; pbt runs a fixed population")
    missing = [m for m in scheduler.mutate if m not in space]
    if missing:
        top.fail(f"`scheduler.mutate` {missing} must be searched in `space` (PBT mutates them)")
    if scheduler.perturbation_interval % checkpoint.every:
        top.fail(
            "`scheduler.perturbation_interval` must be a multiple of `checkpoint.every`: PBT "
            f"continues from the checkpoint at each perturbation, but got "
            f"{scheduler.perturbation_interval} and {checkpoint.every}"
        )


def _check_combinations(
    top: Section,
    space: Mapping[str, ParamSpec],
    search: SearchSpec,
    scheduler: SchedulerSpec,
    objectives: tuple[MetricSpec, ...],
    checkpoint: CheckpointSpec,
) -> None:
    """Refuse sampler, scheduler and metric combinations that can't work, with the reason."""
    if scheduler.type == "pbt":
        _check_pbt(top, space, search, scheduler, checkpoint)
    if scheduler.type == "hyperband" and checkpoint.every != 1:
        top.fail(
            "`checkpoint.every` must be 1 with hyperband: it pauses trials and a paused trial "
            "resumes from its last checkpoint, retraining up to every - 1 epochs; got "
            f"{checkpoint.every}"
        )
    problem = sampler_problem(
        search.sampler, space, objectives=len(objectives), num_samples=search.num_samples
    )
    if problem:
        top.fail(f"`search.sampler`: {problem}")
    if len(objectives) > 1 and scheduler.type != "fifo":
        top.fail(
            f"`scheduler.type` {scheduler.type!r} stops trials by one metric, which a "
            "multi-objective search doesn't have; use scheduler: {type: fifo}"
        )


def _parse_tracking(s: Section) -> TrackingSpec:
    uri = s.take("mlflow", str, None, check=bool, expect="a tracking URI")
    experiment = s.take("experiment", str, None, check=bool, expect="a non-empty name")
    s.done()
    if uri is not None:
        try:
            import mlflow  # noqa: F401
        except ImportError:
            s.fail("`tracking.mlflow` needs MLflow: pip install 'raysweep[tracking]'")
    return TrackingSpec(uri, experiment)


def _parse_fixed(s: Section, space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    fixed: dict[str, Any] = {}
    for key, value in s.raw.items():
        if key not in HYPERPARAMETERS:
            s.fail(
                f"unknown hyperparameter `fixed.{key}`; expected one of {sorted(HYPERPARAMETERS)}"
            )
        if key in space:
            s.fail(
                f"`fixed.{key}` is also in `space`; a hyperparameter is either searched or fixed"
            )
        hp = HYPERPARAMETERS[key]
        if not hp.accepts(value):
            s.fail(f"`fixed.{key}` must be {hp.describe()}, but got {value!r}")
        fixed[key] = float(value) if hp.kind is float else value
    return fixed


__all__ = ["SCHEDULERS", "SpecError", "SweepSpec", "load_spec", "parse_spec"]
