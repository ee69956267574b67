"""Data-parallel check: one trial on 1 GPU against the same trial as 2 workers x 1 GPU.

The same config, seed and global batch (``resources.workers_per_trial`` 1, then 2 with
``gpus_per_worker: 1``; DDP over NCCL), one trial each, FIFO. Prints per-epoch metrics of both
(they agree up to float sums: the MLP has no batch norm), the largest difference, the trial
wall times and the mean epoch times. Needs 2 GPUs; run through ``bench/gpu_check.sh``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, log, redirected
from bench.gpu_check import _spec

METRICS = ("train_loss", "val_loss", "val_accuracy")


def _run(name: str, resources: dict[str, Any], root: Path) -> tuple[Any, float]:
    import raysweep

    spec = _spec(name, 1.0, 1, n_samples=200_000, epochs=4)
    spec["resources"] = resources
    started = time.perf_counter()
    with redirected(root / f"{name}.log"):
        summary = raysweep.run(spec, storage=str(root))
    return raysweep.curves(summary.path), time.perf_counter() - started


def main() -> int:
    import torch

    if torch.cuda.device_count() < 2:
        print("error: the 2-worker comparison needs 2 GPUs", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="raysweep-ddp-") as tmp:
        root = Path(tmp)
        one, one_s = _run("one-gpu", {"cpus_per_trial": 1, "gpus_per_trial": 1}, root)
        two, two_s = _run(
            "two-workers",
            {"workers_per_trial": 2, "cpus_per_worker": 1, "gpus_per_worker": 1},
            root,
        )
    diff = max(
        abs(float(a) - float(b)) for m in METRICS for a, b in zip(one[m], two[m], strict=True)
    )
    row = {
        "max_abs_metric_difference": diff,
        "trial_wall_s": {"1 GPU": one_s, "2 workers x 1 GPU": two_s},
        "mean_epoch_s": {
            "1 GPU": float(one["epoch_time_s"].mean()),
            "2 workers x 1 GPU": float(two["epoch_time_s"].mean()),
        },
    }
    log(json.dumps(row, indent=2))
    (RESULTS_DIR / "gpu_ddp.json").write_text(json.dumps(row, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
