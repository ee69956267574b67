"""Model factories for the tests, as a user would write them in their own package."""

from __future__ import annotations

from torch import nn

from trainables.config import TrainConfig


def tiny_resnet_mlp(config: TrainConfig, *, n_inputs: int, n_outputs: int) -> nn.Module:
    """A user's own network: one skip connection around a hidden layer."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(n_inputs, config.width)
            self.hidden = nn.Linear(config.width, config.width)
            self.out = nn.Linear(config.width, n_outputs)

        def forward(self, x):
            h = self.inp(x).relu()
            return self.out(h + self.hidden(h).relu())

    return Net()


def not_a_module(config: TrainConfig, *, n_inputs: int, n_outputs: int) -> str:
    return "oops"
