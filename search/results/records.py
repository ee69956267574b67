"""An experiment's trials as typed records, read through Ray's ``ExperimentAnalysis``.

Shared by ``status``, ``export`` and ``report``; works on running, interrupted and finished
experiments (Ray reads the last snapshot) and needs no running Ray.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from search.results.experiment import experiment_path, read_baseline, read_spec
from search.results.pareto import pareto_front
from search.spec import SweepSpec
from trainables import config as names
from trainables.storage import Location

# raysweep's trial statuses, from Tune's and the trial's own results.
TERMINATED, EARLY_STOPPED, DIVERGED, ERROR, RUNNING = (
    "terminated",
    "early_stopped",
    "diverged",
    "error",
    "running",
)


@dataclass
class TrialResult:
    trial_id: str
    status: str
    tune_status: str
    config: dict[str, Any]
    epochs_completed: int
    epochs_max: int  # what the trial would train to the end (its `epochs`)
    metric_best: float | None
    metric_last: float | None
    val_loss: float | None
    time_total_s: float | None
    # ray.tune.Checkpoints retained by Tune, best by the metric first (none: an empty tuple)
    checkpoints: tuple[Any, ...]
    history: pd.DataFrame = field(repr=False)
    is_baseline: bool = False
    rank: int | None = None
    delta_vs_baseline: float | None = None
    # The last value of each objective (what the sampler was told), and whether no other
    # trial beats it on every objective: the Pareto front (rank 1 when single-objective).
    objective_values: tuple[float | None, ...] = ()
    pareto: bool = False

    @property
    def trained_to_end(self) -> bool:
        return self.epochs_completed >= self.epochs_max

    @property
    def checkpoint(self) -> Any:
        """The best retained checkpoint, or ``None``."""
        return self.checkpoints[0] if self.checkpoints else None


@dataclass
class ExperimentResults:
    path: Location
    spec: SweepSpec
    trials: list[TrialResult]

    @property
    def baseline(self) -> TrialResult | None:
        return next((t for t in self.trials if t.is_baseline), None)

    def ranked(self) -> list[TrialResult]:
        """Trials by rank (best first); unranked ones (no finite metric) last."""
        return sorted(self.trials, key=lambda t: (t.rank is None, t.rank or 0))


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _best(values: pd.Series, mode: str) -> float | None:
    finite = [v for v in (_finite(x) for x in values) if v is not None]
    if not finite:
        return None
    return max(finite) if mode == "max" else min(finite)


def _status(tune_status: str, last: dict[str, Any], epochs: int, max_epochs: int) -> str:
    if tune_status == "ERROR":
        return ERROR
    if last.get(names.DIVERGED):
        return DIVERGED
    if epochs >= max_epochs:  # HyperBand can leave a trial PAUSED after its last epoch
        return TERMINATED
    return EARLY_STOPPED if tune_status == "TERMINATED" else RUNNING


def load_results(path: str | os.PathLike[str] | Location) -> ExperimentResults:
    """Every trial Tune knows of, in creation order, ranked (``_rank``)."""
    from ray.tune import ExperimentAnalysis

    exp = experiment_path(path)
    spec = read_spec(exp)
    metric, mode = spec.metric.name, spec.metric.mode
    try:
        analysis = ExperimentAnalysis(
            exp.path,
            storage_filesystem=exp.tune_filesystem,
            default_metric=metric,
            default_mode=mode,
        )
    except ValueError:  # no experiment snapshot yet: the sweep is still starting
        return ExperimentResults(exp, spec, [])
    frames = analysis.trial_dataframes
    trials = [
        _trial_result(trial, frames.get(trial.trial_id), spec)
        for trial in sorted(analysis.trials, key=creation_order)
    ]
    _mark_baseline(trials, exp)
    _rank(trials, mode)
    _mark_pareto(trials, spec)
    return ExperimentResults(exp, spec, trials)


def _trial_result(trial: Any, history: pd.DataFrame | None, spec: SweepSpec) -> TrialResult:
    """One of Tune's trials as raysweep reads it: status, epochs, best metric, checkpoints."""
    metric, mode = spec.metric.name, spec.metric.mode
    if history is None:
        history = pd.DataFrame()
    last = dict(trial.last_result or {})
    epochs = int(last.get(names.EPOCH, 0) or 0)
    config = {k: trial.config.get(k) for k in (*spec.space, *spec.fixed)}
    max_epochs = int(config.get("epochs") or spec.max_epochs)
    values = history[metric] if metric in history else pd.Series(dtype=float)
    return TrialResult(
        trial_id=trial.trial_id,
        status=_status(trial.status, last, epochs, max_epochs),
        tune_status=trial.status,
        config=config,
        epochs_completed=epochs,
        epochs_max=max_epochs,
        metric_best=_best(values, mode),
        metric_last=_finite(last.get(metric)),
        val_loss=_finite(last.get(names.VAL_LOSS)),
        time_total_s=_finite(last.get("time_total_s")),
        checkpoints=_retained_checkpoints(trial, metric, mode),
        history=history,
        objective_values=tuple(_finite(last.get(o.name)) for o in spec.objectives),
    )


def _mark_pareto(trials: list[TrialResult], spec: SweepSpec) -> None:
    if len(spec.objectives) < 2:
        for trial in trials:
            trial.pareto = trial.rank == 1
        return
    points = [
        None
        if t.status in (ERROR, RUNNING, DIVERGED) or None in t.objective_values
        else [float(v) for v in t.objective_values]  # type: ignore[arg-type]
        for t in trials
    ]
    front = pareto_front(points, [o.mode for o in spec.objectives])
    for trial, on_front in zip(trials, front):
        trial.pareto = on_front


def creation_order(trial: Any) -> int:
    """Tune's experiment tags start with the trial's creation counter ("3_lr=0.01,...");
    the snapshot itself doesn't keep trials in that order."""
    head = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(head) if head.isdigit() else 1 << 30


def _retained_checkpoints(trial: Any, metric: str, mode: str) -> tuple[Any, ...]:
    """Best first, as ``ExperimentAnalysis.get_best_checkpoint`` ranks them (those without a
    finite metric left out), so a caller can go on to the next when one is gone from storage."""
    from search._tune_compat import retained_checkpoint_results

    sign = -1.0 if mode == "max" else 1.0
    scored = []
    for result in retained_checkpoint_results(trial):
        value = _finite(result.metrics.get(metric))
        if value is not None:
            scored.append((sign * value, result.checkpoint))
    scored.sort(key=lambda pair: pair[0])  # stable: of equal scores, Tune's pick first
    return tuple(checkpoint for _, checkpoint in scored)


def _mark_baseline(trials: list[TrialResult], exp: Location) -> None:
    """The trial the sweep recorded as its baseline when it was created."""
    baseline = read_baseline(exp)
    if baseline is None:  # the sweep was stopped before its first trial
        return
    for trial in trials:
        trial.is_baseline = trial.trial_id == baseline


def _rank(trials: list[TrialResult], mode: str) -> None:
    """Trained the longest first, then by the best metric: a trial ASHA stopped at epoch 9
    is never ranked above one trained to the end, however good its epoch-9 value looked
    (curves that rise fast often end low). Before any trial finished, the deepest lead."""
    sign = -1.0 if mode == "max" else 1.0
    scored = sorted(
        (t for t in trials if t.metric_best is not None),
        key=lambda t: (
            not t.trained_to_end,
            0 if t.trained_to_end else -t.epochs_completed,
            sign * float(t.metric_best),  # type: ignore[arg-type]
        ),
    )
    for rank, trial in enumerate(scored, start=1):
        trial.rank = rank
    base = next((t.metric_best for t in trials if t.is_baseline), None)
    if base is not None:
        for trial in scored:
            trial.delta_vs_baseline = trial.metric_best - base  # type: ignore[operator]
