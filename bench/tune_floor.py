"""The floor under "time to first result": plain Ray Tune, defaults, and a trial that only
imports torch, takes one Adam step and reports once.

``python -m bench.tune_floor T0 STORAGE`` prints one JSON line: seconds from ``T0`` (the
caller's clock when it spawned this process) to ``ray.init`` done and to the first report.
Every Tune trial pays this before its first epoch; nothing of raysweep's runs here.
"""

from __future__ import annotations

import json
import logging
import sys
import time


def trainable(config: dict) -> None:
    import torch
    from ray import tune

    model = torch.nn.Linear(8, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 8)).sum().backward()
    optimizer.step()  # the first step imports torch._dynamo, as in any real trial
    tune.report({"t": time.time()})


def main(t0: float, storage: str) -> dict[str, float]:
    import ray
    from ray import tune

    ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
    initialized = time.time()
    results = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(num_samples=2, reuse_actors=True),
        run_config=tune.RunConfig(name="floor", storage_path=storage, verbose=0),
    ).fit()
    first = min(r.metrics["t"] for r in results if r.metrics)
    ray.shutdown()
    return {"ray_init_done_s": initialized - t0, "first_report_s": first - t0}


if __name__ == "__main__":
    print(json.dumps(main(float(sys.argv[1]), sys.argv[2])))
