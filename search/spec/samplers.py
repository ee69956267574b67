"""What each Optuna sampler can search, as plain data: the spec refuses what won't work.

The samplers themselves are built in ``search.sweep.samplers``; these names are the same keys.
Combinations a sampler can't handle are refused at validation with the reason, before Ray
starts, rather than degraded silently at run time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from search.spec.space import ParamSpec, grid_points


@dataclass(frozen=True)
class SamplerCapability:
    categorical: bool = True  # searches categorical parameters natively
    multi_objective: bool = True
    conditional: bool = True  # a space with `when` conditions
    needs: str | None = None  # a package beyond raysweep's own, checked before a run


SAMPLERS: dict[str, SamplerCapability] = {
    "tpe": SamplerCapability(),
    "random": SamplerCapability(),
    "cmaes": SamplerCapability(categorical=False, multi_objective=False),
    "gp": SamplerCapability(),
    "qmc": SamplerCapability(categorical=False),
    "grid": SamplerCapability(conditional=False),
    "nsga2": SamplerCapability(),
    "auto": SamplerCapability(needs="optunahub"),
}


def sampler_problem(
    name: str, space: Mapping[str, ParamSpec], *, objectives: int, num_samples: int
) -> str | None:
    """Why ``name`` can't search ``space`` as asked, or ``None`` if it can."""
    info = SAMPLERS[name]
    categorical = sorted(k for k, p in space.items() if p.choices is not None)
    if not info.categorical and categorical:
        return (
            f"sampler {name!r} can't search categorical parameters {categorical} (Optuna would "
            "sample them at random); use tpe, gp or random, or fix them"
        )
    if objectives > 1 and not info.multi_objective:
        return f"sampler {name!r} is single-objective; use nsga2, tpe or random"
    if not info.conditional and any(p.when for p in space.values()):
        return f"{name} can't search conditional parameters (it would repeat configs); use tpe"
    if name == "grid":
        return _grid_problem(space, num_samples)
    return None


def _grid_problem(space: Mapping[str, ParamSpec], num_samples: int) -> str | None:
    continuous = sorted(k for k, p in space.items() if grid_points(p) is None)
    if continuous:
        return f"grid needs a `step` for the continuous ranges {continuous}"
    size = math.prod(len(grid_points(p) or []) for p in space.values())
    if num_samples > size:
        return f"search.num_samples ({num_samples}) exceeds the grid's {size} points"
    return None
