"""The MLP: ``depth`` hidden layers of ``width`` units, a chosen activation and dropout."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from trainables.config import TrainConfig

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "selu": nn.SELU,
}


def build_model(config: TrainConfig, *, n_inputs: int, n_outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width_in = n_inputs
    for _ in range(config.depth):
        layers += [nn.Linear(width_in, config.width), ACTIVATIONS[config.activation]()]
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout))
        width_in = config.width
    layers.append(nn.Linear(width_in, n_outputs))
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
