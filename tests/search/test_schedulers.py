from __future__ import annotations

from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from search.schedulers import BaselineASHA, SchedulerSpec, build_scheduler

BASELINE = {"lr": 1e-3}


def asha() -> BaselineASHA:
    scheduler = build_scheduler(
        SchedulerSpec("asha", grace_period=1, reduction_factor=2, max_t=4),
        baseline=BASELINE,
        space={},
    )
    scheduler.set_search_properties("val_accuracy", "max")
    return scheduler


def trial(trial_id: str, lr: float) -> SimpleNamespace:
    # ASHA reads only the id and config of a trial; the decisions below are Ray's own.
    return SimpleNamespace(trial_id=trial_id, config={"lr": lr})


def report(scheduler, t, iteration, accuracy):
    return scheduler.on_trial_result(
        None, t, {"training_iteration": iteration, "val_accuracy": accuracy}
    )


def test_asha_stops_a_weak_trial_but_never_the_baseline():
    scheduler = asha()
    strong, baseline, weak = trial("a", 0.1), trial("b", 1e-3), trial("c", 0.2)
    for t in (baseline, strong, weak):
        scheduler.on_trial_add(None, t)
    assert report(scheduler, strong, 1, 0.9) == TrialScheduler.CONTINUE
    assert report(scheduler, weak, 1, 0.1) == TrialScheduler.STOP
    # The baseline is just as weak, but it is the base camp: it trains on.
    assert report(scheduler, baseline, 1, 0.1) == TrialScheduler.CONTINUE
    assert scheduler._num_stopped == 1


def test_only_the_first_trial_with_the_baseline_config_is_protected():
    scheduler = asha()
    first, again, strong = trial("a", 1e-3), trial("b", 1e-3), trial("c", 0.1)
    for t in (first, again, strong):
        scheduler.on_trial_add(None, t)
    report(scheduler, strong, 1, 0.9)
    assert report(scheduler, again, 1, 0.1) == TrialScheduler.STOP
    assert report(scheduler, first, 1, 0.1) == TrialScheduler.CONTINUE


def test_fifo_never_stops():
    scheduler = build_scheduler(SchedulerSpec("fifo", max_t=4), baseline=BASELINE, space={})
    assert type(scheduler).__name__ == "FIFOScheduler"
