from __future__ import annotations

from types import SimpleNamespace

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, HyperBandScheduler, TrialScheduler

from search.spec.scheduler import SchedulerSpec
from search.sweep.baseline import BaselineMarker
from search.sweep.schedulers import BaselineASHA, build_scheduler
from trainables.storage import Location


def asha() -> BaselineASHA:
    scheduler = build_scheduler(
        SchedulerSpec("asha", grace_period=1, reduction_factor=2, max_t=4), space={}
    )
    assert isinstance(scheduler, BaselineASHA)
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
    scheduler.baseline_trial_id = "b"  # what BaselineMarker tells it
    assert report(scheduler, strong, 1, 0.9) == TrialScheduler.CONTINUE
    assert report(scheduler, weak, 1, 0.1) == TrialScheduler.STOP
    # The baseline is just as weak, but it is the base camp: it trains on.
    assert report(scheduler, baseline, 1, 0.1) == TrialScheduler.CONTINUE
    assert scheduler._num_stopped == 1


def test_the_marker_records_the_first_created_trial_as_baseline_and_tells_asha(tmp_path):
    scheduler = asha()
    experiment = Location.of(tmp_path)
    marker = BaselineMarker(experiment, scheduler)
    marker.setup()
    # Same config twice: only the first created is the baseline; the snapshot's order is not
    # creation order, the experiment tag's counter is.
    again = SimpleNamespace(trial_id="b", config={"lr": 1e-3}, experiment_tag="2_lr=0.001")
    first = SimpleNamespace(trial_id="a", config={"lr": 1e-3}, experiment_tag="1_lr=0.001")
    strong = SimpleNamespace(trial_id="c", config={"lr": 0.1}, experiment_tag="3_lr=0.1")
    marker.on_step_begin(0, [again, first, strong])
    assert scheduler.baseline_trial_id == "a"
    for t in (first, again, strong):
        scheduler.on_trial_add(None, t)
    report(scheduler, strong, 1, 0.9)
    assert report(scheduler, again, 1, 0.1) == TrialScheduler.STOP
    assert report(scheduler, first, 1, 0.1) == TrialScheduler.CONTINUE
    # A resumed sweep's marker (a new object, as after unpickling) reads it back.
    fresh = asha()
    BaselineMarker(experiment, fresh).setup()
    assert fresh.baseline_trial_id == "a"


def test_fifo_never_stops():
    scheduler = build_scheduler(SchedulerSpec("fifo", max_t=4), space={})
    assert isinstance(scheduler, FIFOScheduler)
    # The sequence on which ASHA stops the weak trial: FIFO lets both train to the end.
    decisions = {}
    for name, sched in (("fifo", scheduler), ("asha", asha())):
        strong, weak = trial("a", 0.1), trial("c", 0.2)
        for t in (strong, weak):
            sched.on_trial_add(None, t)
        report(sched, strong, 1, 0.9)
        decisions[name] = [report(sched, weak, i, 0.1) for i in (1, 2, 3)][0]
    assert decisions == {"fifo": TrialScheduler.CONTINUE, "asha": TrialScheduler.STOP}
    t = trial("d", 0.1)
    scheduler.on_trial_add(None, t)
    assert all(report(scheduler, t, i, 0.0) == TrialScheduler.CONTINUE for i in (1, 2, 3, 4))


class Controller:
    """What a scheduler calls back on Tune's controller: ``stop_trial``, with the scheduler
    callbacks and status change Tune's own makes."""

    def __init__(self, scheduler: TrialScheduler) -> None:
        self.scheduler = scheduler
        self.stopped: list[str] = []

    def stop_trial(self, t: Trial) -> None:
        if t.status in (Trial.ERROR, Trial.TERMINATED):
            return
        if t.status in (Trial.PENDING, Trial.PAUSED):
            self.scheduler.on_trial_remove(self, t)
        else:
            self.scheduler.on_trial_complete(self, t, t.last_result)
        t.set_status(Trial.TERMINATED)
        self.stopped.append(t.trial_id)


def hyperband_bracket(ray_own: bool):
    """HyperBand with max_t 3 and eta 2: its first bracket holds three trials, all run to 3.
    ``ray_own``: Ray's class rather than raysweep's, to show what the subclass fixes."""
    if ray_own:
        scheduler = HyperBandScheduler(time_attr="training_iteration", max_t=3, reduction_factor=2)
    else:
        scheduler = build_scheduler(
            SchedulerSpec("hyperband", reduction_factor=2, max_t=3), space={}
        )
    scheduler.set_search_properties("val_accuracy", "max")
    controller = Controller(scheduler)
    trials = [Trial("train_trial", trial_id=name, stub=True) for name in "abc"]
    for t in trials:
        scheduler.on_trial_add(controller, t)
        t.set_status(Trial.RUNNING)
    return scheduler, controller, trials


def result(iteration: int) -> dict:
    return {"training_iteration": iteration, "val_accuracy": 0.1 * iteration}


def run_to_third(scheduler, controller, t, *, last_as_completion: bool) -> str | None:
    for i in (1, 2):
        assert scheduler.on_trial_result(controller, t, result(i)) == TrialScheduler.CONTINUE
    if last_as_completion:  # a function trainable that returned right after its last report
        scheduler.on_trial_complete(controller, t, result(3))
        t.set_status(Trial.TERMINATED)
        return None
    return scheduler.on_trial_result(controller, t, result(3))


@pytest.mark.parametrize("ray_own", [False, True], ids=["raysweep", "ray's own"])
def test_hyperband_stops_a_paused_trial_when_its_bracket_ends_by_completions(ray_own):
    scheduler, controller, (a, b, c) = hyperband_bracket(ray_own)
    # a reaches the bracket's last rung first: it waits, paused, for b and c.
    assert run_to_third(scheduler, controller, a, last_as_completion=False) == "PAUSE"
    a.set_status(Trial.PAUSED)
    run_to_third(scheduler, controller, b, last_as_completion=True)
    run_to_third(scheduler, controller, c, last_as_completion=True)
    # Nobody would ever resume a: left PAUSED, the sweep would wait for it forever.
    assert (a.status == Trial.TERMINATED) is not ray_own


@pytest.mark.parametrize("ray_own", [False, True], ids=["raysweep", "ray's own"])
def test_hyperband_stops_a_trial_still_saving_its_pause_when_the_bracket_ends(ray_own):
    scheduler, controller, (a, b, c) = hyperband_bracket(ray_own)
    assert run_to_third(scheduler, controller, a, last_as_completion=False) == "PAUSE"
    a.temporary_state.saving_to = object()  # Tune is still writing a's pause checkpoint
    assert run_to_third(scheduler, controller, b, last_as_completion=False) == "PAUSE"
    b.set_status(Trial.PAUSED)
    assert run_to_third(scheduler, controller, c, last_as_completion=False) == "STOP"
    assert "b" in controller.stopped  # Ray stops the paused one either way
    assert ("a" in controller.stopped) is not ray_own
