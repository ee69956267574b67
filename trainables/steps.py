"""One batch, forward (and loss): raysweep's default step for ``(inputs, targets)`` batches,
or yours. raysweep owns the rest: device moves, autocast, backward, clipping, the optimizer.

Your step is ``step(model, batch) -> loss`` or ``-> {"loss": ..., "outputs": ...,
"targets": ..., "<name>": number, ...}``; the batch arrives on the trial's device. Your
evaluation step has the same form; every extra number it returns is reported as
``val_<name>`` (a mean over examples), and ``outputs``/``targets`` feed the metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trainables.factories import load_factory
from trainables.losses import build_loss
from trainables.recipe import Recipe

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class StepResult:
    loss: torch.Tensor
    n: int  # examples in the batch (the weight of its values in an epoch's mean)
    outputs: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    values: dict[str, float] = field(default_factory=dict)


def to_device(batch: Any, device: torch.device, *, non_blocking: bool = False) -> Any:
    """Tensors of a batch (nested in tuples, lists and dicts) on ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device, non_blocking=non_blocking) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [to_device(v, device, non_blocking=non_blocking) for v in batch]
        if hasattr(batch, "_fields"):  # a namedtuple
            return type(batch)(*moved)
        return type(batch)(moved)
    return batch


def batch_size_of(batch: Any) -> int:
    """The leading dimension of the batch's first tensor (1 when it holds none)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    values = batch.values() if isinstance(batch, Mapping) else batch
    if isinstance(values, (list, tuple)) or isinstance(batch, Mapping):
        for value in values:
            size = batch_size_of(value)
            if size:
                return size
    return 0


class StepError(ValueError):
    """A step returned something raysweep can't use; the message says what was expected."""


class Stepper:
    """The step and evaluation step of a trial, under its precision."""

    def __init__(self, recipe: Recipe, *, task: str, device: torch.device) -> None:
        self.recipe = recipe
        self.device = device
        self.loss_fn = None if recipe.step else build_loss(recipe.loss_for(task))
        self.step_fn: Callable[..., Any] | None = (
            load_factory(recipe.step) if recipe.step else None
        )
        self.eval_fn: Callable[..., Any] | None = (
            load_factory(recipe.eval_step) if recipe.eval_step else None
        )
        self.dtype = AUTOCAST_DTYPES.get(recipe.precision)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def train(self, model: nn.Module, batch: Any) -> StepResult:
        with self.autocast():
            if self.step_fn is not None:
                return _result(self.step_fn(model, batch), batch, self.recipe.step or "")
            return self._default(model, batch)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batch: Any) -> StepResult:
        with self.autocast():
            if self.eval_fn is not None:
                return _result(self.eval_fn(model, batch), batch, self.recipe.eval_step or "")
            if self.step_fn is not None:
                return _result(self.step_fn(model, batch), batch, self.recipe.step or "")
            return self._default(model, batch)

    def _default(self, model: nn.Module, batch: Any) -> StepResult:
        if not isinstance(batch, (list, tuple)) or len(batch) != 2:
            raise StepError(
                "the default step takes (inputs, targets) batches; for other batches give "
                "train.step: 'package.module:function'"
            )
        x, y = batch
        outputs = model(x)
        assert self.loss_fn is not None  # set whenever there is no step of yours
        return StepResult(self.loss_fn(outputs, y), int(y.shape[0]), outputs, y)


def _result(value: Any, batch: Any, where: str) -> StepResult:
    if isinstance(value, torch.Tensor):
        return StepResult(value, batch_size_of(batch))
    if not isinstance(value, Mapping) or not isinstance(value.get("loss"), torch.Tensor):
        raise StepError(
            f"{where} must return a loss tensor or a dict with a 'loss' tensor, "
            f"but returned {type(value).__name__}"
        )
    outputs, targets = value.get("outputs"), value.get("targets")
    n = int(targets.shape[0]) if isinstance(targets, torch.Tensor) else batch_size_of(batch)
    values = {
        str(k): float(v)
        for k, v in value.items()
        if k not in ("loss", "outputs", "targets") and _is_number(v)
    }
    return StepResult(value["loss"], n, outputs, targets, values)


def _is_number(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return v.numel() == 1
    return isinstance(v, (int, float)) and not isinstance(v, bool)
