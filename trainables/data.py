"""Built-in data sets as arrays, split once in the driver and shared via the object store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Standardized train/validation arrays. ``n_classes == 0`` means regression."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_classes: int

    @property
    def is_classification(self) -> bool:
        return self.n_classes > 0

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.is_classification else 1

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.x_train, self.y_train, self.x_val, self.y_val))


@dataclass(frozen=True)
class SyntheticOptions:
    n_samples: int = 2000
    n_features: int = 20
    n_classes: int = 2


def _sklearn(loader_name: str) -> Callable[[int, SyntheticOptions], tuple[np.ndarray, np.ndarray]]:
    def load(seed: int, options: SyntheticOptions) -> tuple[np.ndarray, np.ndarray]:
        import sklearn.datasets  # imported lazily: only the driver needs scikit-learn

        x, y = getattr(sklearn.datasets, loader_name)(return_X_y=True)
        return x, y

    return load


def _synthetic(seed: int, options: SyntheticOptions) -> tuple[np.ndarray, np.ndarray]:
    import sklearn.datasets

    if options.n_classes == 0:
        x, y = sklearn.datasets.make_regression(
            n_samples=options.n_samples,
            n_features=options.n_features,
            n_informative=max(1, options.n_features // 2),
            noise=10.0,
            random_state=seed,
        )
        return x, (y - y.mean()) / y.std()
    return sklearn.datasets.make_classification(
        n_samples=options.n_samples,
        n_features=options.n_features,
        n_informative=max(2, options.n_features // 2),
        n_redundant=min(2, options.n_features // 4),
        n_classes=options.n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )


DATASETS: dict[str, Callable[[int, SyntheticOptions], tuple[np.ndarray, np.ndarray]]] = {
    "digits": _sklearn("load_digits"),
    "wine": _sklearn("load_wine"),
    "breast_cancer": _sklearn("load_breast_cancer"),
    "iris": _sklearn("load_iris"),
    "synthetic": _synthetic,
}


@dataclass(frozen=True)
class TestSet:
    """Held out from the search entirely: trials never see it; only ``evaluate`` reads it."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Splits:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_indices(
    labels: np.ndarray | None, n: int, *, val_fraction: float, test_fraction: float, seed: int
) -> Splits:
    """Deterministic by ``seed``; stratified (each class keeps its share) for classification."""
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(n)]
        if labels is None
        else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    )
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for idx in groups:
        idx = rng.permutation(idx)
        n_test = _share(len(idx), test_fraction)
        n_val = _share(len(idx) - n_test, val_fraction / (1 - test_fraction))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return Splits(*(np.sort(np.concatenate(parts[k])) for k in ("train", "val", "test")))


def _share(size: int, fraction: float) -> int:
    if fraction <= 0 or size < 2:
        return 0
    return min(size - 1, max(1, int(round(size * fraction))))


def standardize(x: np.ndarray, train: np.ndarray, columns: np.ndarray | None = None) -> None:
    """Scale ``columns`` (default all) in place with statistics of the training rows only."""
    cols = np.arange(x.shape[1]) if columns is None else columns
    mean = x[np.ix_(train, cols)].mean(axis=0)
    std = x[np.ix_(train, cols)].std(axis=0)
    std[std == 0] = 1.0
    x[:, cols] = (x[:, cols] - mean) / std


def to_splits(
    name: str, x: np.ndarray, y: np.ndarray, n_classes: int, splits: Splits
) -> tuple[Dataset, TestSet | None]:
    def rows(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[idx])

    data = Dataset(
        name,
        rows(x, splits.train),
        rows(y, splits.train),
        rows(x, splits.val),
        rows(y, splits.val),
        n_classes,
    )
    test = TestSet(rows(x, splits.test), rows(y, splits.test)) if splits.test.size else None
    return data, test


def load_builtin(
    name: str,
    *,
    val_fraction: float,
    seed: int,
    test_fraction: float = 0.0,
    synthetic: SyntheticOptions | None = None,
) -> tuple[Dataset, TestSet | None]:
    """Load ``name``, split it and standardize it on the training rows."""
    options = synthetic or SyntheticOptions()
    x, y = DATASETS[name](seed, options)
    n_classes = options.n_classes if name == "synthetic" else int(np.unique(y).size)
    x = np.asarray(x, dtype=np.float32)
    splits = split_indices(
        y if n_classes else None,
        len(x),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    standardize(x, splits.train)
    y = np.asarray(y, dtype=np.int64 if n_classes else np.float32)
    return to_splits(name, x, y, n_classes, splits)


def load_dataset(
    name: str,
    *,
    val_fraction: float,
    seed: int,
    synthetic: SyntheticOptions | None = None,
) -> Dataset:
    """The train/validation part of a built-in data set (no held-out test split)."""
    return load_builtin(name, val_fraction=val_fraction, seed=seed, synthetic=synthetic)[0]
