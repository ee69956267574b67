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


def load_dataset(
    name: str,
    *,
    val_fraction: float,
    seed: int,
    synthetic: SyntheticOptions | None = None,
) -> Dataset:
    """Load ``name``, split it (stratified for classification) and standardize on train stats."""
    options = synthetic or SyntheticOptions()
    x, y = DATASETS[name](seed, options)
    n_classes = options.n_classes if name == "synthetic" else int(np.unique(y).size)
    x = np.asarray(x, dtype=np.float32)
    rng = np.random.default_rng(seed)
    val_idx, train_idx = _split_indices(y if n_classes else None, len(x), val_fraction, rng)
    mean = x[train_idx].mean(axis=0)
    std = x[train_idx].std(axis=0)
    std[std == 0] = 1.0
    x = (x - mean) / std
    y = np.asarray(y, dtype=np.int64 if n_classes else np.float32)
    return Dataset(
        name=name,
        x_train=np.ascontiguousarray(x[train_idx]),
        y_train=np.ascontiguousarray(y[train_idx]),
        x_val=np.ascontiguousarray(x[val_idx]),
        y_val=np.ascontiguousarray(y[val_idx]),
        n_classes=n_classes,
    )


def _split_indices(
    labels: np.ndarray | None, n: int, val_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Validation and train indices; each class keeps its share in both for classification."""
    groups = (
        [np.arange(n)]
        if labels is None
        else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    )
    val: list[np.ndarray] = []
    train: list[np.ndarray] = []
    for idx in groups:
        idx = rng.permutation(idx)
        n_val = max(1, int(round(len(idx) * val_fraction))) if len(idx) > 1 else 0
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(val)), np.sort(np.concatenate(train))
