"""The Ray Tune function trainable: the only module of ``trainables`` that imports Ray."""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from ray import tune

from trainables import config as names
from trainables.architecture import Architecture
from trainables.checkpoint import (
    CheckpointError,
    checkpoint_epoch,
    checkpoint_key,
    has_state,
    save_checkpoint,
)
from trainables.config import TrainConfig, trial_key, trial_seed
from trainables.data import Dataset
from trainables.layout import trial_dir_name
from trainables.loop import TensorData, TrainState, build_state, run_epoch
from trainables.optim import apply_hyperparameters
from trainables.recovery import (
    Ledger,
    RestorePoint,
    candidates,
    record_trial_dir,
    restore_newest,
    trial_dirs_for,
)
from trainables.storage import Location, StorageRefused, refuses_writes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialSettings:
    """Sweep-wide settings every trial shares (passed with ``tune.with_parameters``)."""

    sweep_seed: int
    metric: str
    mode: str  # "min" or "max"
    checkpoint_every: int
    threads: int
    experiment: Location  # local, NFS or object store; trial dirs are trial_<id> inside
    architecture: Architecture = Architecture()


NODE_ID = "node_id"


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


def pick_device() -> torch.device:
    # Ray leaves CUDA_VISIBLE_DEVICES alone for a trial that asked for no GPU, so such a trial
    # would see every GPU of its node: use CUDA only when Ray assigned this trial one.
    import ray

    return torch.device("cuda" if torch.cuda.is_available() and ray.get_gpu_ids() else "cpu")


def _is_better(value: float, best: float | None, mode: str) -> bool:
    if best is None or not math.isfinite(best):
        return math.isfinite(value)
    return value > best if mode == "max" else value < best


def _tune_checkpoint(scratch: str) -> Path | None:
    """The checkpoint Tune restored this trial from, as a local directory (for remote
    storage, a copy in ``scratch``)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    if checkpoint.filesystem.type_name == "local":
        return Path(checkpoint.path)
    return Path(checkpoint.to_directory(scratch))


def _restore_points(
    key: str, tune_checkpoint: Path | None, known: int, trial_dirs: list[Location]
) -> list[RestorePoint]:
    if tune_checkpoint is not None and has_state(tune_checkpoint):
        if checkpoint_key(tune_checkpoint) not in (key, None):
            # Another trial's checkpoint, with this trial's (mutated) config: a PBT exploit.
            # Continue from exactly those weights, never from this trial's own older ones.
            return [RestorePoint(Location.of(tune_checkpoint), known)]
    return candidates(trial_dirs, key=key)


def _report(state: TrainState, metrics: dict, *, save: bool, key: str) -> None:
    if not save:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="raysweep-ckpt-") as directory:
        save_checkpoint(state, directory, key=key)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def _replay(state: TrainState, known: int, point: RestorePoint | None) -> bool:
    """Re-report epochs that finished before a crash but that Tune lost; True if diverged.

    The scheduler then sees exactly the results an uninterrupted run gave it, and nothing is
    trained twice. The last replayed epoch carries the checkpoint, so Tune owns it again.
    """
    lost = state.history[known:]
    for i, metrics in enumerate(lost):
        if i == len(lost) - 1 and point is not None:
            # A copy, so Tune never persists a checkpoint directory onto itself.
            with tempfile.TemporaryDirectory(prefix="raysweep-ckpt-") as directory:
                point.directory.download(directory)
                tune.report(dict(metrics), checkpoint=tune.Checkpoint.from_directory(directory))
        else:
            tune.report(dict(metrics))
    return bool(lost) and bool(lost[-1][names.DIVERGED])


@dataclass(frozen=True)
class Trial:
    """Who this trial is and where its files go, fixed when it starts."""

    config: TrainConfig
    key: str  # a hash of the config and the sweep seed: the same config, the same key
    experiment: Location
    trial_dir: Location
    ledger: Ledger


def train_trial(config: dict, *, data: Dataset, settings: TrialSettings) -> None:
    """Train one trial of any model: one ``tune.report`` per epoch, a checkpoint every N
    epochs and at the end; continue exactly where an earlier run of it stopped.

    A write the storage refuses (full, quota, permissions) raises ``StorageRefused``: the
    driver stops the sweep on it instead of failing or retrying this trial.
    """
    try:
        _train_trial(config, data=data, settings=settings)
    except Exception as exc:
        if not isinstance(exc, StorageRefused) and refuses_writes(exc):
            raise StorageRefused(f"writing to {settings.experiment} failed: {exc}") from None
        raise


def _train_trial(config: dict, *, data: Dataset, settings: TrialSettings) -> None:
    trial = _start(config, settings)
    # More torch threads than the trial's CPUs is catastrophic when trials share a node.
    torch.set_num_threads(settings.threads)
    device = pick_device()
    state = build_state(
        trial.config,
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        seed=trial_seed(config, settings.sweep_seed),
        device=device,
        architecture=settings.architecture,
    )
    tensors = TensorData.from_dataset(data, device)
    with tempfile.TemporaryDirectory(prefix="raysweep-restore-") as scratch:
        tune_checkpoint = _tune_checkpoint(scratch)
        known = 0 if tune_checkpoint is None else checkpoint_epoch(tune_checkpoint) or 0
        point = _restore(state, trial, tune_checkpoint, known)
        if _catch_up(state, tensors, trial, known, point):
            return
    _train(state, tensors, trial, settings)


def _start(config: dict, settings: TrialSettings) -> Trial:
    key = trial_key(config, settings.sweep_seed)
    trial_id = tune.get_context().get_trial_id()
    return Trial(
        config=TrainConfig.from_dict(config),
        key=key,
        experiment=settings.experiment,
        trial_dir=settings.experiment / trial_dir_name(trial_id),
        ledger=Ledger(settings.experiment, key, trial_id),
    )


def _restore(
    state: TrainState, trial: Trial, tune_checkpoint: Path | None, known: int
) -> RestorePoint | None:
    """1. Restore: load the newest usable checkpoint of this trial, wherever it lies."""
    trial_dirs = [trial.trial_dir, *trial_dirs_for(trial.experiment, trial.key)]
    point = restore_newest(state, _restore_points(trial.key, tune_checkpoint, known, trial_dirs))
    if point is None and known and tune_checkpoint is not None:
        if checkpoint_key(tune_checkpoint) not in (trial.key, None):
            # A PBT clone whose parent checkpoint is unusable has no weights to continue from:
            # fail, so Tune retries or reports it, rather than train something else.
            raise CheckpointError(f"{tune_checkpoint}: the parent checkpoint is unusable")
    if point is not None:
        logger.info(
            "resuming %s at epoch %d from %s", trial.key, state.next_epoch, point.directory
        )
        if point.train_config != trial.config.to_dict():
            apply_hyperparameters(state.optimizer, state.lr_scheduler, trial.config)
    return point


def _catch_up(
    state: TrainState, tensors: TensorData, trial: Trial, known: int, point: RestorePoint | None
) -> bool:
    """2. Catch up: retrain silently what a corrupt checkpoint lost (Tune has those results),
    re-report what Tune lost but the checkpoint has. True if the trial had diverged."""
    while state.next_epoch < known:
        run_epoch(state, tensors)
        trial.ledger.record(state.next_epoch)
    return _replay(state, known, point)


def _train(state: TrainState, tensors: TensorData, trial: Trial, settings: TrialSettings) -> None:
    """3. Train the remaining epochs, one report each."""
    node = _node_id()
    indexed = False
    while state.next_epoch < trial.config.epochs:
        metrics = run_epoch(state, tensors)
        reported = {**metrics, NODE_ID: node}  # which machine trained it (not checkpointed)
        trial.ledger.record(state.next_epoch)
        if metrics[names.DIVERGED]:
            # Divergence is deterministic: end the trial with its worst-case result, don't retry.
            _report(state, reported, save=False, key=trial.key)
            return
        value = float(metrics[settings.metric])
        if _is_better(value, state.best_metric, settings.mode):
            state.best_metric = value
        last = state.next_epoch == trial.config.epochs
        save = last or state.next_epoch % settings.checkpoint_every == 0
        if save and not indexed:
            record_trial_dir(trial.experiment, trial.key, trial.trial_dir)
            indexed = True
        _report(state, reported, save=save, key=trial.key)
