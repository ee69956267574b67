"""Named model files for exported trials: each trial's best checkpoint, named by what it is."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from search.results.records import ExperimentResults, TrialResult
from trainables.checkpoint import CheckpointError, has_state, read_checkpoint
from trainables.model_file import save_model_file

logger = logging.getLogger(__name__)


def trial_checkpoint(trial: TrialResult) -> dict[str, Any] | None:
    """The verified payload of a trial's best usable retained checkpoint; ``None``, with a
    warning where one is unusable, when there is none (deleted by retention, never written,
    corrupt). After a resume, Tune's records can name a checkpoint a stale snapshot still
    listed but that is gone, or a placeholder that stood in for one: the next best serves."""
    for checkpoint in trial.checkpoints:
        try:
            with checkpoint.as_directory() as local:  # a download from remote storage
                if has_state(local):
                    return read_checkpoint(local)
        except (CheckpointError, OSError) as exc:
            logger.warning(
                "trial %s: checkpoint %s unusable: %s", trial.trial_id, checkpoint.path, exc
            )
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
