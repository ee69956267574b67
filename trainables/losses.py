"""Losses by name, or yours: ``(outputs, targets) -> scalar tensor``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from trainables.factories import load_factory
from trainables.recipe import is_custom

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def align(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """One output per example for a one-dimensional target: (N, 1) -> (N,)."""
    if outputs.dim() == targets.dim() + 1 and outputs.shape[-1] == 1:
        return outputs.squeeze(-1)
    return outputs


def _regression(fn: LossFn) -> LossFn:
    return lambda out, y: fn(align(out, y), y.to(out.dtype))


LOSSES: dict[str, LossFn] = {
    # The functional forms: a loss Module's __call__ costs more per step than a small
    # MLP's matmuls on digits.
    "cross_entropy": F.cross_entropy,
    "nll": F.nll_loss,
    "mse": _regression(F.mse_loss),
    "smooth_l1": _regression(F.smooth_l1_loss),
    "bce_with_logits": _regression(F.binary_cross_entropy_with_logits),
}


def build_loss(name: str) -> LossFn:
    """A built-in loss, or ``package.module:function`` imported (an ``ImportError`` or
    ``AttributeError`` when it isn't there)."""
    if is_custom(name):
        return load_factory(name)  # type: ignore[no-any-return]
    return LOSSES[name]
