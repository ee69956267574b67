"""Sweep budgets: stop starting new trials once a time or epoch budget is spent.

A ``Searcher`` wrapper (like Ray's ``ConcurrencyLimiter``): when the budget is spent it answers
``FINISHED``, so Tune starts no new trials and lets the running ones end as they would. Its
counters are saved with the searcher, so a resumed sweep keeps what it already spent.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from ray.tune.search import Searcher

from trainables.layout import BUDGET_FILE
from trainables.storage import Location

logger = logging.getLogger(__name__)


class BudgetLimiter(Searcher):
    def __init__(
        self,
        searcher: Searcher,
        *,
        experiment: Location,
        time_budget_s: float | None,
        max_total_epochs: int | None,
    ) -> None:
        self.searcher = searcher
        self.experiment = experiment
        self.time_budget_s = time_budget_s
        self.max_total_epochs = max_total_epochs
        self.epochs = 0
        self.elapsed_before = 0.0  # seconds spent in earlier sessions of this sweep
        self.started: float | None = None
        self.spent: str | None = None
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def elapsed(self) -> float:
        since = 0.0 if self.started is None else time.monotonic() - self.started
        return self.elapsed_before + since

    def _check(self) -> None:
        if self.spent is not None:
            return
        if self.time_budget_s is not None and self.elapsed() >= self.time_budget_s:
            self.spent = f"time budget of {self.time_budget_s:g} s spent"
        elif self.max_total_epochs is not None and self.epochs >= self.max_total_epochs:
            self.spent = f"epoch budget of {self.max_total_epochs} epochs spent"
        if self.spent is not None:
            logger.warning("%s: starting no new trials", self.spent)
            record = {"reason": self.spent, "epochs": self.epochs, "elapsed_s": self.elapsed()}
            (self.experiment / BUDGET_FILE).write_text(json.dumps(record))

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict | None | str:  # type: ignore[override]
        if self.started is None:
            self.started = time.monotonic()
        self._check()
        if self.spent is not None:
            return Searcher.FINISHED
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.epochs += 1  # one result per trained epoch
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def get_state(self) -> dict:
        return {
            "epochs": self.epochs,
            "elapsed_before": self.elapsed(),
            "spent": self.spent,
        }

    def set_state(self, state: dict) -> None:
        self.epochs = state["epochs"]
        self.elapsed_before = state["elapsed_before"]
        self.spent = state["spent"]
        self.started = None

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)
