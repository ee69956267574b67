"""An image folder as a torch ``Dataset``: decoded on demand, one file per example.

Train-time augmentation (random crop after padding, horizontal flip) draws from a generator
seeded by the sweep seed, the epoch and the example, never from a worker's RNG: the same
example in the same epoch gets the same crop in any loader worker, so a resumed trial sees
exactly the images an uninterrupted one saw. The training sampler passes the epoch in the
index (``epoch * len + i``), as loader workers hold their own copy of the data set.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from trainables.image_folder import load_image
from trainables.sources import ImageSource


class ImageDataset(Dataset[tuple[torch.Tensor, int]]):
    def __init__(
        self,
        paths: tuple[str, ...],
        labels: np.ndarray,
        source: ImageSource,
        *,
        augment: bool,
        seed: int,
    ) -> None:
        self.paths, self.labels, self.source = paths, labels, source
        self.augment = augment and (source.crop_padding > 0 or source.flip)
        self.seed = seed
        self.mean = torch.tensor(source.mean).view(-1, 1, 1)
        self.std = torch.tensor(source.std).view(-1, 1, 1)

    # The training sampler's keys carry the epoch (see the module's docstring).
    epoch_keyed = True

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int) -> tuple[torch.Tensor, int]:
        epoch, index = divmod(int(key), len(self.paths))
        size, channels = self.source.image_size, self.source.channels
        pixels = load_image(self.paths[index], size=size, channels=channels)
        x = torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)
        if self.augment:
            x = self._augment(x, epoch, index)
        return (x - self.mean) / self.std, int(self.labels[index])

    def _augment(self, x: torch.Tensor, epoch: int, index: int) -> torch.Tensor:
        seed = ((self.seed * 1_000_003 + epoch) * 1_000_033 + index) % (2**63)
        generator = torch.Generator().manual_seed(seed)
        pad = self.source.crop_padding
        if pad > 0:
            size = x.shape[-1]
            padded = F.pad(x, (pad, pad, pad, pad))
            top, left = torch.randint(0, 2 * pad + 1, (2,), generator=generator).tolist()
            x = padded[:, top : top + size, left : left + size]
        if self.source.flip and bool(torch.rand((), generator=generator) < 0.5):
            x = x.flip(-1)
        return x
