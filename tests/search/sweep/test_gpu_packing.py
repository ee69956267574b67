"""Fractional GPUs: ``gpus_per_trial: 0.25`` packs four trials onto one GPU, 0.5 only two.

The node declares one logical GPU. Ray schedules and assigns it (``CUDA_VISIBLE_DEVICES``,
``ray.get_gpu_ids()``) whether or not a device exists, and the trainable uses CUDA only when
torch sees one, so the trials train on this machine's CPU. A probe model factory records, in
each trial's worker, what Ray assigned it and when it started; the ledger says when its epochs
ended.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from search.results import load_results
from tests.cluster import cluster_env, start_local_cluster
from tests.factories import PROBE_DIR, probe_records
from tests.helpers import spec_dict
from tests.processes import RAYSWEEP
from trainables.recovery import read_ledger

pytestmark = [pytest.mark.ray, pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def gpu_node(tmp_path_factory):
    """One node, one logical GPU, and more logical CPUs than the trials ask for: only the GPU
    can limit how many trials run at once. Its workers import the probe from this checkout."""
    probes = tmp_path_factory.mktemp("probes")
    cluster = start_local_cluster(
        head_cpus=4,
        head_gpus=1,
        workers={},
        env={"PYTHONPATH": str(REPO), PROBE_DIR: str(probes)},
    )
    yield cluster, probes
    cluster.stop()


def sweep(cluster, tmp_path: Path, name: str, gpus: float, probe: str) -> None:
    spec = spec_dict(
        {
            "name": name,
            "scheduler": {"type": "fifo"},  # every trial runs all its epochs
            "fixed.epochs": 2,
            "search.num_samples": 4,
            "search.max_concurrent": 4,
            # one torch thread each: four trials on two cores are slow, not thrashing
            "resources": {"cpus_per_trial": 0.25, "gpus_per_trial": gpus},
            "model": {"factory": f"tests.factories:{probe}"},
        }
    )
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    proc = subprocess.run(
        [RAYSWEEP, "run", str(path), "--address", cluster.address, "--storage", "runs"],
        cwd=tmp_path,
        env={**cluster_env(), "PYTHONPATH": str(REPO)},  # the driver checks the factory too
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    trials = load_results(str(tmp_path / "runs" / name)).trials
    assert len(trials) == 4 and all(t.epochs_completed == 2 for t in trials)


def epoch_ends(experiment: Path) -> dict[str, list[float]]:
    ends: dict[str, list[float]] = {}
    for entries in read_ledger(experiment).values():
        for entry in entries:
            ends.setdefault(entry["trial_id"], []).append(float(entry["t"]))
    return ends


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    return max(sum(s <= start < e for s, e in intervals) for start, _ in intervals)


def packed_sweep(
    gpu_node, tmp_path: Path, name: str, gpus: float, probe: str
) -> tuple[list[dict], dict[str, list[float]]]:
    """Four trials at ``gpus`` each: what the probe recorded per trial, and its epoch ends."""
    cluster, probes = gpu_node
    sweep(cluster, tmp_path, name, gpus, probe)
    records = probe_records(probes, name)
    ends = epoch_ends(tmp_path / "runs" / name)
    assert len(records) == 4 and {r["trial_id"] for r in records} == set(ends)
    return records, ends


def test_a_quarter_gpu_each_runs_four_trials_at_once_on_one_gpu(gpu_node, tmp_path):
    records, ends = packed_sweep(gpu_node, tmp_path, "quarter", 0.25, "gpu_probe_together_4")
    # Ray gave each trial a quarter of the same GPU, in four worker processes of its own.
    assert all(r["resources"] == {"CPU": 0.25, "GPU": 0.25} for r in records), records
    assert {(r["node_id"], tuple(r["gpu_ids"]), r["cuda_visible_devices"]) for r in records} == {
        (records[0]["node_id"], ("0",), "0")
    }
    assert len({r["pid"] for r in records}) == 4
    # All four had started before any of them finished an epoch: they held the GPU together.
    assert max(r["t"] for r in records) < min(min(t) for t in ends.values())


def test_half_a_gpu_each_runs_at_most_two_at_once(gpu_node, tmp_path):
    # Each trial waits 5 s for a third to start beside it; Ray must not let one.
    records, ends = packed_sweep(gpu_node, tmp_path, "half", 0.5, "gpu_probe_briefly_3")
    assert all(r["resources"] == {"CPU": 0.25, "GPU": 0.5} for r in records), records
    assert all(r["gpu_ids"] == ["0"] for r in records)
    started = {r["trial_id"]: r["t"] for r in records}
    assert most_at_once([(started[trial], max(t)) for trial, t in ends.items()]) <= 2
