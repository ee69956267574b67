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
    TrialScheduler,
)

from search.fields import Section

SCHEDULERS = ("asha", "hyperband", "median", "fifo")
# The keys each scheduler takes besides `type`.
_KEYS = {
    "asha": ("grace_period", "reduction_factor"),
    "hyperband": ("reduction_factor",),
    "median": ("grace_period",),
    "fifo": (),
}


@dataclass(frozen=True)
class SchedulerSpec:
    type: str = "asha"
    grace_period: int = 1
    reduction_factor: float = 3.0
    max_t: int = 1  # = the longest a trial trains (epochs); not a spec key


def parse_scheduler(s: Section, *, max_epochs: int) -> SchedulerSpec:
    kind = s.choice("type", SCHEDULERS, "asha")
    keys = _KEYS[kind]
    grace, factor = 1, 3.0
    if "grace_period" in keys:
        grace = s.take("grace_period", int, 1, check=lambda v: v >= 1, expect=">= 1")
    if "reduction_factor" in keys:
        factor = s.take("reduction_factor", float, 3.0, check=lambda v: v > 1, expect="> 1")
    s.done()
    if grace > max_epochs:
        s.fail(
            f"`scheduler.grace_period` must be <= epochs, but got grace_period={grace}, "
            f"epochs={max_epochs}"
        )
    return SchedulerSpec(kind, grace, factor, max_epochs)


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
        if self._baseline_trial_id is None and all(
            trial.config.get(k) == v for k, v in self._baseline.items()
        ):
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


def build_scheduler(spec: SchedulerSpec, *, baseline: Mapping[str, Any]) -> TrialScheduler:
    """Metric and mode come from ``TuneConfig``; one training iteration is one epoch."""
    if spec.type == "fifo":
        return FIFOScheduler()
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
