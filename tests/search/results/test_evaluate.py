"""Your own table through a real sweep; the held-out test split read only by `evaluate`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
import yaml

from search.cli import main
from search.spec import load_spec, parse_spec
from search.spec.data import load_data
from tests.helpers import spec_dict

pytestmark = pytest.mark.usefixtures("ray_session")


def csv_table(path, n=300):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    label = np.where(x[:, 0] + 0.5 * x[:, 1] > 0, "churned", "stayed")
    pcsv.write_csv(
        pa.table(
            {
                "a": x[:, 0],
                "b": x[:, 1],
                "c": x[:, 2],
                "d": x[:, 3],
                "plan": rng.choice(["basic", "pro"], n),
                "label": label,
            }
        ),
        path,
    )


def write_spec(tmp_path, changes):
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump(
            spec_dict(
                {
                    "name": "tab",
                    "fixed.epochs": 10,
                    "search.num_samples": 3,
                    "search.baseline": {"lr": 0.01, "depth": 1, "width": 32, "optimizer": "adam"},
                    **changes,
                }
            )
        )
    )
    return path


def test_a_csv_sweep_runs_and_evaluate_reads_the_test_split(tmp_path, capsys):
    csv_table(tmp_path / "churn.csv")
    spec_file = write_spec(
        tmp_path,
        {
            "data": {
                "path": str(tmp_path / "churn.csv"),
                "target": "label",
                "test_fraction": 0.2,
            }
        },
    )
    spec = load_spec(spec_file)
    assert spec.data.task == "classification" and spec.data.is_classification
    data, test = load_data(spec.data)
    assert len(test.y) == 60 and len(data.y_train) + len(data.y_val) == 240  # disjoint

    runs = tmp_path / "runs"
    assert main(["run", str(spec_file), "--storage", str(runs)]) == 0
    saved = yaml.safe_load((runs / "tab" / "raysweep_spec.yaml").read_text())
    assert saved["data"]["task"] == "classification"  # inferred once, saved

    out = tmp_path / "test.parquet"
    assert main(["evaluate", str(runs / "tab"), "--top", "2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test_accuracy" in printed
    frame = pd.read_parquet(out)
    assert list(frame["rank"]) == [1, 2]
    assert frame["test_accuracy"].between(0, 1).all() and frame["test_accuracy"].max() > 0.6
    # Trials never reported anything about the test split.
    from search.results import load_results

    columns = set().union(
        *(set(t.history.columns) for t in load_results(str(runs / "tab")).trials)
    )
    assert not any(c.startswith("test") for c in columns)


def test_evaluate_needs_a_test_split(tmp_path, capsys):
    from search.sweep.run import run_sweep

    spec = parse_spec(
        spec_dict({"fixed.epochs": 1, "search.num_samples": 1, "scheduler": {"type": "fifo"}})
    )
    exp = run_sweep(spec, storage=str(tmp_path)).path
    assert main(["evaluate", str(exp)]) == 2
    assert "holds out no test split (data.test_fraction is 0)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "data, message",
    [
        ({"path": "{tmp}/missing.csv", "target": "label"}, "no such file or directory"),
        ({"path": "{tmp}/churn.csv", "target": "nope"}, "no target column 'nope'"),
        ({"path": "{tmp}/churn.csv", "target": "label", "dataset": "digits"}, "either `dataset`"),
        (
            {"path": "{tmp}/churn.csv", "target": "label", "features": ["a", "zz"]},
            "no feature columns ['zz']",
        ),
    ],
)
def test_bad_data_exits_2_before_anything_starts(tmp_path, capsys, monkeypatch, data, message):
    monkeypatch.chdir(tmp_path)
    csv_table(tmp_path / "churn.csv")
    data = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in data.items()}
    spec_file = write_spec(tmp_path, {"data": data})
    assert main(["run", str(spec_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()
