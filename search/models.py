"""Named model files for exported trials: each trial's best checkpoint, named by what it is."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from search.results import ExperimentResults, TrialResult
from trainables.checkpoint import CheckpointError, has_state, read_checkpoint
from trainables.model_file import save_model_file

logger = logging.getLogger(__name__)


def trial_checkpoint(trial: TrialResult) -> dict[str, Any] | None:
    """The verified payload of a trial's best retained checkpoint; ``None``, with a warning
    where it is unusable, when there is none (deleted by retention, never written, corrupt)."""
    if trial.checkpoint is None:
        return None
    try:
        with trial.checkpoint.as_directory() as local:  # a download from remote storage
            if not has_state(local):
                return None
            return read_checkpoint(local)
    except (CheckpointError, OSError) as exc:
        logger.warning("trial %s: checkpoint unusable: %s", trial.trial_id, exc)
        return None


def export_models(
    results: ExperimentResults, trials: list[TrialResult], directory: Path
) -> dict[str, str]:
    """Write a named model file per trial with a usable checkpoint; trial id -> file path."""
    searched = tuple(results.spec.space)
    files: dict[str, str] = {}
    for trial in trials:
        payload = trial_checkpoint(trial)
        if payload is None:
            continue
        files[trial.trial_id] = str(save_model_file(payload, directory, searched))
    return files
