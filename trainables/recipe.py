"""How a trial trains, as plain data (no torch): the spec's ``train:`` section.

It travels to the workers with the sweep's settings; ``trainables.losses``,
``trainables.metrics`` and ``trainables.steps`` build the torch side from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainables import config as names

LOSS_NAMES = ("cross_entropy", "nll", "mse", "smooth_l1", "bce_with_logits")
CLASSIFICATION_LOSSES = ("cross_entropy", "nll", "bce_with_logits")
METRIC_NAMES = ("accuracy", "top_k", "mae", "rmse", "f1_macro")
PRECISIONS = ("fp32", "bf16", "fp16")
DEFAULT_METRICS = {"classification": ("accuracy",), "regression": ("mae",)}


def is_custom(name: str) -> bool:
    """A ``package.module:function`` reference rather than a built-in name."""
    return ":" in name


def metric_column(name: str, *, top_k: int = 5) -> str:
    """The reported validation column of a metric: ``val_accuracy``, ``val_top5``,
    ``val_<function name>`` for yours."""
    if is_custom(name):
        return "val_" + name.rsplit(":", 1)[1]
    if name == "top_k":
        return f"val_top{top_k}"
    return "val_" + name


@dataclass(frozen=True)
class Recipe:
    """The loss, metrics, step and numerics of every trial of a sweep."""

    loss: str | None = None  # None: cross_entropy for classes, mse for regression
    metrics: tuple[str, ...] = ()  # () : accuracy for classes, mae for regression
    step: str | None = None  # "package.module:function": your training step
    eval_step: str | None = None  # "package.module:function": your evaluation step
    precision: str = "fp32"
    grad_clip: float | None = None  # max global gradient norm
    accumulate: int = 1  # micro-batches per optimizer step
    compile: bool = False  # torch.compile the model
    top_k: int = 5

    def loss_for(self, task: str) -> str:
        if self.loss is not None:
            return self.loss
        return "cross_entropy" if task == "classification" else "mse"

    def metrics_for(self, task: str) -> tuple[str, ...]:
        if self.metrics:
            return self.metrics
        # Your step's batches need not be (inputs, targets): its evaluation step says what
        # to report, and the task's default metrics apply only where it returns outputs.
        return () if self.step or self.eval_step else DEFAULT_METRICS[task]

    def columns(self, task: str) -> tuple[str, ...]:
        """The per-epoch metrics a trial reports, when the spec alone can tell (a custom
        evaluation step may report more: ``preflight`` runs it on one batch to know)."""
        found = [metric_column(m, top_k=self.top_k) for m in self.metrics_for(task)]
        return (names.TRAIN_LOSS, names.VAL_LOSS, *found)
