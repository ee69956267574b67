"""What a sweep recommends: the best trial among those trained the longest, said as such.

A trial ASHA stopped at epoch 9 may show a better epoch-9 value than the final value of every
trial trained to the end; it is listed as such, never crowned. Its named model is a 9-epoch
checkpoint, and its config was never shown to hold up for the full training.
"""

from __future__ import annotations

from dataclasses import dataclass

from search.results.records import EARLY_STOPPED, ExperimentResults, TrialResult


@dataclass(frozen=True)
class Recommendation:
    best: TrialResult | None  # rank 1
    pool: int  # how many trials trained as long as it did
    looked_better: tuple[TrialResult, ...]  # stopped earlier with a better value

    @property
    def trained_to_end(self) -> bool:
        return self.best is not None and self.best.trained_to_end


def recommend(results: ExperimentResults) -> Recommendation:
    best = next((t for t in results.trials if t.rank == 1), None)
    if best is None:
        return Recommendation(None, 0, ())
    sign = 1.0 if results.spec.metric.mode == "max" else -1.0
    pool = sum(1 for t in results.trials if t.rank and t.epochs_completed >= best.epochs_completed)
    looked_better = tuple(
        t
        for t in results.trials
        if t.status == EARLY_STOPPED
        and t.metric_best is not None
        and sign * (t.metric_best - best.metric_best) > 0  # type: ignore[operator]
    )
    return Recommendation(best, pool, looked_better)


def recommendation_lines(rec: Recommendation, metric: str) -> list[str]:
    """How the pick was made, and the stopped trials that looked better (at most 3 named)."""
    if rec.best is None:
        return []
    b = rec.best
    how = "trained to the end" if rec.trained_to_end else "trained the longest so far"
    lines = [
        f"recommended: trial {b.trial_id}, the best of the {rec.pool} trials {how} "
        f"({b.epochs_completed} of {b.epochs_max} epochs)"
    ]
    if rec.looked_better:
        shown = sorted(rec.looked_better, key=lambda t: -t.epochs_completed)[:3]
        listed = ", ".join(
            f"{t.trial_id} stopped at epoch {t.epochs_completed}: {t.metric_best:.4f}"
            for t in shown
        )
        more = f" and {len(rec.looked_better) - 3} more" if len(rec.looked_better) > 3 else ""
        lines.append(
            f"not crowned: better {metric} at fewer epochs, then stopped early: {listed}{more}"
        )
    return lines
