"""GPU packing check: training throughput of 1, 2 and 4 trials sharing one GPU.

Three short raysweep sweeps on one local Ray, with ``resources.gpus_per_trial`` 1, 0.5 and
0.25 and as many trials running at once (FIFO, 3 epochs each, synthetic data). Throughput is
taken from raysweep's own records: per trial, training samples over ``epoch_time_s``; in all,
the samples of epochs 2.. of every trial over the wall span those epochs cover (epoch 1 pays
CUDA start-up). Run through ``bench/gpu_check.sh``; exits 1 at once when there is no GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, ledger_lines, log, redirected

PACKINGS = (1.0, 0.5, 0.25)


def _spec(name: str, gpus: float, trials: int, n_samples: int, epochs: int) -> dict[str, Any]:
    return {
        "name": name,
        "data": {
            "dataset": "synthetic",
            "n_samples": n_samples,
            "n_features": 64,
            "n_classes": 2,
            "val_fraction": 0.2,
            "seed": 0,
        },
        "metric": {"name": "val_accuracy", "mode": "max"},
        "space": {"lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-3, "log": True}},
        "fixed": {"batch_size": 1024, "epochs": epochs, "depth": 4, "width": 512},
        "search": {
            "sampler": "random",
            "num_samples": trials,
            "max_concurrent": trials,
            "seed": 0,
            "baseline": {"lr": 3.0e-4},
        },
        "scheduler": {"type": "fifo"},
        "checkpoint": {"every": epochs, "keep": 1},
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": gpus},
    }


def _throughput(experiment: str | Path, n_train: int) -> dict[str, Any]:
    import raysweep

    curves = raysweep.curves(experiment)
    own = {(str(r.trial_id), int(r.epoch)): float(r.epoch_time_s) for r in curves.itertuples()}
    spans: list[tuple[float, float]] = []
    for line in ledger_lines(experiment):
        key = (str(line["trial_id"]), int(line["epoch"]))
        if key[1] >= 2 and key in own:
            spans.append((float(line["t"]) - own[key], float(line["t"])))
    later = [v for (_, epoch), v in own.items() if epoch >= 2]
    if not spans or not later:
        raise RuntimeError(f"{experiment}: no epoch after the first was recorded")
    wall = max(e for _, e in spans) - min(s for s, _ in spans)
    return {
        "trials": len({t for t, _ in own}),
        "epochs_counted": len(spans),
        "per_trial_samples_per_s": n_train / (sum(later) / len(later)),
        "aggregate_samples_per_s": n_train * len(spans) / wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash bench/gpu_check.sh", description=__doc__)
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print(
            "error: no CUDA GPU is visible to torch "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
            "this check needs an NVIDIA GPU and a CUDA build of torch in .venv",
            file=sys.stderr,
        )
        return 1
    import ray

    import raysweep

    gpu = torch.cuda.get_device_name(0)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    logfile = RESULTS_DIR / "gpu.log"
    logfile.write_text("")
    workdir = Path(tempfile.mkdtemp(prefix="rsg-", dir="/tmp"))
    n_train = args.n_samples - round(args.n_samples * 0.2)
    rows: list[dict[str, Any]] = []
    log(f"GPU: {gpu}; {args.n_samples} x 64 synthetic, {args.epochs} epochs; log {logfile}")
    try:
        with redirected(logfile):
            ray.init(
                address="local",
                num_cpus=min(8, os.cpu_count() or 1),
                num_gpus=1,
                include_dashboard=False,
                _temp_dir=str(workdir / "ray"),
            )
        for gpus in PACKINGS:
            trials = round(1 / gpus)
            log(f"{trials} trial(s) at gpus_per_trial {gpus} ...")
            started = time.perf_counter()
            spec = _spec(f"gpu-{trials}", gpus, trials, args.n_samples, args.epochs)
            with redirected(logfile):
                summary = raysweep.run(spec, storage=str(workdir))
            if summary.num_errors:
                raise RuntimeError(f"{summary.num_errors} trials errored; see {logfile}")
            row = {"gpus_per_trial": gpus, **_throughput(summary.path, n_train)}
            row["sweep_wall_s"] = time.perf_counter() - started
            rows.append(row)
    finally:
        with redirected(logfile):
            ray.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)

    one = rows[0]["aggregate_samples_per_s"]
    print(f"GPU: {gpu}")
    print(f"{'gpus/trial':>10} {'trials':>6} {'per trial/s':>12} {'all trials/s':>13} {'vs 1':>6}")
    for r in rows:
        print(
            f"{r['gpus_per_trial']:>10} {r['trials']:>6} {r['per_trial_samples_per_s']:>12.0f} "
            f"{r['aggregate_samples_per_s']:>13.0f} {r['aggregate_samples_per_s'] / one:>6.2f}"
        )
    out = RESULTS_DIR / "gpu.json"
    out.write_text(json.dumps({"gpu": gpu, "torch": torch.__version__, "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
