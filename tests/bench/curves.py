"""A tiny learning-curve table with known answers, for testing the replay machinery."""

from __future__ import annotations

import itertools

import numpy as np

from bench.search_quality.table import CurveTable, from_rows
from bench.search_quality.tasks import Task

TINY_GRID = {
    "lr": (1e-3, 1e-2, 1e-1),
    "optimizer": ("sgd", "adam"),
    "depth": (1, 2),
    "width": (32,),
    "activation": ("relu", "tanh"),
    "init": ("default",),
}
TINY_TASK = Task("tiny", "val_accuracy", "max", "test_accuracy", load=lambda: None)  # type: ignore[arg-type,return-value]


def tiny_table(epochs: int = 9, seeds: int = 2, seed: int = 0) -> CurveTable:
    """Saturating curves: each config climbs to its own final accuracy at its own pace, so
    early epochs rank configs differently from the last one (fast learners plateau low)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod([len(v) for v in TINY_GRID.values()]))
    final = rng.uniform(0.5, 0.95, n)
    pace = rng.uniform(0.5, 6.0, n)
    pace[np.argmax(final)] = 6.0  # the best config is a slow starter
    rows: dict[str, list[float]] = {k: [] for k in ("config_id", "seed", "epoch")}
    rows |= {"val_metric": [], "test_metric": [], "epoch_time_s": []}
    for c, s, e in itertools.product(range(n), range(seeds), range(1, epochs + 1)):
        value = final[c] * (1 - np.exp(-e / pace[c])) + rng.normal(0, 0.005)
        rows["config_id"].append(c)
        rows["seed"].append(s)
        rows["epoch"].append(e)
        rows["val_metric"].append(value)
        rows["test_metric"].append(value - 0.01)
        rows["epoch_time_s"].append(0.01 * (1 + c % 3))
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    for k in ("config_id", "seed", "epoch"):
        arrays[k] = arrays[k].astype(int)
    return from_rows(TINY_TASK, TINY_GRID, arrays)
