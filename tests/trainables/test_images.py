"""Image folders read with Pillow: classes, splits, statistics and seeded augmentation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainables.config import TrainConfig
from trainables.datasets import build_trial_data
from trainables.image_folder import (
    ImageFolderError,
    channel_stats,
    check_folder,
    scan,
    training_paths,
)
from trainables.sources import ImageSource, TrialDataSpec


def write_folder(root: Path, classes: dict[str, int], *, size: int = 6, mode: str = "L") -> Path:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shape = (size, size) if mode == "L" else (size, size, 3)
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode=mode).save(root / name / f"{i}.png")
    return root


def source(root: Path, **changes) -> ImageSource:
    fields = dict(
        root=str(root),
        image_size=6,
        channels=1,
        classes=check_folder(str(root)),
        mean=(0.5,),
        std=(0.25,),
        split_folders=(root / "train").is_dir(),
    )
    return ImageSource(**{**fields, **changes})


def test_class_folders_split_like_a_table_stratified_and_seeded(tmp_path):
    root = write_folder(tmp_path / "imgs", {"cat": 10, "dog": 20})
    spec = TrialDataSpec(source(root), val_fraction=0.2, test_fraction=0.1, seed=1)
    data = build_trial_data(spec, TrainConfig())
    assert (len(data.train), len(data.val), len(data.test)) == (21, 6, 3)
    x, y = data.train[0]
    assert x.shape == (1, 6, 6) and x.dtype == torch.float32 and y in (0, 1)
    assert data.n_classes == 2 and data.input_shape == (1, 6, 6)
    again = build_trial_data(spec, TrainConfig())
    assert again.val.paths == data.val.paths  # the same split every trial


def test_train_and_val_folders_are_used_as_given(tmp_path):
    root = tmp_path / "imgs"
    write_folder(root / "train", {"a": 4, "b": 4})
    write_folder(root / "val", {"a": 2, "b": 1})
    data = build_trial_data(TrialDataSpec(source(root)), TrainConfig())
    assert (len(data.train), len(data.val), data.test) == (8, 3, None)


def test_rgb_images_and_their_channel_statistics(tmp_path):
    root = write_folder(tmp_path / "rgb", {"a": 3, "b": 3}, mode="RGB")
    src = source(root, channels=3, mean=(0.0,) * 3, std=(1.0,) * 3)
    paths = training_paths(TrialDataSpec(src, val_fraction=0.34), src)
    mean, std = channel_stats(paths, size=6, channels=3, seed=0)
    assert len(mean) == 3 and all(0.3 < m < 0.7 for m in mean) and all(0.2 < s < 0.4 for s in std)
    x, _ = build_trial_data(TrialDataSpec(src), TrainConfig()).train[0]
    assert x.shape == (3, 6, 6)


def test_augmentation_is_seeded_by_epoch_and_example_not_by_worker(tmp_path):
    root = write_folder(tmp_path / "imgs", {"a": 5, "b": 5})
    spec = TrialDataSpec(source(root, crop_padding=2, flip=True), val_fraction=0.2)
    train = build_trial_data(spec, TrainConfig()).train
    n = len(train)
    epoch0 = [train[i][0] for i in range(n)]
    assert all(torch.equal(a, train[i][0]) for i, a in enumerate(epoch0))  # same key, same crop
    epoch1 = [train[n + i][0] for i in range(n)]
    assert any(not torch.equal(a, b) for a, b in zip(epoch0, epoch1))  # another epoch, new crops
    val = build_trial_data(spec, TrainConfig()).val
    assert torch.equal(val[0][0], val[0][0])


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "no such directory"),
        ({"only": 2}, "at least 2"),
        ({"a": 2, "b": 0}, r"class folders \['b'\] hold no images"),
    ],
)
def test_an_unusable_folder_is_refused_naming_it(tmp_path, layout, message):
    root = tmp_path / "imgs"
    if layout:
        write_folder(root, {k: v for k, v in layout.items() if v})
        for name, count in layout.items():
            (root / name).mkdir(exist_ok=True)
    with pytest.raises(ImageFolderError, match=message):
        check_folder(str(root))


def test_scan_keeps_a_fixed_class_order(tmp_path):
    root = write_folder(tmp_path / "imgs", {"b": 1, "a": 2})
    files = scan(root, ("b", "a"))
    assert files.labels.tolist() == [0, 1, 1]
    shutil.rmtree(root / "b")
    assert scan(root, ("b", "a")).labels.tolist() == [1, 1]
