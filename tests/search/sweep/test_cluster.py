"""The same sweep on a 3-node local Ray cluster: several nodes, node loss, Ray Jobs."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from search.results import load_results
from tests.cluster import cluster_env, start_local_cluster
from tests.helpers import spec_dict
from tests.processes import RAYSWEEP, wait_for
from trainables.recovery import read_ledger

pytestmark = [pytest.mark.ray, pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    local = start_local_cluster(dashboard=True)
    yield local
    local.stop()


@pytest.fixture
def cluster_to_break():
    """A cluster of its own for a test that kills a node, so no later test meets a cluster
    that has lost one."""
    local = start_local_cluster()
    yield local
    local.stop()


def write_spec(tmp_path, changes):
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump(spec_dict({"name": "multi", "scheduler": {"type": "fifo"}, **changes}))
    )
    return path


def raysweep(args, tmp_path, **kw):
    return subprocess.run(
        [RAYSWEEP, *args],
        cwd=tmp_path,
        env=cluster_env(),
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def node_ids(exp) -> set[str]:
    ids = set()
    for trial in load_results(str(exp)).trials:
        if "node_id" in trial.history:
            ids |= set(trial.history["node_id"].dropna())
    return ids


def test_a_sweep_with_address_and_s3_storage_runs_trials_on_several_nodes(
    cluster, s3_bucket, tmp_path
):
    # The set-up cluster.yaml describes: every node reads and writes the experiment in S3.
    spec = write_spec(tmp_path, {"fixed.epochs": 3, "search.num_samples": 4})
    storage = f"{s3_bucket}/sweeps"
    proc = raysweep(
        ["run", str(spec), "--address", cluster.address, "--storage", storage], tmp_path
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(node_ids(f"{storage}/multi")) == 2  # both worker nodes trained
    assert not (tmp_path / "runs").exists()


def test_a_lost_node_is_survived_from_checkpoints(cluster_to_break, tmp_path):
    cluster = cluster_to_break
    spec = write_spec(
        tmp_path, {"fixed.epochs": 30, "search.num_samples": 2, "search.max_concurrent": 2}
    )
    exp = tmp_path / "runs" / "multi"
    proc = subprocess.Popen(
        [
            RAYSWEEP,
            "run",
            str(spec),
            "--address",
            cluster.address,
            "--storage",
            str(tmp_path / "runs"),
        ],
        cwd=tmp_path,
        env=cluster_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_for(
        lambda: sum(len(v) for v in read_ledger(exp).values()) >= 6,
        timeout=180,
        what="6 trained epochs",
        proc=proc,
    )
    cluster.kill_raylet("b")
    assert proc.wait(timeout=300) == 0
    results = load_results(str(exp))
    assert all(t.status == "terminated" and t.epochs_completed == 30 for t in results.trials)
    for epochs in read_ledger(exp).values():  # resumed, never restarted from epoch 1
        assert [e["epoch"] for e in epochs].count(1) == 1


def test_submit_runs_a_sweep_as_a_ray_job_and_jobs_lists_it(cluster, tmp_path):
    spec = write_spec(tmp_path, {"name": "jobbed", "fixed.epochs": 1, "search.num_samples": 2})
    storage = tmp_path / "runs"
    proc = raysweep(
        ["submit", str(spec), "--address", cluster.jobs_address, "--storage", str(storage)],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    job_id = proc.stdout.split()[1].rstrip(":")

    def job_status() -> str:
        listed = raysweep(["jobs", "--address", cluster.jobs_address], tmp_path)
        assert listed.returncode == 0, listed.stderr[-2000:]
        rows = [line.split() for line in listed.stdout.splitlines()[1:]]
        return next(row[1] for row in rows if row[0] == job_id and row[2] == "jobbed")

    # The token comes from the environment as Ray takes it (RAY_AUTH_MODE=token); the job
    # goes on without this process.
    wait_for(lambda: job_status() in ("SUCCEEDED", "FAILED"), timeout=300, what="the job", every=2)
    assert job_status() == "SUCCEEDED"
    assert len(load_results(str(storage / "jobbed")).trials) == 2


def test_the_jobs_api_refuses_a_request_without_the_token(cluster, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    env["RAY_AUTH_MODE"] = "disabled"
    proc = subprocess.run(
        [RAYSWEEP, "jobs", "--address", cluster.jobs_address],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
