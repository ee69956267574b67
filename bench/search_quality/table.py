"""The learning-curve table as arrays, and what a recommended config is worth in it."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from bench.search_quality.tasks import GRID, TASKS, Task


@dataclass(frozen=True)
class CurveTable:
    """``val``, ``test`` and ``epoch_time`` are shaped [config, training seed, epoch]."""

    task: Task
    grid: dict[str, tuple[Any, ...]]  # the values of each hyperparameter; configs are its product
    val: np.ndarray
    test: np.ndarray
    epoch_time: np.ndarray

    @property
    def epochs(self) -> int:
        return int(self.val.shape[2])

    @property
    def n_seeds(self) -> int:
        return int(self.val.shape[1])

    @property
    def sign(self) -> float:
        """+1 where higher is better: regret is ``sign * (best - value)``."""
        return 1.0 if self.task.mode == "max" else -1.0

    def final_val(self) -> np.ndarray:
        return self.val[:, :, -1].mean(axis=1)

    def final_test(self) -> np.ndarray:
        return self.test[:, :, -1].mean(axis=1)

    @functools.cached_property
    def regrets(self) -> tuple[np.ndarray, np.ndarray]:
        """Every config's regret on validation and on test (lower is better), computed once:
        the replay looks one up after every simulated epoch."""

        def of(final: np.ndarray) -> np.ndarray:
            best = final.max() if self.sign > 0 else final.min()
            return self.sign * (best - final)

        return of(self.final_val()), of(self.final_test())

    def regret(self, config_id: int) -> tuple[float, float]:
        """The recommended config's regret on validation and on test (lower is better)."""
        val, test = self.regrets
        return float(val[config_id]), float(test[config_id])

    def best_value(self) -> float:
        val = self.final_val()
        return float(val.max() if self.sign > 0 else val.min())

    def config_id(self, params: dict[str, Any]) -> int:
        """The grid config nearest to a suggestion (lr in log space, the rest exactly)."""
        index = 0
        for name, values in self.grid.items():
            value = params[name]
            if name == "lr":
                position = int(np.argmin([abs(math.log(value) - math.log(v)) for v in values]))
            elif name == "depth":
                position = int(np.argmin([abs(int(value) - v) for v in values]))
            else:
                position = list(values).index(type(values[0])(value))
            index = index * len(values) + position
        return index


def from_rows(
    task: Task, grid: dict[str, tuple[Any, ...]], rows: dict[str, np.ndarray]
) -> CurveTable:
    n_configs = int(np.prod([len(v) for v in grid.values()]))
    seeds = np.unique(rows["seed"])
    epochs = int(rows["epoch"].max())
    shape = (n_configs, len(seeds), epochs)
    where = (rows["config_id"], np.searchsorted(seeds, rows["seed"]), rows["epoch"] - 1)
    arrays = {}
    for column in ("val_metric", "test_metric", "epoch_time_s"):
        array = np.full(shape, np.nan)
        array[where] = rows[column]
        arrays[column] = array
    val, test = arrays["val_metric"], arrays["test_metric"]
    if task.mode == "min":  # a diverged regression trial reports inf: the worst seen instead
        for array in (val, test):
            array[~np.isfinite(array)] = np.nanmax(np.where(np.isfinite(array), array, np.nan))
    return CurveTable(task, dict(grid), val, test, arrays["epoch_time_s"])


def load_table(path: Path) -> CurveTable:
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"raysweep.curves"])
    columns = ("config_id", "seed", "epoch", "val_metric", "test_metric", "epoch_time_s")
    rows = {c: table.column(c).to_numpy() for c in columns}
    return from_rows(TASKS[meta["task"]], GRID, rows)
