"""The spec's ``metric:``: one objective, or several for a multi-objective search."""

from __future__ import annotations

from dataclasses import dataclass

from search.spec.data import DataSpec
from search.spec.fields import Section
from trainables import config as names
from trainables.recipe import Recipe

MODES = ("min", "max")
# Reported every epoch besides the task's metrics; useful as a second objective.
COST_METRICS = (names.N_PARAMS, names.EPOCH_TIME_S)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    mode: str


def _parse_one(s: Section, data: DataSpec, recipe: Recipe, where: str) -> MetricSpec:
    task = data.task
    produced = (*recipe.columns(task), *COST_METRICS)
    metric = s.take("name", str, names.VAL_LOSS)
    # What your evaluation step reports is known once it ran on a batch (preflight).
    yours = (recipe.step or recipe.eval_step) and metric.startswith("val_")
    if metric not in produced and not yours:
        s.fail(
            f"`{where}.name` {metric!r} is not produced by {task} on {data.dataset!r}; "
            f"expected one of {list(produced)}"
        )
    mode = s.choice("mode", MODES, "min")
    s.done()
    return MetricSpec(metric, mode)


def parse_objectives(
    top: Section, data: DataSpec, recipe: Recipe = Recipe()
) -> tuple[MetricSpec, ...]:
    """``metric: {name, mode}`` or ``metric: [{name, mode}, ...]``; names must be distinct."""
    raw = top.claim("metric")
    if not isinstance(raw, list):
        return (_parse_one(top.sub("metric"), data, recipe, "metric"),)
    if not raw:
        top.fail("`metric` must be a mapping or a non-empty list of them")
    objectives = tuple(
        _parse_one(Section(item, f"metric[{i}]", top.source), data, recipe, f"metric[{i}]")
        for i, item in enumerate(raw)
    )
    metric_names = [o.name for o in objectives]
    if len(set(metric_names)) != len(metric_names):
        top.fail(f"`metric` lists an objective twice: {metric_names}")
    return objectives
