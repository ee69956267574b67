"""Small builders shared by the tests: a valid spec mapping and dotted-key edits of it."""

from __future__ import annotations

import copy
from typing import Any

BASE_SPEC: dict[str, Any] = {
    "name": "tiny",
    "data": {"dataset": "digits", "val_fraction": 0.2, "seed": 0},
    "metric": {"name": "val_accuracy", "mode": "max"},
    "space": {
        "lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-1, "log": True},
        "depth": {"type": "int", "low": 1, "high": 3},
        "width": {"type": "categorical", "choices": [16, 32]},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
    },
    "fixed": {"batch_size": 64, "epochs": 3, "lr_schedule": "none"},
    "search": {
        "sampler": "random",
        "num_samples": 4,
        "max_concurrent": 2,
        "seed": 0,
        "baseline": {"lr": 1.0e-3, "depth": 1, "width": 32, "optimizer": "adam"},
    },
    "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
    "checkpoint": {"every": 1, "keep": 2},
    "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0},
}

DELETE = object()


def spec_dict(changes: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> dict:
    """A copy of ``BASE_SPEC`` with ``{"a.b": value}`` edits; ``DELETE`` removes a key."""
    spec = copy.deepcopy(base or BASE_SPEC)
    for dotted, value in (changes or {}).items():
        *parents, last = dotted.split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(value)  # callers reuse their dicts
    return spec
