"""Running a sweep: spec -> ``Tuner.fit`` -> summary, the experiment kept for resume."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from search.spec import SweepSpec
from search.sweep.experiment import (
    ensure_new,
    experiment_dir,
    probe_storage,
    resolve_storage,
    write_spec,
)
from search.sweep.lease import experiment_lease
from search.sweep.placement import check_placeable, cluster_capacity, local_capacity
from search.sweep.preflight import check_runnable
from search.sweep.ray_session import ensure_ray, trial_environment
from search.version import versions
from search.views.watch import driver_logs, watched
from trainables.storage import Location

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialSummary:
    trial_id: str
    config: dict[str, Any]
    metric: float  # best value of the sweep metric over the trial's epochs
    epochs: int


@dataclass(frozen=True)
class SweepSummary:
    path: str  # the experiment: a local path or a storage URI, as ``resume`` takes it
    metric: str
    mode: str
    num_trials: int
    num_errors: int
    interrupted: bool  # stopped (Ctrl-C) before every trial finished: resume it
    budget_spent: str | None  # why the sweep started fewer than num_samples trials
    best: TrialSummary | None
    baseline: TrialSummary | None
    # how the best was picked, stopped trials that looked better, rung agreement: printed
    notes: tuple[str, ...] = ()
    log_file: str | None = None  # where Ray's, Tune's and Optuna's log records went


def run_sweep(
    spec: SweepSpec,
    *,
    name: str | None = None,
    storage: str | None = None,
    address: str | None = None,
    source: str = "<spec>",
    take_over: bool = False,
    verbose: bool = False,
) -> SweepSummary:
    """Run ``spec`` to completion and summarize it; the experiment stays on disk for resume.

    The experiment's lease is held throughout (``take_over`` replaces another driver's).
    Shows raysweep's view of the sweep on stdout, Ray's, Tune's and Optuna's log records
    going to the experiment's log file; ``verbose`` shows Tune's tables and Ray's logs instead.
    """
    root = resolve_storage(storage)
    path = experiment_dir(root, name or spec.name)
    ensure_new(path)
    data = check_runnable(spec, source=source)  # bad input fails before Ray starts
    if address is None:  # the embedded Ray gets this machine: a trial must fit it
        check_placeable(spec, local_capacity(), source=source)
    probe_storage(root)  # the first write, once the input is known to be good
    # The spec before the lease and the log: an experiment folder that exists can be resumed.
    _write_spec(spec, path, keep_existing=True)
    with experiment_lease(path, command="run", take_over=take_over):
        ensure_new(path)  # a driver that held the lease just before may have started it
        _write_spec(spec, path)  # ours now, over a spec a start killed early left behind
        with driver_logs(path, verbose=verbose) as log_file:
            return _start(spec, path, address, data, log_file, source=source)


def _start(
    spec: SweepSpec,
    path: Location,
    address: str | None,
    data: Any,
    log_file: Path | None,
    *,
    source: str,
) -> SweepSummary:
    ensure_ray(address, trials_at_once=spec.search.max_concurrent, log_to_driver=log_file is None)
    check_placeable(spec, cluster_capacity(), source=source)  # a cluster's, or a running Ray's
    import ray

    # Into the object store now, and no driver copy for the rest of the sweep: trials map the
    # stored arrays zero-copy (bench: peak memory 2.2x -> 1.06x the data set). Images and
    # your data sets never pass through the driver: each trial opens them.
    data_ref = None if data is None else ray.put(data)
    del data
    return run_existing(spec, path, data=data_ref, log_file=log_file)


def run_existing(
    spec: SweepSpec,
    path: Location,
    *,
    data: Any = None,
    log_file: Path | None = None,
    earlier: tuple[dict[str, Any], ...] = (),
) -> SweepSummary:
    """Start ``spec`` as the experiment at ``path`` (new, or with no Tune state to restore:
    ``earlier`` are the configs of the trials it ran before)."""
    from search.sweep.tuner import build_tuner

    tuner = build_tuner(spec, experiment=path, data=data, earlier=earlier)
    _write_spec(spec, path)
    return fit_and_summarize(tuner, spec, path, log_file=log_file)


def _write_spec(spec: SweepSpec, path: Location, *, keep_existing: bool = False) -> None:
    write_spec(
        path,
        spec.to_yaml(),
        identity=spec.identity(),
        provenance=versions(),
        keep_existing=keep_existing,
    )


def fit_and_summarize(
    tuner: Any, spec: SweepSpec, path: Location, *, log_file: Path | None = None
) -> SweepSummary:
    """Fit, showing raysweep's view when Tune's log records go to ``log_file`` (else Tune's).
    A trial failure is triaged before Tune counts it; a write the storage refused ends the
    sweep with one line (``StorageRefusedError``), not a traceback."""
    from search._tune_compat import trial_failures_triaged
    from search.sweep.failures import FailureTriage, stopped_by_storage

    triage = FailureTriage()
    try:
        with ExitStack() as stack:
            if log_file is not None:
                stack.enter_context(watched(tuner, spec, path, log_file=log_file))
            stack.enter_context(trial_environment())
            stack.enter_context(trial_failures_triaged(triage))
            results = tuner.fit()
    except Exception as exc:
        stopped_by_storage(exc, triage, path.uri)
        raise
    finally:
        _release_leftovers(spec)
    summary = summarize(results.num_errors, spec, path)
    return replace(summary, log_file=None if log_file is None else str(log_file))


def _release_leftovers(spec: SweepSpec) -> None:
    if not spec.resources.distributed:
        return
    from search.sweep.placement import release_leftover_groups

    removed = release_leftover_groups()
    if removed:
        logger.info("released %d placement groups the Ray Train runs left", removed)


def summarize(num_errors: int, spec: SweepSpec, path: Location) -> SweepSummary:
    """Best trial and baseline, read back like ``status`` reads them (so the two agree)."""
    from search.results import RUNNING, budget_spent, load_results
    from search.results.fidelity import fidelity_lines
    from search.results.recommend import recommend, recommendation_lines

    results = load_results(path)
    trials = results.trials
    notes = recommendation_lines(recommend(results), spec.metric.name) + fidelity_lines(results)

    def summary(t: Any) -> TrialSummary:
        return TrialSummary(t.trial_id, t.config, float(t.metric_best), t.epochs_completed)

    best = next((t for t in trials if t.rank == 1), None)
    baseline = next((t for t in trials if t.is_baseline and t.metric_best is not None), None)
    spent = budget_spent(path)
    unfinished = any(t.status == RUNNING for t in trials)
    interrupted = unfinished or (len(trials) < spec.search.num_samples and spent is None)
    return SweepSummary(
        path.uri,
        spec.metric.name,
        spec.metric.mode,
        len(trials),
        num_errors,
        interrupted,
        spent,
        None if best is None else summary(best),
        None if baseline is None else summary(baseline),
        tuple(notes),
    )
