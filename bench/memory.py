"""Memory of a sweep with 2 concurrent trials on a large synthetic data set.

``raysweep run`` runs as a subprocess (its own Ray, ``RAY_ADDRESS=local``); the memory of it
and all its descendants (GCS, raylet, workers...) is sampled with psutil and summed. RSS
counts a shared page once per process that maps it, so the object store's copy of the data
would appear once per trial that reads it; PSS splits shared pages between the processes
and so counts every page once. The goal is judged on PSS, RSS is shown beside it.

The fixed base is the same sweep on a tiny data set (2000 samples): the data's share of the
large sweep is its peak minus that base, compared with the data set's size. Two peaks: while
the trials train (after the first epoch was recorded), and over the whole command (data
generation and loading in the driver included).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import (
    Measurement,
    TreeMemory,
    ledger_lines,
    log,
    mib,
    start_run,
    tree_memory,
    write_yaml,
)

GOAL = 1.3
N_FEATURES = 64


def _spec(name: str, n_samples: int) -> dict[str, Any]:
    return {
        "name": name,
        "data": {
            "dataset": "synthetic",
            "n_samples": n_samples,
            "n_features": N_FEATURES,
            "n_classes": 2,
            "val_fraction": 0.2,
            "seed": 0,
        },
        "metric": {"name": "val_accuracy", "mode": "max"},
        "space": {"lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}},
        "fixed": {"batch_size": 1024, "epochs": 2, "depth": 1, "width": 32},
        "search": {"num_samples": 2, "max_concurrent": 2, "seed": 0, "baseline": {"lr": 1e-3}},
        "scheduler": {"type": "fifo"},
        "checkpoint": {"every": 1, "keep": 1},
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0},
    }


def data_bytes(n_samples: int) -> int:
    """float32 features and int64 labels, train and validation together."""
    return n_samples * (N_FEATURES * 4 + 8)


def _peak(a: TreeMemory | None, b: TreeMemory | None) -> TreeMemory | None:
    """The sample with the higher PSS (kept whole, with its split by process role)."""
    if a is None or (b is not None and b.pss > a.pss):
        return b
    return a


def _sweep(workdir: Path, logfile: Path, name: str, n_samples: int) -> dict[str, Any]:
    spec = write_yaml(workdir / f"{name}.yaml", _spec(name, n_samples))
    storage = workdir / "memory-runs"
    experiment = storage / name
    overall: TreeMemory | None = None
    training: TreeMemory | None = None
    rss_peak = 0
    samples = 0
    with open(logfile, "ab") as out:
        started = time.perf_counter()
        proc = start_run(spec, storage, out)
        while proc.poll() is None:
            now = tree_memory(proc.pid)
            samples += 1
            overall = _peak(overall, now)
            rss_peak = max(rss_peak, 0 if now is None else now.rss)
            if ledger_lines(experiment):  # a trial has trained an epoch
                training = _peak(training, now)
            time.sleep(0.1)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"raysweep run exited with {proc.returncode}; see {logfile}")
    if overall is None or training is None:
        raise RuntimeError("no memory sample was taken while trials trained")
    return {
        "n_samples": n_samples,
        "data_bytes": data_bytes(n_samples),
        "wall_s": wall,
        "samples": samples,
        "peak_overall": overall.__dict__,
        "peak_training": training.__dict__,
        "peak_rss_any_time": rss_peak,
    }


def run(quick: bool, workdir: Path, logfile: Path) -> Measurement:
    m = Measurement("memory")
    n_large = 250_000 if quick else 1_000_000
    log("memory: base sweep on 2000 samples ...")
    base = _sweep(workdir, logfile, "bench-mem-base", 2000)
    log(f"memory: sweep on {n_large} x {N_FEATURES} ({mib(data_bytes(n_large)):.0f} MiB) ...")
    big = _sweep(workdir, logfile, "bench-mem-big", n_large)
    size = big["data_bytes"] - base["data_bytes"]
    ratios: dict[str, float] = {}
    # The fixed base: the tiny sweep's highest sample (its data is negligible).
    for phase in ("peak_training", "peak_overall"):
        for kind in ("pss", "rss", "uss"):
            ratios[f"{phase}_{kind}"] = (big[phase][kind] - base["peak_overall"][kind]) / size

    def role_growth(role: str, kind: str) -> float:
        big_role = big["peak_training"]["by_role"].get(role, {}).get(kind, 0)
        base_role = base["peak_overall"]["by_role"].get(role, {}).get(kind, 0)
        return float(big_role - base_role)

    roles = {
        role: {k: mib(role_growth(role, k)) for k in ("rss", "pss", "uss")}
        for role in big["peak_training"]["by_role"]
    }
    worker_private = role_growth("trial worker", "uss") / size
    m.details = {
        "base": base,
        "big": big,
        "data_bytes": size,
        "ratios_to_data": ratios,
        "training_over_base_by_role_mib": roles,
        "trial_workers_private_growth_to_data": worker_private,
    }
    log(
        "memory: while training PSS +{:.0f} MiB over base ({:.2f}x data), "
        "whole run +{:.0f} MiB ({:.2f}x)".format(
            mib(big["peak_training"]["pss"] - base["peak_overall"]["pss"]),
            ratios["peak_training_pss"],
            mib(big["peak_overall"]["pss"] - base["peak_overall"]["pss"]),
            ratios["peak_overall_pss"],
        )
    )
    base_mib = mib(base["peak_overall"]["pss"])
    m.row(
        "2 trials training: PSS over base / data",
        ratios["peak_training_pss"],
        "x",
        at_most=GOAL,
        note=f"data {mib(size):.0f} MiB, base {base_mib:.0f} MiB (same sweep, 2000 samples)",
    )
    m.row(
        "  same, with RSS summed",
        ratios["peak_training_rss"],
        "x",
        note="counts a shared page once per process",
    )
    m.row(
        "  trial workers' private memory / data",
        worker_private,
        "x",
        note="USS growth of the 2 trial workers; a copy per trial would read 2.0x",
    )
    m.row(
        "whole run incl. data loading: PSS / data",
        ratios["peak_overall_pss"],
        "x",
        note="info: the driver generates and splits the data",
    )
    return m
