"""Plain Ray Tune with its defaults, doing the same training as raysweep's trainable.

A function trainable (same data via ``tune.with_parameters``, same seeds, ``run_epoch``, a
checkpoint every epoch via ``save_checkpoint``), OptunaSearch (multivariate TPE, same seed,
baseline first) behind a ConcurrencyLimiter, Tune's ASHAScheduler (grace 1, rf 3), and
otherwise Tune's defaults: no ``reuse_actors``, default checkpoint config.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BASELINE, METRIC, MODE, SEED, SPACE, SweepShape


def train_plain(config: dict[str, Any], *, data: Any) -> None:
    import torch
    from ray import tune

    from trainables.checkpoint import save_checkpoint
    from trainables.config import TrainConfig, trial_seed
    from trainables.loop import TensorData, build_state, run_epoch

    torch.set_num_threads(1)  # without it two trials on two cores crawl (see RAY_NOTES)
    cfg = TrainConfig.from_dict(config)
    device = torch.device("cpu")
    state = build_state(
        cfg,
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        seed=trial_seed(config, SEED),
        device=device,
    )
    tensors = TensorData.from_dataset(data, device)
    for _ in range(cfg.epochs):
        metrics = run_epoch(state, tensors)
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(state, directory)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def _distributions() -> dict[str, Any]:
    import optuna.distributions as od

    out: dict[str, Any] = {}
    for name, p in SPACE.items():
        if p["type"] == "float":
            out[name] = od.FloatDistribution(p["low"], p["high"], log=p.get("log", False))
        elif p["type"] == "int":
            out[name] = od.IntDistribution(p["low"], p["high"])
        else:
            out[name] = od.CategoricalDistribution(p["choices"])
    return out


def run_plain(shape: SweepShape, storage: Path) -> dict[str, Any]:
    """Wall time from building the Tuner (data load included) to ``fit()`` returning."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from trainables.data import load_dataset

    started = time.perf_counter()
    data = load_dataset("digits", val_fraction=0.2, seed=0)
    searcher = OptunaSearch(
        space=_distributions(),
        metric=METRIC,
        mode=MODE,
        points_to_evaluate=[dict(BASELINE)],
        sampler=optuna.samplers.TPESampler(seed=SEED, multivariate=True),
    )
    tuner = tune.Tuner(
        tune.with_parameters(train_plain, data=data),
        param_space={"batch_size": shape.batch_size, "epochs": shape.epochs},
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=MODE,
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=shape.max_concurrent),
            scheduler=ASHAScheduler(
                time_attr="training_iteration",
                max_t=shape.epochs,
                grace_period=1,
                reduction_factor=3,
            ),
            num_samples=shape.num_samples,
        ),
        run_config=tune.RunConfig(name="plain-tune", storage_path=str(storage), verbose=1),
    )
    grid = tuner.fit()
    wall = time.perf_counter() - started
    if grid.num_errors:
        raise RuntimeError(f"plain Tune sweep had {grid.num_errors} errored trials")
    times: list[float] = []
    best: float | None = None
    for result in (grid[i] for i in range(len(grid))):
        frame = result.metrics_dataframe
        if frame is None or frame.empty:
            continue
        times += [float(v) for v in frame["epoch_time_s"].dropna()]
        value = float(frame[METRIC].max())
        best = value if best is None else max(best, value)
    return {
        "wall_s": wall,
        "slots": shape.max_concurrent,
        "trials": len(grid),
        "errors": grid.num_errors,
        "epochs": len(times),
        "train_time_s": sum(times),
        "best": best,
    }
