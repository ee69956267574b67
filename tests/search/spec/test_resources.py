"""The resources: section: single-worker trials as before, data-parallel trials of N workers."""

from __future__ import annotations

import pytest

from search.errors import SpecError
from search.spec import parse_spec
from tests.helpers import DELETE, spec_dict


def test_one_worker_is_the_default_and_today_s_behaviour():
    resources = parse_spec(spec_dict()).resources
    assert resources.workers_per_trial == 1 and not resources.distributed
    assert (resources.cpus, resources.gpus, resources.threads) == (1.0, 0.0, 1)


def test_data_parallel_trial_holds_every_worker_s_resources():
    spec = parse_spec(
        spec_dict(
            {
                "resources": {"workers_per_trial": 4, "cpus_per_worker": 2, "gpus_per_worker": 1},
            }
        )
    )
    r = spec.resources
    assert r.distributed and (r.cpus, r.gpus, r.threads) == (8.0, 4.0, 2)


def test_explicit_single_worker_defaults_are_accepted_with_workers():
    changes = {"resources.workers_per_trial": 2}  # the base spec says cpus_per_trial: 1, gpus 0
    assert parse_spec(spec_dict(changes)).resources.cpus == 2.0


BAD = [
    ({"resources.workers_per_trial": 0}, r"`resources.workers_per_trial` must be >= 1"),
    ({"resources.workers_per_trial": 1.5}, r"`resources.workers_per_trial` must be an integer"),
    (
        {"resources.cpus_per_worker": 2},
        r"`resources.cpus_per_worker` needs `resources.workers_per_trial` > 1; "
        r"a single-worker trial uses `resources.cpus_per_trial`",
    ),
    (
        {"resources.gpus_per_worker": 1},
        r"`resources.gpus_per_worker` needs `resources.workers_per_trial` > 1",
    ),
    (
        {"resources.workers_per_trial": 2, "resources.cpus_per_trial": 4},
        r"`resources.cpus_per_trial` is for single-worker trials, but "
        r"`resources.workers_per_trial` is 2; give `resources.cpus_per_worker` instead",
    ),
    (
        {"resources.workers_per_trial": 2, "resources.gpus_per_trial": 1},
        r"`resources.gpus_per_trial` is for single-worker trials",
    ),
    (
        {"resources.workers_per_trial": 2, "resources.gpus_per_worker": 0.5},
        r"`resources.gpus_per_worker` must be 0 or a whole number of GPUs",
    ),
    (
        {"resources.workers_per_trial": 2, "resources.cpus_per_worker": 0},
        r"`resources.cpus_per_worker` must be > 0",
    ),
    ({"resources.workers": 2}, r"unknown keys \['workers'\] in `resources`"),
]


@pytest.mark.parametrize("changes, message", BAD, ids=[m for _, m in BAD])
def test_resources_refuses_combinations_naming_the_field(changes, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(spec_dict(changes), source="s.yaml")
    assert "\n" not in str(info.value)


def test_workers_without_single_worker_keys():
    changes = {"resources": {"workers_per_trial": 2}, "resources.cpus_per_trial": DELETE}
    assert parse_spec(spec_dict(changes)).resources.workers_per_trial == 2


def test_in_epoch_checkpoints_are_refused_for_data_parallel_trials():
    changes = {"resources.workers_per_trial": 2, "checkpoint.every_steps": 5}
    with pytest.raises(SpecError, match=r"`checkpoint.every_steps` is not supported with"):
        parse_spec(spec_dict(changes), source="s.yaml")
