"""An experiment's trials as an Optuna study, derived from raysweep's own records.

What ``raysweep dashboard`` serves. Derived like ``status``, from Tune's records of the
experiment, never from the searcher's internal study: that one lives in the driver, is gone
when the sweep ends, and after a resume can be older or newer than the trials. One Optuna
trial per Tune trial, in creation order, so a rebuilt study numbers its trials the same way.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from typing import Any

import optuna
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.trial import FrozenTrial, TrialState

from search.results import records
from search.results.records import ExperimentResults, TrialResult
from search.spec import SweepSpec
from search.spec.space import to_distributions
from trainables import config as names
from trainables.storage import Location

STATES = {
    records.TERMINATED: TrialState.COMPLETE,  # trained to the end
    records.EARLY_STOPPED: TrialState.PRUNED,  # stopped by the scheduler
    records.DIVERGED: TrialState.FAIL,
    records.ERROR: TrialState.FAIL,
    records.RUNNING: TrialState.RUNNING,  # still training, or interrupted: a resume continues it
}
NODE_ID = "node_id"  # what each epoch's result names the node with (trainables.trainable)


def build_study(results: ExperimentResults, storage: BaseStorage | None = None) -> optuna.Study:
    """A new study named after the experiment in ``storage`` (default: in memory)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created" each time
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _build(results, storage or InMemoryStorage())
    finally:
        optuna.logging.set_verbosity(verbosity)


def _build(results: ExperimentResults, storage: BaseStorage) -> optuna.Study:
    spec = results.spec
    study = optuna.create_study(
        storage=storage,
        study_name=results.path.name,
        directions=["maximize" if o.mode == "max" else "minimize" for o in spec.objectives],
    )
    study.set_metric_names([o.name for o in spec.objectives])
    study.set_user_attr("experiment", results.path.uri)
    study.set_user_attr("trials_planned", spec.search.num_samples)
    baseline = results.baseline
    if baseline is not None:
        study.set_user_attr("baseline_trial", baseline.trial_id)
        study.set_user_attr(f"baseline_{spec.metric.name}", baseline.metric_best)
    for trial in results.trials:
        study.add_trial(to_frozen_trial(trial, spec, results.path))
    return study


def to_frozen_trial(trial: TrialResult, spec: SweepSpec, experiment: Location) -> FrozenTrial:
    """One Tune trial: params as the spec declares them, each epoch's metric as an
    intermediate value, its state, and raysweep's view of it as user attributes."""
    state = STATES[trial.status]
    values = _values(trial, spec)
    if state == TrialState.COMPLETE and values is None:
        state = TrialState.FAIL  # trained to the end without a finite metric
    start, end = _times(trial)
    distributions = to_distributions(dict(spec.space))
    # Conditional hyperparameters are absent (None) where they don't apply.
    params = {
        k: trial.config[k] for k in spec.space if spec.space[k].contains(trial.config.get(k))
    }
    now = dt.datetime.now()
    return FrozenTrial(
        number=-1,  # numbered by the storage, in the order trials are added
        trial_id=-1,
        state=state,
        value=None,
        # A pruned trial keeps a value as Optuna gives one (so the history plot can show it).
        values=values if state in (TrialState.COMPLETE, TrialState.PRUNED) else None,
        datetime_start=start or now,
        datetime_complete=None if state == TrialState.RUNNING else (end or now),
        params=params,
        distributions={k: distributions[k] for k in params},
        user_attrs=_attributes(trial, spec, experiment),
        system_attrs={},
        intermediate_values=_intermediate(trial, spec.metric.name),
    )


def _values(trial: TrialResult, spec: SweepSpec) -> list[float] | None:
    """Single objective: the best epoch's value (what status and export rank by); several:
    the last values, the ones the sampler was told."""
    if len(spec.objectives) == 1:
        return None if trial.metric_best is None else [float(trial.metric_best)]
    if any(v is None for v in trial.objective_values):
        return None
    return [float(v) for v in trial.objective_values]  # type: ignore[arg-type]


def _intermediate(trial: TrialResult, metric: str) -> dict[int, float]:
    history = trial.history
    if metric not in history or names.EPOCH not in history:
        return {}
    out: dict[int, float] = {}
    for epoch, value in zip(history[names.EPOCH], history[metric]):
        number = float(value)
        if math.isfinite(number):  # a diverged epoch's value stays out of the plots
            out[int(epoch)] = number
    return out


def _times(trial: TrialResult) -> tuple[dt.datetime | None, dt.datetime | None]:
    history = trial.history
    if "timestamp" not in history or history.empty:
        return None, None
    stamps = [float(s) for s in history["timestamp"]]
    first = float(history["time_this_iter_s"].iloc[0]) if "time_this_iter_s" in history else 0.0
    return (
        dt.datetime.fromtimestamp(stamps[0] - first),
        dt.datetime.fromtimestamp(stamps[-1]),
    )


def _attributes(trial: TrialResult, spec: SweepSpec, experiment: Location) -> dict[str, Any]:
    checkpoint = trial.checkpoint
    history = trial.history
    node = str(history[NODE_ID].iloc[-1]) if NODE_ID in history and not history.empty else None
    fixed = {k: trial.config.get(k) for k in spec.fixed}
    return {
        "tune_trial_id": trial.trial_id,
        "status": trial.status,
        "epochs": trial.epochs_completed,
        "baseline": trial.is_baseline,
        f"best_{spec.metric.name}": trial.metric_best,
        "delta_vs_baseline": trial.delta_vs_baseline,
        "checkpoint": None
        if checkpoint is None
        else Location(experiment.fs, checkpoint.path, experiment.query).uri,
        "node": node,
        "fixed": fixed,
    }
