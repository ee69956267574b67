"""Precision and compile on the GPU: bf16 against fp32, fp16 (with its scaler), and
``torch.compile`` against eager, through raysweep's own loop.

A CNN (``examples/models.py``, width 64, depth 3) on 32x32 RGB tensors already on the device
(a ``TensorDataset`` through raysweep's ``LoaderFeed``, pinned, as a data factory gives
them), batch 256, Adam. Each variant trains a warm-up epoch (compiling, for ``compile``),
then timed epochs; throughput is training examples per second. Run by ``bench/gpu_check.sh``;
``--device cpu`` runs the same code small, to check it without a GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch
from torch.utils.data import TensorDataset

from bench.common import RESULTS_DIR, log
from trainables.architecture import Architecture
from trainables.config import TrainConfig
from trainables.datasets import TrialData
from trainables.feeds import LoaderFeed
from trainables.loop import build_state, train_epoch
from trainables.recipe import Recipe
from trainables.sources import LoaderSpec

ARCHITECTURE = Architecture("factory", (3, 32, 32), "examples.models:small_cnn")
VARIANTS = {
    "fp32": Recipe(),
    "bf16": Recipe(precision="bf16"),
    "fp16": Recipe(precision="fp16"),
    "bf16 + compile": Recipe(precision="bf16", compile=True),
    "fp32 + compile": Recipe(compile=True),
}


def throughput(recipe: Recipe, device: torch.device, n: int, epochs: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
    data = TrialData(TensorDataset(x, y), TensorDataset(x[:256], y[:256]), n_classes=10)
    config = TrainConfig(depth=3, width=64, batch_size=256, lr=1e-3, epochs=100)
    feed = LoaderFeed(
        data, batch_size=256, seed=0, spec=LoaderSpec(), device=device, task="classification"
    )
    state = build_state(
        config,
        n_inputs=3 * 32 * 32,
        n_outputs=10,
        seed=0,
        device=device,
        architecture=ARCHITECTURE,
        recipe=recipe,
        steps_per_epoch=feed.steps or 1,
    )
    started = time.perf_counter()
    train_epoch(state, feed)  # warm-up: CUDA context, cuDNN autotune, compilation
    warm = time.perf_counter() - started
    times = []
    for _ in range(epochs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        loss = train_epoch(state, feed)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return {"examples_per_s": n / min(times), "first_epoch_s": warm, "last_loss": loss}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_precision", description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rows = {}
    for name in args.only or VARIANTS:
        rows[name] = throughput(VARIANTS[name], device, args.n, args.epochs)
        log(f"{name:>15}: {rows[name]['examples_per_s']:>10.0f} examples/s")
    base = rows.get("fp32", next(iter(rows.values())))["examples_per_s"]
    print(f"{'variant':>15} {'examples/s':>11} {'vs fp32':>8} {'1st epoch s':>12}")
    for name, r in rows.items():
        print(
            f"{name:>15} {r['examples_per_s']:>11.0f} {r['examples_per_s'] / base:>8.2f} "
            f"{r['first_epoch_s']:>12.1f}"
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"precision_{device.type}.json"
    out.write_text(json.dumps({"device": str(device), "torch": torch.__version__, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
