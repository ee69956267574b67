"""Whether one trial fits the cluster at all, and how many data-parallel trials fit at once.

A trial that asks for more CPUs or GPUs than the cluster has would wait forever: it is refused
with one line, before Ray starts for the embedded local Ray (checked against this machine) and
right after joining a cluster (checked against its resources). A data-parallel trial's Tune
trial is only the driver of its Ray Train workers and holds almost nothing, so Tune alone would
start more of them than the workers can be placed for; ``trials_at_once`` caps them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from search.errors import SpecError
from search.spec import SweepSpec


@dataclass(frozen=True)
class Capacity:
    cpus: float
    gpus: float
    where: str  # "this machine", "the cluster": said in the error


def local_capacity() -> Capacity:
    """This machine, as the embedded local Ray will see it."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # no usable CUDA: no GPUs
        gpus = 0
    return Capacity(float(cpus), float(gpus), "this machine")


def cluster_capacity() -> Capacity:
    """The Ray cluster this process is connected to (every node, busy or not)."""
    import ray

    total = ray.cluster_resources()
    return Capacity(float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0)), "the cluster")


def _asked(spec: SweepSpec) -> tuple[tuple[str, float], tuple[str, float]]:
    r = spec.resources
    if r.distributed:
        return (
            ("resources.workers_per_trial x resources.cpus_per_worker", r.cpus),
            ("resources.workers_per_trial x resources.gpus_per_worker", r.gpus),
        )
    return ("resources.cpus_per_trial", r.cpus), ("resources.gpus_per_trial", r.gpus)


def check_placeable(spec: SweepSpec, capacity: Capacity, *, source: str) -> None:
    """Raise ``SpecError`` when one trial needs more CPUs or GPUs than ``capacity`` has."""
    (cpu_field, cpus), (gpu_field, gpus) = _asked(spec)
    for field, asked, has, kind in (
        (cpu_field, cpus, capacity.cpus, "CPUs"),
        (gpu_field, gpus, capacity.gpus, "GPUs"),
    ):
        if asked > has + 1e-9:
            raise SpecError(
                f"{source}: `{field}` asks for {asked:g} {kind} per trial, but "
                f"{capacity.where} has {has:g}; the trial could never start"
            )


def trials_at_once(spec: SweepSpec, capacity: Capacity) -> int:
    """``search.max_concurrent``, lowered for data-parallel trials to as many as the
    cluster can place all the workers of (Ray Train starts a run only with all of them)."""
    wanted = spec.search.max_concurrent
    r = spec.resources
    if not r.distributed:
        return wanted  # Tune itself holds back trials that don't fit
    fits = math.floor(capacity.cpus / r.cpus + 1e-9)
    if r.gpus > 0:
        fits = min(fits, math.floor(capacity.gpus / r.gpus + 1e-9))
    return max(1, min(wanted, fits))


def release_leftover_groups() -> int:
    """Remove this driver's placement groups still held once ``Tuner.fit`` returned; how many.

    Tune removes its trials' groups itself. A data-parallel trial's Ray Train run creates its
    own, which Ray Train removes when its workers shut down, or else through a cleaner that
    reads the state API, which a Ray started without a dashboard doesn't serve. A run stopped
    by the scheduler was seen to leave its group behind, holding every worker's CPUs. A
    group's id carries the id of the job that created it: only this driver's are touched.
    """
    import ray
    from ray.util import placement_group_table, remove_placement_group

    from search._tune_compat import placement_group_of

    job = ray.get_runtime_context().get_job_id()
    removed = 0
    for group_id, entry in placement_group_table().items():
        if entry.get("state") == "REMOVED" or not group_id.endswith(job):
            continue
        remove_placement_group(placement_group_of(group_id))
        removed += 1
    return removed
