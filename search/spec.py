"""The sweep spec: YAML parsed once, at the edge, into a frozen ``SweepSpec``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from search.errors import SpecError
from search.fields import Section
from search.overrides import apply_overrides
from search.samplers import SAMPLERS
from search.schedulers import SCHEDULERS, SchedulerSpec, parse_scheduler
from search.space import ParamSpec, default_point, parse_param
from search.yaml_io import safe_load
from trainables import config as names
from trainables.config import HYPERPARAMETERS, TrainConfig
from trainables.data import DATASETS, SyntheticOptions

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MODES = ("min", "max")
RESUMABLE_CHANGES = ("name", "resources")


@dataclass(frozen=True)
class DataSpec:
    dataset: str
    val_fraction: float = 0.2
    seed: int = 0
    synthetic: SyntheticOptions | None = None

    @property
    def is_classification(self) -> bool:
        return self.synthetic is None or self.synthetic.n_classes > 0


@dataclass(frozen=True)
class MetricSpec:
    name: str
    mode: str


@dataclass(frozen=True)
class SearchSpec:
    sampler: str = "tpe"
    num_samples: int = 16
    max_concurrent: int = 2
    seed: int = 0
    # Evaluated first, in order; the first is the base camp every trial is read against.
    baselines: tuple[Mapping[str, Any], ...] = ()

    @property
    def baseline(self) -> Mapping[str, Any]:
        return self.baselines[0]


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
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    baselines_from: str | None = None,
    baselines_top: int | None = None,
) -> SweepSpec:
    """Read, override (``--set key=value``) and validate a spec file; raise ``SpecError``.

    ``baselines_from`` replaces the baseline with the best configs of an earlier export.
    """
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpecError(f"{source}: cannot read spec: {exc.strerror}") from None
    try:
        raw = safe_load(text)
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise SpecError(f"{source}: not valid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the spec must be a mapping, but got {type(raw).__name__}")
    raw.setdefault("name", Path(path).stem)
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
    data = _parse_data(top.sub("data"))
    metric = _parse_metric(top.sub("metric"), data)
    space_section = top.sub("space")
    # Sorted: the sampler draws parameters in this order, so YAML key order must not matter.
    space = {k: parse_param(k, space_section.sub(k)) for k in sorted(space_section.raw)}
    if not space:
        top.fail("`space` must declare at least one hyperparameter to search")
    fixed = _parse_fixed(top.sub("fixed"), space)
    search = _parse_search(top.sub("search"), space, fixed)
    scheduler = parse_scheduler(top.sub("scheduler"), max_epochs=max_epochs(space, fixed))
    ckpt = top.sub("checkpoint")
    checkpoint = CheckpointSpec(
        every=ckpt.take("every", int, 1, check=lambda v: v >= 1, expect=">= 1"),
        keep=ckpt.take("keep", int, 2, check=lambda v: v >= 1, expect=">= 1"),
    )
    ckpt.done()
    res = top.sub("resources")
    resources = ResourcesSpec(
        cpus_per_trial=res.take("cpus_per_trial", float, 1.0, check=lambda v: v > 0, expect="> 0"),
        gpus_per_trial=res.take(
            "gpus_per_trial", float, 0.0, check=lambda v: v >= 0, expect=">= 0"
        ),
    )
    res.done()
    fail = top.sub("failure")
    failure = FailureSpec(
        max_retries=fail.take("max_retries", int, 2, check=lambda v: v >= 0, expect=">= 0")
    )
    fail.done()
    tracking = _parse_tracking(top.sub("tracking"))
    top.done()
    return SweepSpec(
        name,
        data,
        metric,
        space,
        fixed,
        search,
        scheduler,
        checkpoint,
        resources,
        failure,
        raw=dict(raw),
        tracking=tracking,
    )


def _parse_data(s: Section) -> DataSpec:
    dataset = s.choice("dataset", DATASETS)
    val_fraction = s.take(
        "val_fraction", float, 0.2, check=lambda v: 0 < v < 1, expect="in (0, 1)"
    )
    seed = s.take("seed", int, 0)
    synthetic = None
    if dataset == "synthetic":
        defaults = SyntheticOptions()
        synthetic = SyntheticOptions(
            n_samples=s.take(
                "n_samples", int, defaults.n_samples, check=lambda v: v >= 10, expect=">= 10"
            ),
            n_features=s.take(
                "n_features", int, defaults.n_features, check=lambda v: v >= 2, expect=">= 2"
            ),
            n_classes=s.take(
                "n_classes",
                int,
                defaults.n_classes,
                check=lambda v: v == 0 or v >= 2,
                expect="0 (regression) or >= 2",
            ),
        )
    s.done()
    return DataSpec(dataset, val_fraction, seed, synthetic)


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


def task_metrics(data: DataSpec) -> tuple[str, ...]:
    return names.CLASSIFICATION_METRICS if data.is_classification else names.REGRESSION_METRICS


def _parse_metric(s: Section, data: DataSpec) -> MetricSpec:
    produced = task_metrics(data)
    task = "classification" if data.is_classification else "regression"
    metric = s.take("name", str, names.VAL_LOSS)
    if metric not in produced:
        s.fail(
            f"`metric.name` {metric!r} is not produced by {task} on {data.dataset!r}; "
            f"expected one of {list(produced)}"
        )
    mode = s.choice("mode", MODES, "min")
    s.done()
    return MetricSpec(metric, mode)


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


def _parse_search(
    s: Section, space: Mapping[str, ParamSpec], fixed: Mapping[str, Any]
) -> SearchSpec:
    sampler = s.choice("sampler", SAMPLERS, "tpe")
    num_samples = s.take("num_samples", int, 16, check=lambda v: v >= 1, expect=">= 1")
    max_concurrent = s.take("max_concurrent", int, 2, check=lambda v: v >= 1, expect=">= 1")
    seed = s.take("seed", int, 0)
    given = s.take("baseline", object, None)
    s.done()
    baselines: tuple[dict[str, Any], ...]
    if given is None or isinstance(given, dict):
        baselines = (_parse_baseline(s, given, space, fixed, "search.baseline"),)
    elif isinstance(given, list) and given and all(isinstance(b, dict) for b in given):
        baselines = tuple(
            _parse_baseline(s, b, space, fixed, f"search.baseline[{i}]")
            for i, b in enumerate(given)
        )
    else:
        s.fail(
            "`search.baseline` must be a mapping of hyperparameters or a non-empty list of "
            f"them, but got {given!r}"
        )
    return SearchSpec(sampler, num_samples, max_concurrent, seed, baselines)


def _parse_baseline(
    s: Section,
    given: Mapping[str, Any] | None,
    space: Mapping[str, ParamSpec],
    fixed: Mapping[str, Any],
    where: str,
) -> dict[str, Any]:
    """A config evaluated first. Missing keys take the trainable's default where it fits."""
    given = given or {}
    for key, value in given.items():
        if key in fixed:
            s.fail(f"`{where}.{key}` is fixed to {fixed[key]!r}; set it in `fixed` only")
        if key not in space:
            s.fail(f"`{where}.{key}` is not in `space`; expected keys {sorted(space)}")
        if not space[key].contains(value):
            s.fail(f"`{where}.{key}` must be {space[key].describe()}, but got {value!r}")
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    return {k: given[k] if k in given else default_point(p, defaults[k]) for k, p in space.items()}


__all__ = ["SCHEDULERS", "SpecError", "SweepSpec", "load_spec", "parse_spec"]
