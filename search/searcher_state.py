"""Keeping the searcher consistent with Tune's trials when a restore brings back torn state.

Tune snapshots the trials (``experiment_state-*.json``) and the searcher (``search_gen_state``,
``searcher-state``) as separate files, and with remote storage uploads them in the background
while the driver keeps rewriting them. A driver killed mid-upload leaves a searcher older than
the trials (seen with S3): the concurrency limiter still counts a trial that finished (its slot
never frees: the restored sweep hangs), Optuna has never heard of a running trial (its results
raise ``KeyError``), and the trial counter is behind (more trials than ``num_samples``).

The trials are the truth: after every (re)start, the limiter adopts the trials Tune will run,
forgets the ones that ended, and stops suggesting once ``num_samples`` trials exist; Optuna
ignores results of trials it never suggested.
"""

from __future__ import annotations

import logging
from typing import Any

from ray.tune import Callback
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

logger = logging.getLogger(__name__)

ENDED = ("TERMINATED", "ERROR")


class TolerantOptunaSearch(OptunaSearch):
    """``OptunaSearch`` that skips trials missing from a stale snapshot of its study."""

    def _knows(self, trial_id: str) -> bool:
        if trial_id in self._ot_trials:
            return True
        logger.warning(
            "trial %s is missing from the restored searcher state (a snapshot older than the "
            "trials); its result won't inform the sampler",
            trial_id,
        )
        return False

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._ot_trials:  # quietly: this is called every epoch
            super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        if self._knows(trial_id):
            super().on_trial_complete(trial_id, result=result, error=error)


class ReconcilingLimiter(ConcurrencyLimiter):
    """``ConcurrencyLimiter`` that can be brought in line with the trials Tune restored."""

    def __init__(self, searcher: Searcher, max_concurrent: int, num_samples: int) -> None:
        super().__init__(searcher, max_concurrent=max_concurrent)
        self.num_samples = num_samples
        self.created = 0  # trials suggested, this session and earlier ones

    def suggest(self, trial_id: str) -> dict | None | str:  # type: ignore[override]
        if self.created >= self.num_samples:
            return Searcher.FINISHED
        suggestion = super().suggest(trial_id)
        if suggestion not in (None, Searcher.FINISHED):
            self.created += 1
        return suggestion  # type: ignore[no-any-return]

    def reconcile(self, statuses: dict[str, str]) -> None:
        """Make the live set exactly the trials that haven't ended; count every trial."""
        live = {trial_id for trial_id, status in statuses.items() if status not in ENDED}
        if live != self.live_trials:
            logger.warning(
                "restored searcher state disagreed with the trials (live %s, trials %s): "
                "following the trials",
                sorted(self.live_trials),
                sorted(live),
            )
        self.live_trials = live
        self.num_unfinished_live_trials = len(live)
        self.created = max(self.created, len(statuses))


class ReconcileCallback(Callback):
    """Reconciles the limiter once per session, at the first step, when Tune's trials are in.

    It holds the limiter itself: Tune pickles callbacks and the search algorithm together, so
    after ``Tuner.restore`` this is the very limiter Tune suggests through.
    """

    def __init__(self, limiter: ReconcilingLimiter) -> None:
        self.limiter = limiter
        self.pending = True

    def setup(self, *args: Any, **info: Any) -> None:
        self.pending = True

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if self.pending:
            self.pending = False
            self.limiter.reconcile({t.trial_id: t.status for t in trials})
