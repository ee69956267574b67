"""The data a trial opens itself: an image folder's splits, or what your factory returns.

Your factory, ``package.module:function(config)``, gets the trial's ``TrainConfig`` (your
``user_*`` hyperparameters are in ``config.user``) and returns a ``TrialData``, a dict with
its fields, or a tuple ``(train, val)`` / ``(train, val, test)`` of torch ``Dataset``s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, IterableDataset

from trainables.config import TrainConfig
from trainables.factories import load_factory
from trainables.image_folder import scan, split_files
from trainables.images import ImageDataset
from trainables.sources import FactorySource, ImageSource, TrialDataSpec


@dataclass(frozen=True)
class TrialData:
    """A trial's data sets: ``train`` and ``val``, and ``test`` for ``raysweep evaluate``.

    ``n_classes`` (0: regression) and ``input_shape`` are read off the data when not given:
    the model factory gets them as ``n_outputs`` and ``n_inputs``.
    """

    train: Dataset[Any]
    val: Dataset[Any]
    test: Dataset[Any] | None = None
    collate_fn: Callable[[list[Any]], Any] | None = None
    n_classes: int | None = None
    input_shape: tuple[int, ...] | None = None

    @property
    def is_iterable(self) -> bool:
        return isinstance(self.train, IterableDataset)


class DataFactoryError(TypeError):
    """A data factory returned something that is not data sets; the message says what."""


def build_trial_data(spec: TrialDataSpec, config: TrainConfig) -> TrialData:
    if isinstance(spec.source, ImageSource):
        return _image_data(spec, spec.source)
    return _factory_data(spec.source, config)


def _image_data(spec: TrialDataSpec, source: ImageSource) -> TrialData:
    root = Path(source.root).expanduser()

    def dataset(paths: tuple[str, ...], labels: Any, *, train: bool) -> ImageDataset:
        return ImageDataset(paths, labels, source, augment=train, seed=spec.seed)

    if source.split_folders:
        parts = {
            name: scan(root / name, source.classes)
            for name in ("train", "val", "test")
            if (root / name).is_dir()
        }
        test = parts.get("test")
        return TrialData(
            dataset(parts["train"].paths, parts["train"].labels, train=True),
            dataset(parts["val"].paths, parts["val"].labels, train=False),
            None if test is None else dataset(test.paths, test.labels, train=False),
            n_classes=len(source.classes),
            input_shape=source.input_shape,
        )
    files, splits = split_files(spec, source)

    def subset(idx: Any, *, train: bool) -> ImageDataset:
        return dataset(tuple(files.paths[i] for i in idx), files.labels[idx], train=train)

    return TrialData(
        subset(splits.train, train=True),
        subset(splits.val, train=False),
        subset(splits.test, train=False) if splits.test.size else None,
        n_classes=len(source.classes),
        input_shape=source.input_shape,
    )


def _factory_data(source: FactorySource, config: TrainConfig) -> TrialData:
    value = load_factory(source.factory)(config)
    where = f"data.factory {source.factory!r}"
    if isinstance(value, TrialData):
        data = value
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(TrialData.__dataclass_fields__))
        if unknown or "train" not in value or "val" not in value:
            raise DataFactoryError(
                f"{where} returned a dict with keys {sorted(value)}; expected 'train', 'val' "
                f"and optionally {['test', 'collate_fn', 'n_classes', 'input_shape']}"
            )
        data = TrialData(**value)
    elif isinstance(value, tuple) and len(value) in (2, 3):
        data = TrialData(*value)
    else:
        raise DataFactoryError(
            f"{where} returned {type(value).__name__}; expected (train, val), "
            "(train, val, test), a dict or raysweep.TrialData of torch Datasets"
        )
    for name in ("train", "val", "test"):
        part = getattr(data, name)
        if part is not None and not isinstance(part, Dataset):
            raise DataFactoryError(
                f"{where}: {name} is a {type(part).__name__}, not a torch.utils.data.Dataset"
            )
    return data


def example_shape(data: TrialData) -> tuple[int, ...] | None:
    """The shape of one training input, when examples are ``(tensor, target)``."""
    if data.input_shape is not None:
        return data.input_shape
    try:
        first = next(iter(data.train)) if data.is_iterable else data.train[0]
    except (IndexError, StopIteration, TypeError, KeyError):
        return None
    if isinstance(first, (tuple, list)) and first and isinstance(first[0], torch.Tensor):
        return tuple(first[0].shape)
    return None


def network_sizes(data: TrialData, task: str) -> tuple[int, int]:
    """The network's ``n_inputs`` (an example's size, 0 when it isn't one tensor) and
    ``n_outputs`` (the classes, 0 when not given; 1 for regression)."""
    shape = example_shape(data)
    n_outputs = (data.n_classes or 0) if task == "classification" else 1
    return (math.prod(shape) if shape else 0), n_outputs
