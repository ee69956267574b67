"""``raysweep status``: the trials of an experiment as a table (no running Ray needed).

A 600-trial sweep shows what a user asks first, in about 30 lines: the counts by status, the
best trials (20 by default, best first), the baseline, and the recommended trial. ``--all``
lists every trial; ``--sort`` orders by a metric, a hyperparameter or a column.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from search.errors import RaysweepError
from search.results.records import (
    DIVERGED,
    EARLY_STOPPED,
    ERROR,
    RUNNING,
    TERMINATED,
    ExperimentResults,
    TrialResult,
    load_results,
)

DEFAULT_LIMIT = 20
STATUSES = (TERMINATED, EARLY_STOPPED, RUNNING, DIVERGED, ERROR)
# What ``--sort`` takes besides metrics and hyperparameters.
COLUMNS = ("rank", "trial", "status", "epochs", "vs_base")

Value = Callable[[TrialResult], Any]


def _last(trial: TrialResult, metric: str) -> float | None:
    history = trial.history
    if metric not in history:
        return None
    values = [float(v) for v in history[metric] if _finite(v)]
    return values[-1] if values else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _comparable(value: Any) -> Any:
    return value if _finite(value) else (None if value is None else str(value))


def _sort_value(results: ExperimentResults, column: str) -> tuple[Value, bool]:
    """How ``column`` reads off a trial, and whether it sorts largest first. The sweep's
    objectives (and ``vs_base``) sort best first; a leading ``-`` reverses any order."""
    if column.startswith("-"):
        value, descending = _sort_value(results, column[1:])
        return value, not descending
    order = {id(t): i for i, t in enumerate(results.trials)}
    modes = {m.name: m.mode == "max" for m in results.spec.objectives or (results.spec.metric,)}
    primary = results.spec.metric
    if column == "rank":
        return (lambda t: t.rank), False
    if column == "trial":
        return (lambda t: order[id(t)]), False
    if column == "status":
        return (lambda t: t.status), False
    if column == "epochs":
        return (lambda t: t.epochs_completed), True
    if column == "vs_base":
        return (lambda t: t.delta_vs_baseline), primary.mode == "max"
    if column == primary.name:
        return (lambda t: t.metric_best), modes[column]
    if column in modes or any(column in t.history for t in results.trials):
        return (lambda t: _last(t, column)), modes.get(column, False)
    if any(column in t.config for t in results.trials):
        return (lambda t: _comparable(t.config.get(column))), False
    known = set(COLUMNS) | set(modes) | {k for t in results.trials for k in t.config}
    known |= {str(c) for t in results.trials for c in t.history.columns}
    raise RaysweepError(
        f"--sort must be a metric, a hyperparameter or one of {sorted(COLUMNS)}, but got "
        f"{column!r}; expected one of {sorted(known)}"
    )


def sort_trials(results: ExperimentResults, column: str = "rank") -> list[TrialResult]:
    """The trials ordered by ``column``; trials without a value last, best first among them."""
    value, descending = _sort_value(results, column)
    by_rank = results.ranked()
    present = [t for t in by_rank if value(t) is not None]
    try:
        present.sort(key=value, reverse=descending)
    except TypeError:  # a categorical mixing numbers and names
        present.sort(key=lambda t: str(value(t)), reverse=descending)
    return present + [t for t in by_rank if value(t) is None]


def _row(t: TrialResult) -> str:
    value = "-" if t.metric_best is None else f"{t.metric_best:.4f}"
    delta = "-" if t.delta_vs_baseline is None else f"{t.delta_vs_baseline:+.4f}"
    mark = " (baseline)" if t.is_baseline else ""
    return (
        f"{t.trial_id:<12} {t.status:<14} {t.epochs_completed:>6} {value:>12} {delta:>8}  "
        f"{json.dumps(t.config)}{mark}"
    )


def counts_line(trials: list[TrialResult]) -> str:
    counts = Counter(t.status for t in trials)
    order = [s for s in STATUSES if counts[s]] + sorted(set(counts) - set(STATUSES))
    return "by status: " + (", ".join(f"{counts[s]} {s}" for s in order) or "no trials yet")


def status_table(
    results: ExperimentResults, *, limit: int | None = DEFAULT_LIMIT, sort: str = "rank"
) -> list[str]:
    """Counts, then the first ``limit`` trials by ``sort`` (every trial with ``None``) and the
    baseline wherever it ranks, then how the recommended trial was picked."""
    if limit is not None and limit < 1:
        raise RaysweepError(f"--limit must be at least 1, but got {limit}")
    spec = results.spec
    ordered = sort_trials(results, sort)
    shown = ordered if limit is None else ordered[:limit]
    shown += [t for t in ordered[len(shown) :] if t.is_baseline]
    lines = [
        f"experiment: {results.path}",
        f"trials: {len(results.trials)} of {spec.search.num_samples}; metric "
        f"{spec.metric.name} ({spec.metric.mode}), best epoch per trial",
        counts_line(results.trials),
        f"{'trial':<12} {'status':<14} {'epochs':>6} {spec.metric.name:>12} "
        f"{'vs base':>8}  config",
        *map(_row, shown),
    ]
    hidden = len(results.trials) - len(shown)
    if hidden:
        first = "the best" if sort == "rank" else "the first"
        baseline = " and the baseline" if len(shown) > (limit or 0) else ""
        lines.append(
            f"({first} {limit} by {sort}{baseline}; {hidden} more: --all shows every trial, "
            "--limit N the first N)"
        )
    from search.results.fidelity import fidelity_lines
    from search.results.recommend import recommend, recommendation_lines

    notes = recommendation_lines(recommend(results), spec.metric.name) + fidelity_lines(results)
    return lines + ([""] + notes if notes else [])


def experiment_status(
    path: str, *, limit: int | None = DEFAULT_LIMIT, sort: str = "rank"
) -> list[str]:
    return status_table(load_results(path), limit=limit, sort=sort)
