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
    with pytest.raises(SpecError, match=r"`tracking.wandb` must be a mapping, but got 'x'"):
        parse_spec(spec_dict({"tracking": {"wandb": "x"}}))
    with pytest.raises(SpecError, match=r"unknown tracking.wandb.mode 'cloud'; expected one of"):
        parse_spec(spec_dict({"tracking": {"wandb": {"mode": "cloud"}}}))
    with pytest.raises(SpecError, match=r"unknown keys \['team'\] in `tracking.wandb`"):
        parse_spec(spec_dict({"tracking": {"wandb": {"team": "x"}}}))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec_dict({"tracking": {"mlflow": ""}})))
    assert main(["validate", str(path)]) == 2
    assert "`tracking.mlflow` must be a tracking URI" in capsys.readouterr().err


def wandb_records(run_file: Path) -> list:
    """The protobuf records of an offline run's ``.wandb`` file: a LevelDB-style log (a 7-byte
    header, then 32 KiB blocks of chunks: crc32, length, type, data) of W&B ``Record``s."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:  # the block's tail is padding
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
        elif kind == 0:
            break
    return records


def test_trials_are_logged_to_wandb_offline_with_config_metrics_and_the_baseline(tmp_path):
    import json

    spec = parse_spec(
        spec_dict(
            {
                "fixed.epochs": 2,
                "search.num_samples": 2,
                "scheduler": {"type": "fifo"},
                "tracking": {"wandb": {"project": "proj", "group": "grp", "mode": "offline"}},
            }
        )
    )
    summary = run_sweep(spec, name="wandbed", storage=str(tmp_path / "runs"))
    assert summary.num_errors == 0
    runs = sorted(Path(summary.path).glob("wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 2
    baselines = []
    for run_file in runs:
        records = wandb_records(run_file)
        run = next(r.run for r in records if r.HasField("run"))
        assert (run.project, run.run_group) == ("proj", "grp")
        config = {u.key: json.loads(u.value_json) for u in run.config.update}
        for r in records:
            if r.HasField("config"):
                config.update({u.key: json.loads(u.value_json) for u in r.config.update})
        assert config["optimizer"] in {"sgd", "adam"} and config["epochs"] == 2
        baselines.append(config["baseline"])
        epochs = [
            {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
            for r in records
            if r.HasField("history")
        ]
        assert [e["epoch"] for e in epochs] == [1, 2]
        assert all("val_accuracy" in e and "val_loss" in e for e in epochs)
    assert sorted(baselines) == [False, True]


def test_tracking_wandb_without_wandb_installed_is_one_line(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec_dict({"tracking": {"wandb": {"mode": "offline"}}})))
    code = "import sys; sys.modules['wandb'] = None\nfrom search.cli import main\n"
    code += f"sys.exit(main(['validate', {str(path)!r}]))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {path}: `tracking.wandb` needs wandb: pip install 'raysweep[wandb]'\n"
    )
