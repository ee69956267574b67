"""The reference: a bare Optuna study around the same training loop, no Ray.

TPE (multivariate, the same seed) with Optuna's own successive-halving pruner at ASHA's
settings (min resource 1, reduction factor 3) when the sweep uses ASHA, none for FIFO; the
baseline enqueued first, no checkpoints; the data loaded as raysweep loads the spec's.
``run_sequential`` runs it in this process (one slot); ``run_two_process`` starts two worker
processes sharing a journal file (two slots), which is what one would write by hand for a
two-core machine. Run as ``python -m bench.bare_optuna JOURNAL N_TRIALS SHAPE_JSON`` it is
one worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import BASELINE, METRIC, REPO, SEED, SPACE, SweepShape, load_bench_data, suggest

STUDY = "bench"


def _make_study(shape: SweepShape, storage: Any = None, *, load: bool = False) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=SEED, multivariate=True)
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    if shape.scheduler == "asha":
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if load:
        return optuna.load_study(study_name=STUDY, storage=storage, sampler=sampler, pruner=pruner)
    return optuna.create_study(
        study_name=STUDY, storage=storage, direction="maximize", sampler=sampler, pruner=pruner
    )


def _objective(data: Any, shape: SweepShape) -> Any:
    import optuna
    import torch

    from trainables.config import TrainConfig, trial_seed
    from trainables.loop import TensorData, build_state, run_epoch

    tensors = TensorData.from_dataset(data, torch.device("cpu"))

    def objective(trial: optuna.Trial) -> float:
        config = {**suggest(trial, SPACE), "batch_size": shape.batch_size, "epochs": shape.epochs}
        cfg = TrainConfig.from_dict(config)
        state = build_state(
            cfg,
            n_inputs=data.n_features,
            n_outputs=data.n_outputs,
            seed=trial_seed(config, SEED),
            device=torch.device("cpu"),
        )
        best = 0.0
        times: list[float] = []
        for epoch in range(1, cfg.epochs + 1):
            metrics = run_epoch(state, tensors)
            times.append(float(metrics["epoch_time_s"]))
            trial.set_user_attr("epoch_times", times)
            value = float(metrics[METRIC])
            best = max(best, value)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return best

    return objective


def summarize(study: Any) -> dict[str, Any]:
    times = [t for trial in study.trials for t in trial.user_attrs.get("epoch_times", [])]
    values = [
        max(trial.intermediate_values.values())
        for trial in study.trials
        if trial.intermediate_values
    ]
    return {
        "trials": len(study.trials),
        "epochs": len(times),
        "train_time_s": sum(times),
        "best": max(values) if values else None,
    }


def run_sequential(shape: SweepShape) -> dict[str, Any]:
    """In this process, one trial at a time; the wall time covers data loading too."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        study = _make_study(shape)
        study.enqueue_trial(dict(BASELINE))
        study.optimize(_objective(load_bench_data(shape.data), shape), n_trials=shape.num_samples)
        wall = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    return {"wall_s": wall, "slots": 1, **summarize(study)}


def _journal(path: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


def run_two_process(
    shape: SweepShape,
    workdir: Path,
    logfile: Path,
    configs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Two worker processes on one journal, each with one torch thread and half the trials.

    With ``configs`` (one per trial) the study trains exactly those, in that order, instead
    of sampling after the baseline. The wall time runs from starting the processes
    (interpreter, imports) to both exiting.
    """
    journal = workdir / f"bare-optuna-{shape.data}-{shape.num_samples}.journal"
    study = _make_study(shape, _journal(journal))
    for config in configs or [BASELINE]:
        study.enqueue_trial(dict(config))
    per_worker = [shape.num_samples // 2, shape.num_samples - shape.num_samples // 2]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "bench.bare_optuna", str(journal)]
    started = time.perf_counter()
    with open(logfile, "ab") as out:
        procs = [
            subprocess.Popen(
                [*command, str(n), json.dumps(asdict(shape))],
                stdout=out,
                stderr=out,
                env=env,
                cwd=REPO,
            )
            for n in per_worker
        ]
        codes = [p.wait() for p in procs]
    wall = time.perf_counter() - started
    if any(codes):
        raise RuntimeError(f"bare Optuna workers exited with {codes}; see {logfile}")
    finished = _make_study(shape, _journal(journal), load=True)
    return {"wall_s": wall, "slots": 2, **summarize(finished)}


def _worker(journal: str, n_trials: int, shape: SweepShape) -> None:
    import torch

    torch.set_num_threads(1)
    study = _make_study(shape, _journal(Path(journal)), load=True)
    study.optimize(_objective(load_bench_data(shape.data), shape), n_trials=n_trials)


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]), SweepShape(**json.loads(sys.argv[3])))
