"""Trainable throughput: raysweep's ``train_epoch`` against a minimal hand-written loop.

Same model (same initial weights), same data tensors, batch size and optimizer settings, one
torch thread (a trial's share of this machine). Rounds alternate between the two loops, and
the ratio of the median samples/s is reported. With one torch thread all the work runs in
the calling thread, so samples per second of that thread's CPU time compares the loops
themselves even while other processes compete for the cores; wall-clock samples/s is
reported beside it.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
from torch import nn

from bench.common import Measurement, log, median

GOAL = 0.95


def hand_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> float:
    """The loop one writes by hand: shuffled index slices, cross-entropy, step."""
    model.train()
    n = x.shape[0]
    perm = torch.randperm(n, generator=generator)
    total = 0.0
    for start in range(0, n, batch_size):
        idx = perm[start : start + batch_size]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        total += loss.item() * idx.numel()
    return total / n


def _case(
    label: str, data: Any, *, depth: int, width: int, batch_size: int, rounds: int, epochs: int
) -> dict[str, Any]:
    from trainables.config import TrainConfig
    from trainables.loop import TensorData, build_state, train_epoch
    from trainables.optim import build_optimizer

    device = torch.device("cpu")
    tensors = TensorData.from_dataset(data, device)
    cfg = TrainConfig(depth=depth, width=width, batch_size=batch_size, optimizer="adam", lr=1e-3)
    state = build_state(
        cfg, n_inputs=data.n_features, n_outputs=data.n_outputs, seed=0, device=device
    )
    # The hand loop trains a copy of the very same initial model, with the optimizer built the
    # same way (raysweep's: Adam, fused) and, as an aside, with torch's default Adam.
    hand_model = copy.deepcopy(state.model)
    hand_opt = build_optimizer(hand_model, cfg)
    plain_model = copy.deepcopy(state.model)
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=cfg.lr)
    gen_hand = torch.Generator().manual_seed(0)
    gen_plain = torch.Generator().manual_seed(0)
    n = tensors.x_train.shape[0]

    def rate(fn: Any) -> tuple[float, float]:
        """Samples per second of this thread's CPU time, and of wall time."""
        cpu, wall = time.thread_time(), time.perf_counter()
        for _ in range(epochs):
            fn()
        return n * epochs / (time.thread_time() - cpu), n * epochs / (time.perf_counter() - wall)

    # one warm-up epoch each (allocator, first-call dispatch)
    train_epoch(state, tensors)
    hand_epoch(hand_model, hand_opt, tensors.x_train, tensors.y_train, batch_size, gen_hand)
    hand_epoch(plain_model, plain_opt, tensors.x_train, tensors.y_train, batch_size, gen_plain)
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "hand": [], "plain": []}
    loops: list[tuple[str, Any]] = [
        ("ours", lambda: train_epoch(state, tensors)),
        (
            "hand",
            lambda: hand_epoch(
                hand_model, hand_opt, tensors.x_train, tensors.y_train, batch_size, gen_hand
            ),
        ),
        (
            "plain",
            lambda: hand_epoch(
                plain_model, plain_opt, tensors.x_train, tensors.y_train, batch_size, gen_plain
            ),
        ),
    ]
    for r in range(rounds):
        # rotate who goes first, so that no loop always runs right after the same other one
        for name, fn in loops[r % 3 :] + loops[: r % 3]:
            runs[name].append(rate(fn))
    ours, hand, plain = runs["ours"], runs["hand"], runs["plain"]

    def med(values: list[tuple[float, float]], i: int) -> float:
        return median([v[i] for v in values])

    out = {
        "case": label,
        "n_train": n,
        "model": {"depth": depth, "width": width},
        "batch_size": batch_size,
        "raysweep_samples_per_cpu_s": med(ours, 0),
        "hand_samples_per_cpu_s": med(hand, 0),
        "raysweep_samples_per_s": med(ours, 1),
        "hand_samples_per_s": med(hand, 1),
        "hand_default_adam_samples_per_cpu_s": med(plain, 0),
        "ratio": med(ours, 0) / med(hand, 0),
        "ratio_wall": med(ours, 1) / med(hand, 1),
        "ratio_vs_default_adam": med(ours, 0) / med(plain, 0),
        "rounds": rounds,
        "epochs_per_round": epochs,
    }
    log(
        f"throughput {label}: raysweep {out['raysweep_samples_per_cpu_s']:.0f}/cpu-s, "
        f"hand {out['hand_samples_per_cpu_s']:.0f}/cpu-s, ratio {out['ratio']:.3f} "
        f"(wall clock {out['ratio_wall']:.3f})"
    )
    return out


def run(quick: bool) -> Measurement:
    from trainables.data import SyntheticOptions, load_dataset

    m = Measurement("throughput")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rounds = 6 if quick else 30
        digits = load_dataset("digits", val_fraction=0.2, seed=0)
        a = _case("digits", digits, depth=2, width=128, batch_size=64, rounds=rounds, epochs=2)
        synthetic = load_dataset(
            "synthetic",
            val_fraction=0.2,
            seed=0,
            synthetic=SyntheticOptions(n_samples=20000, n_features=64, n_classes=2),
        )
        b = _case(
            "synthetic-20k",
            synthetic,
            depth=3,
            width=256,
            batch_size=256,
            rounds=rounds // 2,
            epochs=1,
        )
    finally:
        torch.set_num_threads(threads)
    m.details = {"threads": 1, "cases": [a, b]}
    for case, name in ((a, "ratio digits d2 w128 bs64"), (b, "ratio synthetic d3 w256 bs256")):
        m.row(
            name,
            case["ratio"],
            at_least=GOAL,
            note=f"samples per CPU-s, same fused Adam; wall clock {case['ratio_wall']:.3f}",
        )
    m.row(
        "ratio vs torch default Adam (digits)",
        a["ratio_vs_default_adam"],
        note="hand loop with Adam(lr) (not fused)",
    )
    return m
