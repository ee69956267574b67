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
    """What one trial asks Ray for. ``workers_per_trial`` > 1: a data-parallel trial, a Ray
    Train run of that many workers of ``cpus_per_worker`` and ``gpus_per_worker`` each (its
    Tune trial is only their driver); 1: one process of ``cpus_per_trial``/``gpus_per_trial``."""

    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0

    @property
    def distributed(self) -> bool:
        return self.workers_per_trial > 1

    @property
    def cpus(self) -> float:
        """The CPUs one trial holds while it trains (its driver's few aside)."""
        if self.distributed:
            return self.workers_per_trial * self.cpus_per_worker
        return self.cpus_per_trial

    @property
    def gpus(self) -> float:
        if self.distributed:
            return self.workers_per_trial * self.gpus_per_worker
        return self.gpus_per_trial

    @property
    def threads(self) -> int:
        """torch threads of one training process: its whole CPUs, at least one."""
        return max(1, int(self.cpus_per_worker if self.distributed else self.cpus_per_trial))


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
    workers = s.take("workers_per_trial", int, 1, check=lambda v: v >= 1, expect=">= 1")
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
    cpus_per_worker = s.take(
        "cpus_per_worker",
        float,
        1.0,
        check=lambda v: v > 0 and _ray_quantity(v),
        expect="> 0, in steps of 0.0001",
    )
    # Two ranks of one trial on one GPU is a NCCL error ("Duplicate GPU detected"), and Ray
    # packs fractions of one trial's workers onto the same device.
    gpus_per_worker = s.take(
        "gpus_per_worker",
        float,
        0.0,
        check=lambda v: v >= 0 and v == int(v),
        expect="0 or a whole number of GPUs (ranks can't share a GPU)",
    )
    s.done()
    if workers == 1:
        for key in ("cpus_per_worker", "gpus_per_worker"):
            if s.raw.get(key) is not None:
                s.fail(
                    f"`{s.field(key)}` needs `{s.field('workers_per_trial')}` > 1; "
                    f"a single-worker trial uses `{s.field(key.replace('worker', 'trial'))}`"
                )
    else:
        for key, default in (("cpus_per_trial", 1.0), ("gpus_per_trial", 0.0)):
            if s.raw.get(key) not in (None, default):
                s.fail(
                    f"`{s.field(key)}` is for single-worker trials, but "
                    f"`{s.field('workers_per_trial')}` is {workers}; give "
                    f"`{s.field(key.replace('trial', 'worker'))}` instead"
                )
    return ResourcesSpec(cpus, gpus, workers, cpus_per_worker, gpus_per_worker)


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
