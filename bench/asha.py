"""ASHA saving: epochs trained under ASHA against full training (FIFO) of the same configs.

Both sweeps run one trial at a time with the random sampler and the same seed, so they are
handed the same configs in the same order whatever the results were (TPE would condition on
the different results and drift apart after its start-up trials). Epochs trained come from
raysweep's ledger (one line per trained epoch); the best metric from the sweep summary.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.common import Measurement, SweepShape, ledger_lines, log, redirected, sweep_spec

GOAL_SHARE = 0.35
GOAL_GAP_POINTS = 1.0


def _sweep(spec: dict[str, Any], storage: Path) -> dict[str, Any]:
    from search.results import load_results
    from search.spec import parse_spec
    from search.sweep.run import run_sweep

    started = time.perf_counter()
    summary = run_sweep(parse_spec(spec, source="<bench>"), storage=str(storage))
    wall = time.perf_counter() - started
    if summary.num_errors:
        raise RuntimeError(f"{spec['name']} had {summary.num_errors} errored trials")
    configs = [
        json.dumps(t.config, sort_keys=True, default=str)
        for t in load_results(str(summary.path)).trials
    ]
    return {
        "wall_s": wall,
        "trials": summary.num_trials,
        "errors": summary.num_errors,
        "epochs_trained": len(ledger_lines(summary.path)),
        "best": None if summary.best is None else summary.best.metric,
        "configs": configs,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def run(quick: bool, workdir: Path, logfile: Path) -> Measurement:
    m = Measurement("asha")
    shape = SweepShape(num_samples=9 if quick else 24, max_concurrent=1)
    out: dict[str, dict[str, Any]] = {}
    for scheduler in ("asha", "fifo"):
        spec = sweep_spec(f"bench-{scheduler}", shape, scheduler=scheduler, sampler="random")
        log(f"asha: {scheduler} sweep ({shape.num_samples} trials, 1 at a time) ...")
        with redirected(logfile):
            out[scheduler] = _sweep(spec, workdir)
        log(f"asha: {scheduler}: {out[scheduler]['epochs_trained']} epochs trained")
    asha, fifo = out["asha"], out["fifo"]
    same = sorted(asha["configs"]) == sorted(fifo["configs"])
    share = asha["epochs_trained"] / fifo["epochs_trained"]
    gap = None
    if asha["best"] is not None and fifo["best"] is not None:
        gap = 100.0 * (fifo["best"] - asha["best"])  # accuracy points lost by stopping early
    m.details = {
        "shape": shape.__dict__,
        "same_configs": same,
        "asha": {k: v for k, v in asha.items() if k != "configs"},
        "fifo": {k: v for k, v in fifo.items() if k != "configs"},
        "configs": asha["configs"],
    }
    m.row(
        "ASHA epochs / full epochs",
        share,
        at_most=GOAL_SHARE,
        note=f"{asha['epochs_trained']}/{fifo['epochs_trained']}; same configs: {same}",
    )
    m.row(
        "best metric gap (points)",
        gap,
        at_most=GOAL_GAP_POINTS,
        note=f"best val_accuracy: fifo {_fmt(fifo['best'])}, asha {_fmt(asha['best'])}",
    )
    m.row("ASHA wall / full wall", asha["wall_s"] / fifo["wall_s"])
    return m
