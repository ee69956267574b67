"""``python -m bench [--quick] [--only NAME]``: run the benchmarks, print a table, write JSON.

Order: the measurements without Ray first (throughput, checkpoint), then those that start
``raysweep run`` as a subprocess with its own Ray (first_result, memory), then one local
Ray for the in-process sweeps (overhead, asha), shut down at the end.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import asha, checkpoint_cost, first_result, memory, overhead, throughput
from bench.common import (
    Measurement,
    add_output_arguments,
    log,
    redirected,
    write_results,
)

Runner = Callable[[bool, Path, Path], Measurement]

NO_RAY: dict[str, Callable[[bool], Measurement]] = {
    "throughput": throughput.run,
    "checkpoint": checkpoint_cost.run,
}
SUBPROCESS: dict[str, Runner] = {"first_result": first_result.run, "memory": memory.run}
IN_RAY: dict[str, Runner] = {"overhead": overhead.run, "asha": asha.run}
NAMES = [*NO_RAY, *SUBPROCESS, *IN_RAY]


def _start_ray(workdir: Path, logfile: Path) -> float:
    from search.sweep.ray_session import start_local_ray

    started = time.perf_counter()
    with redirected(logfile):
        # raysweep's own embedded Ray, as ``raysweep run`` starts it for 2 trials at once
        start_local_ray(
            trials_at_once=2,
            address="local",  # never join another Ray running on this machine
            num_cpus=2,
            _temp_dir=str(workdir / "ray"),
        )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small, fast variant")
    parser.add_argument("--only", choices=NAMES, action="append", help="run only NAME")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    selected = args.only or NAMES
    results_dir: Path = args.out

    results_dir.mkdir(parents=True, exist_ok=True)
    logfile = results_dir / "latest.log"
    logfile.write_text("")
    workdir = Path(tempfile.mkdtemp(prefix="rsb-", dir="/tmp"))  # short: Ray's socket paths
    log(f"work dir {workdir}; sweep output goes to {logfile}")
    started = time.perf_counter()
    measurements: list[Measurement] = []
    meta: dict[str, Any] = {}

    def attempt(name: str, fn: Callable[..., Measurement], *fn_args: Any) -> None:
        try:
            measurements.append(fn(*fn_args))
        except Exception as exc:  # one failed measurement shouldn't lose the others
            log(f"{name} failed: {exc!r}")
            measurements.append(Measurement(name, error=traceback.format_exc()))

    try:
        for name, fn in NO_RAY.items():
            if name in selected:
                attempt(name, fn, args.quick)
        for name, runner in SUBPROCESS.items():
            if name in selected:
                attempt(name, runner, args.quick, workdir, logfile)
        if any(name in selected for name in IN_RAY):
            import ray

            meta["ray_init_s"] = _start_ray(workdir, logfile)
            log(f"local Ray started in {meta['ray_init_s']:.1f} s")
            try:
                for name, runner in IN_RAY.items():
                    if name in selected:
                        attempt(name, runner, args.quick, workdir, logfile)
            finally:
                with redirected(logfile):
                    ray.shutdown()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    write_results(
        results_dir / "latest.json", measurements, started=started, quick=bool(args.quick), **meta
    )
    return 1 if any(m.error for m in measurements) else 0


if __name__ == "__main__":
    raise SystemExit(main())
