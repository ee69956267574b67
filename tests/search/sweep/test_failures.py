"""Which trial failures count against max_retries, on Ray's own exception objects."""

from __future__ import annotations

import errno
from types import SimpleNamespace

from ray.exceptions import ActorDiedError, ActorUnavailableError, RayTaskError

from search._tune_compat import COUNT, DROP, FREE, STOP
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
