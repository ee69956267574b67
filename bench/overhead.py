"""Sweep overhead: raysweep against plain Ray Tune defaults and a bare Optuna loop.

All four run the same 24-trial digits sweep (TPE, ASHA-style halving at grace 1 / rf 3,
baseline first) in one bench run. overhead ratio = wall time / (sum of the trials' own
``epoch_time_s`` / concurrent slots): 1.0 would mean every slot trained all the time.
raysweep and plain Tune share the bench's local Ray (started before, not timed); the bare
loops need no Ray.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import bare_optuna, plain_tune
from bench.common import (
    Measurement,
    SweepShape,
    digits_spec,
    epoch_times,
    ledger_lines,
    log,
    redirected,
    shares,
    timeline,
)

GOAL_OVERHEAD = 1.2
GOAL_VS_BARE = 1.25
GOAL_VS_PLAIN = 5.0


def run_raysweep(spec: dict[str, Any], storage: Path) -> dict[str, Any]:
    """The real API, timed from parsing the spec to the summary being returned."""
    from search.run import run_sweep
    from search.spec import parse_spec

    t0, started = time.time(), time.perf_counter()
    summary = run_sweep(parse_spec(spec, source="<bench>"), storage=str(storage))
    wall = time.perf_counter() - started
    if summary.num_errors:
        raise RuntimeError(f"raysweep sweep had {summary.num_errors} errored trials")
    times = epoch_times(summary.path)
    return {
        "wall_s": wall,
        "slots": spec["search"]["max_concurrent"],
        "trials": summary.num_trials,
        "errors": summary.num_errors,
        "epochs": len(times),
        "epochs_trained": len(ledger_lines(summary.path)),
        "train_time_s": sum(times),
        "best": None if summary.best is None else summary.best.metric,
        "path": str(summary.path),
        "timeline": timeline(summary.path, t0, t0 + wall, spec["search"]["max_concurrent"]),
    }


def _ratio(r: dict[str, Any]) -> float:
    return float(r["wall_s"]) / (float(r["train_time_s"]) / int(r["slots"]))


def run(quick: bool, workdir: Path, logfile: Path) -> Measurement:
    m = Measurement("overhead")
    shape = SweepShape(num_samples=8 if quick else 24)
    results: dict[str, dict[str, Any]] = {}
    steps = [
        ("raysweep", lambda: run_raysweep(digits_spec("bench-raysweep", shape), workdir)),
        ("bare_optuna_2proc", lambda: bare_optuna.run_two_process(shape, workdir, logfile)),
        ("plain_tune", lambda: plain_tune.run_plain(shape, workdir)),
        ("bare_optuna_sequential", lambda: bare_optuna.run_sequential(shape)),
    ]
    for name, step in steps:
        log(f"overhead: {name} ({shape.num_samples} trials) ...")
        with redirected(logfile):
            results[name] = step()
        r = results[name]
        r["overhead_ratio"] = _ratio(r)
        log(
            f"overhead: {name}: wall {r['wall_s']:.1f} s, trained {r['train_time_s']:.2f} s "
            f"in {r['epochs']} epochs, ratio {r['overhead_ratio']:.2f}"
        )
    rs, plain = results["raysweep"], results["plain_tune"]
    bare2, bare1 = results["bare_optuna_2proc"], results["bare_optuna_sequential"]
    m.details = {"shape": shape.__dict__, **results}
    m.row(
        "raysweep overhead ratio",
        rs["overhead_ratio"],
        at_most=GOAL_OVERHEAD,
        note=f"slot time: {shares(rs['timeline'])}",
    )
    m.row("plain Tune overhead ratio", plain["overhead_ratio"], note="defaults, no reuse_actors")
    m.row("bare Optuna 2-proc overhead ratio", bare2["overhead_ratio"])
    m.row("bare Optuna sequential overhead ratio", bare1["overhead_ratio"], note="1 slot")
    m.row(
        "raysweep wall / bare 2-proc wall",
        rs["wall_s"] / bare2["wall_s"],
        at_most=GOAL_VS_BARE,
        note=f"{rs['epochs']} vs {bare2['epochs']} epochs trained",
    )
    m.row(
        "plain Tune wall / raysweep wall", plain["wall_s"] / rs["wall_s"], at_least=GOAL_VS_PLAIN
    )
    m.row("raysweep wall / bare sequential wall", rs["wall_s"] / bare1["wall_s"])
    return m
