"""``raysweep status``: the trials of an experiment as a table (no running Ray needed)."""

from __future__ import annotations

import json

from search.results.records import ExperimentResults, load_results


def status_table(results: ExperimentResults) -> list[str]:
    spec = results.spec
    lines = [
        f"experiment: {results.path}",
        f"trials: {len(results.trials)} of {spec.search.num_samples}; metric "
        f"{spec.metric.name} ({spec.metric.mode}), best epoch per trial",
        f"{'trial':<12} {'status':<14} {'epochs':>6} {spec.metric.name:>12} "
        f"{'vs base':>8}  config",
    ]
    for t in results.trials:
        value = "-" if t.metric_best is None else f"{t.metric_best:.4f}"
        delta = "-" if t.delta_vs_baseline is None else f"{t.delta_vs_baseline:+.4f}"
        mark = " (baseline)" if t.is_baseline else ""
        lines.append(
            f"{t.trial_id:<12} {t.status:<14} {t.epochs_completed:>6} {value:>12} {delta:>8}  "
            f"{json.dumps(t.config)}{mark}"
        )
    from search.results.fidelity import fidelity_lines
    from search.results.recommend import recommend, recommendation_lines

    notes = recommendation_lines(recommend(results), spec.metric.name) + fidelity_lines(results)
    return lines + ([""] + notes if notes else [])


def experiment_status(path: str) -> list[str]:
    return status_table(load_results(path))
