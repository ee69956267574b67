"""Ray Tune trial schedulers by name: the spec's ``scheduler:`` section and its builder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
    TrialScheduler,
)

from search.fields import Section
from search.space import ParamSpec, has_point, to_tune_domain

SCHEDULERS = ("asha", "hyperband", "median", "fifo", "pbt")
# The keys each scheduler takes besides `type`.
_KEYS = {
    "asha": ("grace_period", "reduction_factor"),
    "hyperband": ("reduction_factor",),
    "median": ("grace_period",),
    "fifo": (),
    "pbt": (
        "perturbation_interval",
        "mutate",
        "quantile_fraction",
        "resample_probability",
        "synch",
    ),
}
# What PBT may change in a running trial: optimizer settings, never the network's shape.
MUTABLE = ("lr", "momentum", "weight_decay", "beta1", "beta2")


@dataclass(frozen=True)
class SchedulerSpec:
    type: str = "asha"
    grace_period: int = 1
    reduction_factor: float = 3.0
    max_t: int = 1  # = the longest a trial trains (epochs); not a spec key
    perturbation_interval: int = 2  # pbt: epochs between exploit/explore steps
    mutate: tuple[str, ...] = ("lr",)  # pbt: hyperparameters it perturbs
    quantile_fraction: float = 0.25
    resample_probability: float = 0.25
    synch: bool = False  # pbt: wait for the whole population at each perturbation


def parse_scheduler(s: Section, *, max_epochs: int) -> SchedulerSpec:
    kind = s.choice("type", SCHEDULERS, "asha")
    keys = _KEYS[kind]
    grace, factor = 1, 3.0
    if "grace_period" in keys:
        grace = s.take("grace_period", int, 1, check=lambda v: v >= 1, expect=">= 1")
    if "reduction_factor" in keys:
        factor = s.take("reduction_factor", float, 3.0, check=lambda v: v > 1, expect="> 1")
    if kind == "pbt":
        return _parse_pbt(s, max_epochs)
    s.done()
    if grace > max_epochs:
        s.fail(
            f"`scheduler.grace_period` must be <= epochs, but got grace_period={grace}, "
            f"epochs={max_epochs}"
        )
    return SchedulerSpec(kind, grace, factor, max_epochs)


def _parse_pbt(s: Section, max_epochs: int) -> SchedulerSpec:
    interval = s.take(
        "perturbation_interval",
        int,
        2,
        check=lambda v: 1 <= v <= max_epochs,
        expect=f"in [1, epochs={max_epochs}]",
    )
    mutate = s.take("mutate", list, ["lr"], check=bool, expect="a non-empty list")
    quantile = s.take(
        "quantile_fraction", float, 0.25, check=lambda v: 0 < v <= 0.5, expect="in (0, 0.5]"
    )
    resample = s.take(
        "resample_probability", float, 0.25, check=lambda v: 0 <= v <= 1, expect="in [0, 1]"
    )
    synch = s.take("synch", bool, False)
    s.done()
    for name in mutate:
        if name not in MUTABLE:
            s.fail(f"`scheduler.mutate` can't include {name!r}; expected some of {list(MUTABLE)}")
    return SchedulerSpec(
        "pbt",
        max_t=max_epochs,
        perturbation_interval=interval,
        mutate=tuple(mutate),
        quantile_fraction=quantile,
        resample_probability=resample,
        synch=synch,
    )


class ClipToSpace:
    """PBT's explore step scales values by 0.8 or 1.2 without bounds; bring them back into the
    declared space (momentum 0.9 x 1.2 would be an invalid 1.08). A class: it is pickled."""

    def __init__(self, params: Mapping[str, ParamSpec]) -> None:
        self.params = dict(params)

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for name, p in self.params.items():
            if p.choices is None and name in config:
                value = min(max(config[name], p.low), p.high)  # type: ignore[type-var]
                config[name] = int(round(value)) if p.type == "int" else float(value)
        return config


class BaselineASHA(ASHAScheduler):
    """Ray's ASHA, except that it never stops the baseline trial.

    The baseline is the base camp every other trial is read against, so it must train to the
    end; its results still enter ASHA's rungs and so still judge the other trials.
    """

    def __init__(self, *, baseline: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._baseline = dict(baseline)
        self._baseline_trial_id: str | None = None

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)
        # The searcher suggests the baseline first, so the first trial with its config is it.
        if self._baseline_trial_id is None and has_point(trial.config, self._baseline):
            self._baseline_trial_id = trial.trial_id

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        if (
            action == TrialScheduler.STOP
            and trial.trial_id == self._baseline_trial_id
            and result.get(self._time_attr, 0) < self._max_t
        ):
            self._num_stopped -= 1
            return TrialScheduler.CONTINUE
        return action


def build_scheduler(
    spec: SchedulerSpec, *, baseline: Mapping[str, Any], space: Mapping[str, ParamSpec]
) -> TrialScheduler:
    """Metric and mode come from ``TuneConfig``; one training iteration is one epoch."""
    if spec.type == "fifo":
        return FIFOScheduler()
    if spec.type == "pbt":
        return PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=spec.perturbation_interval,
            hyperparam_mutations={name: to_tune_domain(space[name]) for name in spec.mutate},
            custom_explore_fn=ClipToSpace({name: space[name] for name in spec.mutate}),
            quantile_fraction=spec.quantile_fraction,
            resample_probability=spec.resample_probability,
            synch=spec.synch,
        )
    if spec.type == "hyperband":
        return HyperBandScheduler(
            time_attr="training_iteration",
            max_t=spec.max_t,
            reduction_factor=spec.reduction_factor,
        )
    if spec.type == "median":
        return MedianStoppingRule(
            time_attr="training_iteration", grace_period=spec.grace_period, min_samples_required=2
        )
    return BaselineASHA(
        baseline=baseline,
        time_attr="training_iteration",
        max_t=spec.max_t,
        grace_period=spec.grace_period,
        reduction_factor=spec.reduction_factor,
    )
