"""``python -m bench.node_loss``: a lost worker node, N times in a row; how many sweeps survive.

The issue's scenario (a 0-CPU head and two 1-CPU workers, token auth, ``raysweep run
--address`` with 6 trials of 10 epochs): once the sweep reaches a moment, worker ``b``'s whole
process group (raylet, workers, agents) is SIGKILLed, as a lost machine would be. A run passes
when the sweep exits 0 with every trial terminated after all its epochs. Moments, taken in
turn: ``checkpoints`` (4 checkpoints exist, the issue's), ```start`` (the first trial on ``b``
has just reported its last epoch: the next trial is starting there), ``mid`` (half an epoch
after a trial on ``b`` reported its third), ``checkpoint`` (a trial on ``b`` has just recorded
epoch 2 in its ledger, which comes right before that epoch's checkpoint is written).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import RAYSWEEP_CLI, log, write_yaml
from tests.cluster import LocalCluster, cluster_env, start_local_cluster
from tests.helpers import spec_dict
from trainables.recovery import read_ledger

MOMENTS = ("checkpoints", "start", "mid", "checkpoint")


def spec_for(trials: int, epochs: int) -> dict:
    return spec_dict(
        {
            "name": "lost",
            "scheduler": {"type": "fifo"},
            "fixed.epochs": epochs,
            "search.num_samples": trials,
            "search.max_concurrent": 2,
            "search.sampler": "random",
        }
    )


def _checkpoints(exp: Path) -> list[Path]:
    return [p for p in exp.glob("trial_*/checkpoint_*") if (p / "state.json").exists()]


def _b_pids(cluster: LocalCluster) -> set[int]:
    return cluster.node_pids("b")


def _ledger_on_b(exp: Path, b_pids: set[int]) -> list[dict]:
    return [e for run in read_ledger(exp).values() for e in run if e["pid"] in b_pids]


def reached(moment: str, exp: Path, cluster: LocalCluster, epochs: int) -> bool:
    if moment == "checkpoints":
        return len(_checkpoints(exp)) >= 4
    on_b = _ledger_on_b(exp, _b_pids(cluster))
    if moment == "start":  # b's first trial just ended: the next one is starting there
        return any(e["epoch"] == epochs for e in on_b)
    if moment == "checkpoint":  # the ledger is written just before the epoch's checkpoint
        return any(e["epoch"] == 2 for e in on_b)
    # mid: half an epoch after b's third epoch
    third = [e["t"] for e in on_b if e["epoch"] in (2, 3)]
    return len(third) == 2 and time.time() >= third[1] + (third[1] - third[0]) / 2


def one_run(moment: str, workdir: Path, trials: int, epochs: int) -> dict:
    spec = write_yaml(workdir / "lost.yaml", spec_for(trials, epochs))
    storage = workdir / "runs"
    exp = storage / "lost"
    cluster = start_local_cluster()
    logfile = workdir / "sweep.log"
    try:
        with open(logfile, "wb") as out:
            proc = subprocess.Popen(
                [
                    RAYSWEEP_CLI,
                    "run",
                    str(spec),
                    "--address",
                    cluster.address,
                    "--storage",
                    str(storage),
                ],
                cwd=workdir,
                env=cluster_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + 300
            while not reached(moment, exp, cluster, epochs):
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            killed_at = time.monotonic()
            cluster.kill_node("b")
            rc = proc.wait(timeout=600)
        return {
            "moment": moment,
            "rc": rc,
            **_outcome(exp),
            "s_after_kill": round(time.monotonic() - killed_at, 1),
            "log": str(logfile),
        }
    finally:
        cluster.stop()


def _outcome(exp: Path) -> dict:
    from search.results import load_results

    trials = load_results(str(exp)).trials
    return {
        "trials": len(trials),
        "complete": sum(t.status == "terminated" and t.epochs_completed > 0 for t in trials),
        "errors": [t.trial_id for t in trials if t.status == "error"],
        "restarted_from_1": sum(
            [e["epoch"] for e in runs].count(1) > 1 for runs in read_ledger(exp).values()
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--moments", nargs="+", choices=MOMENTS, default=list(MOMENTS))
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    passed = 0
    for i in range(args.runs):
        moment = args.moments[i % len(args.moments)]
        workdir = Path(tempfile.mkdtemp(prefix="bench-node-loss-"))
        row = one_run(moment, workdir, args.trials, args.epochs)
        ok = row["rc"] == 0 and not row["errors"] and row["complete"] == args.trials
        passed += ok
        log(f"run {i + 1}/{args.runs}: {'pass' if ok else 'FAIL'} {json.dumps(row)}")
    log(f"node loss: {passed}/{args.runs} sweeps completed with exit 0")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
