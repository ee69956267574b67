"""Named model files for exported trials: each trial's best checkpoint, named by what it is."""

from __future__ import annotations

import logging
from pathlib import Path

from search.results import ExperimentResults, TrialResult
from trainables.checkpoint import CheckpointError, has_state, read_checkpoint
from trainables.model_file import save_model_file

logger = logging.getLogger(__name__)


def export_models(
    results: ExperimentResults, trials: list[TrialResult], directory: Path
) -> dict[str, str]:
    """Write a named model file per trial with a usable checkpoint; trial id -> file path."""
    searched = tuple(results.spec.space)
    files: dict[str, str] = {}
    for trial in trials:
        checkpoint = trial.checkpoint
        if checkpoint is None:
            continue
        with checkpoint.as_directory() as local:
            if not has_state(local):
                continue
            try:
                payload = read_checkpoint(local)
            except CheckpointError as exc:
                logger.warning("trial %s: no model file: %s", trial.trial_id, exc)
                continue
        files[trial.trial_id] = str(save_model_file(payload, directory, searched))
    return files
