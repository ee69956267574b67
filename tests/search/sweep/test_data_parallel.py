"""Data-parallel trials: real DDP over Gloo on this machine's CPU, 2 workers x 1 CPU.

A 2-worker trial is a Ray Train run driven by its Tune trial; each rank runs raysweep's loop on
its share of every global batch. It must train like a 1-worker trial with the same global batch
(MLP without batch norm or dropout), report one result per epoch to Tune, and keep checkpoints
that resume, load and evaluate like any other trial's.
"""

from __future__ import annotations

import time
from collections import Counter

import pandas as pd
import pytest
import torch

from raysweep import load_model
from search.results import load_results
from search.results.evaluate import evaluate_experiment
from search.results.export import export_experiment
from search.spec import parse_spec
from search.spec.data import load_data
from search.sweep.run import run_sweep
from search.sweep.tuner import build_tuner
from tests.helpers import DELETE, spec_dict
from trainables.checkpoint import load_checkpoint
from trainables.config import TrainConfig
from trainables.loop import TensorData, build_state, run_epoch
from trainables.recovery import read_ledger
from trainables.storage import Location

CPU = torch.device("cpu")

pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]

METRICS = ["train_loss", "val_loss", "val_accuracy"]
TWO_WORKERS = {"resources": {"workers_per_trial": 2, "cpus_per_worker": 1}}


def one_trial(name: str, resources: dict) -> dict:
    """The baseline alone, 3 epochs, trained to the end."""
    return spec_dict(
        {
            "name": name,
            "search.num_samples": 1,
            "search.max_concurrent": 1,
            "scheduler": {"type": "fifo"},
            "resources": DELETE,
            **resources,
        }
    )


def fit(tmp_path, raw: dict) -> tuple[pd.DataFrame, float]:
    spec = parse_spec(raw)
    exp = tmp_path / spec.name
    started = time.perf_counter()
    results = build_tuner(spec, experiment=Location.of(exp)).fit()
    elapsed = time.perf_counter() - started
    assert results.num_errors == 0, [str(e) for e in results.errors]
    return results[0].metrics_dataframe, elapsed


def test_two_workers_train_like_one_with_the_same_global_batch(tmp_path):
    one, one_s = fit(tmp_path, one_trial("one", {}))
    two, two_s = fit(tmp_path, one_trial("two", TWO_WORKERS))
    assert list(two["epoch"]) == list(one["epoch"]) == [1, 2, 3]
    assert list(two["training_iteration"]) == [1, 2, 3]
    difference = (one[METRICS] - two[METRICS]).abs().max().max()
    epoch_s = (one["epoch_time_s"].mean(), two["epoch_time_s"].mean())
    print(
        f"max abs difference {difference:.3g}; trial wall time 1 worker {one_s:.1f} s, "
        f"2 workers {two_s:.1f} s; mean epoch {epoch_s[0]:.3f} s vs {epoch_s[1]:.3f} s"
    )
    assert difference < 1e-5, (one[METRICS], two[METRICS])


def test_asha_sweep_of_two_worker_trials_exports_evaluates_and_warm_starts(tmp_path):
    raw = spec_dict(
        {
            "name": "ddp-asha",
            "data.test_fraction": 0.2,
            "search.num_samples": 4,
            "resources": DELETE,
            **TWO_WORKERS,
        }
    )
    summary = run_sweep(parse_spec(raw), storage=str(tmp_path / "runs"))
    exp = tmp_path / "runs" / "ddp-asha"
    assert summary.num_trials == 4 and summary.num_errors == 0 and not summary.interrupted
    trials = load_results(str(exp)).trials
    # One report per epoch reached Tune, and no rank trained past the epoch ASHA stopped at.
    ledger = read_ledger(exp)
    trained = Counter(e["trial_id"] for entries in ledger.values() for e in entries)
    assert {t.trial_id: t.epochs_completed for t in trials} == dict(trained)
    print("epochs per trial:", sorted(trained.values()))

    # The best checkpoint: a named model file, the test split, a single-worker warm start.
    exported = export_experiment(str(exp), str(tmp_path / "best.parquet"), top=1)
    assert exported.models == 1
    model = load_model(next(exported.model_dir.iterdir()))
    assert model(torch.zeros(2, 64)).shape == (2, 10)
    _, rows, _ = evaluate_experiment(str(exp), top=1)
    assert rows and rows[0].test_score > 0.5

    best = next(t for t in trials if t.rank == 1)
    state = build_state(
        TrainConfig.from_dict(best.config), n_inputs=64, n_outputs=10, seed=1, device=CPU
    )
    load_checkpoint(state, best.checkpoint.path)
    resumed_at = state.next_epoch
    assert 1 <= resumed_at <= best.epochs_completed
    data, _ = load_data(parse_spec(raw).data)
    metrics = run_epoch(state, TensorData.from_dataset(data, CPU))
    assert metrics["epoch"] == resumed_at + 1 and not metrics["diverged"]


def test_a_killed_sweep_of_two_worker_trials_resumes_to_the_same_metrics(tmp_path):
    import json
    import signal

    import yaml

    from search.sweep.resume import resume_sweep
    from tests.processes import kill_group, start_raysweep, wait_for

    # Trials one at a time, so the uninterrupted run is deterministic trial by trial.
    raw = spec_dict(
        {
            "name": "ddp-resume",
            "fixed.epochs": 4,
            "search.num_samples": 2,
            "search.max_concurrent": 1,
            "scheduler": {"type": "fifo"},
            "resources": DELETE,
            **TWO_WORKERS,
        }
    )
    reference = run_sweep(parse_spec(raw), storage=str(tmp_path / "reference"))

    def per_epoch(path) -> dict[str, list[tuple[float, float]]]:
        out = {}
        for trial in load_results(str(path)).trials:
            assert trial.epochs_completed == 4, (trial.trial_id, trial.status)
            frame = trial.history.sort_values("epoch").drop_duplicates("epoch", keep="last")
            out[json.dumps(trial.config, sort_keys=True)] = list(
                zip(frame["train_loss"].round(8), frame["val_loss"].round(8))
            )
        return out

    expected = per_epoch(reference.path)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(raw))
    exp = tmp_path / "runs" / "ddp-resume"
    proc = start_raysweep(["run", str(spec_file)], cwd=tmp_path, log=tmp_path / "run.log")

    def first_trial_mid_way() -> bool:
        entries = [e for es in (read_ledger(exp) if exp.exists() else {}).values() for e in es]
        return any(e["epoch"] >= 2 for e in entries)

    wait_for(first_trial_mid_way, timeout=240, what="epoch 2 of a trial", proc=proc)
    kill_group(proc)
    assert proc.returncode == -signal.SIGKILL

    summary = resume_sweep(str(exp))
    assert not summary.interrupted and summary.num_errors == 0
    assert per_epoch(exp) == expected
    trained = pd.DataFrame([e for es in read_ledger(exp).values() for e in es])
    print("epochs trained per trial:", trained.groupby("trial_id").size().to_dict())
    assert trained.groupby(["trial_id", "epoch"]).size().max() <= 2  # at most one epoch again
