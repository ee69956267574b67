"""Weight initialization schemes, applied to every ``nn.Linear`` of a model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from trainables.config import TrainConfig

# Gains follow torch.nn.init.calculate_gain for the activation that follows the layer.
_GAIN_NAMES = {"relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh", "selu": "selu"}


def _gain(activation: str) -> float:
    name = _GAIN_NAMES.get(activation, "linear")
    return float(nn.init.calculate_gain(name))  # type: ignore[arg-type]


def _kaiming_nonlinearity(activation: str) -> Literal["leaky_relu", "relu"]:
    return "leaky_relu" if activation == "leaky_relu" else "relu"


InitFn = Callable[[torch.Tensor, str], None]


def _xavier_uniform(w: torch.Tensor, activation: str) -> None:
    nn.init.xavier_uniform_(w, gain=_gain(activation))


def _xavier_normal(w: torch.Tensor, activation: str) -> None:
    nn.init.xavier_normal_(w, gain=_gain(activation))


def _kaiming_uniform(w: torch.Tensor, activation: str) -> None:
    nn.init.kaiming_uniform_(w, nonlinearity=_kaiming_nonlinearity(activation))


def _kaiming_normal(w: torch.Tensor, activation: str) -> None:
    nn.init.kaiming_normal_(w, nonlinearity=_kaiming_nonlinearity(activation))


def _orthogonal(w: torch.Tensor, activation: str) -> None:
    nn.init.orthogonal_(w, gain=_gain(activation))


INITS: dict[str, InitFn | None] = {
    "default": None,  # PyTorch's own nn.Linear init
    "xavier_uniform": _xavier_uniform,
    "xavier_normal": _xavier_normal,
    "kaiming_uniform": _kaiming_uniform,
    "kaiming_normal": _kaiming_normal,
    "orthogonal": _orthogonal,
}


def init_weights(model: nn.Module, config: TrainConfig) -> None:
    fn = INITS[config.init]
    if fn is None:
        return
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                fn(module.weight, config.activation)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
