"""The training loop: build a trial's state, train one epoch, evaluate. No Ray in here."""

from __future__ import annotations

import math
import random
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trainables import config as names
from trainables.config import TrainConfig
from trainables.data import Dataset
from trainables.model import Architecture, build_model, count_parameters
from trainables.optim import (
    LRScheduler,
    build_lr_scheduler,
    build_optimizer,
    current_lr,
    step_lr_scheduler,
)
from trainables.weight_init import init_weights

EVAL_BATCH = 8192


@dataclass
class TensorData:
    """A data set's arrays as tensors, moved to the trial's device once."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_classes: int

    @classmethod
    def from_dataset(cls, data: Dataset, device: torch.device) -> TensorData:
        # Arrays from the object store are read-only and shared by every trial on the node;
        # as_tensor wraps them without a copy on the CPU, and training never writes to them.
        def put(a: np.ndarray) -> torch.Tensor:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                return torch.as_tensor(a, device=device)

        return cls(
            put(data.x_train), put(data.y_train), put(data.x_val), put(data.y_val), data.n_classes
        )


@dataclass
class TrainState:
    """Everything that changes while a trial trains, and so everything a checkpoint holds."""

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    lr_scheduler: LRScheduler | None
    generator: torch.Generator  # batch order; separate from the global RNG that dropout uses
    architecture: Architecture = Architecture()
    n_inputs: int = 0
    n_outputs: int = 0
    next_epoch: int = 0
    best_metric: float | None = None
    # Every epoch's reported metrics: lets a resumed trial re-report epochs that Tune lost.
    history: list[dict[str, float | int | bool]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_state(
    config: TrainConfig,
    *,
    n_inputs: int,
    n_outputs: int,
    seed: int,
    device: torch.device,
    architecture: Architecture = Architecture(),
) -> TrainState:
    """A fresh trial state; the same config and seed always give the same weights."""
    seed_everything(seed)
    model = build_model(config, n_inputs=n_inputs, n_outputs=n_outputs, architecture=architecture)
    init_weights(model, config)
    model.to(device)
    optimizer = build_optimizer(model, config)
    generator = torch.Generator().manual_seed(seed)
    schedule = build_lr_scheduler(optimizer, config)
    return TrainState(
        config, model, optimizer, schedule, generator, architecture, n_inputs, n_outputs
    )


def _loss(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    # The functional forms: a loss Module's __call__ costs more per step than a small
    # MLP's matmuls on digits.
    return F.cross_entropy(pred, y) if n_classes > 0 else F.mse_loss(pred, y)


def _predict(model: nn.Module, x: torch.Tensor, n_classes: int) -> torch.Tensor:
    out = model(x)
    return out if n_classes > 0 else out.squeeze(-1)


def train_epoch(state: TrainState, data: TensorData) -> float:
    """One pass over the training set in a seeded random order; returns the mean loss."""
    model, optimizer = state.model, state.optimizer
    model.train()
    n = data.x_train.shape[0]
    device = data.x_train.device
    order = torch.randperm(n, generator=state.generator).to(device)
    # On a GPU a per-step .item() would stall the queue, so the sum stays on the device; on
    # the CPU the sync is free and two extra tensor ops per step are not.
    on_device = device.type != "cpu"
    total = torch.zeros((), device=device) if on_device else 0.0
    for start in range(0, n, state.config.batch_size):
        idx = order[start : start + state.config.batch_size]
        loss = _loss(
            _predict(model, data.x_train[idx], data.n_classes), data.y_train[idx], data.n_classes
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_device:
            total += loss.detach() * idx.numel()
        else:
            total += loss.item() * idx.numel()
    return float(total) / n


@torch.no_grad()
def score_model(
    model: nn.Module, x_all: torch.Tensor, y_all: torch.Tensor, n_classes: int
) -> tuple[float, float]:
    """Mean loss, and accuracy (classification) or mean absolute error (regression)."""
    model.eval()
    n = x_all.shape[0]
    loss_sum, score_sum = 0.0, 0.0
    for start in range(0, n, EVAL_BATCH):
        x, y = x_all[start : start + EVAL_BATCH], y_all[start : start + EVAL_BATCH]
        pred = _predict(model, x, n_classes)
        loss_sum += float(_loss(pred, y, n_classes)) * x.shape[0]
        if n_classes > 0:
            score_sum += float((pred.argmax(dim=1) == y).sum())
        else:
            score_sum += float((pred - y).abs().sum())
    return loss_sum / n, score_sum / n


def evaluate(state: TrainState, data: TensorData) -> dict[str, float]:
    """Validation loss, and accuracy (classification) or mean absolute error (regression)."""
    loss, score = score_model(state.model, data.x_val, data.y_val, data.n_classes)
    score_name = names.VAL_ACCURACY if data.n_classes > 0 else names.VAL_MAE
    return {names.VAL_LOSS: loss, score_name: score}


def run_epoch(state: TrainState, data: TensorData) -> dict[str, float | int | bool]:
    """Train and evaluate one epoch, step the LR schedule, and return the epoch's metrics."""
    started = time.perf_counter()
    lr = current_lr(state.optimizer)
    train_loss = train_epoch(state, data)
    metrics: dict[str, float | int | bool] = {names.TRAIN_LOSS: train_loss}
    metrics.update(evaluate(state, data))
    diverged = not all(math.isfinite(float(v)) for v in metrics.values())
    if diverged:
        metrics.update(worst_metrics(data.n_classes))
    else:
        step_lr_scheduler(state.lr_scheduler, float(metrics[names.VAL_LOSS]))
    state.next_epoch += 1
    metrics.update(
        {
            names.EPOCH: state.next_epoch,
            names.LR: lr,
            names.EPOCH_TIME_S: time.perf_counter() - started,
            names.N_PARAMS: count_parameters(state.model),
            names.DIVERGED: diverged,
        }
    )
    state.history.append(metrics)
    return metrics


def worst_metrics(n_classes: int) -> dict[str, float]:
    """What a diverged trial reports: the worst value of every metric, never NaN."""
    score = {names.VAL_ACCURACY: 0.0} if n_classes > 0 else {names.VAL_MAE: math.inf}
    return {names.TRAIN_LOSS: math.inf, names.VAL_LOSS: math.inf, **score}
