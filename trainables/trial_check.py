"""One batch through a trial's model, loss, step and metrics, on the CPU, before a sweep.

What a spec can't tell (your factory's data sets, your model's output against the loss and
the labels, the metrics your evaluation step reports) is found here in a second, not in a
trial's traceback minutes into a sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import torch

from trainables import config as names
from trainables.architecture import Architecture
from trainables.config import TrainConfig
from trainables.loop import Feed, build_state, evaluate
from trainables.recipe import Recipe
from trainables.steps import Stepper


class TrialCheckError(ValueError):
    """One batch could not be trained or evaluated; the message names the part that failed."""


class _FirstBatches:
    """A feed's first training and first validation batch, nothing more."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed

    @property
    def task(self) -> str:
        return self.feed.task

    @property
    def device(self) -> torch.device:
        return self.feed.device

    @property
    def steps(self) -> int | None:
        return 1

    def train_batches(self, epoch: int, *, skip: int) -> Iterator[Any]:
        return _first(self.feed.train_batches(epoch, skip=skip), "training")

    def val_batches(self) -> Iterator[Any]:
        return _first(self.feed.val_batches(), "validation")


def _first(batches: Iterator[Any], split: str) -> Iterator[Any]:
    for batch in batches:
        yield batch
        return
    raise TrialCheckError(f"the {split} data set yields no batch")


def _describe(recipe: Recipe, task: str) -> str:
    if recipe.step:
        return f"train.step {recipe.step!r}"
    return f"the model's output and train.loss {recipe.loss_for(task)!r}"


def check_one_batch(
    config: TrainConfig,
    recipe: Recipe,
    feed: Feed,
    *,
    architecture: Architecture,
    n_inputs: int,
    n_outputs: int,
) -> tuple[str, ...]:
    """Train and evaluate one batch on the CPU; the metric columns a trial reports."""
    recipe = replace(recipe, compile=False)  # seconds of compiling prove nothing here
    try:
        state = build_state(
            config,
            n_inputs=n_inputs,
            n_outputs=n_outputs,
            seed=0,
            device=torch.device("cpu"),
            architecture=architecture,
            recipe=recipe,
            steps_per_epoch=feed.steps or 1,
        )
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TrialCheckError(f"model: the network can't be built: {_line(exc)}") from None
    first = _FirstBatches(feed)
    stepper = Stepper(recipe, task=feed.task, device=torch.device("cpu"))
    batch = next(first.train_batches(0, skip=0))
    try:
        result = stepper.train(state.model, batch)
        if result.loss.dim() != 0:
            raise TrialCheckError(
                f"the loss must be one number per batch, but has shape {list(result.loss.shape)}"
            )
        result.loss.backward()
    except TrialCheckError:
        raise
    except Exception as exc:  # the user's model, loss or step: any error is theirs to see
        raise TrialCheckError(f"{_describe(recipe, feed.task)}: {_line(exc)}") from None
    try:
        scores = evaluate(state, first)
    except Exception as exc:
        where = f"train.eval_step {recipe.eval_step!r}" if recipe.eval_step else "evaluation"
        raise TrialCheckError(f"{where}: {_line(exc)}") from None
    return (names.TRAIN_LOSS, *scores)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
