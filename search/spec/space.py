"""The search space: ``space:`` entries parsed into ``ParamSpec`` and turned into Optuna
distributions. Bounds are inclusive, as Optuna's are."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from search.spec.fields import Section, is_kind
from trainables.config import Hyperparameter, known_names, lookup_hyperparameter

if TYPE_CHECKING:
    import optuna.distributions as od

PARAM_TYPES = ("float", "int", "categorical")


@dataclass(frozen=True)
class ParamSpec:
    """One searched hyperparameter, e.g. ``lr: {type: float, low: 1e-4, high: 0.1, log: true}``."""

    name: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None
    # Searched only where another (categorical) parameter takes one of these values,
    # e.g. momentum when optimizer is momentum, nesterov or rmsprop.
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def applies(self, config: Mapping[str, Any]) -> bool:
        return all(config.get(k) in allowed for k, allowed in self.when.items())

    def contains(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices and type(value) in {type(c) for c in self.choices}
        kind = int if self.type == "int" else float
        return is_kind(value, kind) and self.low <= value <= self.high  # type: ignore[operator]

    def describe(self) -> str:
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        return f"{self.type} in [{self.low}, {self.high}]"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.when:
            d["when"] = {k: list(v) for k, v in self.when.items()}
        if self.choices is not None:
            d["choices"] = list(self.choices)
        else:
            d.update(low=self.low, high=self.high, log=self.log)
            if self.step is not None:
                d["step"] = self.step
        return d


def parse_param(name: str, section: Section) -> ParamSpec:
    field = section.field
    hp = lookup_hyperparameter(name)
    if hp is None:
        section.fail(f"unknown hyperparameter `{section.path}`; expected {known_names()}")
    kind = section.choice("type", PARAM_TYPES)
    when = _parse_when(section)
    if kind == "categorical":
        choices = section.take("choices", list, check=bool, expect="a non-empty list")
        for choice in choices:
            _check_value(section, field("choices"), hp, choice, name)
        section.done()
        return ParamSpec(name, kind, choices=tuple(choices), when=when)
    if hp.kind is str:
        section.fail(f"`{field('type')}` must be categorical for `{name}`, but got {kind!r}")
    if kind == "float" and hp.kind is int:
        section.fail(f"`{field('type')}` must be int or categorical for `{name}`, but got 'float'")
    number = int if kind == "int" else float
    low = section.take("low", number)
    high = section.take("high", number)
    log = section.take("log", bool, False)
    step = section.take("step", number, None, check=lambda s: s > 0, expect="> 0")
    section.done()
    if low > high:
        section.fail(f"`{field('low')}` must be <= `high`, but got low={low!r}, high={high!r}")
    if log and low <= 0:
        section.fail(f"`{field('low')}` must be > 0 when log is true, but got low={low!r}")
    if log and step is not None:
        section.fail(f"`{field('step')}` can't be combined with log: true (Optuna forbids it)")
    for bound in (low, high):
        _check_value(section, field("low/high"), hp, bound, name)
    return ParamSpec(name, kind, low=low, high=high, log=log, step=step, when=when)


def _parse_when(section: Section) -> dict[str, tuple[Any, ...]]:
    raw = section.take("when", dict, None) or {}
    when = {k: tuple(v) if isinstance(v, list) else (v,) for k, v in raw.items()}
    empty = sorted(k for k, v in when.items() if not v)
    if empty:
        section.fail(
            f"`{section.path}.when.{empty[0]}` lists no values; the parameter would never apply"
        )
    return when


def check_conditions(section: Section, space: Mapping[str, ParamSpec]) -> None:
    """A condition names an unconditional categorical parameter of the space and its values."""
    for param in space.values():
        for key, allowed in param.when.items():
            where = f"`space.{param.name}.when.{key}`"
            other = space.get(key)
            if other is None or other.choices is None or other.when:
                choices = sorted(k for k, p in space.items() if p.choices and not p.when)
                section.fail(
                    f"{where}: a condition needs an unconditional categorical parameter of the "
                    f"space; expected one of {choices}"
                )
            unknown = [v for v in allowed if v not in other.choices]
            if unknown:
                section.fail(
                    f"{where}: {unknown} are not choices of `{key}` {list(other.choices)}"
                )


def _check_value(section: Section, where: str, hp: Hyperparameter, value: Any, name: str) -> None:
    if not hp.accepts(value):
        section.fail(f"`{where}` for `{name}` must be {hp.describe()}, but got {value!r}")


def grid_points(param: ParamSpec) -> list[Any] | None:
    """Every value a grid visits for ``param``; ``None`` for a continuous range without step."""
    if param.choices is not None:
        return list(param.choices)
    low, high = param.low, param.high
    if param.type == "int":
        step = int(param.step or 1)
        return list(range(int(low), int(high) + 1, step))  # type: ignore[arg-type]
    if param.step is None:
        return None
    count = int(math.floor((float(high) - float(low)) / param.step + 1e-9)) + 1  # type: ignore[arg-type]
    return [float(low) + i * param.step for i in range(count)]  # type: ignore[arg-type]


def default_point(param: ParamSpec, default: Any) -> Any:
    """Where a baseline stands when the spec gives none: the trainable's default if it fits."""
    if param.contains(default):
        return default
    if param.choices is not None:
        return param.choices[0]
    if param.log:
        mid = math.sqrt(float(param.low) * float(param.high))  # type: ignore[arg-type]
    else:
        mid = (float(param.low) + float(param.high)) / 2  # type: ignore[arg-type]
    if param.step is not None:
        mid = float(param.low) + round((mid - float(param.low)) / param.step) * param.step  # type: ignore[arg-type]
    return int(round(mid)) if param.type == "int" else mid


def to_distribution(param: ParamSpec) -> od.BaseDistribution:
    """``param`` as an Optuna distribution (imported here: reading a spec needs no Optuna)."""
    import optuna.distributions as od

    if param.choices is not None:
        return od.CategoricalDistribution(param.choices)
    if param.type == "int":
        return od.IntDistribution(
            int(param.low),  # type: ignore[arg-type]
            int(param.high),  # type: ignore[arg-type]
            log=param.log,
            step=int(param.step or 1),  # type: ignore[arg-type]
        )
    return od.FloatDistribution(param.low, param.high, log=param.log, step=param.step)  # type: ignore[arg-type]


def to_distributions(space: Mapping[str, ParamSpec]) -> dict[str, od.BaseDistribution]:
    return {name: to_distribution(p) for name, p in space.items()}
