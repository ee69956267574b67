from __future__ import annotations

import math

import torch

from tests.trainables.conftest import tiny_dataset
from trainables.config import TrainConfig
from trainables.loop import TensorData, build_state, run_epoch, worst_metrics


def train(config, data, epochs, seed=3):
    tensors = TensorData.from_dataset(data, torch.device("cpu"))
    state = build_state(
        config,
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        seed=seed,
        device=torch.device("cpu"),
    )
    return state, [run_epoch(state, tensors) for _ in range(epochs)]


def test_training_reduces_loss_and_reports_every_metric(tiny):
    _, history = train(TrainConfig(lr=0.01, batch_size=16), tiny, 10)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert set(history[0]) == {
        "train_loss",
        "val_loss",
        "val_accuracy",
        "epoch",
        "lr",
        "epoch_time_s",
        "n_params",
        "diverged",
    }
    assert [m["epoch"] for m in history] == list(range(1, 11))
    assert 0.0 <= history[-1]["val_accuracy"] <= 1.0 and history[-1]["val_accuracy"] > 0.6


def test_a_trial_is_a_deterministic_function_of_config_and_seed(tiny):
    config = TrainConfig(lr=0.01, batch_size=16, dropout=0.3)
    _, a = train(config, tiny, 3)
    _, b = train(config, tiny, 3)
    _, c = train(config, tiny, 3, seed=4)
    assert [m["val_loss"] for m in a] == [m["val_loss"] for m in b]
    assert [m["val_loss"] for m in a] != [m["val_loss"] for m in c]


def test_regression_reports_mae_instead_of_accuracy():
    data = tiny_dataset(n_classes=0)
    _, history = train(TrainConfig(lr=0.01, batch_size=16), data, 5)
    assert "val_mae" in history[-1] and "val_accuracy" not in history[-1]
    assert history[-1]["val_loss"] < history[0]["val_loss"]


def test_a_huge_learning_rate_is_flagged_as_diverged(tiny):
    _, history = train(TrainConfig(lr=1e12, optimizer="sgd", batch_size=16), tiny, 3)
    diverged = [m for m in history if m["diverged"]]
    assert diverged
    assert diverged[0]["val_accuracy"] == 0.0 and math.isinf(diverged[0]["val_loss"])
    assert worst_metrics(tiny.n_classes).items() <= diverged[0].items()
