"""Which trial failures count against ``failure.max_retries``, and which stop the sweep.

Tune counts every failure of a trial. Two kinds are not the trial's fault: its node was lost
(the trial is retried on a live node from its latest checkpoint, uncounted), and the storage
refused a write (full, quota, permissions: no retry can succeed, so the whole sweep stops at
once, nothing failed, until a person fixes it and resumes). The rest count, as Tune counts.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field
from typing import Any

from ray.exceptions import ActorDiedError, ActorUnavailableError, NodeDiedError, RayActorError

from search._tune_compat import COUNT, DROP, FREE, STOP
from search.errors import StorageRefusedError
from trainables.storage import StorageRefused, refuses_writes

logger = logging.getLogger(__name__)

TRIAL, NODE_LOST, STORAGE = "trial", "node lost", "storage"
# How Ray words an actor that died with its node (ActorDiedErrorContext.error_message).
_NODE_DIED = ("node has died", "node died", "raylet died", "node was lost")


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc``, what a ``RayTaskError`` carries (the trial's own exception) and their causes."""
    found: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        cause = getattr(current, "cause", None)
        todo += [cause if isinstance(cause, BaseException) else None, current.__cause__]
    return found


def failure_kind(exc: BaseException) -> str:
    """``STORAGE``, ``NODE_LOST`` or ``TRIAL`` (the trial's own failure: counted)."""
    causes = _causes(exc)
    if any(isinstance(c, StorageRefused) for c in causes) or refuses_writes(exc):
        return STORAGE
    for cause in causes:
        if isinstance(cause, (ActorUnavailableError, NodeDiedError)):
            return NODE_LOST
        if isinstance(cause, ActorDiedError) and not cause.actor_init_failed:
            if any(words in str(cause).lower() for words in _NODE_DIED):
                return NODE_LOST
    return TRIAL


@dataclass
class FailureTriage:
    """What Tune does with each trial failure (``_tune_compat.trial_failures_triaged``)."""

    refused: str | None = None  # the first write the storage refused, once one was
    _last: dict[str, BaseException] = field(default_factory=dict)  # per trial id

    def __call__(self, trial: Any, exc: BaseException) -> str:
        if self._repeats(trial.trial_id, exc):
            logger.info("trial %s: its lost actor reported a second time; not counted", trial)
            return DROP
        self._last[trial.trial_id] = exc
        kind = failure_kind(exc)
        if kind == STORAGE:
            self.refused = f"{_first_line(exc)} (trial {trial.trial_id})"
            return STOP
        if kind == NODE_LOST:
            logger.warning("trial %s lost its node; retried, not counted: %s", trial, exc)
            return FREE
        return COUNT

    def _repeats(self, trial_id: str, exc: BaseException) -> bool:
        """One actor's death, reported a second time (by its actor, then by its task)."""
        last = self._last.get(trial_id)
        if last is None:
            return False
        if last is exc:
            return True
        if not (isinstance(exc, RayActorError) and isinstance(last, RayActorError)):
            return False
        return exc.actor_id is not None and exc.actor_id == last.actor_id


def _first_line(exc: BaseException) -> str:
    for cause in _causes(exc):
        if isinstance(cause, StorageRefused) and cause.args:
            return str(cause.args[0])  # str() of Ray's wrapper is its whole traceback
    return str(exc).strip().splitlines()[-1]


def storage_refused_error(what: str, experiment: str) -> StorageRefusedError:
    return StorageRefusedError(
        f"the storage refused a write, so the sweep stopped (no trial failed): {what}; free "
        f"space or fix access, then continue with  raysweep resume {shlex.quote(experiment)}"
    )


def stopped_by_storage(exc: BaseException, triage: FailureTriage, experiment: str) -> None:
    """Raise the one-line error if ``exc`` (out of ``Tuner.fit``) is a refused write: a
    trial's (triaged) or the driver's own (Tune's files, raysweep's callbacks)."""
    if triage.refused is not None:
        raise storage_refused_error(triage.refused, experiment) from None
    if refuses_writes(exc):
        raise storage_refused_error(_first_line(exc), experiment) from None
