"""The throughput of a DataLoader-fed raysweep trial against a hand-written torch loop.

``python -m bench.loader_throughput [--rounds N]``: a small CNN (``examples/models.py``) on a
folder of 32x32 RGB PNGs, batch 64, Adam, fp32, trained one epoch at a time, alternating
raysweep's loop (``trainables.loop.train_epoch`` over ``LoaderFeed``) and the loop everyone
writes (``for x, y in loader: zero_grad, forward, loss, backward, step``) on the same data
set, model and loader settings. The ratio is the hand loop's epoch time over raysweep's
(throughput, raysweep / hand; 1.0 is parity), the median over rounds, per worker count.
Both run in this process, one after the other, so a noisy machine affects them alike.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from bench.common import REPO, log
from trainables.architecture import Architecture
from trainables.batches import loader_options
from trainables.config import TrainConfig
from trainables.datasets import build_trial_data
from trainables.feeds import LoaderFeed
from trainables.image_folder import check_folder
from trainables.loop import build_state, train_epoch
from trainables.model import build_model
from trainables.sources import ImageSource, LoaderSpec, TrialDataSpec

CONFIG = TrainConfig(depth=2, width=16, lr=1e-3, optimizer="adam", batch_size=64, epochs=1000)
ARCHITECTURE = Architecture("factory", (3, 32, 32), "examples.models:small_cnn")
CPU = torch.device("cpu")


def write_folder(root: Path, n: int = 3000) -> Path:
    from PIL import Image

    if (root / ".complete").exists():
        return root
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / str(i % 4)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:05d}.png")
    (root / ".complete").touch()
    return root


def data_spec(root: Path, workers: int) -> TrialDataSpec:
    source = ImageSource(str(root), 32, 3, check_folder(str(root)), (0.5,) * 3, (0.25,) * 3, False)
    return TrialDataSpec(source, val_fraction=0.1, loader=LoaderSpec(num_workers=workers))


def raysweep_epochs(spec: TrialDataSpec) -> Any:
    data = build_trial_data(spec, CONFIG)
    feed = LoaderFeed(
        data, batch_size=64, seed=0, spec=spec.loader, device=CPU, task="classification"
    )
    state = build_state(
        CONFIG,
        n_inputs=3 * 32 * 32,
        n_outputs=4,
        seed=0,
        device=CPU,
        architecture=ARCHITECTURE,
        steps_per_epoch=feed.steps or 1,
    )

    def epoch() -> int:
        train_epoch(state, feed)
        state.next_epoch += 1
        return len(data.train)

    return epoch


def hand_epochs(spec: TrialDataSpec) -> Any:
    data = build_trial_data(spec, CONFIG)
    torch.manual_seed(0)
    model = build_model(CONFIG, n_inputs=3 * 32 * 32, n_outputs=4, architecture=ARCHITECTURE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    loader = DataLoader(
        data.train,
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        **loader_options(spec.loader, on_gpu=False),
    )

    def epoch() -> int:
        model.train()
        total, seen = 0.0, 0
        for x, y in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            seen += len(y)
        return seen

    return epoch


def compare(root: Path, workers: int, rounds: int) -> dict[str, Any]:
    spec = data_spec(root, workers)
    ours, hand = raysweep_epochs(spec), hand_epochs(spec)
    ours(), hand()  # warm: worker start-up, first allocations
    times: dict[str, list[float]] = {"raysweep": [], "hand": []}
    for _ in range(rounds):
        for name, epoch in (("raysweep", ours), ("hand", hand)):
            started = time.perf_counter()
            n = epoch()
            times[name].append(n / (time.perf_counter() - started))
    ratio = median(r / h for r, h in zip(times["raysweep"], times["hand"]))
    return {
        "num_workers": workers,
        "examples_per_s": {k: median(v) for k, v in times.items()},
        "throughput_ratio_raysweep_to_hand": ratio,
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loader_throughput", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--data", type=Path, default=Path("/tmp/raysweep-loader-bench"))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one trial's CPU
    root = write_folder(args.data)
    rows = []
    for workers in args.workers:
        row = compare(root, workers, args.rounds)
        log(
            f"loader_throughput: {workers} loader workers: raysweep / hand = "
            f"{row['throughput_ratio_raysweep_to_hand']:.3f} "
            f"({row['examples_per_s']['raysweep']:.0f} vs "
            f"{row['examples_per_s']['hand']:.0f} examples/s)"
        )
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "loader_throughput.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
