"""Named model files: a trial's best weights under a name that says what they are.

``model.depth-3.width-128.act-relu.init-kaiming_normal.opt-adam.lr-0.001.epochs-27.loss-0.0812
.acc-0.9756.pt``: hyperparameters, then metrics, as practitioners name their files. The file is
one dict loadable with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainables import config as names
from trainables.atomic import atomic_write
from trainables.config import TrainConfig
from trainables.model import Architecture, build_model

MODEL_FORMAT_VERSION = 1
ALIASES = {"activation": "act", "optimizer": "opt", "lr_schedule": "sched", "batch_size": "bs"}
METRIC_ALIASES = {names.VAL_LOSS: "loss", names.VAL_ACCURACY: "acc", names.VAL_MAE: "mae"}
# Always named, searched or not: they say what the network is and how long it trained.
ALWAYS_NAMED = ("depth", "width", "activation", "init", "optimizer", "lr", "epochs")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def model_file_name(
    config: TrainConfig, metrics: dict[str, Any], searched: tuple[str, ...]
) -> str:
    values = config.to_dict()
    keys = list(ALWAYS_NAMED) + [k for k in searched if k not in ALWAYS_NAMED]
    parts = [f"{ALIASES.get(k, k)}-{_format(values[k])}" for k in keys]
    parts += [
        f"{alias}-{float(metrics[m]):.4f}" for m, alias in METRIC_ALIASES.items() if m in metrics
    ]
    return "model." + ".".join(parts) + ".pt"


def _shape(checkpoint: dict[str, Any]) -> tuple[int, int]:
    if "n_inputs" in checkpoint:
        return int(checkpoint["n_inputs"]), int(checkpoint["n_outputs"])
    weights = [v for k, v in checkpoint["model"].items() if k.endswith("weight")]
    return int(weights[0].shape[1]), int(weights[-1].shape[0])


def save_model_file(
    checkpoint: dict[str, Any], directory: Path, searched: tuple[str, ...]
) -> Path:
    """Write the model and optimizer state of a loaded checkpoint dict as a named model file."""
    config = TrainConfig.from_dict(checkpoint["train_config"])
    history = checkpoint["history"]
    metrics = dict(history[-1]) if history else {}
    n_inputs, n_outputs = _shape(checkpoint)
    payload = {
        "format_version": MODEL_FORMAT_VERSION,
        "model": checkpoint["model"],
        "optimizer": checkpoint["optimizer"],
        "train_config": checkpoint["train_config"],
        "architecture": checkpoint.get("architecture") or {},
        "metrics": metrics,
        "n_inputs": n_inputs,
        "n_outputs": n_outputs,
    }
    path = directory / model_file_name(config, metrics, searched)
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def load_model(path: str | os.PathLike[str], *, device: str = "cpu") -> nn.Module:
    """The trained network from a named model file, in eval mode."""
    payload = torch.load(path, map_location=device, weights_only=True)
    config = TrainConfig.from_dict(payload["train_config"])
    model = build_model(
        config,
        n_inputs=payload["n_inputs"],
        n_outputs=payload["n_outputs"],
        architecture=Architecture.from_dict(payload.get("architecture")),
    )
    model.load_state_dict(payload["model"])
    return model.eval()
