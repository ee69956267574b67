"""Do the scheduler's early rungs rank trials as their final values do?

ASHA and Hyperband judge a trial at a rung (epoch 1, 3, 9, ...) by its value there. When the
ranking at a rung disagrees with the ranking after full training, the scheduler stops trials
that would have ended best. Measured on the trials trained to the end: the Spearman rank
correlation between each rung's values and their final values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search.results.records import EARLY_STOPPED, ExperimentResults, TrialResult
from trainables import config as names

LOW = 0.5  # below it, a rung's ranking is a poor guide to the final one
MIN_TRIALS = 4  # fewer finished trials can't say much about a ranking


@dataclass(frozen=True)
class RungAgreement:
    epoch: int
    spearman: float | None  # None: fewer than MIN_TRIALS finished trials to compare
    trials: int


def rungs(results: ExperimentResults) -> list[int]:
    """ASHA's milestones (grace period times powers of the reduction factor), or for other
    early-stopping schedulers the epochs at which trials were stopped."""
    spec = results.spec.scheduler
    if spec.type == "asha":
        epochs, milestone = [], float(spec.grace_period)
        while milestone < spec.max_t:
            epochs.append(int(milestone))
            milestone *= spec.reduction_factor
        return epochs
    if spec.type in ("hyperband", "median"):
        return sorted({t.epochs_completed for t in results.trials if t.status == EARLY_STOPPED})
    return []


def _value_at(trial: TrialResult, metric: str, epoch: int) -> float | None:
    history = trial.history
    if metric not in history or names.EPOCH not in history:
        return None
    rows = history[history[names.EPOCH] == epoch][metric]
    value = float(rows.iloc[-1]) if len(rows) else None
    return value if value is not None and np.isfinite(value) else None


def _spearman(a: list[float], b: list[float]) -> float | None:
    ranks_a, ranks_b = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    if np.std(ranks_a) == 0 or np.std(ranks_b) == 0:
        return None
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def rung_agreement(results: ExperimentResults) -> list[RungAgreement]:
    metric = results.spec.metric.name
    finished = [t for t in results.trials if t.trained_to_end and t.metric_last is not None]
    out = []
    for epoch in rungs(results):
        pairs = [
            (v, float(t.metric_last))  # type: ignore[arg-type]
            for t in finished
            if (v := _value_at(t, metric, epoch)) is not None
        ]
        rho = _spearman(*map(list, zip(*pairs))) if len(pairs) >= MIN_TRIALS else None
        out.append(RungAgreement(epoch, rho, len(pairs)))
    return out


def fidelity_lines(results: ExperimentResults) -> list[str]:
    """One line of rank agreement per rung, and a warning with what to change when low."""
    agreement = rung_agreement(results)
    if not agreement:
        return []
    cells = [
        f"epoch {a.epoch}: {a.spearman:.2f}" if a.spearman is not None else f"epoch {a.epoch}: -"
        for a in agreement
    ]
    n = max(a.trials for a in agreement)
    if n < MIN_TRIALS:
        more = MIN_TRIALS - n
        return [
            f"rung agreement with final {results.spec.metric.name}: needs {MIN_TRIALS} trials "
            f"trained to the end, {more} more than the {n} so far"
        ]
    lines = [
        f"rung agreement with final {results.spec.metric.name} (Spearman, {n} finished "
        f"trials): {', '.join(cells)}"
    ]
    low = [a for a in agreement if a.spearman is not None and a.spearman < LOW]
    if low:
        worst = min(low, key=lambda a: a.spearman or 0.0)
        lines.append(
            f"warning: the rung at epoch {worst.epoch} ranks trials unlike their final values "
            f"(Spearman {worst.spearman:.2f} < {LOW}); early stopping there may drop the best "
            "configs: raise scheduler.grace_period, use scheduler.type: hyperband "
            "(brackets with later first rungs), or scheduler.type: fifo"
        )
    return lines
