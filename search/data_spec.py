"""The spec's ``data:`` section: which built-in data set, how it is split, what it produces."""

from __future__ import annotations

from dataclasses import dataclass

from search.fields import Section
from trainables import config as names
from trainables.data import DATASETS, SyntheticOptions


@dataclass(frozen=True)
class DataSpec:
    dataset: str
    val_fraction: float = 0.2
    seed: int = 0
    synthetic: SyntheticOptions | None = None

    @property
    def is_classification(self) -> bool:
        return self.synthetic is None or self.synthetic.n_classes > 0


def task_metrics(data: DataSpec) -> tuple[str, ...]:
    """The per-epoch metrics the trainable reports for this data set's task."""
    return names.CLASSIFICATION_METRICS if data.is_classification else names.REGRESSION_METRICS


def parse_data(s: Section) -> DataSpec:
    dataset = s.choice("dataset", DATASETS)
    val_fraction = s.take(
        "val_fraction", float, 0.2, check=lambda v: 0 < v < 1, expect="in (0, 1)"
    )
    seed = s.take("seed", int, 0)
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
    return DataSpec(dataset, val_fraction, seed, synthetic)
