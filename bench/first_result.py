"""Time to first result: ``raysweep run SPEC --storage DIR`` as a subprocess (the real CLI).

Clock starts just before the process is spawned. The first result is the first line of
raysweep's ledger (each trained epoch records one entry, with a ``t`` timestamp); the first
checkpoint folder is noted too. The sweep then runs to the end, which also gives the CLI's
own overhead ratio (Ray start-up and shutdown included). ``RAY_ADDRESS=local`` makes the CLI
start its own Ray even if another one runs on this machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    Measurement,
    SweepShape,
    epoch_times,
    ledger_lines,
    log,
    shares,
    start_run,
    sweep_spec,
    timeline,
    write_yaml,
)

GOAL_S = 10.0


def _first_ledger_line(experiment: Path) -> dict[str, Any] | None:
    entries = ledger_lines(experiment)
    return min(entries, key=lambda e: e["t"]) if entries else None


def _process_start(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _tune_floor(workdir: Path, logfile: Path) -> dict[str, float]:
    """``bench.tune_floor`` in a subprocess: plain Tune's first report of a one-step trial."""
    with open(logfile, "ab") as out:
        t0 = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "bench.tune_floor", repr(t0), str(workdir / "floor-runs")],
            stdout=subprocess.PIPE,
            stderr=out,
            cwd=REPO,
            check=True,
        )
    return dict(json.loads(done.stdout.decode().strip().splitlines()[-1]))


def run(quick: bool, workdir: Path, logfile: Path) -> Measurement:
    m = Measurement("first_result")
    shape = SweepShape(num_samples=8 if quick else 24)
    name = "bench-cli"
    spec = write_yaml(workdir / "bench-cli.yaml", sweep_spec(name, shape))
    storage = workdir / "cli-runs"
    experiment = storage / name
    log(f"first_result: raysweep run ({shape.num_samples} trials) as a subprocess ...")
    first: dict[str, Any] | None = None
    seen_first = checkpoint_at = worker_start = None
    with open(logfile, "ab") as out:
        t0 = time.time()
        proc = start_run(spec, storage, out)
        while proc.poll() is None:
            if first is None:
                first = _first_ledger_line(experiment)
                if first is not None:
                    seen_first = time.time() - t0
                    worker_start = _process_start(int(first["pid"]))
            if checkpoint_at is None and any(experiment.glob("trial_*/checkpoint_*")):
                checkpoint_at = time.time() - t0
            time.sleep(0.02 if first is None or checkpoint_at is None else 0.2)
        wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"raysweep run exited with {proc.returncode}; see {logfile}")
    if first is None:
        first = _first_ledger_line(experiment)
    if first is None:
        raise RuntimeError("no ledger line was written")
    first_s = float(first["t"]) - t0
    log("first_result: the floor, plain Tune with a one-step torch trial ...")
    floor = _tune_floor(workdir, logfile)
    times = epoch_times(experiment)
    overhead = wall / (sum(times) / shape.max_concurrent)
    m.details = {
        "first_result_s": first_s,
        "first_result_seen_by_poll_s": seen_first,
        "first_checkpoint_dir_s": checkpoint_at,
        "first_trial_worker_started_s": None if worker_start is None else worker_start - t0,
        "cli_wall_s": wall,
        "epochs": len(times),
        "train_time_s": sum(times),
        "cli_overhead_ratio": overhead,
        "plain_tune_floor": floor,
        "timeline": timeline(experiment, t0, t0 + wall, shape.max_concurrent),
    }
    log(
        f"first_result: first epoch at {first_s:.2f} s, first checkpoint dir at "
        f"{checkpoint_at if checkpoint_at is None else round(checkpoint_at, 2)} s, "
        f"CLI wall {wall:.1f} s"
    )
    worker = m.details["first_trial_worker_started_s"]
    m.row(
        "first reported epoch (s)",
        first_s,
        at_most=GOAL_S,
        note="" if worker is None else f"trial worker process started at {worker:.1f} s",
    )
    m.row(
        "plain Tune, one-step torch trial: first report (s)",
        floor["first_report_s"],
        note=f"its ray.init done at {floor['ray_init_done_s']:.1f} s; nothing of raysweep runs",
    )
    m.row(
        "raysweep first epoch / plain Tune's first report",
        first_s / floor["first_report_s"],
        note="the same machine, one run",
    )
    m.row("first checkpoint dir (s)", checkpoint_at)
    m.row(
        "CLI overhead ratio (whole command)",
        overhead,
        note=f"incl. Ray start/stop; slot time: {shares(m.details['timeline'])}",
    )
    return m
