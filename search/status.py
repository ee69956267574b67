"""The state of an experiment, read with Ray's ``ExperimentAnalysis`` (no Ray cluster needed)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.experiment import SPEC_FILE
from search.resume import experiment_path
from search.spec import SweepSpec, load_spec


@dataclass(frozen=True)
class TrialRow:
    trial_id: str
    status: str
    epochs: int
    metric: float | None  # best over the epochs reported so far
    config: dict[str, Any]
    is_baseline: bool


@dataclass(frozen=True)
class ExperimentStatus:
    path: Path
    spec: SweepSpec
    trials: list[TrialRow]

    @property
    def baseline(self) -> TrialRow | None:
        return next((t for t in self.trials if t.is_baseline), None)


def _best(values: Any, mode: str) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    return max(finite) if mode == "max" else min(finite)


def experiment_status(path: str) -> ExperimentStatus:
    from ray.tune import ExperimentAnalysis

    exp = experiment_path(path)
    spec = load_spec(exp / SPEC_FILE)
    try:
        analysis = ExperimentAnalysis(str(exp))
    except Exception:  # no experiment snapshot yet: the sweep is still starting
        return ExperimentStatus(exp, spec, [])
    frames = analysis.trial_dataframes
    rows: list[TrialRow] = []
    baseline_seen = False
    for trial in analysis.trials:
        frame = frames.get(trial.trial_id)
        metric = spec.metric.name
        history = frame[metric] if frame is not None and metric in frame else []
        config = {k: trial.config[k] for k in (*spec.space, *spec.fixed) if k in trial.config}
        is_baseline = not baseline_seen and all(
            config.get(k) == v for k, v in spec.search.baseline.items()
        )
        baseline_seen = baseline_seen or is_baseline
        rows.append(
            TrialRow(
                trial_id=trial.trial_id,
                status=trial.status,
                epochs=int((trial.last_result or {}).get("training_iteration", 0)),
                metric=_best(history, spec.metric.mode),
                config=config,
                is_baseline=is_baseline,
            )
        )
    return ExperimentStatus(exp, spec, rows)
