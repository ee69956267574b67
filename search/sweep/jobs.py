"""Ray Jobs: submit a sweep to a cluster from a laptop, and list raysweep's jobs there.

The job runs ``raysweep run`` on the cluster (raysweep installed on every node, see
cluster.yaml) with the spec shipped in the job's runtime environment, so the sweep goes on when
the laptop disconnects. Ray's token auth is used as Ray uses it: ``RAY_AUTH_MODE=token`` and the
token from the environment or ``~/.ray/auth_token``.
"""

from __future__ import annotations

import shlex
import time
import uuid
from dataclasses import dataclass

from search.errors import RaysweepError
from search.spec import SweepSpec

METADATA_KEY = "raysweep"
NO_AGENT = "No available agent"
AGENT_WAIT_S = 180.0  # a just-started head on a busy 2-core machine took over 60 s


class JobsError(RaysweepError):
    """The Jobs API can't be reached or refused the request."""


@dataclass(frozen=True)
class JobRow:
    job_id: str
    experiment: str
    status: str
    entrypoint: str


def _client(address: str):  # type: ignore[no-untyped-def]
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # connection refused, auth refused, not a Ray dashboard
        raise JobsError(f"{address}: {str(exc).splitlines()[0]}") from None


def submit_sweep(spec: SweepSpec, *, address: str, storage: str | None, name: str | None) -> str:
    """Submit ``spec`` as a Ray Job and return its id at once."""
    experiment = name or spec.name
    args = ["--address", "auto", "--name", experiment]
    if storage:
        args += ["--storage", storage]
    # The spec travels in the job's environment and is written to a temp file on the head
    # (a working_dir package was seen deleted under a running sweep's driver).
    entrypoint = (
        'spec=$(mktemp --suffix=.yaml) && printf "%s" "$RAYSWEEP_SPEC_YAML" > "$spec" && '
        f'raysweep run "$spec" {shlex.join(args)}'
    )
    client = _client(address)
    # One id for every try: a retry of a request that did get through is refused as a
    # duplicate instead of starting the sweep twice.
    submission_id = f"raysweep_{experiment}_{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return str(
                client.submit_job(
                    entrypoint=entrypoint,
                    submission_id=submission_id,
                    runtime_env={"env_vars": {"RAYSWEEP_SPEC_YAML": spec.to_yaml()}},
                    metadata={METADATA_KEY: "1", "experiment": experiment},
                )
            )
        except Exception as exc:
            message = str(exc)
            if "already exists" in message:
                return submission_id
            # A head that has just started has no job agent yet: it comes within seconds.
            if NO_AGENT in message and time.monotonic() < deadline:
                time.sleep(2)
                continue
            raise JobsError(f"{address}: submit failed: {message.splitlines()[0]}") from None


def list_sweeps(address: str) -> list[JobRow]:
    """raysweep's jobs on the cluster at ``address``, newest last."""
    client = _client(address)
    try:
        jobs = client.list_jobs()
    except Exception as exc:
        raise JobsError(f"{address}: {str(exc).splitlines()[0]}") from None
    rows = [
        JobRow(
            job_id=str(job.submission_id or job.job_id),
            experiment=(job.metadata or {}).get("experiment", "?"),
            status=str(job.status.value if hasattr(job.status, "value") else job.status),
            entrypoint=job.entrypoint,
        )
        for job in jobs
        if (job.metadata or {}).get(METADATA_KEY)
    ]
    return rows
