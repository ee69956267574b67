"""The spec's ``scheduler:`` section: which Ray Tune trial scheduler, parsed without Ray."""

from __future__ import annotations

from dataclasses import dataclass

from search.spec.fields import Section

SCHEDULERS = ("asha", "hyperband", "median", "fifo", "pbt")
# The keys each scheduler takes besides `type`.
_KEYS = {
    "asha": ("grace_period", "reduction_factor"),
    "hyperband": ("reduction_factor",),
    "median": ("grace_period",),
    "fifo": (),
    "pbt": (
        "perturbation_interval",
        "mutate",
        "quantile_fraction",
        "resample_probability",
        "synch",
    ),
}
# What PBT may change in a running trial: optimizer settings, never the network's shape.
MUTABLE = ("lr", "momentum", "weight_decay", "beta1", "beta2")


@dataclass(frozen=True)
class SchedulerSpec:
    type: str = "asha"
    grace_period: int = 1
    reduction_factor: float = 3.0
    max_t: int = 1  # = the longest a trial trains (epochs); not a spec key
    perturbation_interval: int = 2  # pbt: epochs between exploit/explore steps
    mutate: tuple[str, ...] = ("lr",)  # pbt: hyperparameters it perturbs
    quantile_fraction: float = 0.25
    resample_probability: float = 0.25
    synch: bool = False  # pbt: wait for the whole population at each perturbation


def parse_scheduler(s: Section, *, max_epochs: int) -> SchedulerSpec:
    kind = s.choice("type", SCHEDULERS, "asha")
    keys = _KEYS[kind]
    grace, factor = 1, 3.0
    if "grace_period" in keys:
        grace = s.take("grace_period", int, 1, check=lambda v: v >= 1, expect=">= 1")
    if "reduction_factor" in keys:
        factor = s.take("reduction_factor", float, 3.0, check=lambda v: v > 1, expect="> 1")
    if kind == "pbt":
        return _parse_pbt(s, max_epochs)
    s.done()
    if grace > max_epochs:
        s.fail(
            f"`scheduler.grace_period` must be <= epochs, but got grace_period={grace}, "
            f"epochs={max_epochs}"
        )
    return SchedulerSpec(kind, grace, factor, max_epochs)


def _parse_pbt(s: Section, max_epochs: int) -> SchedulerSpec:
    interval = s.take(
        "perturbation_interval",
        int,
        2,
        check=lambda v: 1 <= v <= max_epochs,
        expect=f"in [1, epochs={max_epochs}]",
    )
    mutate = s.take("mutate", list, ["lr"], check=bool, expect="a non-empty list")
    quantile = s.take(
        "quantile_fraction", float, 0.25, check=lambda v: 0 < v <= 0.5, expect="in (0, 0.5]"
    )
    resample = s.take(
        "resample_probability", float, 0.25, check=lambda v: 0 <= v <= 1, expect="in [0, 1]"
    )
    synch = s.take("synch", bool, False)
    s.done()
    for name in mutate:
        if name not in MUTABLE:
            s.fail(f"`scheduler.mutate` can't include {name!r}; expected some of {list(MUTABLE)}")
    return SchedulerSpec(
        "pbt",
        max_t=max_epochs,
        perturbation_interval=interval,
        mutate=tuple(mutate),
        quantile_fraction=quantile,
        resample_probability=resample,
        synch=synch,
    )
