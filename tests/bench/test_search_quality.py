"""The search-quality replay on a tiny table: the real Tune and Optuna objects decide, the
simulated clock only hands out the table's epochs."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
from ray.tune.schedulers import ASHAScheduler

from bench.search_quality import compare, methods
from bench.search_quality.__main__ import BUDGETS
from bench.search_quality.replay import OptunaReplay, TuneReplay, best_complete, best_last
from tests.bench.curves import TINY_GRID, tiny_table

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(autouse=True)
def logging_put_back():
    """The replay quiets Ray's and Optuna's loggers, as a benchmark process should; the tests
    after these must find them as they were."""
    import logging

    loggers = [logging.getLogger(name) for name in ("ray", "optuna", "hpbandster")]
    levels = [logger.level for logger in loggers]
    verbosity = optuna.logging.get_verbosity()
    yield
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)
    optuna.logging.set_verbosity(verbosity)


@pytest.fixture(scope="module")
def table():
    return tiny_table()


def test_a_grid_config_maps_back_to_its_row(table):
    configs = [
        dict(zip(TINY_GRID, values)) for values in np.ndindex(*map(len, TINY_GRID.values()))
    ]
    for index, positions in enumerate(configs):
        params = {name: TINY_GRID[name][i] for name, i in positions.items()}
        assert table.config_id(params) == index
    assert table.config_id({**params, "lr": 0.09}) == table.config_id({**params, "lr": 0.1})
    best = int(np.argmax(table.final_val()))
    assert table.regret(best)[0] == 0.0
    assert all(table.regret(c)[0] >= 0 for c in range(table.val.shape[0]))


def _asha_replay(table, seed=0):
    searcher, _ = methods._random_asha(table, seed)
    scheduler = ASHAScheduler(time_attr="training_iteration", max_t=table.epochs, grace_period=1)
    scheduler.set_search_properties(table.task.metric, table.task.mode)
    return TuneReplay(
        table, searcher, scheduler, workers=4, budgets=[1, 2, 4], rng=np.random.default_rng(0)
    )


def test_tune_replay_runs_real_asha_on_the_simulated_clock(table):
    replay = _asha_replay(table)
    outcome = replay.run()
    assert [r.epochs for r in outcome.recommendations] == [9, 18, 36]  # a budget each
    epochs = [t.epoch for t in replay.trials]
    assert sum(epochs) == 36
    assert min(epochs) >= 1 and max(epochs) <= table.epochs
    assert any(
        e < table.epochs and t.status == "TERMINATED" for t, e in zip(replay.trials, epochs)
    )
    assert sum(t.status == "RUNNING" for t in replay.trials) <= 4
    # each trial followed its own training seed's curve from the table
    for t in replay.trials:
        np.testing.assert_allclose(t.history, table.val[t.config_id, t.seed, : t.epoch])


def test_tune_recommendation_can_crown_a_stopped_trial_and_raysweeps_does_not(table):
    replay = _asha_replay(table, seed=3)
    replay.run()
    mode, max_t = table.task.mode, table.epochs
    honest = best_complete(replay.trials, max_t, mode)
    deepest = max(t.epoch for t in replay.trials)
    assert all(t.epoch == deepest for t in replay.trials if t.config_id == honest)
    assert best_last(replay.trials, max_t, mode) is not None


def test_optuna_replay_prunes_with_hyperband_and_trains_to_the_end_without(table):
    for pruner, pruned in (
        (optuna.pruners.HyperbandPruner(1, table.epochs), True),
        (optuna.pruners.NopPruner(), False),
    ):
        study = optuna.create_study(
            study_name="tiny",  # HyperbandPruner picks brackets by a hash of the name
            direction="maximize",
            pruner=pruner,
            sampler=optuna.samplers.RandomSampler(seed=0),
        )
        replay = OptunaReplay(
            table,
            study,
            methods._distributions(table, 0),
            workers=4,
            budgets=[1, 8],
            rng=np.random.default_rng(0),
        )
        replay.run()
        states = {t.state for t in study.trials}
        assert (optuna.trial.TrialState.PRUNED in states) == pruned
        for t in study.trials:
            if t.state == optuna.trial.TrialState.COMPLETE:
                assert max(t.intermediate_values) == table.epochs


def test_raysweeps_searcher_tells_optuna_stopped_trials_as_pruned(table):
    searcher, scheduler = methods.raysweep_default(table, 0)
    scheduler.set_search_properties(table.task.metric, table.task.mode)
    replay = TuneReplay(
        table, searcher, scheduler, workers=4, budgets=[2, 4], rng=np.random.default_rng(0)
    )
    replay.run()
    study = searcher.searcher._ot_study
    by_number = study.get_trials(deepcopy=False)
    stopped = [t for t in replay.trials if t.status == "TERMINATED" and t.epoch < table.epochs]
    assert stopped, "ASHA stopped nothing"
    first = by_number[int(stopped[0].trial_id)]
    assert first.state == optuna.trial.TrialState.PRUNED
    assert max(first.intermediate_values) == stopped[0].epoch  # the stopping epoch is in


def test_every_method_runs_and_the_summary_has_the_documented_shape(table, tmp_path):
    budgets = [1, 2]
    cells = compare.run_all({"tiny": table}, list(methods.METHODS), 2, budgets, workers=1)
    result = compare.summarize(cells, budgets)
    assert set(result["tasks"]["tiny"]) == set(methods.METHODS)
    for method, by_budget in result["tasks"]["tiny"].items():
        assert list(by_budget) == ["1", "2"]
        for cell in by_budget.values():
            assert cell["seeds"] == 2
            assert 0 <= cell["median_regret"] <= 1 and 0 <= cell["iqm_regret"] <= 1
    json.dumps(result)  # plain JSON
    assert BUDGETS == [1, 2, 4, 8, 16, 32]


def test_a_cached_replay_is_reused_only_with_the_same_simulated_workers(
    table, tmp_path, monkeypatch
):
    cache = tmp_path / "cells.jsonl"
    budgets = [1, 2]
    compare.run_all({"tiny": table}, ["raysweep"], 1, budgets, workers=1, cache=cache)
    monkeypatch.setattr(methods, "WORKERS", 2)
    compare.run_all({"tiny": table}, ["raysweep"], 1, budgets, workers=1, cache=cache)
    compare.run_all({"tiny": table}, ["raysweep"], 1, budgets, workers=1, cache=cache)
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    # one replay per worker count: the second run with 2 workers found its own cell
    assert sorted(r["simulated_workers"] for r in records) == [2, 4]
