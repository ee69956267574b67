"""Sweeps of your model on your data, with real Ray, Optuna and torch: image folders and data
factories opened inside the trials, your step, every scheduler, evaluate, export and exact
resume of a killed sweep with DataLoader workers."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

import raysweep
from search.cli import main
from search.results.records import load_results
from search.spec import parse_spec
from search.sweep.resume import resume_sweep
from search.sweep.run import run_sweep
from tests.helpers import spec_dict
from tests.processes import kill_group, start_raysweep, wait_for
from tests.trainables.test_images import write_folder
from trainables.recovery import read_ledger

pytestmark = [pytest.mark.usefixtures("ray_session")]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> str:
    return str(write_folder(tmp_path_factory.mktemp("images") / "imgs", {"a": 30, "b": 30}))


def image_spec(folder: str, **changes) -> dict:
    return spec_dict(
        {
            "name": "imgs",
            "data": {
                "images": folder,
                "image_size": 6,
                "channels": 1,
                "test_fraction": 0.2,
                "augment": {"crop_padding": 1, "flip": True},
            },
            "train": {"metrics": ["accuracy", "f1_macro"], "precision": "bf16"},
            "space.width": {"type": "categorical", "choices": [4, 8]},
            "search.baseline.width": 8,
            "fixed": {"batch_size": 16, "epochs": 3, "lr_schedule": "onecycle"},
            "search.num_samples": 4,
            **changes,
        }
    )


def test_an_image_folder_sweep_runs_evaluates_exports_and_loads(image_folder, tmp_path):
    summary = run_sweep(parse_spec(image_spec(image_folder)), storage=str(tmp_path))
    assert summary.num_errors == 0 and summary.num_trials == 4
    results = load_results(summary.path)
    first = min(results.trials, key=lambda t: t.trial_id if t.is_baseline else "~")
    assert first.is_baseline and first.epochs_completed == 3  # the base camp, trained through
    assert {"val_accuracy", "val_f1_macro"} <= set(first.history.columns)

    out = tmp_path / "test.parquet"
    assert main(["evaluate", summary.path, "--top", "2", "-o", str(out)]) == 0
    tested = pq.read_table(out).to_pandas()
    assert len(tested) == 2 and tested["test_accuracy"].between(0, 1).all()
    assert "test_f1_macro" in tested.columns

    exported = tmp_path / "trials.parquet"
    assert main(["export", summary.path, "-o", str(exported)]) == 0
    table = pq.read_table(exported).to_pandas()
    model_file = next(f for f in table["model_file"] if isinstance(f, str))
    model = raysweep.load_model(model_file)
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("scheduler", ["hyperband", "pbt"])
def test_your_data_factory_model_and_step_under_every_scheduler(tmp_path, scheduler):
    schedulers = {
        "hyperband": {"type": "hyperband", "reduction_factor": 2},
        "pbt": {"type": "pbt", "perturbation_interval": 1},
    }
    spec = spec_dict(
        {
            "name": f"pairs-{scheduler}",
            "data": {"factory": "tests.user_code:dict_data", "test_fraction": 0.0},
            "model": {"factory": "tests.user_code:two_inputs"},
            "train": {
                "step": "tests.user_code:pair_step",
                "eval_step": "tests.user_code:pair_eval_step",
                "metrics": ["accuracy"],
                "accumulate": 2,
                "grad_clip": 1.0,
            },
            "metric": {"name": "val_margin", "mode": "max"},
            "space": {
                "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
                "width": {"type": "categorical", "choices": [8, 16]},
            },
            "search.baseline": {"lr": 1e-2, "width": 8},
            "fixed": {"batch_size": 16, "epochs": 3, "optimizer": "adam"},
            "scheduler": schedulers[scheduler],
            "search.num_samples": 3,
        }
    )
    summary = run_sweep(parse_spec(spec), storage=str(tmp_path))
    assert summary.num_errors == 0 and summary.best is not None
    history = load_results(summary.path).trials[0].history
    assert {"val_margin", "val_accuracy", "train_loss"} <= set(history.columns)


# Trials one at a time: the uninterrupted run is deterministic, trial by trial.
def resumable(folder: str, workers: int) -> dict:
    return image_spec(
        folder,
        name="imgs-resume",
        **{
            "data.loader": {"num_workers": workers},
            "data.test_fraction": 0.0,
            "fixed.epochs": 4,
            "search.num_samples": 3,
            "search.max_concurrent": 1,
            "search.sampler": "tpe",
            "scheduler": {"type": "fifo"},
            "checkpoint.every_steps": 1,
            "resources.cpus_per_trial": 1,
        },
    )


def per_epoch(exp: Path) -> dict[str, list[tuple[float, float]]]:
    """Per config: every epoch's (train_loss, val_loss), as Tune recorded them."""
    out = {}
    for trial in load_results(str(exp)).trials:
        assert trial.epochs_completed == 4, (trial.trial_id, trial.status)
        frame = trial.history.sort_values("epoch").drop_duplicates("epoch", keep="last")
        out[json.dumps(trial.config, sort_keys=True)] = list(
            zip(frame["train_loss"].round(10), frame["val_loss"].round(10))
        )
    return out


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_a_killed_loader_sweep_resumes_to_the_same_per_epoch_metrics(
    image_folder, tmp_path, workers
):
    spec = resumable(image_folder, workers)
    reference = run_sweep(parse_spec(spec), storage=str(tmp_path / "reference"))
    expected = per_epoch(Path(reference.path))

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    exp = tmp_path / "runs" / "imgs-resume"
    proc = start_raysweep(["run", str(path)], cwd=tmp_path, log=tmp_path / "run.log")

    def second_trial_training() -> bool:
        ledger = read_ledger(exp) if exp.exists() else {}
        return len(ledger) >= 2 and any(len(e) >= 1 for e in list(ledger.values())[1:])

    wait_for(second_trial_training, timeout=240, what="the second trial", proc=proc, every=0.05)
    kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    in_epoch = list(exp.glob("trial_*/checkpoint_in_epoch/state.json"))
    assert in_epoch, "every_steps wrote no checkpoint inside an epoch"

    summary = resume_sweep(str(exp))
    assert not summary.interrupted and summary.num_errors == 0
    assert per_epoch(exp) == expected
    trained = pd.DataFrame([e for es in read_ledger(exp).values() for e in es])
    assert trained.groupby(["trial_id", "epoch"]).size().max() <= 2  # at most one epoch twice
