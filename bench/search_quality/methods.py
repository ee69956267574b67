"""The methods compared: the anchors (Ray Tune's and Optuna's own pairings, as their docs
write them) and raysweep's default, each built from the real library objects."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.search_quality.replay import (
    OptunaReplay,
    Outcome,
    TuneReplay,
    best_any_epoch,
    best_last,
    trained_longest,
)
from bench.search_quality.table import CurveTable

WORKERS = 4
REDUCTION = 3

Run = Callable[[CurveTable, int, list[int]], Outcome]


def space_spec(grid: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """The grid as a raysweep spec's ``space``: lr log-uniform, depth an int range."""
    space: dict[str, Any] = {}
    for name, values in grid.items():
        if name == "lr":
            space[name] = {"type": "float", "low": min(values), "high": max(values), "log": True}
        elif name == "depth":
            space[name] = {"type": "int", "low": min(values), "high": max(values)}
        else:
            space[name] = {"type": "categorical", "choices": list(values)}
    return space


def sweep_spec(table: CurveTable, seed: int, **overrides: Any) -> Any:
    """The spec a user would write for this task (raysweep's defaults for the rest)."""
    from search.spec.load import parse_mapping

    task = table.task
    data = (
        {"dataset": "digits"} if task.mode == "max" else {"dataset": "synthetic", "n_classes": 0}
    )
    raw = {
        "name": f"bench-{task.name}",
        "data": data,
        "metric": {"name": task.metric, "mode": task.mode},
        "space": space_spec(table.grid),
        "fixed": {"epochs": table.epochs},
        "search": {"num_samples": 100_000, "max_concurrent": WORKERS, "seed": seed},
        **overrides,
    }
    return parse_mapping(raw)


def _distributions(table: CurveTable, seed: int) -> dict[str, Any]:
    from search.spec.space import to_distributions

    return to_distributions(sweep_spec(table, seed).space)


def _optuna(sampler: Callable[[int], Any], pruner: Callable[[int], Any]) -> Run:
    def run(table: CurveTable, seed: int, budgets: list[int]) -> Outcome:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            # HyperbandPruner assigns brackets by a hash of the study name: fixed, so a
            # replay is reproducible
            study_name=f"{table.task.name}-{seed}",
            direction="maximize" if table.task.mode == "max" else "minimize",
            sampler=sampler(seed),
            pruner=pruner(table.epochs),
        )
        replay = OptunaReplay(
            table,
            study,
            _distributions(table, seed),
            workers=WORKERS,
            budgets=budgets,
            rng=np.random.default_rng(10_000 + seed),
        )
        return replay.run()

    return run


def _tune(build: Callable[[CurveTable, int], tuple[Any, Any]], recommend: Any = best_last) -> Run:
    def run(table: CurveTable, seed: int, budgets: list[int]) -> Outcome:
        searcher, scheduler = build(table, seed)
        scheduler.set_search_properties(table.task.metric, table.task.mode)
        replay = TuneReplay(
            table,
            searcher,
            scheduler,
            workers=WORKERS,
            budgets=budgets,
            rng=np.random.default_rng(10_000 + seed),
            recommend=recommend,
        )
        return replay.run()

    return run


def _tpe(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def _random(seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _asha(max_t: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="training_iteration", max_t=max_t, grace_period=1, reduction_factor=REDUCTION
    )


def _tune_optuna(table: CurveTable, seed: int, sampler: Any, baseline: bool) -> Any:
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    spec = sweep_spec(table, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        searcher = OptunaSearch(
            space=_distributions(table, seed),
            metric=table.task.metric,
            mode=table.task.mode,
            points_to_evaluate=[dict(b) for b in spec.search.baselines] if baseline else None,
            sampler=sampler,
        )
    return ConcurrencyLimiter(searcher, max_concurrent=WORKERS)


def _random_asha(table: CurveTable, seed: int) -> tuple[Any, Any]:
    return _tune_optuna(table, seed, _random(seed), baseline=False), _asha(table.epochs)


def _today(table: CurveTable, seed: int) -> tuple[Any, Any]:
    """raysweep's default before this benchmark (commit 63d4174): OptunaSearch with
    multivariate TPE, the baseline first, and ASHA (grace 1, factor 3) that spares the
    baseline; the summary crowned the best last result of any trial."""
    from search.sweep.schedulers import BaselineASHA

    scheduler = BaselineASHA(
        time_attr="training_iteration",
        max_t=table.epochs,
        grace_period=1,
        reduction_factor=REDUCTION,
    )
    scheduler.baseline_trial_id = "00000"  # BaselineMarker's job: the first trial created
    return _tune_optuna(table, seed, _tpe(seed), baseline=True), scheduler


def _bohb(table: CurveTable, seed: int) -> tuple[Any, Any]:
    from ray.tune.schedulers import HyperBandForBOHB
    from ray.tune.search.bohb import TuneBOHB

    from search.sweep.distributions import to_tune_domain

    # hpbandster samples its KDE from numpy's global generator: seeded here, so a BOHB
    # replay is reproducible (TuneBOHB's seed covers only ConfigSpace)
    np.random.seed(seed)
    spec = sweep_spec(table, seed)
    domains = {name: to_tune_domain(p) for name, p in spec.space.items()}
    space = TuneBOHB.convert_search_space(domains)
    searcher = TuneBOHB(space=space, metric=table.task.metric, mode=table.task.mode, seed=seed)
    scheduler = HyperBandForBOHB(
        time_attr="training_iteration", max_t=table.epochs, reduction_factor=REDUCTION
    )
    return searcher, scheduler


def raysweep_default(table: CurveTable, seed: int, **overrides: Any) -> tuple[Any, Any]:
    """What ``raysweep run`` builds for this task's spec: searcher and scheduler."""
    from search.sweep.schedulers import build_scheduler
    from search.sweep.searcher import build_searcher
    from trainables.storage import Location

    spec = sweep_spec(table, seed, **overrides)
    search, _ = build_searcher(spec, experiment=Location.of("/nonexistent/bench"))
    scheduler = build_scheduler(spec.scheduler, space=spec.space)
    if spec.search.baselines and hasattr(scheduler, "baseline_trial_id"):
        scheduler.baseline_trial_id = "00000"
    return search.searcher, scheduler


@dataclass(frozen=True)
class Method:
    description: str
    run: Run


def _nop(max_t: int) -> Any:
    import optuna

    return optuna.pruners.NopPruner()


def _hyperband(max_t: int) -> Any:
    import optuna

    return optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=max_t, reduction_factor=REDUCTION
    )


def _optuna_tpe(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed)


METHODS: dict[str, Method] = {
    "random_full": Method(
        "Optuna RandomSampler, every trial trained to the end", _optuna(_random, _nop)
    ),
    "random_asha": Method(
        "Ray Tune OptunaSearch(RandomSampler) + ASHAScheduler(grace 1, factor 3)",
        _tune(_random_asha),
    ),
    "tpe_full": Method(
        "Optuna TPESampler(multivariate), every trial trained to the end", _optuna(_tpe, _nop)
    ),
    "tune_optuna_asha": Method(
        "raysweep's default before this benchmark: Ray Tune OptunaSearch(multivariate TPE) + "
        "ASHA(grace 1, factor 3), baseline first, the best epoch of any trial recommended",
        _tune(_today, best_any_epoch),
    ),
    "optuna_tpe_hyperband": Method(
        "Optuna TPESampler + HyperbandPruner(min 1, max 27, factor 3), as Optuna's docs pair them",
        _optuna(_optuna_tpe, _hyperband),
    ),
    "bohb": Method(
        "Ray Tune TuneBOHB + HyperBandForBOHB(max 27, factor 3) (hpbandster, ConfigSpace)",
        _tune(_bohb),
    ),
    "raysweep": Method(
        "raysweep's default: what `raysweep run` builds for the task's spec",
        _tune(raysweep_default, recommend=trained_longest),
    ),
}


def candidate(
    *,
    grace: int = 1,
    factor: int = REDUCTION,
    brackets: int = 1,
    liar: bool = False,
    pruned: bool = True,
    startup: int = 10,
) -> Callable[[CurveTable, int], tuple[Any, Any]]:
    """A variant of raysweep's searcher and scheduler, for choosing the default."""

    def build(table: CurveTable, seed: int) -> tuple[Any, Any]:
        import optuna
        from ray.tune.search import ConcurrencyLimiter

        from search.sweep.distributions import search_space
        from search.sweep.schedulers import BaselineASHA
        from search.sweep.searcher_state import TolerantOptunaSearch

        spec = sweep_spec(table, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.TPESampler(
                seed=seed, multivariate=True, constant_liar=liar, n_startup_trials=startup
            )
            searcher = TolerantOptunaSearch(
                space=search_space(spec.space),
                metric=table.task.metric,
                mode=table.task.mode,
                points_to_evaluate=[dict(b) for b in spec.search.baselines],
                sampler=sampler,
                max_t=table.epochs if pruned else None,
            )
        scheduler = BaselineASHA(
            time_attr="training_iteration",
            max_t=table.epochs,
            grace_period=grace,
            reduction_factor=factor,
            brackets=brackets,
        )
        scheduler.baseline_trial_id = "00000"
        return ConcurrencyLimiter(searcher, max_concurrent=WORKERS), scheduler

    return build


CANDIDATES: dict[str, Method] = {
    "cand_honest": Method(
        "today's searcher (COMPLETE), honest pick", _tune(candidate(pruned=False), trained_longest)
    ),
    "cand_pruned": Method("PRUNED tell, honest pick", _tune(candidate(), trained_longest)),
    "cand_pruned_liar": Method(
        "PRUNED, constant liar", _tune(candidate(liar=True), trained_longest)
    ),
    "cand_g3": Method("PRUNED, grace 3", _tune(candidate(grace=3), trained_longest)),
    "cand_g3_liar": Method(
        "PRUNED, grace 3, liar", _tune(candidate(grace=3, liar=True), trained_longest)
    ),
    "cand_brackets": Method(
        "PRUNED, 3 ASHA brackets", _tune(candidate(brackets=3), trained_longest)
    ),
    "cand_rf2_g3": Method(
        "PRUNED, grace 3 factor 2", _tune(candidate(grace=3, factor=2), trained_longest)
    ),
}


def _incumbent_asha(**kwargs: Any) -> Any:
    from search._tune_compat import asha_uncount_stop
    from search.sweep.schedulers import BaselineASHA

    class IncumbentASHA(BaselineASHA):
        """ASHA that never stops a trial whose value at its rung beats what every trial
        trained to the end had at that rung: it could become the recommendation."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.values: dict[str, dict[int, float]] = {}
            self.finished: set[str] = set()

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
            epoch, value = int(result["training_iteration"]), float(result[self._metric])
            self.values.setdefault(trial.trial_id, {})[epoch] = value
            action = super().on_trial_result(tune_controller, trial, result)
            if epoch >= self._max_t:
                self.finished.add(trial.trial_id)
                return action
            if action == "STOP" and self.finished:
                sign = 1.0 if self._mode == "max" else -1.0
                bar = max(sign * self.values[t].get(epoch, -np.inf) for t in self.finished)
                if sign * value > bar:
                    asha_uncount_stop(self)
                    return "CONTINUE"
            return action

    return IncumbentASHA(**kwargs)


def incumbent_candidate(grace: int = 1) -> Callable[[CurveTable, int], tuple[Any, Any]]:
    def build(table: CurveTable, seed: int) -> tuple[Any, Any]:
        searcher, _ = candidate(grace=grace)(table, seed)
        scheduler = _incumbent_asha(
            time_attr="training_iteration",
            max_t=table.epochs,
            grace_period=grace,
            reduction_factor=REDUCTION,
        )
        scheduler.baseline_trial_id = "00000"
        return searcher, scheduler

    return build


CANDIDATES["cand_incumbent"] = Method(
    "PRUNED, ASHA that keeps training trials that could beat the incumbent",
    _tune(incumbent_candidate(), trained_longest),
)
# The Tune anchors scored by raysweep's own rule (the best of the trials trained the longest),
# so every method is judged by a recommendation a user could deploy as it stands.
HONEST: dict[str, Method] = {
    "random_asha_honest": Method(
        "random_asha, recommending only trials trained the longest",
        _tune(_random_asha, trained_longest),
    ),
    "tune_optuna_asha_honest": Method(
        "tune_optuna_asha, recommending only trials trained the longest",
        _tune(_today, trained_longest),
    ),
    "bohb_honest": Method(
        "bohb, recommending only trials trained the longest", _tune(_bohb, trained_longest)
    ),
}
CANDIDATES.update(HONEST)


for _startup in (20, 40):
    CANDIDATES[f"cand_s{_startup}"] = Method(
        f"PRUNED, {_startup} random startup trials, honest pick",
        _tune(candidate(startup=_startup), trained_longest),
    )
