"""Build the learning-curve table: every grid config of every task, trained to the end.

``python -m bench.search_quality.curves [--workers 2] [--tasks digits,...]`` trains each config
with every training seed by raysweep's own loop (``trainables.loop``, the code a trial runs)
and writes one Parquet file per task to ``bench/data/curves/``, plus ``build.json`` with the
build time. Per epoch it records the validation metric, the test metric and the epoch time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.search_quality.tasks import EPOCHS, FIXED, GRID, SEEDS, TASKS, grid_configs

CURVES_DIR = Path(__file__).resolve().parent.parent / "data" / "curves"

_loaded: dict[str, Any] = {}  # per worker process: the task's tensors, built once


def _tensors(task_name: str) -> Any:
    if task_name not in _loaded:
        import torch

        from trainables.loop import TensorData

        data, test = TASKS[task_name].load()
        cpu = torch.device("cpu")
        x_test, y_test = torch.as_tensor(test.x), torch.as_tensor(test.y)
        _loaded[task_name] = (data, TensorData.from_dataset(data, cpu), x_test, y_test)
    return _loaded[task_name]


def train_curve(job: tuple[str, int, int]) -> list[dict[str, Any]]:
    """One config of one task with one training seed: a row per epoch."""
    import torch

    from trainables.config import TrainConfig
    from trainables.loop import build_state, run_epoch, score_model

    task_name, config_id, seed = job
    task = TASKS[task_name]
    data, tensors, x_test, y_test = _tensors(task_name)
    config = {**grid_configs()[config_id], **FIXED}
    state = build_state(
        TrainConfig.from_dict(config),
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        seed=seed,
        device=torch.device("cpu"),
    )
    rows = []
    for _ in range(EPOCHS):
        metrics = run_epoch(state, tensors)
        _, test_score = score_model(state.model, x_test, y_test, data.n_classes)
        rows.append(
            {
                "config_id": config_id,
                "seed": seed,
                "epoch": int(metrics["epoch"]),
                "val_metric": float(metrics[task.metric]),
                "test_metric": float("inf") if metrics["diverged"] else test_score,
                "val_loss": float(metrics["val_loss"]),
                "epoch_time_s": float(metrics["epoch_time_s"]),
            }
        )
    return rows


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker: the table is built in parallel


def _table(task_name: str, rows: list[dict[str, Any]]) -> pa.Table:
    configs = grid_configs()
    columns: dict[str, Any] = {k: [r[k] for r in rows] for k in rows[0]}
    for name in GRID:
        columns[name] = [configs[r["config_id"]][name] for r in rows]
    table = pa.table(columns)
    schema = pa.schema(
        [
            ("config_id", pa.int32()),
            ("seed", pa.int16()),
            ("epoch", pa.int16()),
            ("val_metric", pa.float32()),
            ("test_metric", pa.float32()),
            ("val_loss", pa.float32()),
            ("epoch_time_s", pa.float32()),
            ("lr", pa.float64()),
            ("optimizer", pa.dictionary(pa.int8(), pa.string())),
            ("depth", pa.int16()),
            ("width", pa.int32()),
            ("activation", pa.dictionary(pa.int8(), pa.string())),
            ("init", pa.dictionary(pa.int8(), pa.string())),
        ]
    )
    meta = {"task": task_name, "metric": TASKS[task_name].metric, "mode": TASKS[task_name].mode}
    return (
        table.select(schema.names)
        .cast(schema)
        .replace_schema_metadata({"raysweep.curves": json.dumps(meta)})
    )


def build_task(task_name: str, pool: Any) -> float:
    started = time.perf_counter()
    jobs = [(task_name, c, s) for c in range(len(grid_configs())) for s in SEEDS]
    rows = [row for curve in pool.imap(train_curve, jobs, chunksize=4) for row in curve]
    CURVES_DIR.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        _table(task_name, rows), CURVES_DIR / f"{task_name}.parquet", compression="zstd"
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args(argv)
    record_path = CURVES_DIR / "build.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"tasks": {}}
    with multiprocessing.get_context("spawn").Pool(args.workers, _init_worker) as pool:
        for name in args.tasks.split(","):
            seconds = build_task(name, pool)
            print(f"{name}: {len(grid_configs())} configs x {len(SEEDS)} seeds in {seconds:.0f} s")
            record["tasks"][name] = {
                "seconds": round(seconds, 1),
                "configs": len(grid_configs()),
                "seeds": len(SEEDS),
                "epochs": EPOCHS,
                "workers": args.workers,
            }
            record["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs"
            record_path.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
