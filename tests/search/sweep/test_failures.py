"""Which trial failures count against max_retries, on Ray's own exception objects."""

from __future__ import annotations

import errno
import os
import threading
import time
from types import SimpleNamespace

from ray.exceptions import ActorDiedError, ActorUnavailableError, RayTaskError

from search._tune_compat import COUNT, DROP, FREE, STOP, trial_failures_triaged
from search.sweep.failures import NODE_LOST, STORAGE, TRIAL, FailureTriage, failure_kind
from trainables.storage import StorageRefused, refuses_writes

ACTOR = bytes(range(16))


def lost(message: str = "Socket closed") -> ActorUnavailableError:
    return ActorUnavailableError(message, ACTOR)


def task_error(cause: BaseException) -> RayTaskError:
    """What Tune is handed when the trainable raised ``cause``."""
    return RayTaskError("train", "Traceback ...", cause).as_instanceof_cause()


def test_a_refused_write_is_storage_whatever_wraps_it():
    for exc in (
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        OSError(errno.EROFS, "Read-only file system"),
        OSError("AWS Error ACCESS_DENIED during PutObject operation: Access Denied"),
    ):
        assert refuses_writes(exc), exc
    assert failure_kind(task_error(StorageRefused("writing to /x failed"))) == STORAGE
    assert not refuses_writes(OSError(errno.ECONNRESET, "reset"))


def test_a_lost_node_is_not_the_trials_failure_but_a_dead_worker_and_a_bug_are():
    assert failure_kind(lost()) == NODE_LOST
    assert failure_kind(ActorDiedError()) == TRIAL  # a worker died alone (OOM, segfault)
    assert failure_kind(task_error(ValueError("a bug"))) == TRIAL


def test_one_lost_actor_reported_twice_counts_once_and_storage_stops_the_sweep():
    triage = FailureTriage()
    trial = SimpleNamespace(trial_id="t1")
    first = lost()
    assert triage(trial, first) == FREE
    assert triage(trial, first) == DROP  # the task's report of the same death
    assert triage(trial, lost("Connection reset")) == DROP  # same actor, another future
    assert triage(trial, task_error(ValueError("a bug"))) == COUNT
    assert triage.refused is None
    assert triage(trial, task_error(StorageRefused("writing to /x failed: [Errno 28]"))) == STOP
    assert triage.refused == "writing to /x failed: [Errno 28] (trial t1)"


def _dies_during_the_next_trials_reset(config: dict) -> None:
    from ray import tune

    try:
        tune.report({"score": 1.0})
        if config["die"]:
            time.sleep(60)  # the stopper stopped it; the next trial's reset waits on this
    finally:
        if config["die"]:
            # The reset is in flight now (it joins this thread for up to 2 s): the actor dies
            # under it, as under a trial starting on a reused actor when its node is lost.
            time.sleep(0.5)
            os._exit(1)


def test_an_actor_that_dies_while_resetting_for_the_next_trial_costs_that_trial_nothing(
    ray_session, tmp_path
):
    # Real Tune, real actors: trial 0 is stopped after one result and its actor is reused for
    # trial 1, then dies during that reset. Tune reports the death twice (actor, reset task);
    # untriaged, trial 1 ends "error after 0 iterations"; with the second report dropped but
    # the reset not forgotten, it stayed PENDING forever.
    from ray import tune

    tuner = tune.Tuner(
        _dies_during_the_next_trials_reset,
        param_space={"die": tune.grid_search([True, False])},
        tune_config=tune.TuneConfig(max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(
            name="reset",
            storage_path=str(tmp_path),
            stop={"training_iteration": 1},
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=0,
        ),
    )
    done = threading.Event()
    outcome: dict = {}

    def fit() -> None:
        try:
            with trial_failures_triaged(FailureTriage()):
                outcome["results"] = tuner.fit()
        except Exception as exc:  # shown by the assertion below, not lost in the thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=fit, daemon=True).start()
    assert done.wait(120), "the trial whose reset failed never started again"
    assert "results" in outcome, outcome["error"]
    results = outcome["results"]
    assert results.num_errors == 0, [r.error for r in results]
    assert sorted(r.metrics["score"] for r in results) == [1.0, 1.0]
