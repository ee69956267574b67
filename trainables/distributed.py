"""One rank of a data-parallel trial: its share of every global batch, and DDP. No Ray in here.

Every rank runs raysweep's own loop (``trainables.loop``) on the same seeded epoch order.
``ShardedFeed`` splits each global batch of ``config.batch_size`` examples into contiguous,
near-equal shares, one per rank; the loop weights a share's mean loss by its size, so that
DDP's gradient average is exactly the gradient of the global batch's mean loss. A 2-worker
trial therefore trains like a 1-worker trial with the same global batch, up to the order of
float sums (for a model without batch norm, whose statistics stay per rank, and without
dropout, whose masks differ). The train loss is summed over ranks; every rank evaluates the
whole validation set, so every rank holds the same validation metrics (rank 0's are reported)
and the same plateau schedule. Sharding a ``DataLoader``-fed trial this way loads the global
batch on every rank and keeps the rank's share: correct, not yet cheaper.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from trainables.loop import Feed, TensorData, TrainState


def share_bounds(n: int, rank: int, ranks: int) -> tuple[int, int]:
    """``[start, stop)`` of ``rank``'s share of ``n`` examples: contiguous, sizes differ by
    at most one, the first ``n % ranks`` ranks taking the larger ones."""
    base, extra = divmod(n, ranks)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def batch_size_of(batch: Any) -> int | None:
    """The leading size of a batch's first tensor."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else None
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for item in batch:
            size = batch_size_of(item)
            if size is not None:
                return size
    return None


def take_rows(batch: Any, start: int, stop: int, n: int) -> Any:
    """Rows ``start:stop`` of every tensor in ``batch`` whose leading size is ``n``."""
    if isinstance(batch, torch.Tensor):
        return batch[start:stop] if batch.dim() and batch.shape[0] == n else batch
    if isinstance(batch, dict):
        return {k: take_rows(v, start, stop, n) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(take_rows(v, start, stop, n) for v in batch)
    if isinstance(batch, list):
        return [take_rows(v, start, stop, n) for v in batch]
    return batch


class ShardedFeed:
    """``feed``'s global batches, cut to this rank's share; its validation set whole."""

    def __init__(self, feed: Feed, state: TrainState, *, rank: int, ranks: int) -> None:
        self.feed, self.rank, self.ranks = feed, rank, ranks
        if isinstance(feed, TensorData):
            feed.bind(state)  # the trial's batch-order generator, the global batch size
        self._weight, self._counted = 1.0, 0

    @property
    def task(self) -> str:
        return self.feed.task

    @property
    def device(self) -> torch.device:
        return self.feed.device

    @property
    def steps(self) -> int | None:
        return self.feed.steps  # global batches: a position means the same on every rank

    def train_batches(self, epoch: int, *, skip: int) -> Iterator[Any]:
        for batch in self.feed.train_batches(epoch, skip=skip):
            n = batch_size_of(batch)
            if n is None:
                raise ValueError("a data-parallel trial needs batches of tensors to share out")
            start, stop = share_bounds(n, self.rank, self.ranks)
            if stop > start:
                self._weight, self._counted = (stop - start) * self.ranks / n, stop - start
                yield take_rows(batch, start, stop, n)
            else:
                # Fewer examples than ranks: DDP still needs this rank's backward, so it
                # steps on one example that counts for nothing.
                self._weight, self._counted = 0.0, 0
                yield take_rows(batch, 0, 1, n)

    def val_batches(self) -> Iterator[Any]:
        return self.feed.val_batches()

    def share(self, n: int) -> tuple[float, int]:
        return self._weight, self._counted

    def all_sum(self, *values: float) -> tuple[float, ...]:
        summed = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(summed, op=dist.ReduceOp.SUM)
        return tuple(float(v) for v in summed.tolist())

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag``, on every rank."""
        value = torch.tensor([int(flag)], device=self._collective_device())
        dist.broadcast(value, src=0)
        return bool(value.item())

    def _collective_device(self) -> torch.device:
        # NCCL moves only CUDA tensors; Gloo only CPU ones.
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def data_parallel(state: TrainState, feed: Feed, *, rank: int, ranks: int) -> ShardedFeed:
    """Make ``state`` train as one rank of a DDP trial under the process group Ray Train
    set up: the model runs wrapped in DDP (``state.model`` stays the bare one, for the
    checkpoint), fed this rank's shares."""
    device = feed.device
    wrapped = DistributedDataParallel(
        state.model, device_ids=[device] if device.type == "cuda" else None
    )
    state.forward = torch.compile(wrapped) if state.recipe.compile else wrapped  # type: ignore[assignment]
    return ShardedFeed(feed, state, rank=rank, ranks=ranks)
