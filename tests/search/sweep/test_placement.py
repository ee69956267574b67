"""A trial that could never be placed is refused with one line; data-parallel trials run only
as many at once as their workers fit."""

from __future__ import annotations

import pytest

from search.errors import SpecError
from search.spec import parse_spec
from search.sweep.placement import Capacity, check_placeable, trials_at_once
from tests.helpers import spec_dict

MACHINE = Capacity(cpus=2.0, gpus=0.0, where="this machine")


def spec(resources, max_concurrent=4):
    return parse_spec(spec_dict({"resources": resources, "search.max_concurrent": max_concurrent}))


def test_two_workers_of_one_cpu_fit_two_cpus():
    s = spec({"workers_per_trial": 2, "cpus_per_worker": 1})
    check_placeable(s, MACHINE, source="s.yaml")
    assert trials_at_once(s, MACHINE) == 1


@pytest.mark.parametrize(
    "resources, message",
    [
        (
            {"workers_per_trial": 4, "cpus_per_worker": 1},
            r"^s.yaml: `resources.workers_per_trial x resources.cpus_per_worker` asks for 4 "
            r"CPUs per trial, but this machine has 2; the trial could never start$",
        ),
        (
            {"workers_per_trial": 2, "gpus_per_worker": 1},
            r"`resources.workers_per_trial x resources.gpus_per_worker` asks for 2 GPUs",
        ),
        ({"cpus_per_trial": 3}, r"`resources.cpus_per_trial` asks for 3 CPUs per trial"),
        ({"gpus_per_trial": 0.5}, r"`resources.gpus_per_trial` asks for 0.5 GPUs per trial"),
    ],
)
def test_unplaceable_trials_are_refused_naming_the_field(resources, message):
    with pytest.raises(SpecError, match=message):
        check_placeable(spec(resources), MACHINE, source="s.yaml")


def test_concurrency_counts_trials_whose_workers_all_fit():
    cluster = Capacity(cpus=16.0, gpus=4.0, where="the cluster")
    assert trials_at_once(spec({"workers_per_trial": 2, "gpus_per_worker": 1}), cluster) == 2
    assert trials_at_once(spec({"workers_per_trial": 2, "cpus_per_worker": 4}), cluster) == 2
    assert trials_at_once(spec({"workers_per_trial": 2}, max_concurrent=3), cluster) == 3
    # single-worker trials: Tune holds back what doesn't fit, as before
    assert trials_at_once(spec({"cpus_per_trial": 8}, max_concurrent=4), cluster) == 4
