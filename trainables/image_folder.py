"""An image folder, read with Pillow: its classes, its files, and their channel statistics.

The layout is torchvision's ``ImageFolder``: one sub-folder per class, classes in sorted
order. With ``train/`` and ``val/`` (and optionally ``test/``) folders, each holds the class
folders. No torch here: the spec reads a folder's classes and statistics when parsed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainables.data import Splits, split_indices
from trainables.sources import IMAGE_EXTENSIONS, ImageSource, TrialDataSpec

SPLIT_FOLDERS = ("train", "val", "test")
STATS_SAMPLE = 512  # training images read for the channel statistics, at most


class ImageFolderError(ValueError):
    """The folder can't be used as an image data set; the message names it."""


@dataclass(frozen=True)
class ImageFiles:
    """Files and their class indices, in a fixed order (sorted by class, then by name)."""

    paths: tuple[str, ...]
    labels: np.ndarray


def _images_in(folder: Path) -> list[str]:
    return sorted(
        str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def class_folders(root: Path) -> list[str]:
    return sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def has_split_folders(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "val").is_dir()


def scan(root: str | os.PathLike[str], classes: tuple[str, ...] | None = None) -> ImageFiles:
    """Every image under ``root``'s class folders; ``classes`` fixes the class order."""
    folder = Path(root)
    names = list(classes) if classes is not None else class_folders(folder)
    paths: list[str] = []
    labels: list[int] = []
    for index, name in enumerate(names):
        found = _images_in(folder / name) if (folder / name).is_dir() else []
        paths += found
        labels += [index] * len(found)
    return ImageFiles(tuple(paths), np.asarray(labels, dtype=np.int64))


def check_folder(root: str) -> tuple[str, ...]:
    """The class names of an image folder; ``ImageFolderError`` when it can't be used."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise ImageFolderError(f"{root}: no such directory")
    top = folder / "train" if has_split_folders(folder) else folder
    classes = tuple(class_folders(top))
    if len(classes) < 2:
        raise ImageFolderError(
            f"{top}: expected one sub-folder per class (at least 2), but found {list(classes)}"
        )
    empty = [c for c in classes if not _images_in(top / c)]
    if empty:
        raise ImageFolderError(
            f"{top}: class folders {empty} hold no images ({', '.join(IMAGE_EXTENSIONS)})"
        )
    return classes


def load_image(path: str, *, size: int, channels: int) -> np.ndarray:
    """An image as uint8 ``(size, size, channels)``, resized bilinearly."""
    from PIL import Image

    with Image.open(path) as image:
        converted = image.convert("L" if channels == 1 else "RGB")
        resized = converted.resize((size, size), Image.Resampling.BILINEAR)
        pixels = np.array(resized, dtype=np.uint8)  # a copy: torch wants it writable
    return pixels.reshape(size, size, channels)


def channel_stats(
    paths: tuple[str, ...], *, size: int, channels: int, seed: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of pixel values in [0, 1], over a seeded
    sample of at most ``STATS_SAMPLE`` images (memory stays flat, whatever the folder's size)."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(paths), size=min(STATS_SAMPLE, len(paths)), replace=False)
    total = np.zeros(channels)
    squares = np.zeros(channels)
    count = 0
    for i in sorted(chosen):
        pixels = load_image(paths[i], size=size, channels=channels).reshape(-1, channels) / 255.0
        total += pixels.sum(0)
        squares += np.square(pixels).sum(0)
        count += pixels.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-12))
    return tuple(round(float(m), 6) for m in mean), tuple(round(float(s), 6) for s in std)


def split_files(spec: TrialDataSpec, source: ImageSource) -> tuple[ImageFiles, Splits]:
    """A folder without split folders: its files, split as a table is (stratified, seeded)."""
    files = scan(Path(source.root).expanduser(), source.classes)
    splits = split_indices(
        files.labels,
        len(files.paths),
        val_fraction=spec.val_fraction,
        test_fraction=spec.test_fraction,
        seed=spec.seed,
    )
    return files, splits


def training_paths(spec: TrialDataSpec, source: ImageSource) -> tuple[str, ...]:
    """The training split's files (for its channel statistics)."""
    root = Path(source.root).expanduser()
    if has_split_folders(root):
        return scan(root / "train", source.classes).paths
    files, splits = split_files(spec, source)
    return tuple(files.paths[i] for i in splits.train)
