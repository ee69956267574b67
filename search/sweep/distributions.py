"""The search space as the search libraries take it: Optuna distributions (fixed, or
define-by-run for conditional parameters) and Ray Tune domains (for PBT)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna.distributions as od

from search.spec.space import ParamSpec, grid_points, to_distributions


class DefineByRun:
    """OptunaSearch's define-by-run space for conditional parameters.

    Unconditional parameters are suggested first; a conditional one only where its condition
    holds, so e.g. ``momentum`` never exists for Adam. A class, not a closure: the searcher
    is pickled with the experiment.
    """

    def __init__(self, space: Mapping[str, ParamSpec]) -> None:
        self.params = sorted(space.values(), key=lambda p: (bool(p.when), p.name))

    def __call__(self, trial: Any) -> None:
        values: dict[str, Any] = {}
        for p in self.params:
            if not p.applies(values):
                continue
            if p.choices is not None:
                values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif p.type == "int":
                step = int(p.step or 1)
                values[p.name] = trial.suggest_int(p.name, p.low, p.high, step=step, log=p.log)
            else:
                values[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)


def search_space(space: Mapping[str, ParamSpec]) -> dict[str, od.BaseDistribution] | DefineByRun:
    """Fixed distributions when every parameter always applies, else define-by-run."""
    if any(p.when for p in space.values()):
        return DefineByRun(space)
    return to_distributions(space)


def to_tune_domain(param: ParamSpec) -> Any:
    """``param`` as a Ray Tune distribution (for PBT and Tune's own variant generator)."""
    from ray import tune

    if param.choices is not None:
        return tune.choice(list(param.choices))
    if param.step is not None:  # exactly the grid the spec declares, from low
        return tune.choice(grid_points(param) or [])
    low, high = float(param.low), float(param.high)  # type: ignore[arg-type]
    if param.type == "int":
        # Tune's integer upper bounds are exclusive; ours are inclusive.
        return (tune.lograndint if param.log else tune.randint)(int(low), int(high) + 1)
    return (tune.loguniform if param.log else tune.uniform)(low, high)
