"""The networks a trial trains: the MLP (default), a small CNN, or a user's factory.

``trainables.architecture.Architecture`` says which.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from trainables.architecture import Architecture
from trainables.config import TrainConfig
from trainables.factories import load_factory

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "selu": nn.SELU,
}


def square_image(n_inputs: int) -> tuple[int, int, int] | None:
    """A flat input that is a square single-channel image (digits: 64 -> 1x8x8), if it is."""
    side = math.isqrt(n_inputs)
    return (1, side, side) if side * side == n_inputs else None


class Reshape(nn.Module):
    """Each example as ``shape``: flat table rows and image batches alike (no parameters, so
    it replaced ``nn.Unflatten`` without moving any weight's name)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def _mlp(
    config: TrainConfig, n_inputs: int, n_outputs: int, *, flatten: bool = False
) -> nn.Sequential:
    # Images (an input_shape) are flattened first; a table's rows come flat, and their
    # networks keep the layer names that earlier model files have.
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    width_in = n_inputs
    for _ in range(config.depth):
        layers += [nn.Linear(width_in, config.width), ACTIVATIONS[config.activation]()]
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout))
        width_in = config.width
    layers.append(nn.Linear(width_in, n_outputs))
    return nn.Sequential(*layers)


def _cnn(config: TrainConfig, shape: tuple[int, ...], n_outputs: int) -> nn.Sequential:
    """``depth`` conv blocks of ``width`` channels (3x3, same padding), then global pooling."""
    layers: list[nn.Module] = [Reshape(shape)]
    channels = shape[0]
    for _ in range(config.depth):
        layers += [
            nn.Conv2d(channels, config.width, 3, padding=1),
            ACTIVATIONS[config.activation](),
        ]
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout))
        channels = config.width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_outputs)]
    return nn.Sequential(*layers)


def build_model(
    config: TrainConfig,
    *,
    n_inputs: int,
    n_outputs: int,
    architecture: Architecture = Architecture(),
) -> nn.Module:
    if architecture.type == "cnn":
        shape = architecture.input_shape or square_image(n_inputs)
        if shape is None or math.prod(shape) != n_inputs:
            raise ValueError(f"cnn input_shape {shape} doesn't hold {n_inputs} features")
        return _cnn(config, shape, n_outputs)
    if architecture.type == "factory" and architecture.factory:
        factory = load_factory(architecture.factory)
        extra: dict[str, Any] = {}
        if architecture.input_shape is not None and _accepts(factory, "input_shape"):
            extra["input_shape"] = tuple(architecture.input_shape)  # images: (C, H, W)
        model = factory(config, n_inputs=n_inputs, n_outputs=n_outputs, **extra)
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model factory {architecture.factory!r} returned {type(model).__name__}, "
                "not a torch.nn.Module"
            )
        return model
    flatten = architecture.input_shape is not None and len(architecture.input_shape) > 1
    return _mlp(config, n_inputs, n_outputs, flatten=flatten)


def _accepts(function: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
