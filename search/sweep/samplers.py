"""Optuna samplers by name, each seeded by ``search.seed``, and what each one can search.

Combinations a sampler can't handle are refused at validation with the reason, before Ray
starts, rather than degraded silently at run time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import optuna

from search.space import ParamSpec, grid_points


def _grid(seed: int, space: Mapping[str, ParamSpec]) -> optuna.samplers.BaseSampler:
    grid = {name: grid_points(p) for name, p in space.items()}
    return optuna.samplers.GridSampler(grid, seed=seed)  # type: ignore[arg-type]


def _auto(seed: int, space: Mapping[str, ParamSpec]) -> optuna.samplers.BaseSampler:
    import optunahub  # type: ignore[import-not-found]

    return optunahub.load_module("samplers/auto_sampler").AutoSampler(seed=seed)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SamplerInfo:
    build: Callable[[int, Mapping[str, ParamSpec]], optuna.samplers.BaseSampler]
    categorical: bool = True  # searches categorical parameters natively
    multi_objective: bool = True


SAMPLERS: dict[str, SamplerInfo] = {
    # multivariate TPE models interactions (lr x optimizer) that independent TPE can't see.
    "tpe": SamplerInfo(lambda seed, _: optuna.samplers.TPESampler(seed=seed, multivariate=True)),
    "random": SamplerInfo(lambda seed, _: optuna.samplers.RandomSampler(seed=seed)),
    "cmaes": SamplerInfo(
        lambda seed, _: optuna.samplers.CmaEsSampler(seed=seed),
        categorical=False,
        multi_objective=False,
    ),
    "gp": SamplerInfo(lambda seed, _: optuna.samplers.GPSampler(seed=seed)),
    # scrambled, so the seed matters (an unscrambled Sobol sequence ignores it)
    "qmc": SamplerInfo(
        lambda seed, _: optuna.samplers.QMCSampler(seed=seed, scramble=True), categorical=False
    ),
    "grid": SamplerInfo(_grid),
    "nsga2": SamplerInfo(lambda seed, _: optuna.samplers.NSGAIISampler(seed=seed)),
    "auto": SamplerInfo(_auto),
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
    if name == "grid" and any(p.when for p in space.values()):
        return "grid can't search conditional parameters (it would repeat configs); use tpe"
    if name == "grid":
        continuous = sorted(k for k, p in space.items() if grid_points(p) is None)
        if continuous:
            return f"grid needs a `step` for the continuous ranges {continuous}"
        size = math.prod(len(grid_points(p) or []) for p in space.values())
        if num_samples > size:
            return f"search.num_samples ({num_samples}) exceeds the grid's {size} points"
    if name == "auto":
        try:
            _auto(0, space)  # optunahub fetches the sampler's code: fail here, not mid-sweep
        except ImportError:
            return "sampler 'auto' needs optunahub (pip install optunahub) to load AutoSampler"
        except Exception as exc:  # network or hub errors
            return f"sampler 'auto' could not be loaded from OptunaHub: {exc}"
    return None


def build_sampler(
    name: str, seed: int, space: Mapping[str, ParamSpec]
) -> optuna.samplers.BaseSampler:
    return SAMPLERS[name].build(seed, space)
