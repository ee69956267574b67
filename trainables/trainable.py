"""The Ray Tune function trainable: the only module of ``trainables`` that imports Ray."""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass

import torch
from ray import tune

from trainables import config as names
from trainables.checkpoint import load_checkpoint, save_checkpoint
from trainables.config import TrainConfig, trial_seed
from trainables.data import Dataset
from trainables.loop import TensorData, TrainState, build_state, run_epoch, worst_metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialSettings:
    """Sweep-wide settings every trial shares (passed with ``tune.with_parameters``)."""

    sweep_seed: int
    metric: str
    mode: str  # "min" or "max"
    checkpoint_every: int
    threads: int


def pick_device() -> torch.device:
    # Ray sets CUDA_VISIBLE_DEVICES per trial, so a trial sees a GPU only when it was given one.
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _is_better(value: float, best: float | None, mode: str) -> bool:
    if best is None or not math.isfinite(best):
        return math.isfinite(value)
    return value > best if mode == "max" else value < best


def _restore(state: TrainState) -> None:
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return
    with checkpoint.as_directory() as directory:
        load_checkpoint(state, directory)
    logger.info("resumed from %s at epoch %d", checkpoint.path, state.next_epoch)


def _report(state: TrainState, metrics: dict, *, save: bool) -> None:
    if not save:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="raysweep-ckpt-") as directory:
        save_checkpoint(state, directory)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def train_mlp(config: dict, *, data: Dataset, settings: TrialSettings) -> None:
    """Train one trial: one ``tune.report`` per epoch, a checkpoint every N epochs and at end."""
    cfg = TrainConfig.from_dict(config)
    # More torch threads than the trial's CPUs is catastrophic when trials share a node.
    torch.set_num_threads(settings.threads)
    device = pick_device()
    state = build_state(
        cfg,
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        seed=trial_seed(config, settings.sweep_seed),
        device=device,
    )
    _restore(state)
    tensors = TensorData.from_dataset(data, device)

    while state.next_epoch < cfg.epochs:
        metrics = run_epoch(state, tensors)
        if metrics[names.DIVERGED]:
            # Divergence is deterministic: end the trial with its worst-case result, don't retry.
            metrics.update(worst_metrics(data.n_classes))
            _report(state, metrics, save=False)
            return
        value = float(metrics[settings.metric])
        if _is_better(value, state.best_metric, settings.mode):
            state.best_metric = value
        last = state.next_epoch == cfg.epochs
        save = last or state.next_epoch % settings.checkpoint_every == 0
        _report(state, metrics, save=save)
