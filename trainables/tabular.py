"""Your own data: a Parquet or CSV table (local path or pyarrow-filesystem URI) as arrays.

Policy, applied with statistics of the training rows only:
- numeric and boolean columns: missing values take the training mean, then all are
  standardized;
- string (or dictionary) columns: one-hot over the categories seen in training; a missing or
  unseen category encodes as all zeros;
- other column types (timestamps, lists, binary ...) are refused, naming the column;
- the target may not be missing; its type decides the task unless ``task`` forces it: strings,
  booleans and integers are classes, floats are a regression target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from trainables.data import Dataset, TestSet, split_indices, standardize, to_splits

TASKS = ("auto", "classification", "regression")


class DataError(ValueError):
    """The data can't be used as asked; the message names the file or the column."""


@dataclass(frozen=True)
class TableSource:
    path: str
    target: str
    features: tuple[str, ...] | None = None  # default: every column but the target
    task: str = "auto"


def _filesystem(path: str) -> tuple[pa.fs.FileSystem, str]:
    import pyarrow.fs as pafs

    if "://" in path:
        return pafs.FileSystem.from_uri(path)  # type: ignore[no-any-return]
    return pafs.LocalFileSystem(), str(Path(path).expanduser().resolve())


def read_schema(path: str) -> pa.Schema:
    """The columns of a table, without reading a Parquet file's data."""
    return _read(path, schema_only=True)  # type: ignore[no-any-return]


def read_table(path: str) -> pa.Table:
    """A Parquet file, a directory of Parquet files, or a CSV file."""
    return _read(path, schema_only=False)  # type: ignore[no-any-return]


def _read(path: str, *, schema_only: bool) -> pa.Table | pa.Schema:
    import pyarrow.csv as pcsv
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    try:
        fs, where = _filesystem(path)
        info = fs.get_file_info(where)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: cannot open: {exc}") from None
    if info.type == pafs.FileType.NotFound:
        raise DataError(f"{path}: no such file or directory")
    try:
        if info.type == pafs.FileType.Directory or where.endswith((".parquet", ".pq")):
            dataset = pads.dataset(where, filesystem=fs, format="parquet")
            return dataset.schema if schema_only else dataset.to_table()
        if where.endswith((".csv", ".csv.gz")):
            with fs.open_input_stream(where) as stream:
                table = pcsv.read_csv(stream)
            return table.schema if schema_only else table
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: cannot be read: {str(exc).splitlines()[0]}") from None
    raise DataError(f"{path}: expected a .parquet or .csv file, or a directory of Parquet files")


def infer_task(source: TableSource, schema: pa.Schema) -> str:
    if source.task != "auto":
        return source.task
    if source.target not in schema.names:
        raise DataError(
            f"{source.path}: no target column {source.target!r}; columns are {schema.names}"
        )
    kind = schema.field(source.target).type
    return "regression" if pa.types.is_floating(kind) else "classification"


def available_memory() -> int:
    """Bytes of memory available to this process (Linux; otherwise unbounded)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def _encode(table: pa.Table, column: str, train: np.ndarray, path: str) -> tuple[np.ndarray, bool]:
    """A column as float32 features; True when numeric (to be standardized)."""
    array = table.column(column).combine_chunks()
    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.cast(kind.value_type), kind.value_type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        values = np.array(array.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)
        mean = np.nanmean(values[train]) if np.isfinite(values[train]).any() else 0.0
        values[~np.isfinite(values)] = mean
        return values.astype(np.float32)[:, None], True
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = np.asarray(array.to_pylist(), dtype=object)
        categories = sorted({v for v in values[train] if v is not None})
        onehot = np.zeros((len(values), len(categories)), np.float32)
        index = {c: i for i, c in enumerate(categories)}
        for row, value in enumerate(values):
            if value in index:
                onehot[row, index[value]] = 1.0
        return onehot, False
    raise DataError(f"{path}: column {column!r} of type {kind} can't be encoded as features")


def _labels(target: pa.ChunkedArray, task: str, path: str, name: str) -> tuple[np.ndarray, int]:
    missing = target.null_count
    values = target.to_numpy(zero_copy_only=False)
    if task == "regression":
        try:
            y = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError(f"{path}: target {name!r} is not numeric; use task: classification")
        missing += int(np.isnan(y).sum()) if not target.null_count else 0
        if missing:
            raise DataError(f"{path}: target {name!r} has {missing} missing values")
        return y, 0
    if missing:
        raise DataError(f"{path}: target {name!r} has {missing} missing values")
    classes, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{path}: target {name!r} has a single class {classes.tolist()}")
    return codes.astype(np.int64), len(classes)


def load_table(
    source: TableSource, *, val_fraction: float, test_fraction: float, seed: int
) -> tuple[Dataset, TestSet | None]:
    """Read, split (stratified, by ``seed``) and encode a table with training statistics."""
    table = read_table(source.path)
    task = infer_task(source, table.schema)
    features = list(source.features or [c for c in table.column_names if c != source.target])
    missing = [c for c in features if c not in table.column_names]
    if missing:
        raise DataError(
            f"{source.path}: no feature columns {missing}; columns are {table.column_names}"
        )
    if table.num_rows < 3:
        raise DataError(f"{source.path}: {table.num_rows} rows are too few to split")
    y, n_classes = _labels(table.column(source.target), task, source.path, source.target)
    _check_memory(source.path, table, features)
    splits = split_indices(
        y if n_classes else None,
        len(y),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    if n_classes and np.unique(y[splits.train]).size < 2:
        raise DataError(f"{source.path}: the training split of {source.target!r} has one class")
    if not splits.val.size or not splits.train.size:
        raise DataError(f"{source.path}: a split is empty; use more rows or other fractions")
    blocks: list[np.ndarray] = []
    numeric: list[int] = []  # feature indices to standardize (one-hot ones stay 0/1)
    offset = 0
    for column in features:
        block, is_numeric = _encode(table, column, splits.train, source.path)
        if is_numeric:
            numeric.append(offset)
        blocks.append(block)
        offset += block.shape[1]
    x = np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)
    if numeric:
        standardize(x, splits.train, np.asarray(numeric))
    name = os.path.basename(source.path.rstrip("/"))
    return to_splits(name, x, y, n_classes, splits)


def _check_memory(path: str, table: pa.Table, features: list[str]) -> None:
    # Encoded float32 features, a copy while splitting, and the Arrow table already held.
    estimate = table.num_rows * max(1, len(features)) * 4 * 2 + table.nbytes
    if estimate > available_memory() * 0.8:
        raise DataError(
            f"{path}: needs about {estimate / 2**30:.1f} GiB in memory, more than is available "
            f"({available_memory() / 2**30:.1f} GiB); use fewer rows or columns"
        )
