"""A restored searcher that is older than the restored trials: the trials win."""

from __future__ import annotations

import optuna
from ray.tune.search import SearchGenerator

from search.sweep.searcher_state import ReconcileCallback, ReconcilingLimiter, TolerantOptunaSearch


def limiter(max_concurrent: int = 1) -> ReconcilingLimiter:
    optuna_search = TolerantOptunaSearch(
        space={"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)},
        metric="val_accuracy",
        mode="max",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    return ReconcilingLimiter(optuna_search, max_concurrent=max_concurrent)


class FakeTrial:  # what Tune's callbacks see of a trial
    def __init__(
        self, trial_id: str, status: str, last: float | None = None, config: dict | None = None
    ) -> None:
        self.trial_id, self.status, self.config = trial_id, status, config or {}
        self.last_result = None if last is None else {"val_accuracy": last}


def reconciled(search: ReconcilingLimiter, trials: list[FakeTrial]) -> None:
    callback = ReconcileCallback(SearchGenerator(search))
    callback.setup()
    callback.on_step_begin(0, trials)


def result(value: float) -> dict:
    return {"val_accuracy": value, "training_iteration": 1}


def test_a_finished_trial_left_live_by_a_stale_snapshot_frees_its_slot():
    search = limiter()
    assert search.suggest("a") is not None
    assert search.suggest("b") is None  # one at a time: "a" holds the slot
    # Restored: "a" ended before the kill, the stale searcher never heard.
    callback = ReconcileCallback(SearchGenerator(search))
    callback.setup()
    callback.on_step_begin(0, [FakeTrial("a", "TERMINATED", last=0.9)])
    assert search.suggest("b") is not None  # the restored sweep goes on instead of hanging
    # and the sampler learned the result the stale snapshot missed
    assert search.searcher._completed_trials == {"a"}
    study = search.searcher._ot_study
    assert [t.value for t in study.trials if t.state.is_finished()] == [0.9]


def test_results_of_a_trial_the_searcher_never_suggested_are_skipped_not_fatal(caplog):
    search = limiter(max_concurrent=2)
    assert search.suggest("a") is not None
    # "b" came after the searcher snapshot
    search.reconcile([FakeTrial("a", "RUNNING"), FakeTrial("b", "RUNNING")])
    search.on_trial_result("b", {"val_accuracy": 0.5, "training_iteration": 1})
    search.on_trial_complete("b", {"val_accuracy": 0.5, "training_iteration": 1})
    assert "missing from the restored searcher state" in caplog.text
    search.on_trial_complete("a", {"val_accuracy": 0.7, "training_iteration": 1})
    assert search.live_trials == set()


def generator(num_samples: int, max_concurrent: int) -> SearchGenerator:
    search = SearchGenerator(limiter(max_concurrent=max_concurrent))
    search._total_samples = num_samples  # what Tune sets from TuneConfig.num_samples
    return search


def test_never_more_trials_than_num_samples_even_with_a_stale_counter():
    search = generator(num_samples=3, max_concurrent=4)
    search._counter = 1  # the searcher's snapshot saw one trial, Tune's three
    callback = ReconcileCallback(search)
    callback.setup()
    trials = [FakeTrial("a", "TERMINATED", 0.5), FakeTrial("b", "TERMINATED")]
    callback.on_step_begin(0, [*trials, FakeTrial("c", "RUNNING")])
    assert search.is_finished()  # no fourth trial


def test_a_trial_suggested_but_lost_from_tunes_snapshot_is_suggested_again():
    search = generator(num_samples=3, max_concurrent=4)
    search._counter = 3  # the searcher's snapshot saw three suggestions, Tune's two
    callback = ReconcileCallback(search)
    callback.setup()
    callback.on_step_begin(0, [FakeTrial("a", "TERMINATED", 0.5), FakeTrial("b", "RUNNING")])
    assert not search.is_finished() and search._counter == 2


def test_pbt_generator_slots_follow_the_trials():
    from ray.tune.search import BasicVariantGenerator

    generator = BasicVariantGenerator(max_concurrent=1)
    generator._live_trials = {"a"}  # stale: "a" ended
    callback = ReconcileCallback(generator)
    callback.setup()
    callback.on_step_begin(0, [FakeTrial("a", "TERMINATED"), FakeTrial("b", "RUNNING")])
    assert generator._live_trials == {"b"}


def test_the_reconciled_state_round_trips_through_tune_save_and_restore():
    search = limiter(max_concurrent=2)
    search.suggest("a")
    search.reconcile([FakeTrial("a", "RUNNING"), FakeTrial("b", "PENDING")])
    restored = limiter(max_concurrent=2)
    restored.set_state(search.get_state())
    assert restored.live_trials == {"a", "b"}


def test_a_suggestion_tunes_snapshot_lost_is_handed_to_the_next_trial(caplog):
    """Trials older than the searcher: Tune never recorded "b", whose epochs are in storage.
    The next trial gets b's config (and so finds b's checkpoints by its key)."""
    search = limiter(max_concurrent=2)
    a, b = search.suggest("a"), search.suggest("b")
    reconciled(search, [FakeTrial("a", "RUNNING", config={**a, "epochs": 3})])
    assert "made again: ['b']" in caplog.text
    assert search.suggest("c") == b
    search.on_trial_complete("c", result(0.8))
    search.on_trial_complete("a", result(0.6))
    study = search.searcher._ot_study
    assert [(t.params["lr"], t.value) for t in study.trials] == [(a["lr"], 0.6), (b["lr"], 0.8)]


def test_suggestions_a_stale_searcher_never_saw_are_replayed_so_none_repeats(tmp_path):
    """Searcher older than the trials: its seeded sampler would suggest b's config again.
    Replaying b's suggestion and result puts it where an uninterrupted sweep's stood."""
    original = limiter(max_concurrent=3)
    a = original.suggest("a")
    original.searcher.save(str(tmp_path / "searcher.pkl"))  # the stale snapshot
    stale_limiter = original.get_state()
    b = original.suggest("b")
    original.on_trial_complete("b", result(0.7))
    c = original.suggest("c")

    restored = limiter(max_concurrent=3)
    restored.searcher.restore(str(tmp_path / "searcher.pkl"))
    restored.set_state(stale_limiter)
    trials = [
        FakeTrial("a", "RUNNING", config={**a, "epochs": 3}),
        FakeTrial("b", "TERMINATED", 0.7, config={**b, "epochs": 3}),
    ]
    reconciled(restored, trials)
    assert restored.suggest("c") == c != b  # not b's config a second time
    study = restored.searcher._ot_study
    assert [(t.params["lr"], t.value) for t in study.trials][:2] == [
        (a["lr"], None),
        (b["lr"], 0.7),
    ]


def test_a_trial_the_restored_sampler_does_not_suggest_again_is_skipped_not_fatal(caplog):
    search = limiter()
    reconciled(search, [FakeTrial("x", "RUNNING", config={"lr": 0.0123, "epochs": 3})])
    assert "missing from the restored searcher state" in caplog.text
    search.on_trial_result("x", result(0.5))  # skipped, not a KeyError
    search.on_trial_complete("x", result(0.5))
    # the suggestion the sampler made meanwhile goes to the next trial, not to waste
    proposed = search.searcher._ot_study.trials[0].params
    assert search.suggest("y") == proposed != {"lr": 0.0123}


def _epoch(value: float, epoch: int, **extra: object) -> dict:
    return {"val_accuracy": value, "training_iteration": epoch, "epoch": epoch, **extra}


def test_a_trial_stopped_early_is_told_as_pruned_with_the_epoch_that_stopped_it(tmp_path):
    search = TolerantOptunaSearch(
        space={"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)},
        metric="val_accuracy",
        mode="max",
        sampler=optuna.samplers.RandomSampler(seed=0),
        max_t=9,
    )
    for trial_id in ("stopped", "finished", "diverged"):
        assert search.suggest(trial_id) is not None
    search.on_trial_result("stopped", _epoch(0.5, 1))
    # Tune passes the result that made ASHA stop a trial to on_trial_complete only
    search.on_trial_complete("stopped", result=_epoch(0.97, 3))
    for epoch in range(1, 10):
        search.on_trial_result("finished", _epoch(0.8 + epoch / 100, epoch))
    search.on_trial_complete("finished", result=_epoch(0.89, 9))
    search.on_trial_complete("diverged", result=_epoch(0.0, 2, diverged=True))

    # a searcher saved with the experiment and restored keeps telling stopped trials apart
    search.save(str(tmp_path / "searcher.pkl"))
    restored = TolerantOptunaSearch(metric="val_accuracy", mode="max", max_t=None)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored._stopped_early(_epoch(0.9, 3))
    assert not restored._stopped_early(_epoch(0.9, 9))

    stopped, finished, diverged = search._ot_study.get_trials(deepcopy=False)
    assert stopped.state == optuna.trial.TrialState.PRUNED
    assert stopped.intermediate_values == {1: 0.5, 3: 0.97}
    assert finished.state == optuna.trial.TrialState.COMPLETE and finished.value == 0.89
    # a diverged trial ended itself: COMPLETE with the worst value says how bad it was
    assert diverged.state == optuna.trial.TrialState.COMPLETE and diverged.value == 0.0
