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
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from trainables.checkpoint import (
    CheckpointError,
    has_state,
    load_checkpoint,
    read_sidecar,
)
from trainables.layout import EARLIER_DIR, INDEX_DIR, LEDGER_DIR
from trainables.loop import TrainState
from trainables.storage import Location

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint_"

Where = Location | str | os.PathLike[str]


@dataclass(frozen=True)
class RestorePoint:
    directory: Location
    next_epoch: int
    train_config: dict | None = None  # set once loaded: the hyperparameters it was trained with
    position: int = 0  # batches into next_epoch: a checkpoint written inside an epoch


def record_trial_dir(experiment_dir: Where, key: str, trial_dir: Where) -> None:
    """Note that ``trial_dir`` holds checkpoints of trial ``key`` (idempotent, race-free)."""
    entry = Location.of(experiment_dir) / INDEX_DIR / key / Location.of(trial_dir).name
    if not entry.exists():
        entry.write_bytes(b"", fsync=False)


@dataclass
class Ledger:
    """The epochs one run of a trial trained: compute spent, re-training visible.

    Each run (process, trial) rewrites its own small file whole after every epoch, as object
    stores can't append: no two writers ever share a file. Replayed epochs are not trained and
    so not recorded; an epoch recorded twice was trained twice (for instance one in flight when
    a worker died).
    """

    experiment_dir: Location
    key: str
    trial_id: str
    entries: list[dict] = field(default_factory=list)
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def record(self, epoch: int) -> None:
        self.entries.append(
            {"trial_id": self.trial_id, "epoch": epoch, "pid": os.getpid(), "t": time.time()}
        )
        target = self.experiment_dir / LEDGER_DIR / self.key / f"{self.trial_id}-{self.run}.jsonl"
        text = "".join(json.dumps(e) + "\n" for e in self.entries)
        target.write_bytes(text.encode(), fsync=False)


def read_ledger(experiment_dir: Where) -> dict[str, list[dict]]:
    """Every trial key's trained epochs, in the order they were trained."""
    ledger: dict[str, list[dict]] = {}
    for folder in _visible((Location.of(experiment_dir) / LEDGER_DIR).children()):
        # Sweeps started before per-run ledger files kept one appended <key>.jsonl per key.
        runs = [folder] if folder.name.endswith(".jsonl") else _visible(folder.children())
        entries = []
        for run in runs:
            for line in _read_or_empty(run).splitlines():
                try:
                    entries.append(json.loads(line))
                except ValueError:  # the torn last line of a writer killed mid-append
                    pass
        ledger[folder.name.removesuffix(".jsonl")] = sorted(entries, key=lambda e: e["t"])
    return ledger


def _visible(locations: list[Location]) -> list[Location]:
    """Without the temp files a writer killed before its rename leaves (``.name.tmp``)."""
    return [loc for loc in locations if not loc.name.startswith(".")]


def _read_or_empty(location: Location) -> str:
    try:
        return location.read_text()
    except OSError:  # a run file replaced while listed
        return ""


def trial_dirs_for(experiment_dir: Where, key: str) -> list[Location]:
    """The trial directories holding checkpoints of ``key``: in the experiment, and set aside
    in ``EARLIER_DIR`` when the sweep was rebuilt (a missing one lists as empty)."""
    experiment = Location.of(experiment_dir)
    entries = _visible((experiment / INDEX_DIR / key).children())
    earlier = experiment / EARLIER_DIR
    roots = [experiment, earlier] if entries and earlier.is_dir() else [experiment]
    return [root / entry.name for entry in entries for root in roots]


def candidates(trial_dirs: Sequence[Where], *, key: str) -> list[RestorePoint]:
    """Every checkpoint of trial ``key`` under ``trial_dirs``, newest epoch first."""
    points: dict[str, RestorePoint] = {}
    for trial_dir in trial_dirs:
        for directory in Location.of(trial_dir).children():
            if not directory.name.startswith(CHECKPOINT_PREFIX):
                continue
            sidecar = read_sidecar(directory)
            epoch = sidecar.get("next_epoch")
            if isinstance(epoch, int) and sidecar.get("trial_key") == key and has_state(directory):
                position = sidecar.get("position")
                position = position if isinstance(position, int) else 0
                points[directory.path] = RestorePoint(directory, epoch, position=position)
    return sorted(points.values(), key=lambda p: (-p.next_epoch, -p.position, p.directory.path))


def restore_newest(state: TrainState, points: list[RestorePoint]) -> RestorePoint | None:
    """Load the newest checkpoint that verifies; a corrupt one is skipped with a warning."""
    for point in points:
        try:
            with point.directory.local_dir() as local:
                trained_with = load_checkpoint(state, local)
        except (CheckpointError, OSError) as exc:  # OSError: gone from storage meanwhile
            logger.warning("skipping unusable checkpoint, falling back to an older one: %s", exc)
            continue
        return RestorePoint(point.directory, point.next_epoch, trained_with, point.position)
    return None
