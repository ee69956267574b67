"""User tables: Parquet and CSV files written here, encoded with training statistics only."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from trainables import tabular
from trainables.tabular import DataError, TableSource, load_table, read_schema


def churn(n: int = 200, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    usage = rng.normal(50, 10, n)
    usage[::17] = np.nan  # missing numbers
    plan = rng.choice(["basic", "pro", "team"], n).astype(object)
    plan[::13] = None  # missing categories
    churned = np.where(np.nan_to_num(usage, nan=50) > 50, "yes", "no")
    return pa.table(
        {
            "usage_30d": usage,
            "plan": list(plan),
            "active": rng.random(n) > 0.5,
            "age": rng.integers(18, 80, n),
            "churned": churned,
        }
    )


def load(path, **kw):
    options = {"val_fraction": 0.2, "test_fraction": 0.1, "seed": 0}
    source = TableSource(
        str(path),
        kw.pop("target", "churned"),
        kw.pop("features", None),
        kw.pop("task", "classification"),
    )
    return load_table(source, **{**options, **kw})


def test_parquet_classification_is_encoded_with_training_statistics(tmp_path):
    path = tmp_path / "churn.parquet"
    pq.write_table(churn(), path)
    data, test = load(path)
    # usage, plan one-hot (3 categories seen in training), active, age
    assert data.n_features == 1 + 3 + 1 + 1 and data.n_classes == 2
    n = len(data.y_train) + len(data.y_val) + len(test.y)
    assert n == 200 and len(test.y) == 20 and len(data.y_val) == 40
    numeric = [0, 4, 5]
    assert np.allclose(data.x_train[:, numeric].mean(axis=0), 0, atol=1e-5)
    assert np.allclose(data.x_train[:, numeric].std(axis=0), 1, atol=1e-3)
    onehot = data.x_train[:, 1:4]
    assert set(np.unique(onehot)) <= {0.0, 1.0} and (onehot.sum(axis=1) <= 1).all()
    assert (onehot.sum(axis=1) == 0).any(), "a missing category encodes as all zeros"
    assert np.isfinite(data.x_train).all() and np.isfinite(test.x).all()
    # stratified: both classes keep their share in every split
    share = data.y_train.mean()
    assert abs(data.y_val.mean() - share) < 0.05 and abs(test.y.mean() - share) < 0.1


def test_splits_are_deterministic_by_seed(tmp_path):
    path = tmp_path / "churn.parquet"
    pq.write_table(churn(), path)
    a, _ = load(path)
    b, _ = load(path)
    c, _ = load(path, seed=1)
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train, c.x_train)


def test_csv_regression_is_inferred_from_a_float_target(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "price": x @ [1.0, 2.0, -1.0]})
    path = tmp_path / "houses.csv"
    pcsv.write_csv(table, path)
    source = TableSource(str(path), "price", ("a", "b"))
    assert tabular.infer_task(source, read_schema(str(path))) == "regression"
    data, test = load(
        path, target="price", features=("a", "b"), task="regression", test_fraction=0
    )
    assert data.n_classes == 0 and data.n_features == 2 and test is None
    assert data.y_train.dtype == np.float32


def test_a_directory_of_parquet_files_reads_as_one_table(tmp_path):
    table = churn()
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(table.slice(0, 100), folder / "a.parquet")
    pq.write_table(table.slice(100), folder / "b.parquet")
    data, test = load(folder)
    assert len(data.y_train) + len(data.y_val) + len(test.y) == 200


@pytest.mark.parametrize(
    "make, kw, message",
    [
        (None, {}, "no such file or directory"),
        (lambda t: t, {"target": "nope", "task": "auto"}, "no target column 'nope'"),
        (lambda t: t, {"features": ("usage_30d", "colour")}, r"no feature columns \['colour'\]"),
        (
            lambda t: t.append_column("when", pa.array([dt.datetime(2026, 1, 1)] * t.num_rows)),
            {},
            "column 'when' of type timestamp",
        ),
        (
            lambda t: t.set_column(4, "churned", pa.array(["no"] * t.num_rows)),
            {},
            r"target 'churned' has a single class",
        ),
        (
            lambda t: t.set_column(4, "churned", pa.array([None] + ["no", "yes"] * 99 + ["no"])),
            {},
            "target 'churned' has 1 missing values",
        ),
        (lambda t: t.slice(0, 2), {}, "2 rows are too few to split"),
    ],
)
def test_bad_data_is_one_line_naming_the_file_or_column(tmp_path, make, kw, message):
    path = tmp_path / "d.parquet"
    if make is not None:
        pq.write_table(make(churn()), path)
    with pytest.raises(DataError, match=message) as info:
        load(path, **kw)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_nan_regression_target_is_refused(tmp_path):
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0, 4.0], "y": [1.0, float("nan"), 2.0, 3.0]}), path)
    with pytest.raises(DataError, match="target 'y' has 1 missing values"):
        load(path, target="y", task="regression", test_fraction=0)


def test_unsupported_file_type_is_refused(tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(DataError, match="expected a .parquet or .csv file"):
        load(path)


def test_a_table_larger_than_memory_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "d.parquet"
    pq.write_table(churn(), path)
    monkeypatch.setattr(tabular, "available_memory", lambda: 1000)
    with pytest.raises(DataError, match="more than is available"):
        load(path)
