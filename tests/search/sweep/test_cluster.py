"""The same sweep on a 3-node local Ray cluster: several nodes, node loss, Ray Jobs."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml

from search.results import load_results
from tests.cluster import cluster_env, start_local_cluster
from tests.factories import GATE_DIR
from tests.helpers import spec_dict
from tests.processes import RAYSWEEP, wait_for
from trainables.recovery import read_ledger

pytestmark = [pytest.mark.ray, pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def cluster():
    local = start_local_cluster(dashboard=True)
    yield local
    local.stop()


@pytest.fixture
def cluster_to_break(tmp_path):
    """A cluster of its own for a test that kills nodes, so no later test meets a cluster that
    has lost one; its workers import the gated model from this checkout."""
    gates = tmp_path / "gates"
    gates.mkdir()
    local = start_local_cluster(env={"PYTHONPATH": str(REPO), GATE_DIR: str(gates)})
    yield local, gates
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


def node_running(cluster, pid: int) -> str:
    return next(name for name in cluster.workers if pid in cluster.node_pids(name))


@pytest.mark.timeout(900)  # three nodes lost and replaced; about two minutes unloaded
def test_a_lost_node_never_costs_a_trial(cluster_to_break, tmp_path):
    # One node lost at each moment of a trial, in turn: the trial waits at that moment (a gate
    # in its model) until the test has killed its node, so no kill depends on timing.
    cluster, gates = cluster_to_break
    epochs = 4
    spec = write_spec(
        tmp_path,
        {
            "fixed.epochs": epochs,
            "search.num_samples": 4,
            "search.max_concurrent": 2,
            "failure.max_retries": 1,  # three nodes lost: none may count against it
            "model": {"factory": "tests.factories:gated_mlp"},
        },
    )
    exp = tmp_path / "runs" / "multi"
    log = tmp_path / "sweep.log"
    proc = subprocess.Popen(
        [RAYSWEEP, "run", str(spec), "--address", cluster.address, "--storage", "runs"],
        cwd=tmp_path,
        env={**cluster_env(), "PYTHONPATH": str(REPO)},  # the driver checks the factory too
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )
    for moment in ("start", "epoch", "checkpoint"):
        (gates / f"armed-{moment}").touch()
        arrived = gates / f"arrived-{moment}"
        wait_for(
            lambda: arrived.exists() and arrived.read_text(), timeout=240, what=moment, proc=proc
        )
        (gates / f"armed-{moment}").unlink()
        node = node_running(cluster, int(arrived.read_text()))
        cluster.kill_node(node)
        cluster.restart_worker(node)  # a replacement machine: two slots again
    proc.wait(timeout=400)
    out = log.read_text()
    assert proc.returncode == 0, out[-3000:]
    assert "(0 errored)" in out
    results = load_results(str(exp))
    assert len(results.trials) == 4
    assert all(t.status == "terminated" and t.epochs_completed == epochs for t in results.trials)
    again = {}
    for key, entries in read_ledger(exp).items():
        trained = Counter(e["epoch"] for e in entries)
        again[key] = sum(n - 1 for n in trained.values())
    # Each trial resumed from its checkpoint (one every epoch): only the epoch whose checkpoint
    # the third kill interrupted is trained twice; an epoch in flight never reached the ledger.
    assert sum(again.values()) <= 1, again


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
