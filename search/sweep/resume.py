"""Resuming a sweep with Ray's ``Tuner.restore``, refusing directories and specs that don't fit."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Any

from search._tune_compat import latest_checkpoint_result
from search.errors import NotAnExperimentError, ResumeError
from search.results import experiment_path, read_spec
from search.spec import SweepSpec
from search.sweep.experiment import read_identity
from search.sweep.lease import experiment_lease
from search.sweep.placement import check_placeable, cluster_capacity, local_capacity
from search.sweep.preflight import check_runnable
from search.sweep.ray_session import ensure_ray
from search.sweep.rebuild import rebuild
from search.sweep.run import SweepSummary, fit_and_summarize, run_existing
from search.sweep.snapshot import repair_torn_snapshot
from search.views.watch import driver_logs
from trainables.layout import SPEC_FILE
from trainables.storage import Location

logger = logging.getLogger(__name__)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def experiment_to_resume(path: str) -> Location:
    """The experiment at ``path``; for a folder a start left before it saved its spec (or any
    folder with none), the ``raysweep run`` that starts it, in one line."""
    try:
        return experiment_path(path)
    except NotAnExperimentError:
        exp = Location.of(path)
        storage, name = shlex.quote(str(exp.parent)), shlex.quote(exp.name)
        raise ResumeError(
            f"{path}: nothing to resume (no {SPEC_FILE} in it); start the sweep with  "
            f"raysweep run SPEC.yaml --storage {storage} --name {name}"
        ) from None


def check_unchanged(exp: Location, spec: SweepSpec) -> None:
    """Refuse a spec whose search differs from the one the sweep started with."""
    saved = read_identity(exp)
    if saved is None:
        raise ResumeError(f"{exp}: not a raysweep experiment (its identity record is missing)")
    before, after = _flatten(saved), _flatten(spec.identity())
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if not changed:
        return
    if any(k.startswith("search.num_samples") for k in changed):
        raise ResumeError(
            f"{exp}: search.num_samples can't change on resume: Ray Tune restores the trial "
            "budget with the searcher's state; start a new sweep for more trials"
        )
    raise ResumeError(
        f"{exp}: the spec changed since the sweep started ({', '.join(changed)}); a resumed "
        "sweep keeps its search space and settings (only resources.* may change)"
    )


def _snapshot(exp: Location) -> Any | None:
    """Ray's view of the experiment's last snapshot; ``None`` if Tune never wrote one."""
    from ray import tune

    if not tune.Tuner.can_restore(exp.path, storage_filesystem=exp.tune_filesystem):
        return None
    try:
        return tune.ExperimentAnalysis(exp.path, storage_filesystem=exp.tune_filesystem)
    except ValueError:  # tuner.pkl is there, but no experiment_state-*.json yet
        return None


def repair_missing_checkpoints(analysis: Any, exp: Location) -> int:
    """Give every unfinished trial the checkpoint Tune's snapshot points at.

    Tune's snapshot can be older than its checkpoint retention: after a killed driver it may
    reference a checkpoint that was deleted since, and ``Tuner.restore`` then fails that trial
    ("does not exist on storage anymore"). A placeholder carrying only the epoch Tune expects
    lets the trial start, load its newest real checkpoint and re-report the epochs between.
    """
    from trainables.checkpoint import write_placeholder

    repaired = 0
    for trial in analysis.trials:
        result = latest_checkpoint_result(trial)
        if trial.status == "TERMINATED" or result is None or result.checkpoint is None:
            continue
        checkpoint = Location(exp.fs, result.checkpoint.path)
        if not checkpoint.exists():
            write_placeholder(checkpoint, int(result.metrics["training_iteration"]))
            repaired += 1
    return repaired


def resume_sweep(
    path: str,
    *,
    overrides: list[str] | None = None,
    address: str | None = None,
    take_over: bool = False,
    verbose: bool = False,
) -> SweepSummary:
    """Continue an interrupted sweep where it stopped; a finished one just reports again.

    The experiment's lease is held throughout (``take_over`` replaces another driver's).
    Shown as ``run_sweep`` shows a sweep; the log file is appended to."""
    exp = experiment_to_resume(path)
    spec = read_spec(exp, overrides)
    check_unchanged(exp, spec)
    with experiment_lease(exp, command="resume", take_over=take_over):
        check_runnable(spec, source=str(exp), data=False)  # the trainable loads the data
        if address is None:
            check_placeable(spec, local_capacity(), source=str(exp))
        with driver_logs(exp, verbose=verbose) as log_file:
            return _restore(spec, exp, address, log_file)


def _restore(
    spec: SweepSpec, exp: Location, address: str | None, log_file: Path | None
) -> SweepSummary:
    from ray import tune

    from search.sweep.tuner import build_trainable

    ensure_ray(address, trials_at_once=spec.search.max_concurrent, log_to_driver=log_file is None)
    check_placeable(spec, cluster_capacity(), source=str(exp))
    repaired_snapshot = repair_torn_snapshot(exp)
    if repaired_snapshot is not None:
        logger.warning("%s", repaired_snapshot)
    analysis = _snapshot(exp)
    if analysis is None:
        # Torn with no good copy, or killed before Tune's first snapshot: nothing for Tune to
        # restore, so start in place, the earlier trials first, each from its checkpoints.
        rebuilt = rebuild(spec, exp)
        if rebuilt is None:
            logger.warning("%s has no Tune experiment state yet; starting the sweep", exp)
            return run_existing(spec, exp, log_file=log_file)
        logger.warning("%s", rebuilt.warning(exp))
        return run_existing(spec, exp, log_file=log_file, earlier=rebuilt.configs)
    repaired = repair_missing_checkpoints(analysis, exp)
    if repaired:
        logger.warning(
            "%d trials referenced checkpoints deleted after the last snapshot", repaired
        )
    tuner = tune.Tuner.restore(
        exp.path,
        storage_filesystem=exp.tune_filesystem,
        trainable=build_trainable(spec, experiment=exp),
        resume_unfinished=True,
        resume_errored=True,  # errored trials continue from their latest checkpoint
    )
    return fit_and_summarize(tuner, spec, exp, log_file=log_file)
