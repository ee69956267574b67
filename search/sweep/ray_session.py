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

from search._tune_compat import (
    RAY_INIT_IMPORTS,
    loopback_only,
    trial_env_vars_only_where_changed,
)

logger = logging.getLogger(__name__)

# What building and fitting the Tuner imports in the driver. Importing it while ``ray.init``
# waits for Ray's processes takes it off the path to the first trial (bench: ~3 s).
_TUNER_IMPORTS = (
    "ray.tune",
    "ray.tune.search.optuna",
    "search.sweep.tuner",
    "trainables.trainable",
    # Tune's own imports at fit(): its usage tags load the MLflow integration (and mlflow,
    # when installed) and its default loggers include TensorBoard's.
    "ray.air.integrations.mlflow",
    "tensorboardX",
)
# What a trial worker imports before its first epoch: the trainable (with torch and Ray Tune)
# and dynamo, which torch's optimizers import when first used.
_TRIAL_WORKER_IMPORTS = ("trainables.trainable", "torch._dynamo")


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


def ensure_ray(
    address: str | None = None, *, trials_at_once: int = 1, log_to_driver: bool = True
) -> None:
    """Join ``address`` (``auto`` or host:port), or start a local Ray on 127.0.0.1 only.

    ``log_to_driver=False`` keeps the trial workers' output (Tune's "Checkpoint successfully
    created" per epoch, tracebacks of workers ended at Ctrl-C) in Ray's session logs instead
    of this terminal; raysweep shows a trial's error from its error file."""
    global _embedded
    import ray

    # Snapshotting the experiment at every checkpoint is what we want (a killed driver loses
    # less), so Tune's warning that it happens often is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return
    _import_all(RAY_INIT_IMPORTS)
    ahead = threading.Thread(
        target=_import_all, args=(_TUNER_IMPORTS,), name="raysweep-imports", daemon=True
    )
    ahead.start()
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=log_to_driver)
        else:
            environment = dict(os.environ)  # what the embedded Ray's processes inherit
            start_local_ray(trials_at_once, log_to_driver=log_to_driver)
            _embedded = _EmbeddedRay(ray.get_runtime_context().gcs_address, environment)
    finally:
        ahead.join()


@dataclass(frozen=True)
class _EmbeddedRay:
    gcs_address: str
    environment: dict[str, str]


_embedded: _EmbeddedRay | None = None  # the local Ray this process started, if any


@contextmanager
def trial_environment() -> Iterator[None]:
    """Around ``Tuner.fit``: trial actors start in the worker processes Ray prestarted.

    On the embedded Ray, whose workers inherited this process's environment, Tune passes a
    trial only the variables that changed since (``_tune_compat``); on any other Ray, all of
    them, as Tune does. Tune's tables are put back when the sweep ends.
    """
    import ray

    inherited: dict[str, str] = {}
    if (
        _embedded is not None
        and ray.is_initialized()
        and ray.get_runtime_context().gcs_address == _embedded.gcs_address
    ):
        inherited = _embedded.environment
    with trial_env_vars_only_where_changed(inherited):
        yield
