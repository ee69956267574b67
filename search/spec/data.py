"""The spec's ``data:`` section: which built-in data set, how it is split, what it produces."""

from __future__ import annotations

import math
from dataclasses import dataclass

from search.errors import SpecError
from search.spec.fields import Section
from trainables import config as names
from trainables.data import DATASETS, Dataset, SyntheticOptions, TestSet, load_builtin
from trainables.tabular import TASKS, DataError, TableSource, infer_task, load_table, read_schema


@dataclass(frozen=True)
class DataSpec:
    dataset: str  # a built-in name, or the file's name for `path:` data
    val_fraction: float = 0.2
    seed: int = 0
    synthetic: SyntheticOptions | None = None
    table: TableSource | None = None  # `path:` data: the user's Parquet or CSV table
    test_fraction: float = 0.0  # held out from the search; only `raysweep evaluate` reads it
    task: str = "classification"

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"


def load_data(data: DataSpec) -> tuple[Dataset, TestSet | None]:
    """The prepared arrays (in the driver, before Ray starts): bad data is a ``SpecError``."""
    try:
        if data.table is not None:
            return load_table(
                data.table,
                val_fraction=data.val_fraction,
                test_fraction=data.test_fraction,
                seed=data.seed,
            )
        return load_builtin(
            data.dataset,
            val_fraction=data.val_fraction,
            test_fraction=data.test_fraction,
            seed=data.seed,
            synthetic=data.synthetic,
        )
    except DataError as exc:
        raise SpecError(str(exc)) from None


def task_metrics(data: DataSpec) -> tuple[str, ...]:
    """The per-epoch metrics the trainable reports for this data set's task."""
    return names.CLASSIFICATION_METRICS if data.is_classification else names.REGRESSION_METRICS


def parse_data(s: Section) -> DataSpec:
    val_fraction = s.take(
        "val_fraction", float, 0.2, check=lambda v: 0 < v < 1, expect="in (0, 1)"
    )
    test_fraction = s.take(
        "test_fraction",
        float,
        0.0,
        check=lambda v: 0 <= v < 1 - val_fraction,
        expect=f"in [0, 1 - val_fraction = {1 - val_fraction:g})",
    )
    seed = s.take("seed", int, 0, check=lambda v: 0 <= v < 2**32, expect="in [0, 2**32)")
    if "path" in s.raw:
        if "dataset" in s.raw:
            s.fail("`data` takes either `dataset` (built-in) or `path` (your table), not both")
        return _parse_table(s, val_fraction, test_fraction, seed)
    dataset = s.choice("dataset", DATASETS)
    synthetic = None
    if dataset == "synthetic":
        defaults = SyntheticOptions()
        synthetic = SyntheticOptions(
            n_samples=s.take(
                "n_samples", int, defaults.n_samples, check=lambda v: v >= 10, expect=">= 10"
            ),
            n_features=s.take(
                "n_features", int, defaults.n_features, check=lambda v: v >= 2, expect=">= 2"
            ),
            n_classes=s.take(
                "n_classes",
                int,
                defaults.n_classes,
                check=lambda v: v == 0 or v >= 2,
                expect="0 (regression) or >= 2",
            ),
        )
    s.done()
    if synthetic is not None and synthetic.n_classes > 0:
        informative = max(2, synthetic.n_features // 2)
        if synthetic.n_classes > 2**informative:
            s.fail(
                f"`data.n_classes` {synthetic.n_classes} needs n_features >= "
                f"{2 * math.ceil(math.log2(synthetic.n_classes))}, but got {synthetic.n_features}"
            )
    regression = synthetic is not None and synthetic.n_classes == 0
    task = "regression" if regression else "classification"
    return DataSpec(dataset, val_fraction, seed, synthetic, None, test_fraction, task)


def _parse_table(s: Section, val_fraction: float, test_fraction: float, seed: int) -> DataSpec:
    path = s.take("path", str, check=bool, expect="a file path or URI")
    target = s.take("target", str, check=bool, expect="a column name")
    features = s.take("features", list, None, check=bool, expect="a non-empty list of columns")
    task = s.choice("task", TASKS, "auto")
    s.done()
    source = TableSource(path, target, tuple(features) if features else None, task)
    if task == "auto":  # resolved once, here, and saved with the experiment's spec
        try:
            schema = read_schema(path)
            task = infer_task(source, schema)
        except DataError as exc:
            s.fail(str(exc))
        source = TableSource(path, target, source.features, task)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return DataSpec(name, val_fraction, seed, None, source, test_fraction, task)
