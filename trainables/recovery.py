"""Finding where a trial should resume: the newest checkpoint on disk that loads cleanly.

Tune hands a restarted trial the latest checkpoint *it knows of*. After a killed driver, that
view comes from an experiment snapshot that can be seconds old, so newer checkpoints of the
same trial (or of the same config, suggested again under a new trial id) may already exist.
Trials are deterministic functions of their config and the sweep seed, so any checkpoint of
the same trial key is a valid place to continue from. A small index in the experiment,
``.raysweep/trials/<key>/<trial dir name>``, maps a key to the trial directories that hold it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from trainables.checkpoint import CheckpointError, checkpoint_epoch, has_state, load_checkpoint
from trainables.loop import TrainState

logger = logging.getLogger(__name__)

INDEX_DIR = Path(".raysweep") / "trials"
CHECKPOINT_GLOB = "checkpoint_*"


@dataclass(frozen=True)
class RestorePoint:
    directory: Path
    next_epoch: int


def record_trial_dir(experiment_dir: Path, key: str, trial_dir: Path) -> None:
    """Note that ``trial_dir`` holds checkpoints of trial ``key`` (idempotent, race-free)."""
    entry = experiment_dir / INDEX_DIR / key / trial_dir.name
    if not entry.exists():
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.touch()


def trial_dirs_for(experiment_dir: Path, key: str) -> list[Path]:
    folder = experiment_dir / INDEX_DIR / key
    if not folder.is_dir():
        return []
    return sorted(experiment_dir / entry for entry in os.listdir(folder))


def candidates(trial_dirs: list[Path]) -> list[RestorePoint]:
    """Every checkpoint under ``trial_dirs`` with a readable sidecar, newest epoch first."""
    points: dict[Path, RestorePoint] = {}
    for trial_dir in trial_dirs:
        for directory in trial_dir.glob(CHECKPOINT_GLOB):
            epoch = checkpoint_epoch(directory)
            if epoch is not None and has_state(directory):
                points[directory.resolve()] = RestorePoint(directory, epoch)
    return sorted(points.values(), key=lambda p: (-p.next_epoch, str(p.directory)))


def restore_newest(state: TrainState, points: list[RestorePoint]) -> RestorePoint | None:
    """Load the newest checkpoint that verifies; a corrupt one is skipped with a warning."""
    for point in points:
        try:
            load_checkpoint(state, point.directory)
        except CheckpointError as exc:
            logger.warning("skipping unusable checkpoint, falling back to an older one: %s", exc)
            continue
        return point
    return None
