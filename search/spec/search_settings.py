"""The spec's ``search:`` section: sampler, trial budget, seeds, baselines and time budgets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from search.spec.fields import Section
from search.spec.samplers import SAMPLERS
from search.spec.space import ParamSpec, default_point
from trainables.config import TrainConfig


@dataclass(frozen=True)
class SearchSpec:
    sampler: str = "tpe"
    num_samples: int = 16
    max_concurrent: int = 2
    seed: int = 0
    # Evaluated first, in order; the first is the base camp every trial is read against.
    baselines: tuple[Mapping[str, Any], ...] = ()
    time_budget_s: float | None = None  # no new trials once the sweep has run this long
    max_total_epochs: int | None = None  # ... or once this many epochs were trained in all

    @property
    def baseline(self) -> Mapping[str, Any]:
        return self.baselines[0]


def parse_search(
    s: Section, space: Mapping[str, ParamSpec], fixed: Mapping[str, Any]
) -> SearchSpec:
    sampler = s.choice("sampler", SAMPLERS, "tpe")
    num_samples = s.take("num_samples", int, 16, check=lambda v: v >= 1, expect=">= 1")
    max_concurrent = s.take("max_concurrent", int, 2, check=lambda v: v >= 1, expect=">= 1")
    seed = s.take("seed", int, 0, check=lambda v: 0 <= v < 2**32, expect="in [0, 2**32)")
    time_budget = s.take("time_budget_s", float, None, check=lambda v: v > 0, expect="> 0")
    max_epochs = s.take("max_total_epochs", int, None, check=lambda v: v >= 1, expect=">= 1")
    given = s.take("baseline", object, None)
    s.done()
    baselines: tuple[dict[str, Any], ...]
    if given is None or isinstance(given, dict):
        baselines = (parse_baseline(s, given, space, fixed, "search.baseline"),)
    elif isinstance(given, list) and given and all(isinstance(b, dict) for b in given):
        baselines = tuple(
            parse_baseline(s, b, space, fixed, f"search.baseline[{i}]")
            for i, b in enumerate(given)
        )
    else:
        s.fail(
            "`search.baseline` must be a mapping of hyperparameters or a non-empty list of "
            f"them, but got {given!r}"
        )
    return SearchSpec(
        sampler, num_samples, max_concurrent, seed, baselines, time_budget, max_epochs
    )


def parse_baseline(
    s: Section,
    given: Mapping[str, Any] | None,
    space: Mapping[str, ParamSpec],
    fixed: Mapping[str, Any],
    where: str,
) -> dict[str, Any]:
    """A config evaluated first. Missing keys take the trainable's default where it fits;
    conditional parameters appear only where their condition holds."""
    given = given or {}
    for key, value in given.items():
        if key in fixed:
            s.fail(f"`{where}.{key}` is fixed to {fixed[key]!r}; set it in `fixed` only")
        if key not in space:
            s.fail(f"`{where}.{key}` is not in `space`; expected keys {sorted(space)}")
        if not space[key].contains(value):
            s.fail(f"`{where}.{key}` must be {space[key].describe()}, but got {value!r}")
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    point = {
        k: given[k] if k in given else default_point(p, defaults[k])
        for k, p in space.items()
        if not p.when
    }
    for key, param in space.items():
        if not param.when:
            continue
        if param.applies(point):
            point[key] = given[key] if key in given else default_point(param, defaults[key])
        elif key in given:
            s.fail(f"`{where}.{key}` doesn't apply: it is searched only when {dict(param.when)}")
    return point
