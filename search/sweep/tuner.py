"""Building the ``tune.Tuner`` for a spec: trainable, searcher, scheduler, callbacks, configs.

Search, scheduling, retries and checkpoint retention are Ray's and Optuna's; this only says
which of theirs, and with what settings.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ray import tune

from search.spec import SweepSpec
from search.spec.data import load_data
from search.sweep.baseline import BaselineMarker
from search.sweep.scheduler_state import SchedulerStateCallback
from search.sweep.schedulers import build_scheduler
from search.sweep.searcher import build_searcher
from search.sweep.searcher_state import ReconcileCallback
from search.sweep.snapshot import SnapshotKeeper
from trainables.config import DataParallel
from trainables.layout import trial_dir_of
from trainables.storage import Location
from trainables.trainable import TrialSettings, train_trial


def build_trainable(spec: SweepSpec, *, experiment: Location, data: Any = None) -> Any:
    """The trainable with its data and settings bound; the same for ``run`` and ``resume``."""
    trial_data = spec.data.trial_data
    if data is None and trial_data is None:
        data, _ = load_data(spec.data)  # the test split stays in the driver
    workers = 0 if trial_data is None else trial_data.loader.num_workers
    resources = spec.resources
    settings = TrialSettings(
        sweep_seed=spec.search.seed,
        metric=spec.metric.name,
        mode=spec.metric.mode,
        checkpoint_every=spec.checkpoint.every,
        # Loader workers are counted in the trial's CPUs: torch gets the rest.
        threads=max(1, resources.threads - workers),
        experiment=experiment,
        architecture=spec.architecture,
        recipe=spec.recipe,
        trial_data=trial_data,  # images and your data sets are opened inside each trial
        every_steps=spec.every_steps,
        maximize=frozenset(o.name for o in spec.objectives if o.mode == "max"),
        data_parallel=_data_parallel(spec),
    )
    if resources.distributed:
        return _data_parallel_trainable(data, settings)
    # with_parameters puts the data set in the object store once; trials map it zero-copy.
    return tune.with_resources(
        tune.with_parameters(train_trial, data=data, settings=settings),
        {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial},
    )


def _data_parallel(spec: SweepSpec) -> DataParallel | None:
    r = spec.resources
    if not r.distributed:
        return None
    return DataParallel(r.workers_per_trial, r.cpus_per_worker, r.gpus_per_worker)


# A data-parallel trial's Tune trial only drives its Ray Train workers, which Ray Train places
# itself. Tune refuses a request of nothing at all, so the driver holds one byte of memory.
DRIVER_RESOURCES: dict[str, float] = {"cpu": 0.0, "memory": 1.0}


def _data_parallel_trainable(data: Any, settings: TrialSettings) -> Any:
    import ray

    from trainables.ray_train import train_data_parallel

    if data is not None and not isinstance(data, ray.ObjectRef):
        data = ray.put(data)
    # In a tuple, the reference reaches the Train workers unresolved: each maps the table from
    # the object store itself.
    wrapped = None if data is None else (data,)
    return tune.with_resources(
        tune.with_parameters(train_data_parallel, data=wrapped, settings=settings),
        DRIVER_RESOURCES,
    )


def build_callbacks(
    spec: SweepSpec, *, experiment: Location, search_alg: Any, scheduler: Any
) -> list[tune.Callback]:
    # Set right after a restore, whose searcher snapshot may be older or newer than its trials.
    marker = BaselineMarker(experiment, scheduler)
    callbacks: list[tune.Callback] = [
        ReconcileCallback(search_alg),
        marker,
        SnapshotKeeper(experiment),  # a full disk can tear Tune's snapshot: keep a good copy
    ]
    if spec.scheduler.type == "asha":  # the one Tune scheduler with save/restore
        callbacks.append(SchedulerStateCallback(scheduler))
    if spec.tracking.mlflow is not None:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        callbacks.append(
            MLflowLoggerCallback(
                tracking_uri=spec.tracking.mlflow,
                experiment_name=spec.tracking.experiment or experiment.name,
                save_artifact=False,
            )
        )
    if spec.tracking.wandb is not None:
        from search.sweep.wandb_runs import build_wandb_callback

        callbacks.append(build_wandb_callback(spec.tracking.wandb, experiment, marker))
    return callbacks


def build_run_config(
    spec: SweepSpec, *, experiment: Location, callbacks: list[tune.Callback]
) -> tune.RunConfig:
    storage = experiment.parent
    return tune.RunConfig(
        name=experiment.name,
        # Checkpoints and results go through the same filesystem as raysweep's own files.
        storage_path=storage.path,
        storage_filesystem=storage.tune_filesystem,
        verbose=1,
        callbacks=callbacks,
        # Keep the best checkpoints by the metric (exported as models); Tune always keeps the
        # latest too (for resume). num_to_keep also forces an experiment snapshot after that
        # many checkpoints, so a killed driver loses little.
        checkpoint_config=tune.CheckpointConfig(
            # PBT clones a trial from a checkpoint it chose earlier; retention would delete it
            # before the clone starts ("does not exist on storage anymore").
            num_to_keep=None if spec.scheduler.type == "pbt" else spec.checkpoint.keep,
            checkpoint_score_attribute=spec.metric.name,
            checkpoint_score_order=spec.metric.mode,
        ),
        failure_config=tune.FailureConfig(max_failures=spec.failure.max_retries),
    )


def build_tuner(
    spec: SweepSpec,
    *,
    experiment: Location,
    data: Any = None,
    earlier: tuple[dict[str, Any], ...] = (),
) -> tune.Tuner:
    """The ``tune.Tuner`` that runs ``spec`` as the experiment at ``experiment`` (``earlier``:
    a rebuilt sweep's trial configs, proposed again after the baselines)."""
    scheduler = build_scheduler(spec.scheduler, space=spec.space)
    spec = _placeable_concurrency(spec)
    search_alg, param_space = build_searcher(spec, experiment=experiment, earlier=earlier)
    callbacks = build_callbacks(
        spec, experiment=experiment, search_alg=search_alg, scheduler=scheduler
    )
    return tune.Tuner(
        build_trainable(spec, experiment=experiment, data=data),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=spec.metric.name,
            mode=spec.metric.mode,
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=spec.search.num_samples,
            reuse_actors=True,  # a fresh actor costs seconds of torch import per trial
            trial_dirname_creator=trial_dir_of,
        ),
        run_config=build_run_config(spec, experiment=experiment, callbacks=callbacks),
    )


def _placeable_concurrency(spec: SweepSpec) -> SweepSpec:
    """Data-parallel trials: no more at once than the cluster can place all the workers of."""
    if not spec.resources.distributed:
        return spec
    from search.sweep.placement import cluster_capacity, trials_at_once

    at_once = trials_at_once(spec, cluster_capacity())
    return replace(spec, search=replace(spec.search, max_concurrent=at_once))
