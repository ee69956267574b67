from __future__ import annotations

import os
import time

import pytest

from tests.s3 import S3Server, start_s3_server, use_credentials

# Before any Ray starts, so its workers inherit them (see tests/s3.py).
use_credentials()


SESSION_CPUS = 2
RELEASE_TIMEOUT_S = 60


def pytest_collection_modifyitems(items):
    """Mark what a test needs from what it asks for: the shared Ray, the S3 server. Tests that
    start Ray themselves (subprocess sweeps, clusters) carry ``ray`` in their module."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "ray_session" in names:
            item.add_marker(pytest.mark.ray)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if names & {"s3_server", "s3_bucket"} or params.get("storage") == "s3":
            item.add_marker(pytest.mark.s3)


@pytest.fixture(autouse=True)
def _pure_tests_start_no_ray(request, monkeypatch):
    """A test not marked ``ray`` that starts Ray fails, so ``-m "not ray"`` stays Ray-free."""
    if request.node.get_closest_marker("ray") is None:
        import ray

        def refuse(*args, **kwargs):
            raise RuntimeError(f"{request.node.nodeid} starts Ray but is not marked `ray`")

        monkeypatch.setattr(ray, "init", refuse)
    yield


def _start_session_ray():
    import ray

    ray.init(
        num_cpus=SESSION_CPUS,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="WARNING",
        # Trial workers' output arrives at the driver late and at random: it would land in a
        # later test's captured stderr (a CLI error asserted to be one line, say). It stays in
        # Ray's session logs.
        log_to_driver=False,
    )
    return ray


@pytest.fixture(scope="session")
def ray_session():
    """One real local Ray for the whole test session (starting one costs seconds)."""
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    ray = _start_session_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _shared_ray_released(request):
    """Each test hands the shared Ray's CPUs back (Tune frees them within a second).

    Trials a failed test left behind would hold them, and every later sweep would wait for
    resources forever: one failure would become a CI timeout that reports nothing. Such a test
    fails here instead, and the tests after it get a fresh Ray.
    """
    yield
    if "ray_session" not in request.fixturenames:
        return
    ray = request.getfixturevalue("ray_session")
    deadline = time.monotonic() + RELEASE_TIMEOUT_S
    while (free := ray.available_resources().get("CPU", 0.0)) < SESSION_CPUS:
        if time.monotonic() > deadline:
            ray.shutdown()
            _start_session_ray()
            pytest.fail(
                f"{SESSION_CPUS - free:g} of the shared Ray's CPUs still held "
                f"{RELEASE_TIMEOUT_S} s after the test; restarted Ray for the tests after it"
            )
        time.sleep(0.05)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One moto S3 server for the session; ``AWS_ENDPOINT_URL`` points every client at it."""
    server = start_s3_server(tmp_path_factory.mktemp("moto") / "moto.log")
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint  # the driver subprocesses inherit it
    yield server
    os.environ.pop("AWS_ENDPOINT_URL", None)
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket: ``s3://<name>``."""
    return f"s3://{s3_server.new_bucket()}"


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    """An empty experiment directory on local disk, then in a real (moto) S3 bucket."""
    from trainables.storage import Location

    if request.param == "local":
        return Location.of(tmp_path / "exp")
    bucket = request.getfixturevalue("s3_bucket")
    return Location.of(f"{bucket}/exp")
