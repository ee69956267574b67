"""The search algorithm: Optuna through Ray's ``OptunaSearch``, with budget and concurrency."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from search.spec import SweepSpec


def build_searcher(spec: SweepSpec, *, experiment: Path) -> Any:
    from optuna.exceptions import ExperimentalWarning
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from search.budget import BudgetLimiter
    from search.samplers import build_sampler
    from search.space import search_space

    objectives = spec.objectives or (spec.metric,)
    metric: Any = [o.name for o in objectives] if len(objectives) > 1 else spec.metric.name
    mode: Any = [o.mode for o in objectives] if len(objectives) > 1 else spec.metric.mode
    with warnings.catch_warnings():
        # GP, QMC and multivariate TPE are marked experimental by Optuna; we chose them.
        warnings.simplefilter("ignore", ExperimentalWarning)
        sampler = build_sampler(spec.search.sampler, spec.search.seed, spec.space)
    # metric/mode go to the searcher too: Tune skips set_search_properties when the searcher
    # has its own space and param_space carries the fixed values.
    searcher: Any = OptunaSearch(
        space=search_space(spec.space),
        metric=metric,
        mode=mode,
        points_to_evaluate=[dict(b) for b in spec.search.baselines],  # base camp(s) first
        sampler=sampler,
    )
    if spec.search.time_budget_s is not None or spec.search.max_total_epochs is not None:
        searcher = BudgetLimiter(
            searcher,
            experiment=str(experiment),
            time_budget_s=spec.search.time_budget_s,
            max_total_epochs=spec.search.max_total_epochs,
        )
    return ConcurrencyLimiter(searcher, max_concurrent=spec.search.max_concurrent)
