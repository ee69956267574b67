from __future__ import annotations

import os

import pytest

from tests.s3 import S3Server, start_s3_server, use_credentials

# Before any Ray starts, so its workers inherit them (see tests/s3.py).
use_credentials()


@pytest.fixture(scope="session")
def ray_session():
    """One real local Ray for the whole test session (starting one costs seconds)."""
    import ray

    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="WARNING",
        # Trial workers' output arrives at the driver late and at random: it would land in a
        # later test's captured stderr (a CLI error asserted to be one line, say). It stays in
        # Ray's session logs.
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


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
