"""Your own networks for the example sweeps: any ``torch.nn.Module`` a factory returns.

A model factory gets the trial's ``TrainConfig`` (searched ``depth``, ``width``, ``dropout``,
``activation``... and your ``user_*`` hyperparameters in ``config.user``), the output size,
and for images their ``input_shape`` (channels, height, width).
"""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh}


def small_cnn(config, *, n_inputs: int, n_outputs: int, input_shape=(1, 16, 16)) -> nn.Module:
    """``depth`` blocks of conv-activation-pool, ``width`` channels doubling per block."""
    channels, size, _ = input_shape
    layers: list[nn.Module] = []
    width = config.width
    for _ in range(config.depth):
        layers += [
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            ACTIVATIONS[config.activation](),
            nn.MaxPool2d(2) if size >= 4 else nn.Identity(),
        ]
        channels, size, width = width, max(1, size // 2), width * 2
    layers += [
        nn.Flatten(),
        nn.Dropout(config.dropout),
        nn.Linear(channels * size * size, n_outputs),
    ]
    return nn.Sequential(*layers)
