"""Optimizers and learning-rate schedules, by name."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from trainables.config import TrainConfig

OptimizerFactory = Callable[[Iterable[nn.Parameter], TrainConfig], torch.optim.Optimizer]


def _adam_kwargs(c: TrainConfig) -> dict[str, Any]:
    # fused kernels were 1.4-2x faster per step on the CPU here, and stay deterministic.
    return {"lr": c.lr, "betas": (c.beta1, c.beta2), "weight_decay": c.weight_decay, "fused": True}


PRESETS: dict[str, OptimizerFactory] = {
    "sgd": lambda p, c: torch.optim.SGD(p, lr=c.lr, weight_decay=c.weight_decay),
    "momentum": lambda p, c: torch.optim.SGD(
        p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay
    ),
    "nesterov": lambda p, c: torch.optim.SGD(
        p, lr=c.lr, momentum=c.momentum, nesterov=True, weight_decay=c.weight_decay
    ),
    "adagrad": lambda p, c: torch.optim.Adagrad(p, lr=c.lr, weight_decay=c.weight_decay),
    "rmsprop": lambda p, c: torch.optim.RMSprop(
        p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay
    ),
    "adam": lambda p, c: torch.optim.Adam(p, **_adam_kwargs(c)),
    "adamw": lambda p, c: torch.optim.AdamW(p, **_adam_kwargs(c)),
}
# The rest of torch.optim, by lower-cased class name (trainables.config.TORCH_OPTIMIZERS).
TORCH_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adadelta": torch.optim.Adadelta,
    "adamax": torch.optim.Adamax,
    "asgd": torch.optim.ASGD,
    "nadam": torch.optim.NAdam,
    "radam": torch.optim.RAdam,
    "rprop": torch.optim.Rprop,
}


def _torch_optimizer(name: str) -> OptimizerFactory:
    cls = TORCH_OPTIMIZERS[name]
    accepted = inspect.signature(cls).parameters

    def build(params: Iterable[nn.Parameter], c: TrainConfig) -> torch.optim.Optimizer:
        kwargs: dict[str, Any] = {"lr": c.lr}
        if "weight_decay" in accepted:
            kwargs["weight_decay"] = c.weight_decay
        return cls(params, **kwargs)

    return build


OPTIMIZERS: dict[str, OptimizerFactory] = {
    **PRESETS,
    **{name: _torch_optimizer(name) for name in TORCH_OPTIMIZERS},
}

LRScheduler = torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau
ScheduleFactory = Callable[[torch.optim.Optimizer, TrainConfig, int], LRScheduler | None]


def _warmup(c: TrainConfig, steps_per_epoch: int, *, cosine: bool) -> Callable[[int], float]:
    """The LR factor at optimizer step ``step``: linear warmup, then constant or cosine to 0."""
    warm = max(0, round(c.warmup_epochs * steps_per_epoch))
    total = max(1, c.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        if not cosine:
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


LR_SCHEDULES: dict[str, ScheduleFactory] = {
    "none": lambda opt, c, n: None,
    "step": lambda opt, c, n: torch.optim.lr_scheduler.StepLR(
        opt, step_size=c.lr_step_size, gamma=c.lr_factor
    ),
    "plateau": lambda opt, c, n: torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=c.lr_factor, patience=c.lr_patience
    ),
    "cosine": lambda opt, c, n: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.epochs),
    # Per optimizer step (trainables.config.PER_STEP_SCHEDULES):
    "onecycle": lambda opt, c, n: torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=c.lr, total_steps=max(2, c.epochs * n)
    ),
    "warmup": lambda opt, c, n: torch.optim.lr_scheduler.LambdaLR(
        opt, _warmup(c, n, cosine=False)
    ),
    "warmup_cosine": lambda opt, c, n: torch.optim.lr_scheduler.LambdaLR(
        opt, _warmup(c, n, cosine=True)
    ),
}


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The named optimizer; ``opt_*`` hyperparameters are its keyword arguments (a wrong one
    raises ``TypeError`` naming it)."""
    optimizer = OPTIMIZERS[config.optimizer](model.parameters(), config)
    extra = config.optimizer_kwargs()
    if not extra:
        return optimizer
    accepted = inspect.signature(type(optimizer)).parameters
    unknown = sorted(k for k in extra if k not in accepted or k == "params")
    if unknown:
        expected = sorted(k for k in accepted if k not in ("params", "lr"))
        raise TypeError(
            f"`opt_{unknown[0]}`: {type(optimizer).__name__} takes no argument {unknown[0]!r}; "
            f"expected opt_<one of {expected}>"
        )
    # Built again with the preset's arguments and these, so the optimizer checks them itself.
    kwargs = {k: v for k, v in optimizer.defaults.items() if k in accepted}
    return type(optimizer)(model.parameters(), **{**kwargs, **extra})


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int = 1
) -> LRScheduler | None:
    """``steps_per_epoch`` (optimizer steps) sizes the per-step schedules."""
    return LR_SCHEDULES[config.lr_schedule](optimizer, config, max(1, steps_per_epoch))


def steps_per_batch(config: TrainConfig) -> bool:
    """Whether the schedule advances every optimizer step (else once an epoch)."""
    from trainables.config import PER_STEP_SCHEDULES

    return config.lr_schedule in PER_STEP_SCHEDULES


def step_lr_scheduler(scheduler: LRScheduler | None, val_loss: float) -> None:
    """Advance an epoch schedule once per epoch; plateau watches the validation loss."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_loss)
    else:
        scheduler.step()


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def apply_hyperparameters(
    optimizer: torch.optim.Optimizer, lr_scheduler: LRScheduler | None, config: TrainConfig
) -> None:
    """Give a restored optimizer ``config``'s hyperparameters.

    Used only when a checkpoint was trained with other values: Population Based Training
    continues a trial from another trial's weights with mutated hyperparameters.
    """
    for group in optimizer.param_groups:
        group["lr"] = config.lr
        if "initial_lr" in group:
            group["initial_lr"] = config.lr
        if "weight_decay" in group:
            group["weight_decay"] = config.weight_decay
        if "betas" in group:
            group["betas"] = (config.beta1, config.beta2)
        if "momentum" in group and config.optimizer in ("momentum", "nesterov", "rmsprop"):
            group["momentum"] = config.momentum
    if lr_scheduler is not None and hasattr(lr_scheduler, "base_lrs"):
        lr_scheduler.base_lrs = [config.lr for _ in optimizer.param_groups]
