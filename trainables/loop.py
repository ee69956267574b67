"""The training loop: build a trial's state, train one epoch, evaluate. No Ray in here.

One loop serves every trial: the built-in networks on a table and your model on your data,
through a ``Feed`` (where batches come from) and a ``Stepper`` (your step or the default
one). raysweep owns the optimizer step: autocast, the fp16 scaler, accumulation, clipping,
the schedule, and the position inside an epoch that a checkpoint keeps.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from trainables import config as names
from trainables.batches import TensorBatches
from trainables.config import TrainConfig
from trainables.data import Dataset
from trainables.metrics import build_metrics
from trainables.model import Architecture, build_model, count_parameters
from trainables.optim import (
    LRScheduler,
    build_lr_scheduler,
    build_optimizer,
    current_lr,
    step_lr_scheduler,
    steps_per_batch,
)
from trainables.recipe import Recipe
from trainables.steps import Stepper, to_device
from trainables.weight_init import init_weights

EVAL_BATCH = 8192


class Feed(Protocol):
    """Where a trial's batches come from (``TensorData``, ``trainables.feeds.LoaderFeed``)."""

    @property
    def task(self) -> str: ...  # "classification" or "regression"

    @property
    def device(self) -> torch.device: ...

    @property
    def steps(self) -> int | None: ...  # batches per epoch, when known

    def train_batches(self, epoch: int, *, skip: int) -> Iterator[Any]: ...

    def val_batches(self) -> Iterator[Any]: ...


@runtime_checkable
class Sharded(Protocol):
    """A feed of one rank's share of every global batch (``trainables.distributed``)."""

    def share(self, n: int) -> tuple[float, int]: ...  # the loss weight, the examples counted

    def all_sum(self, *values: float) -> tuple[float, ...]: ...  # summed over the ranks


@dataclass
class TensorData:
    """A data set's arrays as tensors, moved to the trial's device once."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_classes: int
    generator: torch.Generator | None = None  # the trial's batch order: set by ``bind``
    batch_size: int = 64

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

    @property
    def task(self) -> str:
        return "classification" if self.n_classes > 0 else "regression"

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def bind(self, state: TrainState) -> None:
        self.generator, self.batch_size = state.generator, state.config.batch_size

    @property
    def steps(self) -> int:
        return math.ceil(self.x_train.shape[0] / self.batch_size)

    def train_batches(self, epoch: int, *, skip: int) -> Iterator[Any]:
        generator = self.generator or torch.Generator().manual_seed(0)  # unbound: a check
        batches = TensorBatches(self.x_train, self.y_train, self.batch_size, generator)
        return batches.epoch(epoch, skip=skip)

    def val_batches(self) -> Iterator[Any]:
        for start in range(0, self.x_val.shape[0], EVAL_BATCH):
            yield self.x_val[start : start + EVAL_BATCH], self.y_val[start : start + EVAL_BATCH]


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
    recipe: Recipe = Recipe()
    scaler: torch.amp.GradScaler | None = None  # fp16 only
    # Inside an epoch (``checkpoint.every_steps``): batches trained, their loss sum and
    # examples, and the batch-order generator as the epoch began.
    position: int = 0
    loss_sum: float = 0.0
    seen: int = 0
    epoch_rng: torch.Tensor | None = None
    # Metrics where more is better (the sweep's metric when its mode is max): a diverged
    # trial reports 0 for them and inf for the others.
    maximize: frozenset[str] = frozenset()
    forward: nn.Module | None = None  # the model as it runs (compiled); never checkpointed
    stepper: Stepper | None = None


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
    recipe: Recipe = Recipe(),
    steps_per_epoch: int = 1,
) -> TrainState:
    """A fresh trial state; the same config and seed always give the same weights."""
    seed_everything(seed)
    model = build_model(config, n_inputs=n_inputs, n_outputs=n_outputs, architecture=architecture)
    init_weights(model, config)
    model.to(device)
    optimizer = build_optimizer(model, config)
    generator = torch.Generator().manual_seed(seed)
    optimizer_steps = math.ceil(steps_per_epoch / recipe.accumulate)
    schedule = build_lr_scheduler(optimizer, config, optimizer_steps)
    scaler = torch.amp.GradScaler(device.type) if recipe.precision == "fp16" else None
    state = TrainState(
        config, model, optimizer, schedule, generator, architecture, n_inputs, n_outputs
    )
    state.recipe, state.scaler = recipe, scaler
    state.forward = torch.compile(model) if recipe.compile else model  # type: ignore[assignment]
    return state


def _stepper(state: TrainState, feed: Feed) -> Stepper:
    if state.stepper is None:
        state.stepper = Stepper(state.recipe, task=feed.task, device=feed.device)
    return state.stepper


OnStep = Callable[[TrainState], None]


def train_epoch(state: TrainState, feed: Feed, *, on_step: OnStep | None = None) -> float:
    """One pass over the training set in a seeded order, from ``state.position`` on;
    returns the mean loss over its examples. ``on_step`` runs after each optimizer step."""
    model = state.forward or state.model
    model.train()
    stepper = _stepper(state, feed)
    if isinstance(feed, TensorData):
        feed.bind(state)
    if state.position == 0:
        state.epoch_rng = state.generator.get_state()
        state.loss_sum, state.seen = 0.0, 0
    elif state.epoch_rng is not None:
        state.generator.set_state(state.epoch_rng)  # the epoch's order, then skip
    accumulate, per_step = state.recipe.accumulate, steps_per_batch(state.config)
    total = feed.steps
    # On a GPU a per-step .item() would stall the queue, so the sum stays on the device; on
    # the CPU the sync is free and two extra tensor ops per step are not.
    on_device = feed.device.type != "cpu"
    device_sum = torch.zeros((), device=feed.device) if on_device else None
    skip = state.position
    non_blocking = on_device
    sharded = feed if isinstance(feed, Sharded) else None
    for i, batch in enumerate(feed.train_batches(state.next_epoch, skip=skip), start=skip):
        result = stepper.train(model, to_device(batch, feed.device, non_blocking=non_blocking))
        loss = result.loss / accumulate if accumulate > 1 else result.loss
        n = result.n
        if sharded is not None:  # this rank's share of a global batch, weighted by its size
            weight, n = sharded.share(result.n)
            loss = loss * weight
        (state.scaler.scale(loss) if state.scaler is not None else loss).backward()
        if device_sum is not None:
            device_sum += result.loss.detach().float() * n
        else:
            state.loss_sum += result.loss.item() * n
        state.seen += n
        state.position = i + 1
        if state.position % accumulate == 0 or state.position == total:
            _optimizer_step(state, per_step)
            if on_step is not None:
                on_step(state)
    if state.position % accumulate != 0 and total is None:  # an iterable's last micro-batches
        _optimizer_step(state, per_step)
    if device_sum is not None:
        state.loss_sum += float(device_sum)
    loss_sum, seen = state.loss_sum, float(state.seen)
    if sharded is not None:  # the epoch's loss over every rank's examples
        loss_sum, seen = sharded.all_sum(loss_sum, seen)
    mean = loss_sum / max(1.0, seen)
    state.position, state.epoch_rng = 0, None
    return mean


def _optimizer_step(state: TrainState, per_step: bool) -> None:
    clip = state.recipe.grad_clip
    if state.scaler is not None:
        if clip is not None:
            state.scaler.unscale_(state.optimizer)
            nn.utils.clip_grad_norm_(state.model.parameters(), clip)
        state.scaler.step(state.optimizer)
        state.scaler.update()
    else:
        if clip is not None:
            nn.utils.clip_grad_norm_(state.model.parameters(), clip)
        state.optimizer.step()
    state.optimizer.zero_grad(set_to_none=True)
    if per_step and state.lr_scheduler is not None:
        with warnings.catch_warnings():  # a step the fp16 scaler skipped still counts
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            state.lr_scheduler.step()  # type: ignore[call-arg]


@torch.no_grad()
def evaluate(state: TrainState, feed: Feed) -> dict[str, float]:
    """Validation loss and the recipe's metrics, each accumulated over every example."""
    model = state.forward or state.model
    model.eval()
    stepper = _stepper(state, feed)
    metrics = build_metrics(state.recipe.metrics_for(feed.task), top_k=state.recipe.top_k)
    loss_sum, seen, fed = 0.0, 0, False
    extra: dict[str, list[float]] = {}
    on_device = feed.device.type != "cpu"
    for batch in feed.val_batches():
        result = stepper.evaluate(model, to_device(batch, feed.device, non_blocking=on_device))
        loss_sum += float(result.loss) * result.n
        seen += result.n
        if result.outputs is not None and result.targets is not None:
            outputs, fed = result.outputs.float(), True
            for metric in metrics.values():
                metric.update(outputs, result.targets)
        for name, value in result.values.items():
            sums = extra.setdefault(name, [0.0, 0.0])
            sums[0] += value * result.n
            sums[1] += result.n
    scores = {names.VAL_LOSS: loss_sum / max(1, seen)}
    for column, metric in metrics.items():
        if column not in scores and fed:  # a step of yours may return no outputs
            scores[column] = metric.compute()
    for name, (total, count) in extra.items():
        scores[f"val_{name}"] = total / max(1.0, count)
    return scores


def score_model(
    model: nn.Module, x_all: torch.Tensor, y_all: torch.Tensor, n_classes: int
) -> tuple[float, float]:
    """Mean loss, and accuracy (classification) or mean absolute error (regression)."""
    scores = score_model_on(model, TensorData(x_all[:0], y_all[:0], x_all, y_all, n_classes))
    score = scores[names.VAL_ACCURACY if n_classes > 0 else names.VAL_MAE]
    return scores[names.VAL_LOSS], score


def score_model_on(model: nn.Module, feed: Feed, recipe: Recipe = Recipe()) -> dict[str, float]:
    """A trained model's validation loss and metrics on ``feed``'s evaluation batches."""
    state = _scoring_state(model)
    state.recipe = recipe
    return evaluate(state, feed)


def _scoring_state(model: nn.Module) -> TrainState:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
    return TrainState(TrainConfig(), model, optimizer, None, torch.Generator())


def run_epoch(
    state: TrainState, feed: Feed, *, on_step: OnStep | None = None
) -> dict[str, float | int | bool]:
    """Train and evaluate one epoch, step the LR schedule, and return the epoch's metrics."""
    started = time.perf_counter()
    lr = current_lr(state.optimizer)
    train_loss = train_epoch(state, feed, on_step=on_step)
    metrics: dict[str, float | int | bool] = {names.TRAIN_LOSS: train_loss}
    metrics.update(evaluate(state, feed))
    diverged = not all(math.isfinite(float(v)) for v in metrics.values())
    if diverged:
        metrics.update(worst_metrics(metrics, maximize=state.maximize))
    elif not steps_per_batch(state.config):
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


# Metrics where more is better: a diverged trial reports 0 for them, inf for the others.
HIGHER_IS_BETTER = ("val_accuracy", "val_f1_macro")


def worst_metrics(
    metrics: dict[str, Any] | int, *, maximize: frozenset[str] = frozenset()
) -> dict[str, float]:
    """What a diverged trial reports: the worst value of every metric, never NaN
    (``metrics``: its columns, or a number of classes for the task's default ones)."""
    if isinstance(metrics, int):
        task = "classification" if metrics > 0 else "regression"
        columns: list[str] = list(Recipe().columns(task))
    else:
        columns = [k for k in metrics if k.startswith(("train_", "val_"))]
    higher = set(HIGHER_IS_BETTER) | set(maximize)
    return {c: 0.0 if c in higher or c.startswith("val_top") else math.inf for c in columns}
