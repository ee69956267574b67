"""Optuna samplers by name, each seeded by ``search.seed``; what each can search is
``search.spec.samplers`` (plain data, the same keys)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import optuna

from search.spec.space import ParamSpec, grid_points


def _grid(seed: int, space: Mapping[str, ParamSpec]) -> optuna.samplers.BaseSampler:
    grid = {name: grid_points(p) for name, p in space.items()}
    return optuna.samplers.GridSampler(grid, seed=seed)  # type: ignore[arg-type]


def _auto(seed: int, space: Mapping[str, ParamSpec]) -> optuna.samplers.BaseSampler:
    import optunahub  # type: ignore[import-not-found]

    return optunahub.load_module("samplers/auto_sampler").AutoSampler(seed=seed)  # type: ignore[no-any-return]


Build = Callable[[int, Mapping[str, ParamSpec]], optuna.samplers.BaseSampler]

SAMPLERS: dict[str, Build] = {
    # multivariate TPE models interactions (lr x optimizer) that independent TPE can't see.
    "tpe": lambda seed, _: optuna.samplers.TPESampler(seed=seed, multivariate=True),
    "random": lambda seed, _: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed, _: optuna.samplers.CmaEsSampler(seed=seed),
    "gp": lambda seed, _: optuna.samplers.GPSampler(seed=seed),
    # scrambled, so the seed matters (an unscrambled Sobol sequence ignores it)
    "qmc": lambda seed, _: optuna.samplers.QMCSampler(seed=seed, scramble=True),
    "grid": _grid,
    "nsga2": lambda seed, _: optuna.samplers.NSGAIISampler(seed=seed),
    "auto": _auto,
}


def build_sampler(
    name: str, seed: int, space: Mapping[str, ParamSpec]
) -> optuna.samplers.BaseSampler:
    return SAMPLERS[name](seed, space)
