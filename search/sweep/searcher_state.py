"""Keeping the searcher consistent with Tune's trials when a restore brings back torn state.

Tune snapshots the trials (``experiment_state-*.json``) and the searcher (``search_gen_state``,
``searcher-state``) as separate files, and with remote storage uploads them in the background
while the driver keeps rewriting them. A driver killed mid-upload leaves a searcher older than
the trials (seen with S3): the concurrency limiter still counts a trial that finished (its slot
never frees: the restored sweep hangs), Optuna has never heard of a running trial (its results
raise ``KeyError``), and the trial counter is behind (more trials than ``num_samples``). A
seeded sampler restored to before a suggestion makes that same suggestion again: the sweep
trains one configuration twice and one fewer in all. The reverse tear (trials older than the
searcher) loses a suggestion Tune never recorded, and with it the epochs already trained.

The trials are the truth: after every (re)start, the limiter adopts the trials Tune will run,
forgets the ones that ended (passing their last result to Optuna), and Tune's trial counter is
set to the number of trials. Optuna replays each suggestion it missed, so its sampler stands
where an uninterrupted sweep's would, and hands out again each suggestion Tune lost (the new
trial then finds the lost one's checkpoints by its config). PBT's variant generator has the
same live set, reconciled the same way.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import optuna
from ray.tune import Callback
from ray.tune.search import ConcurrencyLimiter, SearchGenerator
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils import flatten_dict

from search._tune_compat import (
    optuna_completed,
    optuna_study,
    optuna_trials,
    set_live_trials,
    set_trial_counter,
)

logger = logging.getLogger(__name__)

ENDED = ("TERMINATED", "ERROR")


def _same_suggestion(suggested: dict, config: dict) -> bool:
    """Whether a trial's config holds exactly these suggested values."""
    flat = flatten_dict(config)
    return all(k in flat and flat[k] == v for k, v in flatten_dict(suggested).items())


class TolerantOptunaSearch(OptunaSearch):
    """``OptunaSearch`` that follows Tune's trials when a restore brings back torn state, and
    tells Optuna a trial stopped early as ``PRUNED``.

    Ray's ``OptunaSearch`` tells a trial ASHA stopped at epoch 1 as ``COMPLETE`` with its
    epoch-1 value, so TPE ranks it against the final values of trials trained to the end, and
    the epoch that stopped it is missing from its intermediate values (Tune passes the
    stopping result to ``on_trial_complete`` only). Told as ``PRUNED`` with that value
    reported, TPE ranks stopped trials by the deepest epoch they reached, then the value
    there, behind the finished ones: what ASHA's rungs found, not an unequal comparison.
    """

    def __init__(self, *args: Any, max_t: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lost: list[str] = []  # suggestions Tune never recorded, handed out again first
        self._max_t = max_t  # the epochs of a trial trained to the end (unless it sets its own)

    def adopt(self, trials: list[Any]) -> None:
        """Replay the suggestions of trials this (older) study never saw, in Tune's order,
        and queue the ones Tune lost."""
        known = {t.trial_id for t in trials}
        table, completed = optuna_trials(self), optuna_completed(self)
        self._lost = [tid for tid in table if tid not in known and tid not in completed]
        if self._lost:
            logger.warning(
                "suggestions missing from the restored trials, made again: %s", self._lost
            )
        for trial in trials:
            if trial.trial_id in table:
                continue
            suggested = super().suggest(trial.trial_id)
            if suggested is None or not _same_suggestion(suggested, trial.config):
                # The sampler did not make it again: keep its suggestion for the next trial.
                lost = f"{trial.trial_id}-unmatched"
                table[lost] = table.pop(trial.trial_id)
                self._lost.append(lost)
                self._warn_unknown(trial.trial_id)
                continue
            logger.warning("trial %s replayed into the restored searcher", trial.trial_id)
            if trial.status in ENDED:
                self.on_trial_complete(
                    trial.trial_id, result=trial.last_result, error=trial.status == "ERROR"
                )

    def suggest(self, trial_id: str) -> dict | None:
        table = optuna_trials(self)
        if self._lost and trial_id not in table:
            table[trial_id] = table.pop(self._lost.pop(0))
        return super().suggest(trial_id)

    def _warn_unknown(self, trial_id: str) -> None:
        logger.warning(
            "trial %s is missing from the restored searcher state (a snapshot older than the "
            "trials); its result won't inform the sampler",
            trial_id,
        )

    def _knows(self, trial_id: str) -> bool:
        if trial_id in optuna_trials(self):
            return True
        self._warn_unknown(trial_id)
        return False

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in optuna_trials(self):  # quietly: this is called every epoch
            super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        if not self._knows(trial_id):
            return
        if result and not error and self._stopped_early(result):
            self._tell_pruned(trial_id, result)
            return
        super().on_trial_complete(trial_id, result=result, error=error)

    def _stopped_early(self, result: dict) -> bool:
        max_t = result.get("config/epochs", result.get("config", {}).get("epochs"))
        max_t = max_t or getattr(self, "_max_t", None)  # a searcher pickled before max_t
        epoch = result.get("epoch", result.get("training_iteration"))
        if isinstance(self.metric, list) or not max_t or epoch is None:
            return False  # Optuna has no intermediate values for multi-objective studies
        # A diverged trial ended itself with the worst value: COMPLETE says how bad it was.
        return int(epoch) < int(max_t) and not result.get("diverged")

    def _tell_pruned(self, trial_id: str, result: dict) -> None:
        ot_trial = optuna_trials(self)[trial_id]
        value, step = result.get(self.metric), result.get("training_iteration")
        if isinstance(value, (int, float)) and math.isfinite(value) and step is not None:
            ot_trial.report(float(value), int(step))  # the result that stopped it
        optuna_study(self).tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
        optuna_completed(self).add(trial_id)


class ReconcilingLimiter(ConcurrencyLimiter):
    """``ConcurrencyLimiter`` that can be brought in line with the trials Tune restored."""

    def reconcile(self, trials: list[Any]) -> None:
        """Make the live set exactly the trials that haven't ended."""
        live = {t.trial_id for t in trials if t.status not in ENDED}
        if live != self.live_trials:
            logger.warning(
                "restored searcher state disagreed with the trials (live %s, trials %s): "
                "following the trials",
                sorted(self.live_trials),
                sorted(live),
            )
        for trial in trials:
            if trial.trial_id in self.live_trials - live:
                # It ended after the searcher's snapshot: tell the sampler what it missed.
                self.searcher.on_trial_complete(
                    trial.trial_id, result=trial.last_result, error=trial.status == "ERROR"
                )
        self.live_trials = live
        self.num_unfinished_live_trials = len(live)


def reconcile_search(search: SearchGenerator, trials: list[Any]) -> None:
    """The limiter's live set, and Tune's trial counter (saved with the searcher, so it can be
    ahead of the trials, or behind): a suggestion Tune lost is made again, and ``num_samples``
    is never exceeded."""
    limiter = search.searcher
    assert isinstance(limiter, ReconcilingLimiter)
    searcher: Any = limiter.searcher
    while not isinstance(searcher, TolerantOptunaSearch):  # through the budget limiter
        searcher = searcher.searcher
    searcher.adopt(trials)
    limiter.reconcile(trials)
    set_trial_counter(search, len(trials))


def reconcile_generator(generator: Any, trials: list[Any]) -> None:
    """PBT's ``BasicVariantGenerator``: only trials that haven't ended hold a slot."""
    set_live_trials(generator, {t.trial_id for t in trials if t.status not in ENDED})


class ReconcileCallback(Callback):
    """Reconciles the search algorithm once per session, at the first step, when Tune's trials
    are in.

    It holds the search algorithm itself: Tune pickles callbacks and the search algorithm
    together (``tuner.pkl``), so after ``Tuner.restore`` this is the very object Tune uses.
    """

    def __init__(self, search_alg: Any) -> None:
        self.search_alg = search_alg
        self.pending = True

    def setup(self, *args: Any, **info: Any) -> None:
        self.pending = True

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if not self.pending:
            return
        self.pending = False
        if isinstance(self.search_alg, SearchGenerator):
            reconcile_search(self.search_alg, trials)
        else:
            reconcile_generator(self.search_alg, trials)
