"""Validation metrics, accumulated over batches exactly (sums and counts, never a mean of
batch means where that is wrong), by name or yours.

Yours, ``package.module:name``, is either a class with ``update(outputs, targets)`` and
``compute()`` (a torchmetrics ``Metric`` is one), built once per evaluation, or a function
``(outputs, targets) -> number`` whose value is a mean over examples, weighted by batch size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch

from trainables.factories import load_factory
from trainables.losses import align
from trainables.recipe import is_custom, metric_column


class Metric(Protocol):
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None: ...

    def compute(self) -> float: ...


def _predicted_classes(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    outputs = align(outputs, targets)
    if outputs.shape == targets.shape:  # one logit per example: binary
        return (outputs > 0).to(targets.dtype)
    return outputs.argmax(dim=1)


class Accuracy:
    def __init__(self) -> None:
        self.correct, self.total = 0.0, 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.correct += float((_predicted_classes(outputs, targets) == targets).sum())
        self.total += targets.shape[0]

    def compute(self) -> float:
        return self.correct / max(1, self.total)


class TopK:
    def __init__(self, k: int) -> None:
        self.k, self.correct, self.total = k, 0.0, 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        k = min(self.k, outputs.shape[1])
        top = outputs.topk(k, dim=1).indices
        self.correct += float((top == targets.unsqueeze(1)).any(dim=1).sum())
        self.total += targets.shape[0]

    def compute(self) -> float:
        return self.correct / max(1, self.total)


class MeanAbsoluteError:
    def __init__(self, *, squared: bool = False) -> None:
        self.squared, self.sum, self.total = squared, 0.0, 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        error = align(outputs, targets).float() - targets.float()
        self.sum += float((error.square() if self.squared else error.abs()).sum())
        self.total += targets.numel()

    def compute(self) -> float:
        mean = self.sum / max(1, self.total)
        return math.sqrt(mean) if self.squared else mean


class F1Macro:
    """The unweighted mean of per-class F1 over the classes seen, from one confusion matrix."""

    def __init__(self) -> None:
        self.confusion: torch.Tensor | None = None

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        predicted = _predicted_classes(outputs, targets).long().cpu()
        actual = targets.long().cpu()
        n = max(
            outputs.shape[1] if outputs.dim() > 1 else 2,
            int(predicted.max()) + 1,
            int(actual.max()) + 1,
        )
        counts = torch.bincount(actual * n + predicted, minlength=n * n).reshape(n, n)
        if self.confusion is not None and self.confusion.shape[0] < n:
            grown = torch.zeros(n, n, dtype=counts.dtype)
            m = self.confusion.shape[0]
            grown[:m, :m] = self.confusion
            self.confusion = grown
        self.confusion = counts if self.confusion is None else self.confusion + counts

    def compute(self) -> float:
        if self.confusion is None:
            return 0.0
        c = self.confusion.double()
        tp = c.diag()
        support, predicted = c.sum(1), c.sum(0)
        f1 = 2 * tp / (support + predicted).clamp(min=1)
        seen = (support + predicted) > 0
        return float(f1[seen].mean()) if seen.any() else 0.0


class _BatchMean:
    """A function of one batch, averaged over examples."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> None:
        self.fn, self.sum, self.total = fn, 0.0, 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        n = targets.shape[0] if targets.dim() else 1
        self.sum += float(self.fn(outputs, targets)) * n
        self.total += n

    def compute(self) -> float:
        return self.sum / max(1, self.total)


class _Yours:
    """A class with update/compute (torchmetrics' ``Metric`` included); compute's value as
    a float."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.metric.update(outputs, targets)

    def compute(self) -> float:
        return float(self.metric.compute())


def build_metric(name: str, *, top_k: int = 5) -> Metric:
    """A fresh accumulator for one evaluation."""
    if is_custom(name):
        target = load_factory(name)
        if isinstance(target, type):
            return _Yours(target())
        return _BatchMean(target)
    if name == "accuracy":
        return Accuracy()
    if name == "top_k":
        return TopK(top_k)
    if name in ("mae", "rmse"):
        return MeanAbsoluteError(squared=name == "rmse")
    if name == "f1_macro":
        return F1Macro()
    raise KeyError(name)


def build_metrics(names: tuple[str, ...], *, top_k: int = 5) -> dict[str, Metric]:
    """Accumulators by reported column (``val_accuracy``...)."""
    return {metric_column(n, top_k=top_k): build_metric(n, top_k=top_k) for n in names}
