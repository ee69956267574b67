"""The spec's ``train:`` section: loss, metrics, your step, precision and the optimizer step.

Names are checked here; whether a ``package.module:function`` imports, and whether the model's
output fits the loss and the labels, is ``search.sweep.preflight`` (one batch, on the CPU).
"""

from __future__ import annotations

from typing import Any

from search.spec.fields import Section
from trainables.recipe import LOSS_NAMES, METRIC_NAMES, PRECISIONS, Recipe, is_custom


def _reference(s: Section, key: str, accepted: tuple[str, ...], what: str) -> str | None:
    value = s.take(key, str, None, check=bool, expect=f"a {what} name")
    if value is None or value in accepted:
        return value
    if is_custom(value) and not value.startswith(":") and not value.endswith(":"):
        return value
    s.fail(
        f"unknown {s.field(key)} {value!r}; expected one of {sorted(accepted)} "
        "or 'package.module:function'"
    )


def _function(s: Section, key: str) -> str | None:
    value = s.take(key, str, None, check=bool, expect="'package.module:function'")
    if value is not None and not (is_custom(value) and not value.startswith(":")):
        s.fail(f"`{s.field(key)}` must be 'package.module:function', but got {value!r}")
    return value


def _metrics(s: Section) -> tuple[str, ...]:
    raw: Any = s.take("metrics", list, [], check=bool, expect="a non-empty list")
    metrics: list[str] = []
    for i, name in enumerate(raw):
        where = f"{s.field('metrics')}[{i}]"
        if not isinstance(name, str) or not (
            name in METRIC_NAMES or (is_custom(name) and not name.startswith(":"))
        ):
            s.fail(
                f"unknown {where} {name!r}; expected one of {sorted(METRIC_NAMES)} "
                "or 'package.module:function'"
            )
        metrics.append(name)
    if len(set(metrics)) != len(metrics):
        s.fail(f"`{s.field('metrics')}` lists a metric twice: {metrics}")
    return tuple(metrics)


def parse_train(s: Section) -> Recipe:
    loss = _reference(s, "loss", LOSS_NAMES, "loss")
    recipe = Recipe(
        loss=loss,
        metrics=_metrics(s),
        step=_function(s, "step"),
        eval_step=_function(s, "eval_step"),
        precision=s.choice("precision", PRECISIONS, "fp32"),
        grad_clip=s.take("grad_clip", float, None, check=lambda v: v > 0, expect="> 0"),
        accumulate=s.take("accumulate", int, 1, check=lambda v: v >= 1, expect=">= 1"),
        compile=s.take("compile", bool, False),
        top_k=s.take("top_k", int, 5, check=lambda v: v >= 1, expect=">= 1"),
    )
    s.done()
    if recipe.step is not None and recipe.loss is not None:
        s.fail("`train.loss` is unused with `train.step` (your step computes the loss)")
    return recipe
