"""Starting or joining Ray: an embedded local instance bound to localhost, or a cluster."""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# What building and fitting the Tuner imports in the driver. Importing it while ``ray.init``
# waits for Ray's processes takes it off the path to the first trial (bench: ~3 s).
_TUNER_IMPORTS = (
    "ray.tune",
    "ray.tune.search.optuna",
    "search.schedulers",
    "search.searcher",
    "search.searcher_state",
    "search.scheduler_state",
    "trainables.trainable",
    # Tune's own imports at fit(): its usage tags load the MLflow integration (and mlflow,
    # when installed) and its default loggers include TensorBoard's.
    "ray.air.integrations.mlflow",
    "tensorboardX",
)
# What a trial worker imports before its first epoch: the trainable (with torch and Ray Tune)
# and dynamo, which torch's optimizers import when first used.
_TRIAL_WORKER_IMPORTS = ("trainables.trainable", "torch._dynamo")
# What ``ray.init`` imports itself, imported first and in this thread: two threads importing
# parts of one import cycle at once fail with a deadlock error.
_RAY_INIT_IMPORTS = (
    "ray._common.usage.usage_lib",
    "ray.autoscaler._private.util",
    "ray.dashboard.optional_deps",
)


def _import_all(modules: Iterable[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an optional module: whoever needs it imports it later
            logger.debug("not imported ahead: %s (%s)", name, exc)


def start_local_ray(trials_at_once: int, **options: Any) -> None:
    """Start the embedded local Ray for a sweep running that many trials, on loopback only.

    Ray prestarts a worker process per CPU. Each one imports what a trial needs (torch, with
    dynamo, which the first optimizer step loads; Ray Tune; the trainable) while the driver is
    still starting, so the first trials begin in them already warm. Those beyond the trials
    that run at once are ended when idle, so a machine with many cores doesn't keep a
    torch-sized process per core. ``options`` go to ``ray.init`` as well (the bench's CPUs).
    """
    import ray

    with loopback_only():
        ray.init(
            include_dashboard=False,
            logging_level=logging.WARNING,
            _system_config={
                "preload_python_modules": list(_TRIAL_WORKER_IMPORTS),
                "num_workers_soft_limit": max(1, trials_at_once),
            },
            **options,
        )


def ensure_ray(address: str | None = None, *, trials_at_once: int = 1) -> None:
    """Join ``address`` (``auto`` or host:port), or start a local Ray on 127.0.0.1 only."""
    global _embedded
    import ray

    # Snapshotting the experiment at every checkpoint is what we want (a killed driver loses
    # less), so Tune's warning that it happens often is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return
    _import_all(_RAY_INIT_IMPORTS)
    ahead = threading.Thread(
        target=_import_all, args=(_TUNER_IMPORTS,), name="raysweep-imports", daemon=True
    )
    ahead.start()
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            environment = dict(os.environ)  # what the embedded Ray's processes inherit
            start_local_ray(trials_at_once)
            _embedded = _EmbeddedRay(ray.get_runtime_context().gcs_address, environment)
    finally:
        ahead.join()


@contextmanager
def loopback_only() -> Iterator[None]:
    """A local Ray started inside binds every server to 127.0.0.1: nothing listens beyond this
    machine.

    Ray swaps a loopback ``_node_ip_address`` for the machine's reachable address, and then its
    servers listen there or on every interface. Ray's own switch for the platforms it runs no
    clusters on (macOS, Windows) keeps a node on loopback: this process reads it as a constant,
    the processes Ray starts read it from the environment. Both are put back afterwards, so a
    later connection to a cluster from this process is unaffected. A user who set the variable
    keeps their choice.
    """
    from ray._private import ray_constants

    name = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    if name in os.environ:
        yield
        return
    cluster_enabled = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[name] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        os.environ.pop(name, None)
        ray_constants.ENABLE_RAY_CLUSTER = cluster_enabled


def trial_actors_in_prestarted_workers() -> None:
    """Let trial actors start in the worker processes Ray prestarts, rather than fresh ones.

    Tune gives every trial actor a runtime env of environment variables: always
    ``PL_DISABLE_FORK`` (a PyTorch Lightning setting raysweep's loop has no use for), and any of
    a few driver variables that are set (AWS credentials, Ray Train settings). Ray runs an actor
    with a runtime env in a new process, so the workers it prestarted sat idle while the first
    trials each booted another and imported torch there. The embedded Ray's workers
    inherited the driver's environment, so a variable whose value is unchanged since that Ray
    started needn't be passed again; on any other Ray, Tune passes them all as before.
    """
    try:
        from ray.tune.execution import class_cache

        class_cache.DEFAULT_ENV_VARS.pop("PL_DISABLE_FORK", None)
        _pass_only_changed(class_cache.ENV_VARS_TO_PROPAGATE)
    except (ImportError, AttributeError) as exc:  # another Ray: trials just start cold
        logger.debug("trial actors keep Tune's runtime env: %s", exc)


@dataclass(frozen=True)
class _EmbeddedRay:
    gcs_address: str
    environment: dict[str, str]


_embedded: _EmbeddedRay | None = None  # the local Ray this process started, if any
_tune_propagates: frozenset[str] | None = None  # Tune's own list, before any change


def _pass_only_changed(propagate: set[str]) -> None:
    """Leave in Tune's set of variables to pass only those the trial workers didn't inherit."""
    import ray

    global _tune_propagates
    if _tune_propagates is None:
        _tune_propagates = frozenset(propagate)
    inherited: dict[str, str] = {}
    if (
        _embedded is not None
        and ray.is_initialized()
        and ray.get_runtime_context().gcs_address == _embedded.gcs_address
    ):
        inherited = _embedded.environment
    for name in _tune_propagates:
        if name in inherited and os.environ.get(name) == inherited[name]:
            propagate.discard(name)
        else:
            propagate.add(name)
