"""The benchmark's tasks and the grid of configs each is trained on.

Three tasks where hyperparameters matter: digits (small images), a harder synthetic
classification and a nonlinear regression. Every task has a test split the search never sees.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainables.data import (
    Dataset,
    SyntheticOptions,
    TestSet,
    load_builtin,
    split_indices,
    standardize,
    to_splits,
)

EPOCHS = 27  # 3**3: ASHA's rungs at 1, 3, 9, 27 with a reduction factor of 3
SEEDS = (0, 1)  # training seeds per config
SPLIT = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0}

# The grid: every combination is trained. lr and depth are ordered; the rest categorical.
GRID: dict[str, tuple[Any, ...]] = {
    "lr": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    "optimizer": ("sgd", "momentum", "adagrad", "adam"),
    "depth": (1, 2, 3),
    "width": (32, 128),
    "activation": ("relu", "tanh"),
    "init": ("default", "orthogonal"),
}
FIXED: dict[str, Any] = {"batch_size": 64, "epochs": EPOCHS, "lr_schedule": "plateau"}


def grid_configs() -> list[dict[str, Any]]:
    """Every config of the grid, in a fixed order (its index is the config id)."""
    names = list(GRID)
    return [dict(zip(names, values)) for values in itertools.product(*GRID.values())]


@dataclass(frozen=True)
class Task:
    name: str
    metric: str  # the validation metric the search optimizes
    mode: str  # "max" or "min"
    test_metric: str
    load: Callable[[], tuple[Dataset, TestSet]]


def _builtin(name: str, synthetic: SyntheticOptions | None = None) -> Callable[[], Any]:
    def load() -> tuple[Dataset, TestSet]:
        data, test = load_builtin(name, synthetic=synthetic, **SPLIT)
        assert test is not None
        return data, test

    return load


def _friedman() -> tuple[Dataset, TestSet]:
    """Friedman #1: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise, 5 of 10
    features irrelevant. Nonlinear, so depth, width and activation matter."""
    import sklearn.datasets

    x, y = sklearn.datasets.make_friedman1(
        n_samples=2000, n_features=10, noise=1.0, random_state=0
    )
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray((y - y.mean()) / y.std(), dtype=np.float32)
    splits = split_indices(None, len(x), **SPLIT)
    standardize(x, splits.train)
    data, test = to_splits("friedman", x, y, 0, splits)
    assert test is not None
    return data, test


TASKS: dict[str, Task] = {
    "digits": Task("digits", "val_accuracy", "max", "test_accuracy", _builtin("digits")),
    "synthetic": Task(
        "synthetic",
        "val_accuracy",
        "max",
        "test_accuracy",
        _builtin("synthetic", SyntheticOptions(n_samples=2000, n_features=40, n_classes=6)),
    ),
    "friedman": Task("friedman", "val_mae", "min", "test_mae", _friedman),
}
