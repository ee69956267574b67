"""Run by a test in a fresh process: ``python -m tests.warm_start_probe STORAGE``.

Starts the embedded Ray as ``raysweep run`` does, runs one plain Tune trial that reports on
its own process, and prints one JSON line: was the Tuner's code imported while Ray started,
did the trial run in a worker Ray had prestarted for no job in particular, and did that
worker already hold torch's dynamo and the trainable.
"""

from __future__ import annotations

import json
import os
import sys

WORKER_MODULES = ("torch._dynamo", "trainables.trainable")
# A worker Ray starts before any job asks for one logs under the nil job id: worker-W-ffffffff-PID
PRESTARTED = "-ffffffff-"


def probe(config: dict) -> None:
    from ray import tune

    preloaded = all(name in sys.modules for name in WORKER_MODULES)
    tune.report({"log": os.readlink("/proc/self/fd/2"), "preloaded": preloaded})


def main(storage: str) -> dict[str, bool]:
    from search.ray_session import ensure_ray, trial_actors_in_prestarted_workers

    ensure_ray(trials_at_once=1)
    tuner_imported = "trainables.trainable" in sys.modules
    from ray import tune

    trial_actors_in_prestarted_workers()
    results = tune.Tuner(
        tune.with_resources(probe, {"cpu": 1}),
        tune_config=tune.TuneConfig(num_samples=1),
        run_config=tune.RunConfig(storage_path=storage, verbose=0),
    ).fit()
    metrics = results[0].metrics
    return {
        "tuner_imported": tuner_imported,
        "prestarted": PRESTARTED in metrics["log"],
        "preloaded": bool(metrics["preloaded"]),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
