from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch

from trainables.checkpoint import (
    CHECKPOINT_FILE,
    SIDECAR_FILE,
    CheckpointError,
    checkpoint_epoch,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from trainables.config import TrainConfig
from trainables.loop import build_state, run_epoch

CONFIGS = [
    TrainConfig(optimizer="adam", lr_schedule="plateau", dropout=0.2, epochs=4, batch_size=16),
    TrainConfig(optimizer="momentum", lr_schedule="step", lr_step_size=1, epochs=4, batch_size=16),
    TrainConfig(optimizer="rmsprop", lr_schedule="cosine", epochs=4, batch_size=16),
    TrainConfig(optimizer="adagrad", epochs=4, batch_size=16, init="orthogonal"),
]


def new_state(config, data):
    return build_state(
        config,
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        seed=7,
        device=torch.device("cpu"),
    )


def assert_same_tensors(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_tensors(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_tensors(x, y)
    else:
        assert a == b


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.optimizer)
def test_resume_is_exact_four_straight_equals_two_save_load_two(
    config, tiny, tiny_tensors, tmp_path
):
    straight = new_state(config, tiny)
    history_straight = [run_epoch(straight, tiny_tensors) for _ in range(4)]

    first = new_state(config, tiny)
    history = [run_epoch(first, tiny_tensors) for _ in range(2)]
    save_checkpoint(first, tmp_path)
    # Disturb every RNG the process has, as another trial in a reused actor would.
    torch.manual_seed(999), random.seed(999), np.random.seed(999)
    resumed = new_state(config, tiny)
    load_checkpoint(resumed, tmp_path)
    assert resumed.next_epoch == 2 and resumed.history == history
    history += [run_epoch(resumed, tiny_tensors) for _ in range(2)]

    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)
    assert_same_tensors(straight.optimizer.state_dict(), resumed.optimizer.state_dict())
    if straight.lr_scheduler is not None:
        assert straight.lr_scheduler.state_dict() == resumed.lr_scheduler.state_dict()
    for a, b in zip(history_straight, history):
        assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"]


def test_checkpoint_holds_everything_and_loads_weights_only(tiny, tiny_tensors, tmp_path):
    state = new_state(CONFIGS[0], tiny)
    run_epoch(state, tiny_tensors)
    state.best_metric = 0.5
    path = save_checkpoint(state, tmp_path)
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {
        "format_version",
        "model",
        "optimizer",
        "lr_scheduler",
        "next_epoch",
        "best_metric",
        "rng",
        "train_config",
        "history",
        "architecture",
        "n_inputs",
        "n_outputs",
        "grad_scaler",
        "position",
    }
    assert checkpoint_epoch(tmp_path) == 1 and len(payload["history"]) == 1
    assert set(payload["rng"]) >= {"torch", "batch_order", "python", "numpy"}
    assert payload["next_epoch"] == 1 and payload["best_metric"] == 0.5
    assert payload["train_config"]["optimizer"] == "adam"
    assert not list(tmp_path.glob(".*tmp")), "temporary files must be renamed away"


def test_truncated_checkpoint_is_detected(tiny, tmp_path):
    path = save_checkpoint(new_state(CONFIGS[0], tiny), tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        read_checkpoint(tmp_path)


def test_missing_checksum_is_detected(tiny, tmp_path):
    save_checkpoint(new_state(CONFIGS[0], tiny), tmp_path)
    (tmp_path / SIDECAR_FILE).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        read_checkpoint(tmp_path)


def test_a_pickled_object_is_refused_even_with_a_matching_checksum(tmp_path):
    import hashlib

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(pickle.dumps({"format_version": 1, "x": Evil()}))
    (tmp_path / SIDECAR_FILE).write_text(
        json.dumps({"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "next_epoch": 1})
    )
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        read_checkpoint(tmp_path)
