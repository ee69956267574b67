"""Finding where a trial should resume: the newest checkpoint on disk that loads cleanly.

Tune hands a restarted trial the latest checkpoint *it knows of*. After a killed driver, that
view comes from an experiment snapshot that can be seconds old, so newer checkpoints of the
same trial (or of the same config, suggested again under a new trial id) may already exist.
Trials are deterministic functions of their config and the sweep seed, so any checkpoint of
the same trial key is a valid place to continue from. A small index in the experiment,
``.raysweep/trials/<key>/<trial dir name>``, maps a key to the trial directories that hold it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from trainables.checkpoint import (
    CheckpointError,
    checkpoint_epoch,
    checkpoint_key,
    has_state,
    load_checkpoint,
)
from trainables.loop import TrainState

logger = logging.getLogger(__name__)

INDEX_DIR = Path(".raysweep") / "trials"
LEDGER_DIR = Path(".raysweep") / "ledger"
CHECKPOINT_GLOB = "checkpoint_*"


@dataclass(frozen=True)
class RestorePoint:
    directory: Path
    next_epoch: int
    train_config: dict | None = None  # set once loaded: the hyperparameters it was trained with


def record_trial_dir(experiment_dir: Path, key: str, trial_dir: Path) -> None:
    """Note that ``trial_dir`` holds checkpoints of trial ``key`` (idempotent, race-free)."""
    entry = experiment_dir / INDEX_DIR / key / trial_dir.name
    if not entry.exists():
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.touch()


def record_trained_epoch(experiment_dir: Path, key: str, trial_id: str, epoch: int) -> None:
    """Append to the trial key's ledger of trained epochs: compute spent, re-training visible.

    Replayed epochs are not trained and so not recorded; an epoch recorded twice was trained
    twice (for instance one in flight when a worker died).
    """
    path = experiment_dir / LEDGER_DIR / f"{key}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"trial_id": trial_id, "epoch": epoch, "pid": os.getpid(), "t": time.time()})
    with open(path, "a") as f:  # one short O_APPEND write per epoch: safe across processes
        f.write(line + "\n")


def read_ledger(experiment_dir: Path) -> dict[str, list[dict]]:
    """Every trial key's trained epochs, in the order they were trained."""
    ledger: dict[str, list[dict]] = {}
    folder = experiment_dir / LEDGER_DIR
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        ledger[path.stem] = [json.loads(line) for line in path.read_text().splitlines() if line]
    return ledger


def trial_dirs_for(experiment_dir: Path, key: str) -> list[Path]:
    folder = experiment_dir / INDEX_DIR / key
    if not folder.is_dir():
        return []
    return sorted(experiment_dir / entry for entry in os.listdir(folder))


def candidates(trial_dirs: list[Path], *, key: str) -> list[RestorePoint]:
    """Every checkpoint of trial ``key`` under ``trial_dirs``, newest epoch first."""
    points: dict[Path, RestorePoint] = {}
    for trial_dir in trial_dirs:
        for directory in trial_dir.glob(CHECKPOINT_GLOB):
            epoch = checkpoint_epoch(directory)
            if epoch is not None and has_state(directory) and checkpoint_key(directory) == key:
                points[directory.resolve()] = RestorePoint(directory, epoch)
    return sorted(points.values(), key=lambda p: (-p.next_epoch, str(p.directory)))


def restore_newest(state: TrainState, points: list[RestorePoint]) -> RestorePoint | None:
    """Load the newest checkpoint that verifies; a corrupt one is skipped with a warning."""
    for point in points:
        try:
            trained_with = load_checkpoint(state, point.directory)
        except CheckpointError as exc:
            logger.warning("skipping unusable checkpoint, falling back to an older one: %s", exc)
            continue
        return RestorePoint(point.directory, point.next_epoch, trained_with)
    return None
