"""A data-parallel trial: a Tune function that drives a Ray Train ``TorchTrainer`` of N ranks.

This is Ray Train V2's pattern for Train inside Tune: the Tune trial builds the trainer and
calls ``fit()``; it holds almost no resources itself, and Ray Train places all the workers at
once (DDP over Gloo on CPUs, NCCL on GPUs). Each rank runs the trial exactly as a single-worker
trial does (``trainables.trainable``: restore, catch up, train, the loop of
``trainables.loop``), on its share of each global batch (``trainables.distributed``).

Rank 0 writes raysweep's checkpoint (the bare model, optimizer, schedule, scaler, RNG,
position) and relays each epoch's metrics with it to the Tune trial, which reports them to Tune
with ``tune.report``: Tune then keeps, ranks and restores these checkpoints in the trial
directory like any other trial's, one report per epoch as ASHA counts them. (Ray's
``TuneReportCallback`` relays only metrics and a path in Ray Train's storage.) Rank 0 then
waits for Tune's answer: when the scheduler stops the trial, every rank learns it at the same
epoch and returns, and the Ray Train run ends with them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainables.checkpoint import checkpoint_epoch
from trainables.distributed import ShardedFeed, data_parallel
from trainables.layout import trial_dir_name
from trainables.storage import StorageRefused, refuses_writes
from trainables.trainable import (
    TrialSettings,
    _catch_up,
    _restore,
    _train,
    _tune_checkpoint,
    make_trial,
    open_trial,
    tune_report,
)

logger = logging.getLogger(__name__)

CONTINUE, STOP = "continue", "stop"
TRAIN_DIR = "ray_train"  # Ray Train's own run files, inside the trial directory
POLL_S = 1.0
# How long a stopped trial waits for its Ray Train run to end. Tune reuses a trial's actor only
# when the trial's thread ends within TUNE_FUNCTION_THREAD_TIMEOUT_S (2 s by default), which a
# data-parallel trial raises in its own process to cover this wait.
STOP_WAIT_S = 30


class TrialStopped(Exception):
    """Tune stopped the trial (a scheduler decision): every rank returns."""


@dataclass(frozen=True)
class Relay:
    """Rank 0's epochs to the Tune trial, and Tune's answers back (two Ray queue actors
    that hold no CPU)."""

    reports: Any
    answers: Any

    @classmethod
    def create(cls) -> Relay:
        from ray.util.queue import Queue

        options = {"num_cpus": 0}
        return cls(
            Queue(maxsize=1, actor_options=options), Queue(maxsize=1, actor_options=options)
        )


def _files(directory: str | Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(directory).iterdir() if p.is_file()}


def _write_files(files: dict[str, bytes], directory: str | Path) -> Path:
    for name, blob in files.items():
        (Path(directory) / name).write_bytes(blob)
    return Path(directory)


class RankReport:
    """A rank's ``Report``: rank 0 relays to the Tune trial and waits for its answer; every
    rank then learns whether to go on."""

    def __init__(self, relay: Relay, rank: int) -> None:
        self.relay, self.rank = relay, rank
        self.feed: ShardedFeed | None = None  # set once the rank's feed exists

    def __call__(self, metrics: dict, checkpoint: str | None) -> None:
        answer = CONTINUE
        if self.rank == 0:
            files = None if checkpoint is None else _files(checkpoint)
            try:
                self.relay.reports.put({"metrics": metrics, "files": files})
                answer = self.relay.answers.get()
            except Exception:  # the relay died with the Tune trial that owned it
                _release_workers()
                raise
        assert self.feed is not None  # created before any epoch is reported
        if self.feed.agree(answer == STOP):
            raise TrialStopped


def _release_workers() -> None:
    """The Tune trial is gone (Tune ended its actor before the Ray Train run ended): remove
    this run's placement group, which ends every rank. Ray Train's own cleaner watches the
    controller through the state API, which a Ray without a dashboard doesn't serve, and
    would otherwise leave the workers' CPUs and GPUs held until the sweep's driver exits."""
    from ray.util import get_current_placement_group, remove_placement_group

    group = get_current_placement_group()
    if group is not None:
        logger.warning("the Tune trial driving this run is gone; ending its workers")
        remove_placement_group(group)


def train_data_parallel(
    config: dict, *, data: tuple[Any, ...] | None, settings: TrialSettings
) -> None:
    """The Tune trial of a data-parallel trial: fit a ``TorchTrainer`` of the spec's workers,
    reporting to Tune what rank 0 relays. ``data``: the table's object reference, wrapped so
    that it reaches the workers unresolved."""
    from ray import tune
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    group = settings.data_parallel
    assert group is not None  # tuner.build_trainable
    # Read by Tune in this process when it reuses the actor for another trial.
    os.environ["TUNE_FUNCTION_THREAD_TIMEOUT_S"] = str(STOP_WAIT_S + 5)
    relay = Relay.create()
    trial_id = tune.get_context().get_trial_id()
    with tempfile.TemporaryDirectory(prefix="raysweep-restore-") as scratch:
        restored = _tune_checkpoint(scratch)
        known = 0 if restored is None else checkpoint_epoch(restored) or 0
        files = None if restored is None else _files(restored)
    trial_dir = settings.experiment / trial_dir_name(trial_id)
    trainer = TorchTrainer(
        _rank_main,
        train_loop_config={
            "config": config,
            "data": data,
            "settings": settings,
            "trial_id": trial_id,
            "known": known,
            "restored": files,  # Tune's checkpoint for this trial (a PBT parent's, say)
            "relay": relay,
        },
        scaling_config=ScalingConfig(
            num_workers=group.workers,
            use_gpu=group.gpus_per_worker > 0,
            resources_per_worker={"CPU": group.cpus_per_worker, "GPU": group.gpus_per_worker},
        ),
        # A failed rank fails the trial: Tune retries it from its newest checkpoint.
        run_config=RunConfig(
            name=TRAIN_DIR,
            storage_path=trial_dir.path,
            storage_filesystem=trial_dir.tune_filesystem,
            failure_config=FailureConfig(max_failures=0),
        ),
    )
    _drive(trainer, relay)


def _drive(trainer: Any, relay: Relay) -> None:
    """Fit in a thread; report what rank 0 relays to Tune, answering each report. Tune's
    stop (``SystemExit`` out of ``tune.report``) is answered ``stop`` before it goes on."""
    from ray.util.queue import Empty

    failure: list[BaseException] = []

    def fit() -> None:
        try:
            trainer.fit()
        except BaseException as exc:  # raised in this trial once its reports are drained
            failure.append(exc)

    thread = threading.Thread(target=fit, name="raysweep-train-fit", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = relay.reports.get(timeout=POLL_S)
            except Empty:
                if thread.is_alive():
                    continue
                break
            _relay_to_tune(item)
            relay.answers.put(CONTINUE)
    except BaseException:  # Tune stopped the trial (SystemExit), or reporting failed
        # The ranks return at the answer; the trial ends once its Ray Train run has, so that
        # no workers outlive it (Tune then ends or reuses this actor).
        try:
            relay.answers.put(STOP, block=False)
        except Exception:  # a full queue or a lost actor: the ranks end with this actor
            pass
        thread.join(timeout=STOP_WAIT_S)
        raise
    thread.join()
    if failure:
        raise _unwrapped(failure[0])


def _relay_to_tune(item: dict) -> None:
    files = item["files"]
    if files is None:
        tune_report(item["metrics"], None)
        return
    with tempfile.TemporaryDirectory(prefix="raysweep-ckpt-") as directory:
        tune_report(item["metrics"], str(_write_files(files, directory)))


def _unwrapped(exc: BaseException) -> BaseException:
    """A rank's storage refusal, as the driver recognises it (it stops the sweep)."""
    if isinstance(exc, StorageRefused) or refuses_writes(exc):
        return StorageRefused(str(exc))
    return exc


def _rank_main(loop_config: dict) -> None:
    """One rank: the single-worker trial's three phases, on this rank's share."""
    import ray
    import ray.train
    import ray.train.torch

    settings: TrialSettings = loop_config["settings"]
    context = ray.train.get_context()
    rank, ranks = context.get_world_rank(), context.get_world_size()
    config = loop_config["config"]
    torch.set_num_threads(settings.threads)
    device = ray.train.torch.get_device()
    data = None if loop_config["data"] is None else ray.get(loop_config["data"][0])
    report = RankReport(loop_config["relay"], rank)
    trial = make_trial(config, settings, loop_config["trial_id"], report=report, writes=rank == 0)
    feed, state = open_trial(trial, data, settings, device)
    sharded = data_parallel(state, feed, rank=rank, ranks=ranks)
    report.feed = sharded
    known, restored = loop_config["known"], loop_config["restored"]
    try:
        with tempfile.TemporaryDirectory(prefix="raysweep-restore-") as scratch:
            tune_checkpoint = None if restored is None else _write_files(restored, scratch)
            point = _restore(state, trial, tune_checkpoint, known)
            if _catch_up(state, sharded, trial, known, point):
                return
        _train(state, sharded, trial, settings)
    except TrialStopped:
        logger.info("rank %d: trial %s stopped by the scheduler", rank, trial.key)
