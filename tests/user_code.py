"""A user's own code, as the specs and tests name it: data factories, models, steps, metrics."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset, IterableDataset, TensorDataset

N_FEATURES = 6


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N_FEATURES, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return x, y


def tensor_data(config):
    """(train, val, test) of (x, y) examples, with their class count."""
    return {
        "train": TensorDataset(*_blobs(240, 0)),
        "val": TensorDataset(*_blobs(80, 1)),
        "test": TensorDataset(*_blobs(80, 2)),
        "n_classes": 3,
    }


def tuple_data(config):
    return TensorDataset(*_blobs(240, 0)), TensorDataset(*_blobs(80, 1))


class Pairs(Dataset):
    """Examples that are dicts with two inputs."""

    def __init__(self, n: int, seed: int) -> None:
        self.x, self.y = _blobs(n, seed)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"left": self.x[i, :3], "right": self.x[i, 3:], "label": self.y[i]}


def dict_data(config):
    return {"train": Pairs(240, 0), "val": Pairs(80, 1), "test": Pairs(80, 2)}


class TwoInputs(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.left, self.right = nn.Linear(3, width), nn.Linear(3, width)
        self.head = nn.Linear(width, 3)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.left(left) + self.right(right)))


def two_inputs(config, *, n_inputs: int, n_outputs: int) -> nn.Module:
    return TwoInputs(config.width)


def pair_step(model, batch):
    return F.cross_entropy(model(batch["left"], batch["right"]), batch["label"])


def pair_eval_step(model, batch):
    outputs = model(batch["left"], batch["right"])
    return {
        "loss": F.cross_entropy(outputs, batch["label"]),
        "outputs": outputs,
        "targets": batch["label"],
        "margin": (outputs.max(1).values - outputs.mean(1)).mean(),
    }


class LogSoftmaxNet(nn.Module):
    """PyTorch's MNIST example's shape: log_softmax out, for nll_loss."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEATURES, width), nn.ReLU(), nn.Linear(width, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.body(x), dim=1)


def log_softmax_net(config, *, n_inputs: int, n_outputs: int) -> nn.Module:
    return LogSoftmaxNet(config.width)


def wrong_width(config, *, n_inputs: int, n_outputs: int) -> nn.Module:
    return nn.Linear(n_inputs, 2)  # 2 outputs for 3 classes: the labels do not fit


def not_datasets(config):
    return [1, 2, 3]


def broken_data(config):
    raise FileNotFoundError("/data/missing.csv")


def mean_abs_logit(outputs, targets):
    """A batch-mean metric of yours."""
    return outputs.abs().mean()


class Stream(IterableDataset):
    def __init__(self, n: int, seed: int) -> None:
        self.x, self.y = _blobs(n, seed)

    def __iter__(self):
        return iter(zip(self.x, self.y))


def iterable_data(config):
    return {"train": Stream(240, 0), "val": TensorDataset(*_blobs(80, 1)), "n_classes": 3}
