"""Data built inside each trial, as plain data (no torch): an image folder or your factory.

Tables and built-in data sets are read once in the driver and shared through the object
store (``trainables.data``); these are opened on the trial's worker from a path every node
reads, so a data set larger than the driver's memory works.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class LoaderSpec:
    """``data.loader``: how the ``DataLoader`` feeds a trial. ``None`` means: on a GPU, yes."""

    num_workers: int = 0
    pin_memory: bool | None = None
    persistent_workers: bool | None = None  # default: whenever num_workers > 0
    prefetch_factor: int | None = None


@dataclass(frozen=True)
class ImageSource:
    """``data.images``: one sub-folder per class (or ``train/``, ``val/``, ``test/`` ones)."""

    root: str
    image_size: int
    channels: int  # 1 (grayscale) or 3 (RGB)
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, computed on the training split unless given
    std: tuple[float, ...]
    split_folders: bool  # train/ and val/ (and test/) folders rather than fractions
    crop_padding: int = 0  # random crop after padding by this many pixels (0: off)
    flip: bool = False  # random horizontal flip

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)


@dataclass(frozen=True)
class FactorySource:
    """``data.factory``: ``package.module:function(config) -> datasets``, called on the
    trial's worker with the trial's ``TrainConfig``."""

    factory: str


@dataclass(frozen=True)
class TrialDataSpec:
    """Data a trial opens itself, with how it is split and loaded."""

    source: ImageSource | FactorySource
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    task: str = "classification"
    loader: LoaderSpec = field(default_factory=LoaderSpec)
