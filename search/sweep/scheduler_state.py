"""Persisting the trial scheduler's state with the experiment, which Ray Tune doesn't do.

Tune saves callback state in the same experiment snapshot as the trials and restores it on
``Tuner.restore``; this callback carries the scheduler's own ``save``/``restore`` payload
there, so a resumed sweep keeps ASHA's rungs and makes the same stopping decisions.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ray.tune import Callback
from ray.tune.schedulers import TrialScheduler


class SchedulerStateCallback(Callback):
    def __init__(self, scheduler: TrialScheduler) -> None:
        self.scheduler = scheduler

    def get_state(self) -> dict[str, Any] | None:
        fd, path = tempfile.mkstemp(prefix="raysweep-scheduler-")
        os.close(fd)
        try:
            self.scheduler.save(path)
            with open(path, "rb") as f:
                return {"scheduler": f.read()}
        finally:
            os.unlink(path)

    def set_state(self, state: dict[str, Any]) -> None:
        fd, path = tempfile.mkstemp(prefix="raysweep-scheduler-")
        with os.fdopen(fd, "wb") as f:
            f.write(state["scheduler"])
        try:
            self.scheduler.restore(path)
        finally:
            os.unlink(path)
