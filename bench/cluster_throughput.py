"""``python -m bench.cluster_throughput``: trials per minute on the 3-node loopback cluster
against one node with the same total CPUs (2).

Both clusters are started with ``ray start`` the way the tests start them (``tests.cluster``):
a 0-CPU head with workers ``a`` and ``b`` of 1 CPU each, or one 2-CPU node. The same sweep
(digits, random sampler with a fixed seed so both get the same configs, FIFO so every trial
runs all its epochs, 1 CPU per trial, 2 concurrent) runs as ``raysweep run SPEC --address``
against each, the clock running from spawning the CLI to its exit: what a user with a
running cluster waits for. Cluster start-up is timed apart. ``--repeats`` alternates the
order, so neither layout always runs on a machine warmed (or loaded) by the other.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    RAYSWEEP_CLI,
    Measurement,
    SweepShape,
    add_output_arguments,
    epoch_times,
    log,
    median,
    shares,
    sweep_spec,
    timeline,
    write_results,
    write_yaml,
)
from tests.cluster import cluster_env, start_local_cluster

NAME = "bench-cluster"
SLOTS = 2  # both layouts have 2 CPUs for trials of 1 CPU
LAYOUTS: dict[str, dict[str, Any]] = {
    # tests.cluster's default: nothing trains on the head
    "three_nodes": {"head_cpus": 0},
    "one_node": {"head_cpus": SLOTS, "workers": {}},
}


def spec_for(trials: int, epochs: int) -> dict[str, Any]:
    shape = SweepShape(num_samples=trials, epochs=epochs, max_concurrent=SLOTS)
    return sweep_spec(NAME, shape, scheduler="fifo", sampler="random")


def sweep_on(layout: str, spec: Path, workdir: Path, logfile: Path) -> dict[str, Any]:
    """Start ``layout``, run the sweep against it, stop it; the timings and what finished."""
    from search.results import TERMINATED, load_results

    load_before = os.getloadavg()[0]  # the machine is shared: say how busy it was
    started = time.perf_counter()
    cluster = start_local_cluster(**LAYOUTS[layout])
    cluster_start_s = time.perf_counter() - started
    storage = workdir / f"{layout}-{time.monotonic_ns()}"
    try:
        with open(logfile, "ab") as out:
            t0, p0 = time.time(), time.perf_counter()
            proc = subprocess.run(
                [str(RAYSWEEP_CLI), "run", str(spec), "--address", cluster.address]
                + ["--storage", str(storage)],
                stdout=out,
                stderr=out,
                env=cluster_env(),
                cwd=workdir,
                timeout=1800,
            )
            wall = time.perf_counter() - p0
            t1 = time.time()
    finally:
        cluster.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"raysweep run on {layout} exited {proc.returncode}; see {logfile}")
    experiment = storage / NAME
    trials = load_results(str(experiment)).trials
    finished = sum(t.status == TERMINATED for t in trials)
    parts = timeline(experiment, t0, t1, SLOTS)
    span = parts["last_epoch_end_s"] - parts["first_epoch_start_s"]
    result = {
        "layout": layout,
        "cluster_start_s": cluster_start_s,
        "cli_wall_s": wall,
        "trials": len(trials),
        "finished": finished,
        "trials_per_min": finished / wall * 60,
        # From the first epoch's start to the last one's end: the sweep without the CLI's
        # imports, joining Ray and shutdown.
        "training_span_s": span,
        "trials_per_min_training_span": finished / span * 60,
        "median_epoch_s": median(epoch_times(experiment)),
        "timeline": parts,
        "load_1min_before_after": [load_before, os.getloadavg()[0]],
    }
    log(
        f"{layout}: {finished}/{len(trials)} trials in {wall:.1f} s "
        f"({result['trials_per_min']:.1f}/min; cluster start {cluster_start_s:.1f} s; "
        f"{shares(parts)})"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster_throughput", description=__doc__
    )
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2, help="sweeps per layout, alternating")
    add_output_arguments(parser)
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    logfile = args.out / "cluster_throughput.log"
    logfile.write_text("")
    workdir = Path(tempfile.mkdtemp(prefix="rsb-", dir="/tmp"))
    log(f"work dir {workdir}; sweep output goes to {logfile}")
    started = time.perf_counter()
    spec = write_yaml(workdir / "spec.yaml", spec_for(args.trials, args.epochs))
    runs: list[dict[str, Any]] = []
    try:
        for i in range(args.repeats):
            order = list(LAYOUTS) if i % 2 == 0 else list(reversed(LAYOUTS))
            runs += [sweep_on(layout, spec, workdir, logfile) for layout in order]
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    def rate(layout: str, key: str = "trials_per_min") -> float:
        return median([r[key] for r in runs if r["layout"] == layout])

    m = Measurement("cluster_throughput")
    for layout in LAYOUTS:
        m.row(
            f"{layout} trials/min",
            rate(layout),
            note=f"training span only: {rate(layout, 'trials_per_min_training_span'):.1f}",
        )
    span_key = "trials_per_min_training_span"
    span_ratio = rate("three_nodes", span_key) / rate("one_node", span_key)
    m.row(
        "ratio three_nodes / one_node",
        rate("three_nodes") / rate("one_node"),
        note=f"training span only: {span_ratio:.3f}",
    )
    m.details = {
        "trials": args.trials,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "runs": runs,
    }
    write_results(
        args.out / "cluster_throughput.json",
        [m],
        started=started,
        spec=spec_for(args.trials, args.epochs),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
