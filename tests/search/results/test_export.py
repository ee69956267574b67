"""Export of a real sweep to Parquet, read back with pyarrow and pandas; named model files."""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from search.cli import main
from search.results import load_results
from search.results.export import trials_schema
from search.spec import parse_spec
from search.sweep.run import run_sweep
from tests.helpers import spec_dict
from trainables.model_file import load_model

pytestmark = pytest.mark.usefixtures("ray_session")

EXPORTED = {
    "name": "exp",
    "space.lr": {"type": "float", "low": 1.0e-4, "high": 1.0e4, "log": True},
    "fixed.epochs": 4,
    "search.num_samples": 6,
    "search.max_concurrent": 1,  # sequential: ASHA's decisions are reproducible
    "search.baseline": [
        {"lr": 1.0e-3, "depth": 1, "width": 32, "optimizer": "adam"},
        {"lr": 1.0e4, "depth": 1, "width": 32, "optimizer": "sgd"},  # diverges at once
    ],
}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    storage = tmp_path_factory.mktemp("export")
    spec = parse_spec(spec_dict(EXPORTED))
    return spec, run_sweep(spec, storage=str(storage)).path


def test_export_writes_a_typed_table_that_reads_back_in_pandas(experiment, tmp_path, capsys):
    spec, exp = experiment
    out = tmp_path / "all.parquet"
    assert main(["export", str(exp), "-o", str(out)]) == 0
    assert "wrote 6 rows" in capsys.readouterr().out

    table = pq.read_table(out)
    assert table.schema.equals(trials_schema(spec))
    assert table.schema.field("lr").type == pa.float64()
    assert table.schema.field("depth").type == pa.int64()
    assert table.schema.field("optimizer").type == pa.string()
    assert table.schema.field("epochs").type == pa.int64()  # fixed ones too
    assert not any(name.startswith("config/") for name in table.column_names)

    frame = pd.read_parquet(out)
    assert len(frame) == 6
    statuses = set(frame["status"])
    assert {"terminated", "early_stopped", "diverged"} <= statuses, statuses
    ranked = frame.dropna(subset=["rank"])
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    # trials trained to the end rank first (best first among them), then the stopped ones
    assert ranked["trained_to_end"].is_monotonic_decreasing
    full = ranked[ranked["trained_to_end"]]
    assert len(full) >= 1 and full["metric_best"].is_monotonic_decreasing  # val_accuracy, max
    assert (frame["epochs_max"] == 4).all()
    assert (frame["trained_to_end"] == (frame["epochs_completed"] >= 4)).all()
    stopped = frame["status"] == "early_stopped"
    assert (frame.loc[stopped, "stopped_at_epoch"] == frame.loc[stopped, "epochs_completed"]).all()
    assert frame.loc[~stopped, "stopped_at_epoch"].isna().all()
    baseline = frame[frame["baseline"]]
    assert len(baseline) == 1 and baseline["delta_vs_baseline"].iloc[0] == 0.0
    assert baseline["lr"].iloc[0] == 1.0e-3
    diverged = frame[frame["status"] == "diverged"]
    assert (diverged["lr"] == 1.0e4).any()
    assert frame["checkpoint"].dropna().str.startswith("file://").all()

    meta = table.schema.metadata
    assert yaml.safe_load(meta[b"raysweep.spec"])["search"]["num_samples"] == 6
    assert meta[b"raysweep.metric"] == b"val_accuracy" and meta[b"raysweep.seed"] == b"0"
    assert set(yaml.safe_load(meta[b"raysweep.versions"])) == {
        "raysweep",
        "ray",
        "optuna",
        "torch",
        "pyarrow",
    }
    assert b"raysweep.exported_at" in meta


def test_export_top_k_ranks_the_best_and_saves_named_models(experiment, tmp_path):
    _, exp = experiment
    out = tmp_path / "best.parquet"
    assert main(["export", str(exp), "--top", "2", "-o", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert list(frame["rank"]) == [1, 2]
    for path in frame["model_file"]:
        name = path.rsplit("/", 1)[-1]
        assert re.fullmatch(
            r"model\.depth-\d+\.width-\d+\.act-\w+\.init-\w+\.opt-\w+\.lr-[\d.e-]+\.epochs-4"
            r"\.loss-[\d.]+\.acc-[\d.]+\.pt",
            name,
        ), name
        payload = torch.load(path, weights_only=True)
        assert {"model", "optimizer", "train_config", "metrics"} <= set(payload)
        model = load_model(path)
        assert model(torch.zeros(3, payload["n_inputs"])).shape == (3, 10)
    assert not list(tmp_path.glob(".*tmp"))


def test_export_curves_has_one_row_per_trial_and_epoch(experiment, tmp_path):
    _, exp = experiment
    out = tmp_path / "curves.parquet"
    assert main(["export", str(exp), "--curves", "-o", str(out)]) == 0
    frame = pd.read_parquet(out)
    epochs = {t.trial_id: t.epochs_completed for t in load_results(str(exp)).trials}
    assert len(frame) == sum(epochs.values())
    assert frame.groupby("trial_id")["epoch"].max().to_dict() == epochs
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "epoch_time_s", "diverged"} <= set(
        frame.columns
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["export", "{tmp}/nope", "-o", "{tmp}/x.parquet"], "no such experiment directory"),
        (["export", "{exp}", "--top", "0", "-o", "{tmp}/x.parquet"], "--top must be >= 1"),
        (["export", "{exp}", "-o", "{tmp}/missing/x.parquet"], "does not exist"),
    ],
)
def test_export_refuses_bad_input_and_writes_nothing(experiment, tmp_path, capsys, args, message):
    _, exp = experiment
    argv = [a.format(tmp=tmp_path, exp=exp) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_baselines_from_an_export_are_the_next_sweeps_first_trials(experiment, tmp_path):
    _, exp = experiment
    best = tmp_path / "best.parquet"
    assert main(["export", str(exp), "--top", "2", "--no-models", "-o", str(best)]) == 0
    spec_file = tmp_path / "next.yaml"
    spec_file.write_text(
        yaml.safe_dump(
            spec_dict({**EXPORTED, "name": "next", "fixed.epochs": 1, "search.num_samples": 3})
        )
    )
    code = main(
        [
            "run",
            str(spec_file),
            "--storage",
            str(tmp_path / "runs"),
            "--baselines-from",
            str(best),
            "--top",
            "2",
        ]
    )
    assert code == 0
    winners = pd.read_parquet(best)[["lr", "depth", "width", "optimizer"]].to_dict("records")
    trials = load_results(str(tmp_path / "runs" / "next")).trials
    firsts = [{k: t.config[k] for k in ("lr", "depth", "width", "optimizer")} for t in trials[:2]]
    assert firsts == winners
    assert trials[0].is_baseline


def test_baselines_from_a_file_that_does_not_fit_is_refused(
    experiment, tmp_path, capsys, monkeypatch
):
    _, exp = experiment
    monkeypatch.chdir(tmp_path)
    curves = tmp_path / "curves.parquet"
    assert main(["export", str(exp), "--curves", "-o", str(curves)]) == 0
    spec_file = tmp_path / "next.yaml"
    spec_file.write_text(yaml.safe_dump(spec_dict({"name": "next"})))
    assert main(["run", str(spec_file), "--baselines-from", str(curves)]) == 2
    assert "are missing" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "tune_status, last, epochs, expected",
    [
        ("ERROR", {}, 1, "error"),
        ("TERMINATED", {"diverged": True}, 1, "diverged"),
        ("RUNNING", {}, 2, "running"),
        ("PENDING", {}, 0, "running"),
        ("PAUSED", {"diverged": False}, 4, "terminated"),
        ("TERMINATED", {"diverged": False}, 2, "early_stopped"),
        ("TERMINATED", {"diverged": False}, 4, "terminated"),
    ],
)
def test_trial_status_follows_tune_and_the_trials_own_results(tune_status, last, epochs, expected):
    from search.results.records import _status

    assert _status(tune_status, last, epochs, max_epochs=4) == expected


def test_baselines_from_leave_out_conditional_parameters_that_did_not_apply(tmp_path):
    from search.results.baselines import read_baselines

    path = tmp_path / "best.parquet"
    pq.write_table(
        pa.table({"rank": [2, 1], "optimizer": ["adam", "momentum"], "momentum": [None, 0.8]}),
        path,
    )
    assert read_baselines(str(path), ["momentum", "optimizer"]) == [
        {"momentum": 0.8, "optimizer": "momentum"},
        {"optimizer": "adam"},
    ]


def test_a_best_checkpoint_gone_from_storage_falls_back_to_the_next_best(experiment, tmp_path):
    """After a resume, Tune's records can name a checkpoint a stale snapshot listed but that
    retention deleted since, or the placeholder that stood in for it."""
    import shutil

    from search.results.models import trial_checkpoint
    from trainables.checkpoint import read_checkpoint, write_placeholder

    _, exp = experiment
    copy = tmp_path / "exp"
    shutil.copytree(exp, copy)
    best = load_results(str(copy)).ranked()[0]
    assert len(best.checkpoints) >= 2  # keep: 2
    first, second = (c.path for c in best.checkpoints[:2])
    expected = read_checkpoint(second)
    shutil.rmtree(first)
    write_placeholder(first, next_epoch=4)

    payload = trial_checkpoint(load_results(str(copy)).ranked()[0])
    assert payload is not None and payload["history"] == expected["history"]
    out = tmp_path / "best.parquet"
    assert main(["export", str(copy), "--top", "1", "-o", str(out)]) == 0
    assert pd.read_parquet(out)["model_file"].notna().all()
