"""A ``DataLoader``-fed trial: its training order and its validation pass (``loop.Feed``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset

from trainables.batches import LoaderBatches, evaluation_loader
from trainables.datasets import TrialData
from trainables.sources import LoaderSpec


class LoaderFeed:
    def __init__(
        self,
        data: TrialData,
        *,
        batch_size: int,
        seed: int,
        spec: LoaderSpec,
        device: torch.device,
        task: str,
        evaluate_on: Dataset[Any] | None = None,
    ) -> None:
        on_gpu = device.type == "cuda"
        self._task, self._device = task, device
        self.train = LoaderBatches(
            data.train,
            batch_size=batch_size,
            seed=seed,
            spec=spec,
            on_gpu=on_gpu,
            collate_fn=data.collate_fn,
        )
        self.val = evaluation_loader(
            data.val if evaluate_on is None else evaluate_on,
            batch_size=batch_size,
            spec=spec,
            on_gpu=on_gpu,
            collate_fn=data.collate_fn,
        )

    @property
    def task(self) -> str:
        return self._task

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def steps(self) -> int | None:
        return self.train.steps

    def train_batches(self, epoch: int, *, skip: int) -> Iterator[Any]:
        return self.train.epoch(epoch, skip=skip)

    def val_batches(self) -> Iterator[Any]:
        return iter(self.val)
