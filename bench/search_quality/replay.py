"""Replaying a search against the curve table on a simulated clock with asynchronous workers.

Nothing here searches or schedules: the real Ray Tune searchers and schedulers (driven as
Tune's controller drives them) and the real Optuna samplers and pruners (driven by ``ask`` /
``tell`` / ``report`` / ``should_prune``, as ``study.optimize`` with parallel workers does)
decide everything. The replay only supplies each epoch's result from the table when the
simulated clock reaches it: an epoch of a config takes the time the table measured for it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from bench.search_quality.table import CurveTable

PENDING, RUNNING, PAUSED, TERMINATED = "PENDING", "RUNNING", "PAUSED", "TERMINATED"


@dataclass(eq=False)  # hashed by identity: Tune's schedulers key dicts by trial
class SimTrial:
    trial_id: str
    config: dict[str, Any]
    config_id: int
    seed: int  # the training seed whose curve this trial follows
    status: str = PENDING
    history: list[float] = field(default_factory=list)
    last_result: dict[str, Any] | None = None
    is_saving: bool = False  # read by Ray's HyperBand; a simulated save is instant
    pruned: bool = False

    @property
    def epoch(self) -> int:
        return len(self.history)


@dataclass
class Recommendation:
    epochs: int  # epochs spent when it was made
    config_id: int | None


@dataclass
class Outcome:
    recommendations: list[Recommendation]  # one per budget
    reached_at: int | None  # epochs until the recommendation was within 0.5 % of the best
    trials: int


Recommend = Callable[[list[SimTrial], int, str], int | None]


def _best(trials: list[SimTrial], mode: str, *, deepest_only: bool, any_epoch: bool) -> int | None:
    """The config of the best trial with a result: among all of them or only those that
    trained the longest, judged by their last value or by their best epoch."""
    scored = [t for t in trials if t.history]
    if deepest_only and scored:
        deepest = max(t.epoch for t in scored)
        scored = [t for t in scored if t.epoch == deepest]
    if not scored:
        return None
    pick = max if mode == "max" else min
    value = (lambda t: pick(t.history)) if any_epoch else (lambda t: t.history[-1])
    return pick(scored, key=value).config_id


def best_last(trials: list[SimTrial], max_t: int, mode: str) -> int | None:
    """Ray Tune's ``get_best_result(scope="last")``: the best last result of any trial,
    however few epochs it trained."""
    return _best(trials, mode, deepest_only=False, any_epoch=False)


def best_any_epoch(trials: list[SimTrial], max_t: int, mode: str) -> int | None:
    """raysweep's summary before this benchmark: the best value of any epoch of any trial."""
    return _best(trials, mode, deepest_only=False, any_epoch=True)


def best_complete(trials: list[SimTrial], max_t: int, mode: str) -> int | None:
    """The best of the trials trained to the end (Optuna's ``best_trial``: COMPLETE only);
    before any has, the best of those that trained the longest."""
    return _best(trials, mode, deepest_only=True, any_epoch=False)


def trained_longest(trials: list[SimTrial], max_t: int, mode: str) -> int | None:
    """raysweep's recommendation: of the trials trained the longest (to the end, once any
    is), the one with the best epoch, as ``raysweep status`` ranks them."""
    return _best(trials, mode, deepest_only=True, any_epoch=True)


class _Clock:
    """Budget bookkeeping shared by both drivers: epochs spent, and the recommendation
    each time a budget is crossed."""

    def __init__(
        self,
        table: CurveTable,
        budgets: list[int],
        recommend: Recommend,
        workers: int,
        rng: np.random.Generator,
    ) -> None:
        self.table, self.recommend, self.workers, self.rng = table, recommend, workers, rng
        self.marks = [b * table.epochs for b in budgets]
        self._regrets = table.regrets[0]
        self._target = 0.005 * abs(table.best_value())  # within 0.5 % of the best
        self.reached_at: int | None = None  # epochs spent when the recommendation got there
        self.spent = 0
        self.now = 0.0
        self.trials: list[SimTrial] = []
        self.recommendations: list[Recommendation] = []
        self._events: list[tuple[float, int, SimTrial]] = []
        self._order = itertools.count()

    @property
    def done(self) -> bool:
        return len(self.recommendations) == len(self.marks)

    def schedule_epoch(self, trial: SimTrial) -> None:
        duration = float(self.table.epoch_time[trial.config_id, trial.seed, trial.epoch])
        heapq.heappush(self._events, (self.now + duration, next(self._order), trial))

    def next_epoch(self) -> tuple[SimTrial, float] | None:
        """Advance the clock to the next finished epoch: the trial and its metric value."""
        if not self._events:
            return None
        self.now, _, trial = heapq.heappop(self._events)
        if trial.status != RUNNING:  # stopped by a scheduler while its epoch ran
            return self.next_epoch()
        value = float(self.table.val[trial.config_id, trial.seed, trial.epoch])
        trial.history.append(value)
        self.spent += 1
        return trial, value

    def note_budget(self) -> None:
        crossed = not self.done and self.spent >= self.marks[len(self.recommendations)]
        if self.reached_at is None or crossed:  # one recommendation serves both
            pick = self.recommend(self.trials, self.table.epochs, self.table.task.mode)
            if (
                self.reached_at is None
                and pick is not None
                and self._regrets[pick] <= self._target
            ):
                self.reached_at = self.spent
            while not self.done and self.spent >= self.marks[len(self.recommendations)]:
                self.recommendations.append(Recommendation(self.spent, pick))

    def finish(self) -> Outcome:
        """A search that ran out of trials keeps its last recommendation for later budgets."""
        while not self.done:
            pick = self.recommend(self.trials, self.table.epochs, self.table.task.mode)
            self.recommendations.append(Recommendation(self.spent, pick))
        return Outcome(self.recommendations, self.reached_at, len(self.trials))


class TuneReplay(_Clock):
    """Drives a Tune ``Searcher`` and ``TrialScheduler`` exactly as ``TuneController`` calls
    them: a result goes to the scheduler first, and to the searcher only when the trial is
    not stopped by it; a stopped or finished trial's last result goes to
    ``on_trial_complete``; a paused trial resumes when the scheduler chooses it."""

    def __init__(
        self,
        table: CurveTable,
        searcher: Any,
        scheduler: Any,
        *,
        workers: int,
        budgets: list[int],
        rng: np.random.Generator,
        recommend: Recommend = best_last,
    ) -> None:
        super().__init__(table, budgets, recommend, workers, rng)
        self.searcher, self.scheduler = searcher, scheduler
        self.search_alg = SimpleNamespace(searcher=searcher)  # BOHB's scheduler reaches for it
        self.metric = table.task.metric

    # --- the TuneController surface Ray's schedulers use ---
    def get_trials(self) -> list[SimTrial]:
        return self.trials

    def stop_trial(self, trial: SimTrial) -> None:
        if trial.status == TERMINATED:
            return
        if trial.status in (PENDING, PAUSED):
            self.scheduler.on_trial_remove(self, trial)
            self.searcher.on_trial_complete(trial.trial_id)
        else:
            self.scheduler.on_trial_complete(self, trial, trial.last_result)
            self.searcher.on_trial_complete(trial.trial_id, result=trial.last_result)
        trial.status = TERMINATED

    # --- the loop ---
    def _new_trial(self) -> SimTrial | None:
        trial_id = f"{len(self.trials):05d}"
        config = self.searcher.suggest(trial_id)
        if config is None or config == "FINISHED":
            return None
        trial = SimTrial(
            trial_id,
            config,
            self.table.config_id(config),
            int(self.rng.integers(self.table.n_seeds)),
        )
        self.trials.append(trial)
        self.scheduler.on_trial_add(self, trial)
        return trial

    def _running(self) -> int:
        return sum(t.status == RUNNING for t in self.trials)

    def _fill(self) -> None:
        while self._running() < self.workers:
            trial = self.scheduler.choose_trial_to_run(self)
            if trial is None:
                if self._new_trial() is None:
                    return
                continue
            trial.status = RUNNING
            self.schedule_epoch(trial)

    def run(self) -> Outcome:
        self._fill()
        while not self.done:
            event = self.next_epoch()
            if event is None:
                break
            self._on_result(*event)
            self.note_budget()
            self._fill()
        return self.finish()

    def _on_result(self, trial: SimTrial, value: float) -> None:
        result = {
            self.metric: value,
            "training_iteration": trial.epoch,
            "trial_id": trial.trial_id,
            "time_total_s": self.now,
            "done": trial.epoch == self.table.epochs,
        }
        # One dict for both, as Tune passes them: BOHB's scheduler annotates it for its searcher.
        decision = self.scheduler.on_trial_result(self, trial, result)
        if decision != "STOP":
            self.searcher.on_trial_result(trial.trial_id, result)
        trial.last_result = result
        if decision == "STOP" or trial.epoch == self.table.epochs:
            self.stop_trial(trial)
        elif decision == "PAUSE":
            trial.status = PAUSED
        else:
            self.schedule_epoch(trial)


class OptunaReplay(_Clock):
    """Drives an Optuna study as ``study.optimize(n_jobs=workers)`` would: each free worker
    asks for a trial, reports every epoch, asks ``should_prune`` and tells the outcome."""

    def __init__(
        self,
        table: CurveTable,
        study: Any,
        distributions: dict[str, Any],
        *,
        workers: int,
        budgets: list[int],
        rng: np.random.Generator,
        recommend: Recommend = best_complete,
    ) -> None:
        super().__init__(table, budgets, recommend, workers, rng)
        self.study, self.distributions = study, distributions
        self._optuna_trials: dict[str, Any] = {}

    def _start(self) -> None:
        ot = self.study.ask(fixed_distributions=self.distributions)
        trial = SimTrial(
            str(ot.number),
            dict(ot.params),
            self.table.config_id(ot.params),
            int(self.rng.integers(self.table.n_seeds)),
            status=RUNNING,
        )
        self._optuna_trials[trial.trial_id] = ot
        self.trials.append(trial)
        self.schedule_epoch(trial)

    def run(self) -> Outcome:
        import optuna

        for _ in range(self.workers):
            self._start()
        while not self.done:
            event = self.next_epoch()
            if event is None:
                break
            trial, value = event
            ot = self._optuna_trials[trial.trial_id]
            ot.report(value, trial.epoch)
            if trial.epoch == self.table.epochs:
                self.study.tell(ot, value)
                trial.status = TERMINATED
            elif ot.should_prune():
                self.study.tell(ot, state=optuna.trial.TrialState.PRUNED)
                trial.status, trial.pruned = TERMINATED, True
            else:
                self.schedule_epoch(trial)
            self.note_budget()
            if trial.status == TERMINATED:
                self._start()
        return self.finish()
