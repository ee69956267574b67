"""Weights & Biases: every trial a W&B run, through Ray Tune's ``WandbLoggerCallback``.

Each run holds the trial's config, with ``baseline`` true for the base camp (and the tag
``baseline``), and each epoch's metrics. A local experiment keeps W&B's run files in its own
folder (``wandb/``) unless ``WANDB_DIR`` says otherwise: an offline sweep is synced later with
``wandb sync runs/NAME/wandb/offline-run-*``.
"""

from __future__ import annotations

import os
from typing import Any

from ray.air.integrations.wandb import WandbLoggerCallback

from search.spec.sections import WandbSpec
from search.sweep.baseline import BaselineMarker
from trainables.storage import Location


class WandbTrials(WandbLoggerCallback):
    """Tune's callback, told which trial is the baseline (``BaselineMarker`` records it
    before the trial starts)."""

    def __init__(self, marker: BaselineMarker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.marker = marker
        self.init_kwargs = dict(self.kwargs)  # what every run's wandb.init gets

    def setup(self, *args: Any, **kwargs: Any) -> None:
        if self.init_kwargs.get("mode") in ("offline", "disabled"):
            self.api_key_file = None
            return  # no account, no API key; the project and group are always given
        super().setup(*args, **kwargs)

    def log_trial_start(self, trial: Any) -> None:
        baseline = trial.trial_id == self.marker.trial_id
        config = {k: v for k, v in trial.config.items() if not str(k).startswith("_")}
        self.kwargs = {
            **self.init_kwargs,
            "config": {**config, "baseline": baseline},
            "tags": ["baseline"] if baseline else [],
        }
        super().log_trial_start(trial)


def build_wandb_callback(
    spec: WandbSpec, experiment: Location, marker: BaselineMarker
) -> WandbTrials:
    kwargs: dict[str, Any] = {"mode": spec.mode}
    if spec.entity is not None:
        kwargs["entity"] = spec.entity
    if experiment.is_local and "WANDB_DIR" not in os.environ:
        kwargs["dir"] = experiment.path
    return WandbTrials(
        marker,
        project=spec.project or experiment.name,
        group=spec.group or experiment.name,
        **kwargs,
    )
