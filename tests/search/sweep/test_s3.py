"""Experiments in object storage: a real S3-compatible server (moto) on the loopback."""

from __future__ import annotations

import subprocess
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from search.results import load_results
from tests.helpers import spec_dict
from tests.processes import RAYSWEEP, kill_group, start_raysweep, wait_for
from trainables.recovery import read_ledger
from trainables.storage import Location

pytestmark = [pytest.mark.ray, pytest.mark.s3, pytest.mark.slow]

EPOCHS = 8
SPEC = {
    "name": "s3sweep",
    "space.lr": {"type": "float", "low": 1.0e-3, "high": 0.1, "log": True},
    "fixed.epochs": EPOCHS,
    "search.num_samples": 3,
    "search.max_concurrent": 1,
    "scheduler": {"type": "fifo"},
}


def raysweep(args, tmp_path):
    return subprocess.run(
        [RAYSWEEP, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )


def trained(exp: Location) -> list[dict]:
    return [e for epochs in read_ledger(exp).values() for e in epochs]


def test_a_sweep_in_s3_survives_a_killed_driver_resumes_from_the_uri_and_exports(
    s3_bucket, tmp_path
):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(SPEC)))
    storage = f"{s3_bucket}/sweeps"
    uri = f"{storage}/s3sweep"
    exp = Location.of(uri)

    driver = start_raysweep(
        ["run", str(spec), "--storage", storage], cwd=tmp_path, log=tmp_path / "run.log"
    )
    # Killed mid-sweep: the second trial has trained some epochs, and checkpoints are in S3.
    wait_for(
        lambda: len(trained(exp)) >= EPOCHS + 3,
        timeout=240,
        what="a trial and a half",
        proc=driver,
        every=0.5,
    )
    kill_group(driver)
    assert not (tmp_path / "runs").exists()  # nothing went to local disk
    before = len(trained(exp))

    started = time.monotonic()
    resumed = raysweep(["resume", uri], tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    restore_s = time.monotonic() - started

    results = load_results(uri)
    assert [t.status for t in results.trials] == ["terminated"] * 3
    assert all(t.epochs_completed == EPOCHS for t in results.trials)
    # Resumed from checkpoints in S3, not retrained: at most the epoch in flight twice.
    epochs = trained(exp)
    assert len(epochs) <= 3 * EPOCHS + 1 and len(epochs) > before
    for entries in read_ledger(exp).values():
        assert [e["epoch"] for e in entries].count(1) == 1

    out = tmp_path / "trials.parquet"
    exported = raysweep(["export", uri, "-o", str(out)], tmp_path)
    assert exported.returncode == 0, exported.stderr[-3000:]
    frame = pd.read_parquet(out)
    assert len(frame) == 3 and frame["status"].eq("terminated").all()
    assert frame["checkpoint"].str.startswith(f"{s3_bucket}/sweeps/s3sweep/trial_").all()
    assert pq.read_metadata(out).metadata[b"raysweep.experiment"] == uri.encode()
    assert len(list((tmp_path / "trials.models").iterdir())) == 3  # models from S3 checkpoints
    print(f"resume from s3, whole remaining sweep incl. Ray start: {restore_s:.1f} s")


def test_unusable_storage_is_refused_before_anything_starts(s3_server, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(SPEC)))
    proc = raysweep(["run", str(spec), "--storage", "s3://no-such-bucket/sweeps"], tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "s3://no-such-bucket/sweeps" in lines[0], proc.stderr
    assert "not writable" in lines[0]

    proc = raysweep(["run", str(spec), "--storage", "nosuch://x/y"], tmp_path)
    assert proc.returncode == 2 and "--storage 'nosuch://x/y'" in proc.stderr, proc.stderr
