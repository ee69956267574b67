"""Every use of a private Ray, Ray Tune or Optuna attribute, in one module, each with why.

Written against Ray 2.60 (pinned in pyproject.toml; checked once, here, at import). When Ray is
upgraded, this is the one file to read against its new source. Nothing here changes what those
libraries compute: they read state Tune keeps private, or set it where a restore left it wrong.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import ray

RAY_SERIES = "2.60."
if not ray.__version__.startswith(RAY_SERIES):
    raise ImportError(
        f"raysweep needs ray {RAY_SERIES}x (see pyproject.toml), but ray {ray.__version__} is "
        "installed; the private attributes in search/_tune_compat.py may have changed"
    )

# Why: modules ``ray.init`` imports itself, imported first and in the main thread. Two threads
# importing parts of one import cycle at once fail with a deadlock error.
RAY_INIT_IMPORTS = (
    "ray._common.usage.usage_lib",
    "ray.autoscaler._private.util",
    "ray.dashboard.optional_deps",
)


@contextmanager
def loopback_only() -> Iterator[None]:
    """A local Ray started inside binds every server to 127.0.0.1.

    Why: Ray swaps a loopback ``_node_ip_address`` for the machine's reachable address, and then
    its servers listen there or on every interface. Ray's own switch for the platforms it runs
    no clusters on (macOS, Windows) keeps a node on loopback: this process reads it as a
    constant, the processes Ray starts read it from the environment. Both are put back
    afterwards; a user who set the variable keeps their choice.
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


@contextmanager
def trial_env_vars_only_where_changed(inherited: Mapping[str, str]) -> Iterator[None]:
    """While inside, Tune gives trial actors no runtime env that their workers already have.

    Why: Tune gives every trial actor a runtime env of environment variables (module-level
    tables in ``ray.tune.execution.class_cache``): always ``PL_DISABLE_FORK`` (a PyTorch
    Lightning setting raysweep's loop has no use for), and any of a few driver variables that
    are set (AWS credentials, Ray Train settings). Ray runs an actor with a runtime env in a
    new process, so the workers it prestarted sit idle while each trial boots another and
    imports torch there. ``inherited`` is what the embedded Ray's workers inherited: a
    variable unchanged since then needn't be passed. Both tables are put back on exit.
    """
    from ray.tune.execution import class_cache

    defaults = dict(class_cache.DEFAULT_ENV_VARS)
    propagate: set[str] = class_cache.ENV_VARS_TO_PROPAGATE
    before = set(propagate)
    class_cache.DEFAULT_ENV_VARS.pop("PL_DISABLE_FORK", None)
    for name in before:
        if name in inherited and os.environ.get(name) == inherited[name]:
            propagate.discard(name)
    try:
        yield
    finally:
        class_cache.DEFAULT_ENV_VARS.clear()
        class_cache.DEFAULT_ENV_VARS.update(defaults)
        propagate.clear()
        propagate.update(before)


def retained_checkpoint_results(trial: Any) -> list[Any]:
    """The checkpoints Tune retained for ``trial``, with the metrics they were saved with.

    Why: ``ExperimentAnalysis`` reads the same list but only hands out the single best one;
    the export falls back to the next when the best is gone from storage.
    """
    return list(trial.run_metadata.checkpoint_manager.best_checkpoint_results)


def latest_checkpoint_result(trial: Any) -> Any | None:
    """The checkpoint Tune will hand ``trial`` on restore (why: to check it still exists)."""
    return trial.run_metadata.checkpoint_manager.latest_checkpoint_result


def set_trial_counter(search: Any, count: int) -> None:
    """Why: ``SearchGenerator`` saves its trial counter with the searcher, so after a torn
    restore it can be ahead of the trials or behind them; ``num_samples`` is checked on it."""
    search._counter = count


def set_live_trials(generator: Any, trial_ids: set[str]) -> None:
    """Why: PBT's ``BasicVariantGenerator`` counts live trials against ``max_concurrent``; a
    torn restore can leave it counting trials that ended."""
    generator._live_trials = set(trial_ids)


def optuna_trials(search: Any) -> dict[str, Any]:
    """``OptunaSearch``'s Tune trial id -> Optuna trial table (why: to adopt or re-key the
    suggestions a torn restore separated from their trials). Mutable: it is the table."""
    return search._ot_trials  # type: ignore[no-any-return]


def optuna_completed(search: Any) -> set[str]:
    """The trial ids ``OptunaSearch`` already told the study about (why: a lost suggestion is
    one neither Tune nor the study finished)."""
    return search._completed_trials  # type: ignore[no-any-return]


def optuna_study(search: Any) -> Any:
    """``OptunaSearch``'s study (why: to tell Optuna a trial ASHA stopped as ``PRUNED``, which
    ``OptunaSearch`` only does for a trial with no result at all)."""
    return search._ot_study


def asha_limits(scheduler: Any) -> tuple[str, int]:
    """ASHA's time attribute and ``max_t`` (why: to tell a final result from an early stop)."""
    return scheduler._time_attr, scheduler._max_t


def asha_uncount_stop(scheduler: Any) -> None:
    """Why: ASHA counts each STOP it decides; one turned into CONTINUE must not be counted."""
    scheduler._num_stopped -= 1


def hyperband_bracket(scheduler: Any, trial: Any) -> Any:
    """The bracket ``trial`` is in (why: to stop the trials a finished bracket left paused)."""
    bracket, _ = scheduler._trial_info[trial]
    return bracket


def tuner_run_config(tuner: Any) -> Any:
    """The ``RunConfig`` a ``Tuner`` will fit with; mutable, and read by ``fit()``.

    Why: ``Tuner.restore`` takes no run config (it unpickles the original one), yet a resume
    must get raysweep's terminal view as a callback and Tune's output set to silent. The
    Tuner pickled itself on construction (``tuner.pkl``), so what is set here afterwards (a
    callback holding a terminal) is never written into the experiment.
    """
    return tuner._local_tuner.get_run_config()


COUNT, FREE, DROP, STOP = "count", "free", "drop", "stop"


class SweepStopped(Exception):
    """Raised out of ``Tuner.fit`` for a ``STOP`` verdict: Tune cleans up and writes no final
    snapshot (the storage that refused a write would tear the last good one)."""


@contextmanager
def trial_failures_triaged(triage: Callable[[Any, BaseException], str]) -> Iterator[None]:
    """While inside, Tune shows each trial failure to ``triage(trial, exception)`` first:
    ``COUNT`` keeps Tune's rule (counted against ``max_failures``), ``FREE`` retries the trial
    from its latest checkpoint without counting it, ``DROP`` ignores a second report of a
    failure already handled, ``STOP`` ends the sweep at once (``SweepStopped``), nothing
    counted or retried.

    Why: Tune counts every failure, and its one uncounted kind is an autoscaler preemption.
    A lost node is reported twice for a trial whose actor was being reset for it (a reused
    actor): ``ActorManager._actor_task_failed`` calls the actor's error callback, which
    requeues the trial, and then the task's with the same exception, which finds the trial
    PENDING and errors it whatever ``max_failures`` says ("error after 0 iterations").
    Dropping that second report leaves the trial in ``_resetting_trials`` (only the reset's
    result removes it), and ``_maybe_reuse_cached_actor`` then takes it for a trial whose
    actor is on its way: PENDING forever. A failed trial's reset is over, so it leaves that set.
    """
    from ray.tune.execution.tune_controller import TuneController

    original: Any = TuneController._process_trial_failure

    def process(self: Any, trial: Any, exception: Any) -> None:
        self._resetting_trials.discard(trial)
        verdict = triage(trial, exception)
        if verdict == DROP:
            return
        if verdict == STOP:
            raise SweepStopped(str(exception))
        if verdict == FREE and trial.max_failures >= 0:
            failures = trial.run_metadata.num_failures
            trial.max_failures += 1  # room for this one, so Tune retries it
            try:
                original(self, trial, exception)
            finally:
                trial.max_failures -= 1
                trial.run_metadata.num_failures = failures
            return
        original(self, trial, exception)

    setattr(TuneController, "_process_trial_failure", process)
    try:
        yield
    finally:
        setattr(TuneController, "_process_trial_failure", original)


def placement_group_of(group_id: str) -> Any:
    """A ``PlacementGroup`` handle from the hex id ``placement_group_table`` lists (Ray 2.60
    has no public constructor from an id)."""
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup

    return PlacementGroup(PlacementGroupID.from_hex(group_id))
