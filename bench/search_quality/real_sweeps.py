"""Do real sweeps rank the policies as the replay does?

``python -m bench.search_quality.real_sweeps [--seeds 3] [--budget 8] [--before REF]`` runs
``raysweep run`` on digits over the table's space with an epoch budget of ``budget``
full-training equivalents, once with this checkout (the new default) and once with the code
at git ``REF`` (today's default before the benchmark; a temporary worktree), for each seed.
The config each sweep recommends (rank 1 of its export) is looked up in the learning-curve
table: its regret is what the replay would score it. Writes
``bench/results/search_quality_real.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import yaml

from bench.search_quality.curves import CURVES_DIR
from bench.search_quality.methods import space_spec
from bench.search_quality.table import load_table
from bench.search_quality.tasks import EPOCHS, FIXED, SPLIT

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
BEFORE = "63d4174"  # the last commit with the old default


def _spec(seed: int, budget: int, grid: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"real-{seed}",
        "data": {"dataset": "digits", "val_fraction": SPLIT["val_fraction"], "seed": 0},
        "metric": {"name": "val_accuracy", "mode": "max"},
        "space": space_spec(grid),
        "fixed": {**FIXED, "epochs": EPOCHS},
        "search": {
            "num_samples": 500,
            "max_concurrent": 2,
            "seed": seed,
            "max_total_epochs": budget * EPOCHS,
        },
        "checkpoint": {"every": 3, "keep": 1},
        "resources": {"cpus_per_trial": 1},
    }


def _sweep(code: Path, spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    spec_path = workdir / f"{spec['name']}.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "PYTHONPATH": str(code)}
    cli = [sys.executable, "-m", "search.cli"]
    started = time.perf_counter()
    subprocess.run(
        [*cli, "run", str(spec_path), "--storage", str(workdir / "runs")],
        cwd=code,
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    out = workdir / f"{spec['name']}.parquet"
    experiment = workdir / "runs" / spec["name"]
    subprocess.run(
        [*cli, "export", str(experiment), "-o", str(out)],
        cwd=code,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    rows = pq.read_table(out).to_pylist()
    best = min((r for r in rows if r["rank"] is not None), key=lambda r: r["rank"])
    return {
        "best": best,
        "trials": len(rows),
        "seconds": round(seconds, 1),
        "epochs": int(sum(r["epochs_completed"] for r in rows)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--before", default=BEFORE)
    args = parser.parse_args(argv)
    table = load_table(CURVES_DIR / "digits.parquet")
    results: dict[str, list[dict[str, Any]]] = {"before": [], "now": []}
    with tempfile.TemporaryDirectory(prefix="raysweep-real-") as tmp:
        old = Path(tmp) / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), args.before],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        try:
            for seed in range(args.seeds):
                for policy, code in (("before", old), ("now", REPO)):
                    workdir = Path(tmp) / f"{policy}-{seed}"
                    workdir.mkdir()
                    run = _sweep(code, _spec(seed, args.budget, table.grid), workdir)
                    params = {k: run["best"][k] for k in table.grid}
                    regret = table.regret(table.config_id(params))
                    results[policy].append(
                        {
                            "seed": seed,
                            "val_regret": regret[0],
                            "test_regret": regret[1],
                            **run,
                            "best": params,
                        }
                    )
                    print(
                        f"{policy} seed {seed}: regret {regret[0]:.4f} ({run['trials']} trials, "
                        f"{run['epochs']} epochs, {run['seconds']} s)",
                        flush=True,
                    )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old)],
                cwd=REPO,
                check=False,
                capture_output=True,
            )
    summary = {
        policy: {"median_regret": float(np.median([r["val_regret"] for r in runs])), "runs": runs}
        for policy, runs in results.items()
    }
    summary["setup"] = {
        "task": "digits",
        "budget": args.budget,
        "before": args.before,
        "note": "lr is searched log-uniform and snapped to the table's grid",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_quality_real.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
