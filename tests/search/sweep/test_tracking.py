"""Tracking: every trial logged to MLflow (offline sqlite store); TensorBoard files by default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from search.cli import main
from search.errors import SpecError
from search.spec import parse_spec
from search.sweep.run import run_sweep
from tests.helpers import spec_dict

pytestmark = pytest.mark.usefixtures("ray_session")


def test_trials_are_logged_to_mlflow_and_tensorboard(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = parse_spec(
        spec_dict({"fixed.epochs": 2, "search.num_samples": 2, "tracking": {"mlflow": uri}})
    )
    summary = run_sweep(spec, name="tracked", storage=str(tmp_path / "runs"))
    assert summary.num_errors == 0

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    for run in runs:
        assert run.data.params["optimizer"] in {"sgd", "adam"}
        assert "val_accuracy" in run.data.metrics
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert len(history) >= 1
    assert list(Path(summary.path).glob("trial_*/events.out.tfevents.*")), (
        "TensorBoard logs by default"
    )


def test_tracking_section_is_validated(tmp_path, capsys):
    with pytest.raises(SpecError, match=r"`tracking.mlflow` must be a string"):
        parse_spec(spec_dict({"tracking": {"mlflow": 5}}))
    with pytest.raises(SpecError, match=r"unknown keys \['wandb'\] in `tracking`"):
        parse_spec(spec_dict({"tracking": {"wandb": "x"}}))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec_dict({"tracking": {"mlflow": ""}})))
    assert main(["validate", str(path)]) == 2
    assert "`tracking.mlflow` must be a tracking URI" in capsys.readouterr().err
