"""Building the Ray Tune trial scheduler a ``SchedulerSpec`` names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
    TrialScheduler,
)

from search._tune_compat import asha_limits, asha_uncount_stop, hyperband_bracket
from search.spec.scheduler import SchedulerSpec
from search.spec.space import ParamSpec
from search.sweep.distributions import to_tune_domain


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
    end; its results still enter ASHA's rungs and so still judge the other trials. Which trial
    it is, ``BaselineMarker`` tells it when the trial is created.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.baseline_trial_id: str | None = None

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        time_attr, max_t = asha_limits(self)
        if (
            action == TrialScheduler.STOP
            and trial.trial_id == self.baseline_trial_id
            and result.get(time_attr, 0) < max_t
        ):
            asha_uncount_stop(self)
            return TrialScheduler.CONTINUE
        return action


class FinishingHyperBand(HyperBandScheduler):
    """Ray's HyperBand, except that a finished bracket stops every trial it parked.

    HyperBand pauses a trial that reaches its rung before the rest of its bracket, and stops
    the paused ones once the bracket's last rung is done. Ray's version misses two of them, and
    the sweep then waits forever on a trial nobody will resume:
    - the bracket finishes because its last other trials *ended* (a function trainable's last
      result can arrive as its completion), not through a result;
    - a trial was still saving its pause checkpoint when the bracket finished, so it wasn't
      PAUSED yet.
    """

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        self._stop_parked(tune_controller, trial)
        return action

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_remove(tune_controller, trial)
        self._stop_parked(tune_controller, trial)

    def _stop_parked(self, tune_controller: Any, trial: Any) -> None:
        bracket = hyperband_bracket(self, trial)
        if not bracket.finished():
            return
        for other in bracket.current_trials():
            # Re-read each time: stopping one re-enters on_trial_remove, which may stop others.
            if other is not trial and (other.status == Trial.PAUSED or other.is_saving):
                tune_controller.stop_trial(other)


def build_scheduler(spec: SchedulerSpec, *, space: Mapping[str, ParamSpec]) -> TrialScheduler:
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
        return FinishingHyperBand(
            time_attr="training_iteration",
            max_t=spec.max_t,
            reduction_factor=spec.reduction_factor,
        )
    if spec.type == "median":
        return MedianStoppingRule(
            time_attr="training_iteration", grace_period=spec.grace_period, min_samples_required=2
        )
    return BaselineASHA(
        time_attr="training_iteration",
        max_t=spec.max_t,
        grace_period=spec.grace_period,
        reduction_factor=spec.reduction_factor,
    )
