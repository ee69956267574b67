"""Sweep overhead: raysweep against plain Ray Tune defaults and a bare Optuna loop.

Two sweeps, each run side by side in one bench run. The issue's goal shape: 32 trials on the
20k-sample synthetic task, trials of a few seconds trained fully (FIFO), raysweep against a
bare two-process Optuna loop that trains exactly the configs raysweep trained. And the
24-trial digits sweep (TPE, ASHA-style halving at grace 1 / rf 3, baseline first, trials of
tenths of a second), where plain Ray Tune's defaults and a sequential loop join in. overhead
ratio = wall time / (sum of the trials' own ``epoch_time_s`` / concurrent slots): 1.0 would
mean every slot trained all the time.
raysweep and plain Tune share the bench's local Ray (started before, not timed); the bare
loops need no Ray.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import bare_optuna, plain_tune
from bench.common import (
    SPACE,
    Measurement,
    SweepShape,
    epoch_times,
    ledger_lines,
    log,
    redirected,
    shares,
    sweep_spec,
    timeline,
)

GOAL_OVERHEAD = 1.2
GOAL_VS_BARE = 1.25
GOAL_VS_PLAIN = 5.0


def run_raysweep(spec: dict[str, Any], storage: Path) -> dict[str, Any]:
    """The real API, timed from parsing the spec to the summary being returned."""
    from search.spec import parse_spec
    from search.sweep.run import run_sweep

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
        "configs": searched_configs(summary.path),
        "errors": summary.num_errors,
        "epochs": len(times),
        "epochs_trained": len(ledger_lines(summary.path)),
        "train_time_s": sum(times),
        "best": None if summary.best is None else summary.best.metric,
        "path": str(summary.path),
        "timeline": timeline(summary.path, t0, t0 + wall, spec["search"]["max_concurrent"]),
    }


def searched_configs(experiment: Any) -> list[dict[str, Any]]:
    """The searched hyperparameters of every trial, in the order Tune created them."""
    from search.results import load_results

    return [{k: t.config[k] for k in SPACE} for t in load_results(str(experiment)).trials]


def _ratio(r: dict[str, Any]) -> float:
    return float(r["wall_s"]) / (float(r["train_time_s"]) / int(r["slots"]))


def run(quick: bool, workdir: Path, logfile: Path) -> Measurement:
    m = Measurement("overhead")
    digits = SweepShape(num_samples=8 if quick else 24)
    # The goal shape: trials of a few seconds (2-11 s here), every one trained fully.
    synthetic = SweepShape(
        num_samples=8 if quick else 32,
        epochs=4 if quick else 10,
        data="synthetic-20k",
        scheduler="fifo",
    )
    results: dict[str, dict[str, Any]] = {}
    steps = [
        ("raysweep", lambda: run_raysweep(sweep_spec("bench-raysweep", digits), workdir)),
        ("bare_optuna_2proc", lambda: bare_optuna.run_two_process(digits, workdir, logfile)),
        ("plain_tune", lambda: plain_tune.run_plain(digits, workdir)),
        ("bare_optuna_sequential", lambda: bare_optuna.run_sequential(digits)),
        (
            "raysweep_synthetic",
            lambda: run_raysweep(sweep_spec("bench-raysweep-synthetic", synthetic), workdir),
        ),
        (  # exactly the configs raysweep trained
            "bare_optuna_2proc_synthetic",
            lambda: bare_optuna.run_two_process(
                synthetic, workdir, logfile, configs=results["raysweep_synthetic"]["configs"]
            ),
        ),
    ]
    for name, step in steps:
        log(f"overhead: {name} ...")
        with redirected(logfile):
            results[name] = step()
        r = results[name]
        r["overhead_ratio"] = _ratio(r)
        log(
            f"overhead: {name}: {r['trials']} trials, wall {r['wall_s']:.1f} s, trained "
            f"{r['train_time_s']:.2f} s in {r['epochs']} epochs, ratio {r['overhead_ratio']:.2f}"
        )
    m.details = {"shapes": {"digits": digits.__dict__, "synthetic": synthetic.__dict__}, **results}
    rs, plain = results["raysweep"], results["plain_tune"]
    bare2, bare1 = results["bare_optuna_2proc"], results["bare_optuna_sequential"]
    syn, syn_bare = results["raysweep_synthetic"], results["bare_optuna_2proc_synthetic"]
    where = f"{synthetic.num_samples} trials, 20k synthetic, FIFO, same configs"
    m.row(
        f"raysweep overhead ratio ({where})",
        syn["overhead_ratio"],
        at_most=GOAL_OVERHEAD,
        note=f"slot time: {shares(syn['timeline'])}",
    )
    m.row(
        f"raysweep wall / bare 2-proc wall ({where})",
        syn["wall_s"] / syn_bare["wall_s"],
        at_most=GOAL_VS_BARE,
        note=f"bare loop's own overhead ratio {syn_bare['overhead_ratio']:.2f}",
    )
    m.row(
        f"plain Tune wall / raysweep wall ({digits.num_samples} trials, digits, ASHA)",
        plain["wall_s"] / rs["wall_s"],
        at_least=GOAL_VS_PLAIN,
    )
    m.row(
        "raysweep overhead ratio (digits: trials of tenths of a second)",
        rs["overhead_ratio"],
        note=f"slot time: {shares(rs['timeline'])}",
    )
    m.row("plain Tune overhead ratio (digits)", plain["overhead_ratio"], note="no reuse_actors")
    m.row("bare Optuna 2-proc overhead ratio (digits)", bare2["overhead_ratio"])
    m.row("bare Optuna sequential overhead ratio (digits)", bare1["overhead_ratio"], note="1 slot")
    m.row(
        "raysweep wall / bare 2-proc wall (digits)",
        rs["wall_s"] / bare2["wall_s"],
        note=f"{rs['epochs']} vs {bare2['epochs']} epochs trained",
    )
    m.row("raysweep wall / bare sequential wall (digits)", rs["wall_s"] / bare1["wall_s"])
    return m
