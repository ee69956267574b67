"""Real sweeps on the shared local Ray: tiny, but Optuna, ASHA and torch all run for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from search.cli import main
from search.results import load_results
from search.spec import parse_spec
from search.sweep.run import run_sweep
from search.sweep.tuner import build_tuner
from tests.helpers import spec_dict
from trainables.layout import SPEC_FILE
from trainables.storage import Location

pytestmark = pytest.mark.usefixtures("ray_session")

SWEEP = {
    "space.lr": {"type": "float", "low": 1.0e-5, "high": 0.3, "log": True},
    "fixed.epochs": 4,
    "search.num_samples": 6,
    "search.sampler": "random",
}


def test_sweep_runs_baseline_first_and_asha_stops_weak_trials(tmp_path):
    spec = parse_spec(spec_dict(SWEEP))
    summary = run_sweep(spec, name="asha", storage=str(tmp_path))
    assert summary.num_errors == 0 and summary.num_trials == 6 and not summary.interrupted
    trials = load_results(str(summary.path)).trials  # in the order Tune created them
    first = trials[0]
    for key, value in spec.search.baseline.items():
        assert first.config[key] == value
    assert first.is_baseline
    epochs = [t.epochs_completed for t in trials]
    assert epochs[0] == 4, "the baseline always trains to the end"
    assert min(epochs) < 4, f"ASHA stopped nothing early: {epochs}"
    assert {t.status for t in trials} >= {"terminated", "early_stopped"}
    history = first.history
    assert list(history["epoch"]) == list(range(1, len(history) + 1))
    for column in ("train_loss", "val_loss", "val_accuracy", "lr", "epoch_time_s", "diverged"):
        assert column in history
    assert summary.baseline.config == {**spec.search.baseline, **spec.fixed}
    assert summary.best.metric == max(t.history["val_accuracy"].max() for t in trials)


def test_run_sweep_writes_spec_and_checkpoints_into_the_experiment(tmp_path):
    spec = parse_spec(spec_dict({**SWEEP, "search.num_samples": 2, "fixed.epochs": 2}))
    summary = run_sweep(spec, name="exp", storage=str(tmp_path))
    assert summary.path == str(tmp_path / "exp") and summary.num_errors == 0
    exp = Path(summary.path)
    assert (exp / SPEC_FILE).read_text().count("num_samples: 2") == 1
    checkpoints = sorted(exp.glob("trial_*/checkpoint_*/state.pt"))
    assert checkpoints, "every trial checkpoints at the end"


def test_cli_run_prints_best_trial_and_where_the_experiment_lives(tmp_path, capsys):
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(json.dumps(spec_dict()))
    code = main(
        [
            "run",
            str(spec_path),
            "--storage",
            str(tmp_path / "runs"),
            "--name",
            "cli",
            "--set",
            "search.num_samples=2",
            "--set",
            "fixed.epochs=2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"experiment: {tmp_path / 'runs' / 'cli'}" in out
    assert "baseline val_accuracy: " in out and "vs baseline" in out
    assert "best config: {" in out


def test_diverging_trial_ends_as_a_result_not_an_error(tmp_path):
    spec = parse_spec(
        spec_dict(
            {
                "space.lr": {"type": "float", "low": 1e10, "high": 1e12, "log": True},
                "space.optimizer": {"type": "categorical", "choices": ["sgd"]},
                "search.baseline": {"lr": 1e11, "depth": 1, "width": 32, "optimizer": "sgd"},
                "search.num_samples": 1,
            }
        )
    )
    results = build_tuner(spec, experiment=Location.of(tmp_path / "div")).fit()
    assert results.num_errors == 0
    assert bool(results[0].metrics["diverged"]) is True
    assert results[0].metrics["val_accuracy"] == 0.0
