"""Optuna samplers by name, each seeded by ``search.seed``."""

from __future__ import annotations

from collections.abc import Callable

import optuna

SamplerFactory = Callable[[int], optuna.samplers.BaseSampler]

SAMPLERS: dict[str, SamplerFactory] = {
    # multivariate TPE models interactions (lr x optimizer) that independent TPE can't see.
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def build_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    return SAMPLERS[name](seed)
