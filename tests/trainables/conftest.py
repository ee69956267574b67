from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.data import Dataset
from trainables.loop import TensorData


def tiny_dataset(n_classes: int = 3, n: int = 120, features: int = 6) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, features)).astype(np.float32)
    if n_classes:
        y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    else:
        y = (x @ rng.normal(size=features)).astype(np.float32)
    split = n * 3 // 4
    return Dataset("tiny", x[:split], y[:split], x[split:], y[split:], n_classes)


@pytest.fixture
def tiny() -> Dataset:
    return tiny_dataset()


@pytest.fixture
def tiny_tensors(tiny) -> TensorData:
    return TensorData.from_dataset(tiny, torch.device("cpu"))
