"""Data-parallel trials: real DDP over Gloo on this machine's CPU, 2 workers x 1 CPU.

A 2-worker trial is a Ray Train run driven by its Tune trial; each rank runs raysweep's loop on
its share of every global batch. It must train like a 1-worker trial with the same global batch
(MLP without batch norm or dropout), report one result per epoch to Tune, and keep checkpoints
that resume, load and evaluate like any other trial's.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

from search.spec import parse_spec
from search.sweep.tuner import build_tuner
from tests.helpers import DELETE, spec_dict
from trainables.storage import Location

pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]

METRICS = ["train_loss", "val_loss", "val_accuracy"]
TWO_WORKERS = {"resources": {"workers_per_trial": 2, "cpus_per_worker": 1}}


def one_trial(name: str, resources: dict) -> dict:
    """The baseline alone, 3 epochs, trained to the end."""
    return spec_dict(
        {
            "name": name,
            "search.num_samples": 1,
            "search.max_concurrent": 1,
            "scheduler": {"type": "fifo"},
            "resources": DELETE,
            **resources,
        }
    )


def fit(tmp_path, raw: dict) -> tuple[pd.DataFrame, float]:
    spec = parse_spec(raw)
    exp = tmp_path / spec.name
    started = time.perf_counter()
    results = build_tuner(spec, experiment=Location.of(exp)).fit()
    elapsed = time.perf_counter() - started
    assert results.num_errors == 0, [str(e) for e in results.errors]
    return results[0].metrics_dataframe, elapsed


def test_two_workers_train_like_one_with_the_same_global_batch(tmp_path):
    one, one_s = fit(tmp_path, one_trial("one", {}))
    two, two_s = fit(tmp_path, one_trial("two", TWO_WORKERS))
    assert list(two["epoch"]) == list(one["epoch"]) == [1, 2, 3]
    assert list(two["training_iteration"]) == [1, 2, 3]
    difference = (one[METRICS] - two[METRICS]).abs().max().max()
    epoch_s = (one["epoch_time_s"].mean(), two["epoch_time_s"].mean())
    print(
        f"max abs difference {difference:.3g}; trial wall time 1 worker {one_s:.1f} s, "
        f"2 workers {two_s:.1f} s; mean epoch {epoch_s[0]:.3f} s vs {epoch_s[1]:.3f} s"
    )
    assert difference < 1e-5, (one[METRICS], two[METRICS])
