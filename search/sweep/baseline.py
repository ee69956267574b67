"""The baseline marker: which trial is the base camp, recorded once, when it is created.

The searcher suggests the baselines first, so the first trial Tune creates is the baseline.
That is recorded in the experiment (``BASELINE_FILE``) at the first step that sees it, and
handed to the scheduler that must never stop it; everything after (status, export, report,
the summary) reads the marker instead of matching configs.
"""

from __future__ import annotations

import json
from typing import Any

from ray.tune import Callback

from search.results.experiment import read_baseline
from search.results.records import creation_order
from trainables.layout import BASELINE_FILE
from trainables.storage import Location


class BaselineMarker(Callback):
    """Records the baseline's trial id in the experiment and tells the scheduler.

    ``scheduler`` is any object with a ``baseline_trial_id`` attribute (``BaselineASHA``),
    or ``None``. Pickled with the Tuner, so after a restore it is the object Tune uses.
    """

    def __init__(self, experiment: Location, scheduler: Any = None) -> None:
        self.experiment = experiment
        self.scheduler = scheduler
        self.trial_id: str | None = None

    def setup(self, *args: Any, **info: Any) -> None:
        if self.trial_id is None:
            self.trial_id = read_baseline(self.experiment)
        self._tell_scheduler()

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        self._mark(trials)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._mark(trials)  # the step that created it: before the trial can report anything

    def _mark(self, trials: list) -> None:
        if self.trial_id is not None or not trials:
            return
        first = min(trials, key=creation_order)
        self.trial_id = first.trial_id
        record = {"trial_id": first.trial_id, "config": dict(first.config)}
        (self.experiment / BASELINE_FILE).write_text(json.dumps(record, default=str))
        self._tell_scheduler()

    def _tell_scheduler(self) -> None:
        if self.scheduler is not None and hasattr(self.scheduler, "baseline_trial_id"):
            self.scheduler.baseline_trial_id = self.trial_id
