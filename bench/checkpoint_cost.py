"""Checkpoint cost: the share of an epoch spent in ``save_checkpoint`` when saving every epoch.

A typical model of the benchmark sweeps (3x128, Adam, batch 64) trains on the issue's 20k
synthetic task (epochs of tenths of a second: the goal) and on digits (epochs of a few
hundredths, where a save of milliseconds weighs most); after each epoch, ``save_checkpoint``
writes into a fresh temporary directory, as the trainable does before ``tune.report`` copies
it into the trial's folder. cost = save / (train + eval + save).
A breakdown (serialization alone, the same save without fsync, the copy Tune makes) shows
where the save time goes.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import torch

from bench.common import Measurement, load_bench_data, log, median

GOAL = 0.05


def _round(data: Any, tensors: Any, epochs: int, storage: Path) -> dict[str, float]:
    from trainables.checkpoint import save_checkpoint, to_checkpoint_dict
    from trainables.config import TrainConfig
    from trainables.loop import build_state, run_epoch

    cfg = TrainConfig(depth=3, width=128, optimizer="adam", lr=1e-3, epochs=epochs)
    state = build_state(
        cfg,
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        seed=0,
        device=torch.device("cpu"),
    )
    sums = {"epoch": 0.0, "save": 0.0, "save_no_fsync": 0.0, "serialize": 0.0, "copy": 0.0}
    size = 0
    for epoch in range(epochs):
        started = time.perf_counter()
        run_epoch(state, tensors)
        sums["epoch"] += time.perf_counter() - started

        with tempfile.TemporaryDirectory(prefix="bench-ckpt-") as directory:
            started = time.perf_counter()
            path = save_checkpoint(state, directory)
            sums["save"] += time.perf_counter() - started
            size = path.stat().st_size
            # what Tune does next with it: copy the directory into the trial folder
            started = time.perf_counter()
            shutil.copytree(directory, storage / f"checkpoint_{epoch:06d}")
            sums["copy"] += time.perf_counter() - started
        with tempfile.TemporaryDirectory(prefix="bench-ckpt-") as directory:
            with mock.patch("os.fsync"):
                started = time.perf_counter()
                save_checkpoint(state, directory)
                sums["save_no_fsync"] += time.perf_counter() - started
        started = time.perf_counter()
        torch.save(to_checkpoint_dict(state), io.BytesIO())
        sums["serialize"] += time.perf_counter() - started
    sums["bytes"] = float(size)
    return sums


def _measure(name: str, rounds: int, epochs: int) -> dict[str, Any]:
    from trainables.loop import TensorData

    data = load_bench_data(name)
    tensors = TensorData.from_dataset(data, torch.device("cpu"))
    per_round: list[dict[str, float]] = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-storage-") as storage:
            per_round.append(_round(data, tensors, epochs, Path(storage)))

    def share(r: dict[str, float], key: str) -> float:
        return r[key] / (r["epoch"] + r[key])

    n = epochs * rounds
    return {
        "rounds": per_round,
        "mean_epoch_ms": 1000 * sum(r["epoch"] for r in per_round) / n,
        "mean_save_ms": 1000 * sum(r["save"] for r in per_round) / n,
        "mean_save_no_fsync_ms": 1000 * sum(r["save_no_fsync"] for r in per_round) / n,
        "mean_serialize_ms": 1000 * sum(r["serialize"] for r in per_round) / n,
        "mean_copy_ms": 1000 * sum(r["copy"] for r in per_round) / n,
        "checkpoint_bytes": per_round[-1]["bytes"],
        "cost": median([share(r, "save") for r in per_round]),
        "cost_no_fsync": median([share(r, "save_no_fsync") for r in per_round]),
        "serialize": median([share(r, "serialize") for r in per_round]),
        "with_copy": median(
            [(r["save"] + r["copy"]) / (r["epoch"] + r["save"] + r["copy"]) for r in per_round]
        ),
    }


def _times(d: dict[str, Any]) -> str:
    return f"save {d['mean_save_ms']:.1f} ms / epoch {d['mean_epoch_ms']:.0f} ms"


def run(quick: bool) -> Measurement:
    m = Measurement("checkpoint")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        synthetic = _measure("synthetic-20k", rounds=2 if quick else 3, epochs=5)
        digits = _measure("digits", rounds=2 if quick else 5, epochs=10)
    finally:
        torch.set_num_threads(threads)
    m.details = {
        "model": {"depth": 3, "width": 128, "optimizer": "adam", "batch_size": 64},
        "synthetic-20k": synthetic,
        "digits": digits,
    }
    for name, d in (("synthetic-20k", synthetic), ("digits", digits)):
        log(
            f"checkpoint ({name}): epoch {d['mean_epoch_ms']:.1f} ms, "
            f"save {d['mean_save_ms']:.1f} ms, cost {d['cost']:.1%}"
        )
    m.row(
        "save share of epoch (20k synthetic)",
        synthetic["cost"],
        at_most=GOAL,
        note=_times(synthetic),
    )
    m.row(
        "save share of epoch (digits)",
        digits["cost"],
        note=_times(digits),
    )
    m.row("  same without fsync (digits)", digits["cost_no_fsync"], note="os.fsync patched out")
    m.row("  serialization alone (digits)", digits["serialize"], note="torch.save to memory")
    m.row("  save + Tune's copy (digits)", digits["with_copy"], note="+ copying the dir")
    return m
