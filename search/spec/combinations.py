"""Sampler, scheduler and metric combinations that can't work, refused with the reason."""

from __future__ import annotations

from collections.abc import Mapping

from search.spec.fields import Section
from search.spec.objectives import MetricSpec
from search.spec.samplers import sampler_problem
from search.spec.scheduler import SchedulerSpec
from search.spec.search_settings import SearchSpec
from search.spec.sections import CheckpointSpec
from search.spec.space import ParamSpec


def check_combinations(
    top: Section,
    space: Mapping[str, ParamSpec],
    search: SearchSpec,
    scheduler: SchedulerSpec,
    objectives: tuple[MetricSpec, ...],
    checkpoint: CheckpointSpec,
) -> None:
    if scheduler.type == "pbt":
        _check_pbt(top, space, search, scheduler, checkpoint)
    if scheduler.type == "hyperband" and checkpoint.every != 1:
        top.fail(
            "`checkpoint.every` must be 1 with hyperband: it pauses trials and a paused trial "
            "resumes from its last checkpoint, retraining up to every - 1 epochs; got "
            f"{checkpoint.every}"
        )
    problem = sampler_problem(
        search.sampler, space, objectives=len(objectives), num_samples=search.num_samples
    )
    if problem:
        top.fail(f"`search.sampler`: {problem}")
    if len(objectives) > 1 and scheduler.type != "fifo":
        top.fail(
            f"`scheduler.type` {scheduler.type!r} stops trials by one metric, which a "
            "multi-objective search doesn't have; use scheduler: {type: fifo}"
        )


def _check_pbt(
    top: Section,
    space: Mapping[str, ParamSpec],
    search: SearchSpec,
    scheduler: SchedulerSpec,
    checkpoint: CheckpointSpec,
) -> None:
    if search.sampler != "random":
        top.fail(
            "`scheduler.type` pbt draws its population at random and explores by mutation "
            "(Ray Tune allows no search algorithm with it); set search.sampler: random"
        )
    if any(p.when for p in space.values()):
        top.fail("`scheduler.type` pbt can't mutate a conditional space; drop the `when`s")
    if search.time_budget_s is not None or search.max_total_epochs is not None:
        top.fail("`search` budgets limit how many trials start; pbt runs a fixed population")
    missing = [m for m in scheduler.mutate if m not in space]
    if missing:
        top.fail(f"`scheduler.mutate` {missing} must be searched in `space` (PBT mutates them)")
    if scheduler.perturbation_interval % checkpoint.every:
        top.fail(
            "`scheduler.perturbation_interval` must be a multiple of `checkpoint.every`: PBT "
            f"continues from the checkpoint at each perturbation, but got "
            f"{scheduler.perturbation_interval} and {checkpoint.every}"
        )
