"""The spec's small sections: checkpoint, resources, failure, tracking and fixed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from search.spec.fields import Section
from search.spec.space import ParamSpec
from trainables.config import known_names, lookup_hyperparameter


@dataclass(frozen=True)
class CheckpointSpec:
    every: int = 1
    keep: int = 2
    every_steps: int | None = None  # also inside an epoch, every N optimizer steps


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
    wandb: WandbSpec | None = None  # Weights & Biases: one run per trial


WANDB_MODES = ("online", "offline", "disabled")


@dataclass(frozen=True)
class WandbSpec:
    """``tracking.wandb``: what ``wandb.init`` gets for each trial's run."""

    project: str | None = None  # default: the sweep's name
    entity: str | None = None  # default: the logged-in user's
    group: str | None = None  # default: the sweep's name
    mode: str = "online"  # offline: run files only, synced later with `wandb sync`


def parse_checkpoint(s: Section) -> CheckpointSpec:
    checkpoint = CheckpointSpec(
        every=s.take("every", int, 1, check=lambda v: v >= 1, expect=">= 1"),
        keep=s.take("keep", int, 2, check=lambda v: v >= 1, expect=">= 1"),
        every_steps=s.take("every_steps", int, None, check=lambda v: v >= 1, expect=">= 1"),
    )
    s.done()
    return checkpoint


def _ray_quantity(value: float) -> bool:
    """Ray accounts resources in steps of 1e-4 and refuses finer ones."""
    return abs(round(value * 10_000) - value * 10_000) < 1e-6


def parse_resources(s: Section) -> ResourcesSpec:
    cpus = s.take(
        "cpus_per_trial",
        float,
        1.0,
        check=lambda v: v > 0 and _ray_quantity(v),
        expect="> 0, in steps of 0.0001",
    )
    gpus = s.take(
        "gpus_per_trial",
        float,
        0.0,
        check=lambda v: v >= 0 and _ray_quantity(v),
        expect=">= 0, in steps of 0.0001",
    )
    s.done()
    return ResourcesSpec(cpus, gpus)


def parse_failure(s: Section) -> FailureSpec:
    failure = FailureSpec(
        max_retries=s.take("max_retries", int, 2, check=lambda v: v >= 0, expect=">= 0")
    )
    s.done()
    return failure


def parse_tracking(s: Section) -> TrackingSpec:
    """The URI only; whether MLflow is installed is checked before a run, not when reading."""
    uri = s.take("mlflow", str, None, check=bool, expect="a tracking URI")
    experiment = s.take("experiment", str, None, check=bool, expect="a non-empty name")
    wandb = parse_wandb(s.sub("wandb")) if s.raw.get("wandb") is not None else None
    s.done()
    return TrackingSpec(uri, experiment, wandb)


def parse_wandb(s: Section) -> WandbSpec:
    """Names only; whether wandb is installed is checked before a run, not when reading."""
    names = {
        key: s.take(key, str, None, check=bool, expect="a non-empty name")
        for key in ("project", "entity", "group")
    }
    wandb = WandbSpec(**names, mode=s.choice("mode", WANDB_MODES, "online"))
    s.done()
    return wandb


def parse_fixed(s: Section, space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    fixed: dict[str, Any] = {}
    for key, value in s.raw.items():
        hp = lookup_hyperparameter(key)
        if hp is None:
            s.fail(f"unknown hyperparameter `fixed.{key}`; expected {known_names()}")
        if key in space:
            s.fail(
                f"`fixed.{key}` is also in `space`; a hyperparameter is either searched or fixed"
            )
        if not hp.accepts(value):
            s.fail(f"`fixed.{key}` must be {hp.describe()}, but got {value!r}")
        fixed[key] = float(value) if hp.kind is float else value
    return fixed
