"""The search algorithm: Optuna through Ray's ``OptunaSearch``, with budget and concurrency."""

from __future__ import annotations

import warnings
from typing import Any

from optuna.exceptions import ExperimentalWarning
from ray.tune.search import BasicVariantGenerator, SearchGenerator

from search.spec import SweepSpec
from search.sweep.budget import BudgetLimiter
from search.sweep.distributions import search_space, to_tune_domain
from search.sweep.samplers import build_sampler
from search.sweep.searcher_state import ReconcilingLimiter, TolerantOptunaSearch
from trainables.storage import Location


def build_searcher(
    spec: SweepSpec, *, experiment: Location, earlier: tuple[dict[str, Any], ...] = ()
) -> tuple[Any, dict[str, Any]]:
    """The search algorithm and Tune's ``param_space`` (the fixed values it merges in).

    ``earlier``: configs of a rebuilt sweep's earlier trials, proposed after the baselines."""
    points = [dict(b) for b in spec.search.baselines] + [dict(c) for c in earlier]
    if spec.scheduler.type == "pbt":
        return _pbt_population(spec, points)
    return _optuna_searcher(spec, experiment=experiment, points=points), dict(spec.fixed)


def _pbt_population(spec: SweepSpec, points: list[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
    """Ray Tune refuses search algorithms with PBT: the initial population is drawn by Tune's
    own seeded variant generator, the baselines first; PBT then explores by mutation."""
    param_space = {**spec.fixed, **{k: to_tune_domain(p) for k, p in spec.space.items()}}
    generator = BasicVariantGenerator(
        points_to_evaluate=points,
        max_concurrent=spec.search.max_concurrent,
        random_state=spec.search.seed,
    )
    return generator, param_space


def _optuna_searcher(
    spec: SweepSpec, *, experiment: Location, points: list[dict[str, Any]]
) -> Any:
    objectives = spec.objectives or (spec.metric,)
    metric: Any = [o.name for o in objectives] if len(objectives) > 1 else spec.metric.name
    mode: Any = [o.mode for o in objectives] if len(objectives) > 1 else spec.metric.mode
    with warnings.catch_warnings():
        # GP, QMC and multivariate TPE are marked experimental by Optuna; we chose them.
        warnings.simplefilter("ignore", ExperimentalWarning)
        sampler = build_sampler(spec.search.sampler, spec.search.seed, spec.space)
    # metric/mode go to the searcher too: Tune skips set_search_properties when the searcher
    # has its own space and param_space carries the fixed values.
    searcher: Any = TolerantOptunaSearch(
        space=search_space(spec.space),
        metric=metric,
        mode=mode,
        points_to_evaluate=points,  # base camp(s) first
        sampler=sampler,
        max_t=spec.max_epochs,
    )
    if spec.search.time_budget_s is not None or spec.search.max_total_epochs is not None:
        searcher = BudgetLimiter(
            searcher,
            experiment=experiment,
            time_budget_s=spec.search.time_budget_s,
            max_total_epochs=spec.search.max_total_epochs,
        )
    # Wrapped here rather than by Tune, so the reconcile callback holds the generator too.
    return SearchGenerator(ReconcilingLimiter(searcher, max_concurrent=spec.search.max_concurrent))
