"""A real S3-compatible server (moto's server mode) on this machine's loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.cluster import free_port

MOTO = str(Path(sys.executable).with_name("moto_server"))

# Dummy credentials for every process of the test session, Ray's workers included: like an
# instance profile on a real cluster, credentials come from each node's environment and are
# never pickled with the filesystem. No metadata-service probing on a laptop.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class S3Server:
    proc: subprocess.Popen
    endpoint: str

    def new_bucket(self) -> str:
        import pyarrow.fs as pafs

        name = f"sweeps-{uuid.uuid4().hex[:12]}"
        fs = pafs.S3FileSystem(endpoint_override=self.endpoint, allow_bucket_creation=True)
        fs.create_dir(name)
        return name

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


def start_s3_server(log: Path) -> S3Server:
    port = free_port()
    proc = subprocess.Popen(
        [MOTO, "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            return S3Server(proc, endpoint)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not start; see {log}") from None
            time.sleep(0.2)


def use_credentials() -> None:
    for key, value in CREDENTIALS.items():
        os.environ.setdefault(key, value)
