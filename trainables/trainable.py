"""The Ray Tune function trainable: the only module of ``trainables`` that imports Ray."""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from ray import tune

from trainables import config as names
from trainables.architecture import Architecture
from trainables.checkpoint import (
    CHECKPOINT_FILE,
    SIDECAR_FILE,
    CheckpointError,
    checkpoint_epoch,
    checkpoint_key,
    has_state,
    save_checkpoint,
)
from trainables.config import DataParallel, TrainConfig, seed_of_key, trial_key
from trainables.data import Dataset
from trainables.layout import trial_dir_name
from trainables.loop import Feed, TensorData, TrainState, build_state, run_epoch
from trainables.optim import apply_hyperparameters
from trainables.recipe import Recipe
from trainables.recovery import (
    Ledger,
    RestorePoint,
    candidates,
    record_trial_dir,
    restore_newest,
    trial_dirs_for,
)
from trainables.sources import TrialDataSpec
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
    recipe: Recipe = Recipe()
    trial_data: TrialDataSpec | None = None  # images or your factory: opened in the trial
    every_steps: int | None = None  # a checkpoint inside the epoch every N optimizer steps
    maximize: frozenset[str] = frozenset()  # metrics where more is better
    data_parallel: DataParallel | None = None  # a Ray Train run of N ranks (ray_train.py)


NODE_ID = "node_id"
# The checkpoint written inside an epoch (``checkpoint.every_steps``): not Tune's, which are
# written with a report, once an epoch; recovery finds it by its sidecar's position.
IN_EPOCH_DIR = "checkpoint_in_epoch"


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


# Reports one epoch's metrics, with a checkpoint directory or None: to Tune, or (a rank of a
# data-parallel trial, trainables.ray_train) to the Tune trial that drives the ranks.
Report = Callable[[dict, str | None], None]


def tune_report(metrics: dict, checkpoint: str | None) -> None:
    if checkpoint is None:
        tune.report(metrics)
    else:
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(checkpoint))


def _report(state: TrainState, metrics: dict, *, save: bool, trial: Trial) -> None:
    if not save or not trial.writes:
        trial.report(metrics, None)
        return
    with tempfile.TemporaryDirectory(prefix="raysweep-ckpt-") as directory:
        save_checkpoint(state, directory, key=trial.key)
        trial.report(metrics, directory)


def _replay(state: TrainState, known: int, point: RestorePoint | None, trial: Trial) -> bool:
    """Re-report epochs that finished before a crash but that Tune lost; True if diverged.

    The scheduler then sees exactly the results an uninterrupted run gave it, and nothing is
    trained twice. The last replayed epoch carries the checkpoint, so Tune owns it again.
    """
    lost = state.history[known:]
    for i, metrics in enumerate(lost):
        if i == len(lost) - 1 and point is not None and trial.writes:
            # A copy, so Tune never persists a checkpoint directory onto itself.
            with tempfile.TemporaryDirectory(prefix="raysweep-ckpt-") as directory:
                point.directory.download(directory)
                trial.report(dict(metrics), directory)
        else:
            trial.report(dict(metrics), None)
    return bool(lost) and bool(lost[-1][names.DIVERGED])


@dataclass(frozen=True)
class Trial:
    """Who this trial is and where its files go, fixed when it starts."""

    config: TrainConfig
    key: str  # a hash of the config and the sweep seed: the same config, the same key
    experiment: Location
    trial_dir: Location
    ledger: Ledger
    report: Report = tune_report
    writes: bool = True  # checkpoints, ledger and index: every trial, rank 0 of a parallel one


def train_trial(config: dict, *, data: Dataset | None, settings: TrialSettings) -> None:
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


def _train_trial(config: dict, *, data: Dataset | None, settings: TrialSettings) -> None:
    trial = _start(config, settings)
    # More torch threads than the trial's CPUs is catastrophic when trials share a node.
    torch.set_num_threads(settings.threads)
    device = pick_device()
    tensors, state = open_trial(trial, data, settings, device)
    with tempfile.TemporaryDirectory(prefix="raysweep-restore-") as scratch:
        tune_checkpoint = _tune_checkpoint(scratch)
        known = 0 if tune_checkpoint is None else checkpoint_epoch(tune_checkpoint) or 0
        point = _restore(state, trial, tune_checkpoint, known)
        if _catch_up(state, tensors, trial, known, point):
            return
    _train(state, tensors, trial, settings)


def open_feed(
    config: TrainConfig,
    data: Dataset | None,
    settings: TrialSettings,
    device: torch.device,
    seed: int,
) -> tuple[Feed, int, int]:
    """The trial's batches, and its network's input and output sizes: a table's tensors
    (from the object store), or images and your data sets opened here, on this worker."""
    if data is not None:
        return TensorData.from_dataset(data, device), data.n_features, data.n_outputs
    if settings.trial_data is None:
        raise ValueError("a trial needs a table or trial_data")
    from trainables.datasets import build_trial_data, network_sizes
    from trainables.feeds import LoaderFeed

    opened = build_trial_data(settings.trial_data, config)
    feed = LoaderFeed(
        opened,
        batch_size=config.batch_size,
        seed=seed,
        spec=settings.trial_data.loader,
        device=device,
        task=settings.trial_data.task,
    )
    return (feed, *network_sizes(opened, settings.trial_data.task))


def open_trial(
    trial: Trial, data: Dataset | None, settings: TrialSettings, device: torch.device
) -> tuple[Feed, TrainState]:
    """The trial's batches and its fresh state (a single-worker trial, or one rank)."""
    seed = seed_of_key(trial.key)  # the Tune config's hash: trial_seed(config, sweep_seed)
    feed, n_inputs, n_outputs = open_feed(trial.config, data, settings, device, seed)
    state = build_state(
        trial.config,
        n_inputs=n_inputs,
        n_outputs=n_outputs,
        seed=seed,
        device=device,
        architecture=settings.architecture,
        recipe=settings.recipe,
        steps_per_epoch=feed.steps or 1,
    )
    state.maximize = settings.maximize
    return feed, state


def _start(config: dict, settings: TrialSettings) -> Trial:
    return make_trial(config, settings, tune.get_context().get_trial_id())


def make_trial(
    config: dict,
    settings: TrialSettings,
    trial_id: str,
    *,
    report: Report = tune_report,
    writes: bool = True,
) -> Trial:
    key = trial_key(config, settings.sweep_seed)
    return Trial(
        config=TrainConfig.from_dict(config),
        key=key,
        experiment=settings.experiment,
        trial_dir=settings.experiment / trial_dir_name(trial_id),
        ledger=Ledger(settings.experiment, key, trial_id),
        report=report,
        writes=writes,
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
    state: TrainState, tensors: Feed, trial: Trial, known: int, point: RestorePoint | None
) -> bool:
    """2. Catch up: retrain silently what a corrupt checkpoint lost (Tune has those results),
    re-report what Tune lost but the checkpoint has. True if the trial had diverged."""
    while state.next_epoch < known:
        run_epoch(state, tensors)
        if trial.writes:
            trial.ledger.record(state.next_epoch)
    return _replay(state, known, point, trial)


def _in_epoch_saver(trial: Trial, every: int | None) -> Callable[[TrainState], None] | None:
    """Writes the trial's newest in-epoch checkpoint every ``every`` optimizer steps."""
    if every is None:
        return None

    def save(state: TrainState) -> None:
        if (state.position // state.recipe.accumulate) % every:
            return
        record_trial_dir(trial.experiment, trial.key, trial.trial_dir)
        with tempfile.TemporaryDirectory(prefix="raysweep-ckpt-") as directory:
            save_checkpoint(state, directory, key=trial.key)
            target = trial.trial_dir / IN_EPOCH_DIR
            # The state before its sidecar: a sidecar always names a whole file (its hash).
            for name in (CHECKPOINT_FILE, SIDECAR_FILE):
                (target / name).write_bytes((Path(directory) / name).read_bytes(), fsync=False)

    return save


def _train(state: TrainState, tensors: Feed, trial: Trial, settings: TrialSettings) -> None:
    """3. Train the remaining epochs, one report each."""
    node = _node_id()
    indexed = False
    on_step = _in_epoch_saver(trial, settings.every_steps) if trial.writes else None
    while state.next_epoch < trial.config.epochs:
        metrics = run_epoch(state, tensors, on_step=on_step)
        reported = {**metrics, NODE_ID: node}  # which machine trained it (not checkpointed)
        if trial.writes:
            trial.ledger.record(state.next_epoch)
        if metrics[names.DIVERGED]:
            # Divergence is deterministic: end the trial with its worst-case result, don't retry.
            _report(state, reported, save=False, trial=trial)
            return
        value = float(metrics[settings.metric])
        if _is_better(value, state.best_metric, settings.mode):
            state.best_metric = value
        last = state.next_epoch == trial.config.epochs
        save = last or state.next_epoch % settings.checkpoint_every == 0
        if save and not indexed and trial.writes:
            record_trial_dir(trial.experiment, trial.key, trial.trial_dir)
            indexed = True
        _report(state, reported, save=save, trial=trial)
