"""Fault tolerance with real processes and real signals: killed drivers, workers, bad files."""

from __future__ import annotations

import itertools
import json
import logging
import pickle
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from ray.tune import ExperimentAnalysis

from search.cli import main
from search.errors import ResumeError
from search.results import load_results
from search.spec import parse_spec
from search.sweep.resume import resume_sweep
from search.sweep.run import SweepSummary, run_sweep
from search.sweep.tuner import build_tuner
from tests.helpers import spec_dict
from tests.processes import kill_group, start_raysweep, trial_workers, wait_for
from trainables.checkpoint import CHECKPOINT_FILE
from trainables.layout import SPEC_FILE
from trainables.recovery import read_ledger
from trainables.storage import Location

pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]

# Sequential trials make the uninterrupted run deterministic (ASHA and TPE decisions included),
# so an interrupted run can be compared with it trial by trial.
RESUMABLE = {
    "name": "sweep",
    "space.lr": {"type": "float", "low": 1.0e-4, "high": 0.1, "log": True},
    "fixed.epochs": 6,
    "search.num_samples": 5,
    "search.max_concurrent": 1,
    "search.sampler": "tpe",
    "scheduler.reduction_factor": 2,
}


def write_spec(tmp_path: Path, changes: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict(changes)))
    return path


def final_metrics(exp: Path) -> dict[str, tuple[int, float]]:
    """Per config: (epochs trained, last val_loss), read through Ray's ExperimentAnalysis."""
    analysis = ExperimentAnalysis(str(exp))
    out = {}
    for trial in analysis.trials:
        assert trial.status == "TERMINATED", (trial.trial_id, trial.status)
        result = trial.last_result
        out[json.dumps(trial.config, sort_keys=True)] = (result["epoch"], result["val_loss"])
    return out


def checkpoints(exp: Path) -> list[Path]:
    return sorted(exp.glob("trial_*/checkpoint_*/" + CHECKPOINT_FILE))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    storage = tmp_path_factory.mktemp("reference")
    build_tuner(parse_spec(spec_dict(RESUMABLE)), experiment=Location.of(storage / "ref")).fit()
    return final_metrics(storage / "ref")


def newest_ledger_entry(exp: Path) -> tuple[str, dict] | None:
    entries = [(key, e) for key, epochs in read_ledger(exp).items() for e in epochs]
    return max(entries, key=lambda ke: ke[1]["t"]) if entries else None


def running_at_epoch(exp: Path, low: int, high: int) -> bool:
    """The trial training now (trials run one at a time) has finished epoch low..high."""
    newest = newest_ledger_entry(exp)
    return newest is not None and low <= newest[1]["epoch"] <= high


def corrupt_newest_checkpoint(exp: Path, trial_id: str) -> None:
    """Truncate the trial's newest checkpoint. When the kill landed while Tune was copying that
    checkpoint into the experiment, its state file is missing: it is torn already."""
    newest = max((exp / f"trial_{trial_id}").glob("checkpoint_*"))  # zero-padded indexes
    state = newest / CHECKPOINT_FILE
    if state.exists():
        state.write_bytes(state.read_bytes()[:100])


@pytest.mark.parametrize("moment", ["start-up", "mid-sweep", "mid-trial, checkpoint corrupted"])
def test_killed_driver_resumes_to_the_same_results_without_retraining(
    tmp_path, uninterrupted, moment
):
    spec = write_spec(tmp_path, RESUMABLE)
    exp = tmp_path / "runs" / "sweep"
    proc = start_raysweep(["run", str(spec)], cwd=tmp_path, log=tmp_path / "run.log")
    if moment == "start-up":
        wait_for(lambda: (exp / SPEC_FILE).exists(), timeout=120, what="start", proc=proc)
    elif moment == "mid-sweep":
        wait_for(lambda: len(checkpoints(exp)) >= 4, timeout=120, what="4 ckpts", proc=proc)
    else:
        wait_for(  # a window of two short epochs: look often
            lambda: running_at_epoch(exp, 3, 4), timeout=120, what="epoch 3", proc=proc, every=0.01
        )
    kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    victim = None
    if "corrupted" in moment:
        victim, entry = newest_ledger_entry(exp)
        corrupt_newest_checkpoint(exp, entry["trial_id"])

    summary = resume_sweep(str(exp))

    assert not summary.interrupted and summary.num_errors == 0
    assert final_metrics(exp) == uninterrupted
    # The ledger records every epoch actually trained: none twice, beyond the one epoch that
    # may have been in flight (checkpoint interval 1) when the driver died, and the one that
    # the corrupt checkpoint lost.
    for key, epochs in read_ledger(exp).items():
        retrained = sum(n - 1 for n in Counter(e["epoch"] for e in epochs).values())
        if key == victim:
            assert 1 <= retrained <= 2, [e["epoch"] for e in epochs]
        else:
            assert retrained <= 1, (key, [e["epoch"] for e in epochs])


def test_killed_trial_worker_is_retried_from_its_checkpoint(tmp_path):
    spec = write_spec(
        tmp_path,
        {
            **RESUMABLE,
            "search.num_samples": 2,
            "fixed.epochs": 30,
            "scheduler": {"type": "fifo"},
        },
    )
    exp = tmp_path / "runs" / "sweep"
    proc = start_raysweep(["run", str(spec)], cwd=tmp_path, log=tmp_path / "run.log")

    def baseline_trained_3_epochs() -> bool:
        return any(len(epochs) >= 3 for epochs in read_ledger(exp).values())

    wait_for(baseline_trained_3_epochs, timeout=120, what="3 trained epochs", proc=proc)
    victims = trial_workers(proc)
    assert victims, "no trial worker found"
    for worker in victims:
        worker.kill()
    assert proc.wait(timeout=300) == 0, (tmp_path / "run.log").read_text()[-3000:]

    analysis = ExperimentAnalysis(str(exp))
    assert sum(t.num_failures for t in analysis.trials) >= 1
    assert all(t.status == "TERMINATED" for t in analysis.trials)
    for epochs in read_ledger(exp).values():
        numbers = [e["epoch"] for e in epochs]
        assert numbers.count(1) == 1, f"a trial restarted from scratch: {numbers}"
        assert max(numbers) == 30
    pids = {e["pid"] for epochs in read_ledger(exp).values() for e in epochs}
    assert len(pids) >= 2, "the killed trial continued in a new worker process"


def test_ctrl_c_stops_cleanly_and_an_interrupted_sweep_can_be_inspected(tmp_path, capsys):
    spec = write_spec(tmp_path, {**RESUMABLE, "fixed.epochs": 40})
    exp = tmp_path / "runs" / "sweep"
    log = tmp_path / "run.log"
    proc = start_raysweep(["run", str(spec)], cwd=tmp_path, log=log)
    wait_for(lambda: len(checkpoints(exp)) >= 2, timeout=120, what="2 ckpts", proc=proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert f"raysweep resume {exp}" in log.read_text()
    assert main(["status", str(exp)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[3].split()[:3] == ["trial", "status", "epochs"]
    rows = itertools.takewhile(bool, table[4:])  # the notes below the table follow a blank line
    shown = {row.split()[0]: (row.split()[1], int(row.split()[2])) for row in rows}
    out = tmp_path / "partial.parquet"
    assert main(["export", str(exp), "-o", str(out)]) == 0
    frame = pd.read_parquet(out)
    exported = {
        t: (s, int(e))
        for t, s, e in zip(frame["trial_id"], frame["status"], frame["epochs_completed"])
    }
    # Status and export agree, trial by trial, and show the sweep as it was stopped: some
    # trial part-way through its 40 epochs, still "running" (to resume), none finished.
    assert shown == exported
    running = [epochs for status, epochs in shown.values() if status == "running"]
    assert running and all(1 <= epochs < 40 for epochs in running)
    assert "terminated" not in {status for status, _ in shown.values()}


def test_resume_refuses_a_missing_directory(tmp_path, capsys):
    assert main(["resume", str(tmp_path / "nope")]) == 2
    assert "no such experiment directory" in capsys.readouterr().err


def test_resume_of_a_directory_with_nothing_to_resume_says_how_to_start_it(tmp_path, capsys):
    exp = tmp_path / "runs" / "x"
    exp.mkdir(parents=True)
    (exp / "x.txt").write_text("hi")
    assert main(["resume", str(exp)]) == 2
    assert capsys.readouterr().err == (
        f"error: {exp}: nothing to resume (no {SPEC_FILE} in it); start the sweep with  "
        f"raysweep run SPEC.yaml --storage {tmp_path / 'runs'} --name x\n"
    )


KILLED_EARLY = {
    "name": "early",
    "fixed.epochs": 2,
    "search.num_samples": 2,
    "scheduler": {"type": "fifo"},
}


@pytest.mark.parametrize("seconds", [1, 3, 6])
def test_a_run_killed_in_its_first_seconds_resumes_or_says_how_to_start_it(
    tmp_path, capsys, seconds
):
    spec = write_spec(tmp_path, KILLED_EARLY)
    exp = tmp_path / "runs" / "early"
    proc = start_raysweep(["run", str(spec)], cwd=tmp_path, log=tmp_path / "run.log")
    with pytest.raises(subprocess.TimeoutExpired):  # still starting when it is killed
        proc.wait(timeout=seconds)
    kill_group(proc)
    left = sorted(str(p.relative_to(exp)) for p in exp.rglob("*")) if exp.exists() else []
    with capsys.disabled():
        print(f"\nkilled at {seconds} s, left: {left}")

    code = main(["resume", str(exp)])
    err = capsys.readouterr().err
    if not exp.exists():
        assert (code, err) == (2, f"error: {exp}: no such experiment directory\n")
    elif not (exp / SPEC_FILE).exists():
        assert code == 2 and err.count("\n") == 1, err
        assert f"start the sweep with  raysweep run SPEC.yaml --storage {exp.parent}" in err
    else:
        assert code == 0, err
        trials = load_results(str(exp)).trials
        assert [t.status for t in trials] == ["terminated"] * 2


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    storage = tmp_path_factory.mktemp("finished")
    changes = {
        "fixed.epochs": 1,
        "search.num_samples": 1,
        "scheduler": {"type": "fifo"},
    }

    return Path(run_sweep(parse_spec(spec_dict(changes)), name="done", storage=str(storage)).path)


def test_resume_refuses_an_edited_search_space(finished, tmp_path, capsys):
    spec_file = finished / SPEC_FILE
    original = spec_file.read_text()
    try:
        spec_file.write_text(original.replace("high: 0.1", "high: 0.5"))
        assert main(["resume", str(finished)]) == 2
        err = capsys.readouterr().err
        assert "the spec changed since the sweep started (space.lr.high)" in err
    finally:
        spec_file.write_text(original)


def test_resume_says_clearly_that_the_trial_budget_cant_grow(finished, capsys):
    assert main(["resume", str(finished), "--set", "search.num_samples=64"]) == 2
    assert "search.num_samples can't change on resume" in capsys.readouterr().err


def test_resume_of_a_finished_sweep_trains_nothing_more(finished):
    before = read_ledger(finished)
    summary = resume_sweep(str(finished), overrides=["resources.cpus_per_trial=2"])
    assert summary.num_trials == 1 and not summary.interrupted
    assert read_ledger(finished) == before


def test_resume_api_raises_resume_error(tmp_path):
    with pytest.raises(ResumeError, match="no such experiment directory"):
        resume_sweep(str(tmp_path / "missing"))


def trial_statuses(snapshot: bytes) -> dict[str, str]:
    """Trial id -> status in one experiment snapshot's content."""
    trials = (json.loads(t[0]) for t in json.loads(snapshot)["trial_data"])
    return {t["trial_id"]: t["status"] for t in trials}


def snapshot_trials(exp: Path) -> dict[str, str]:
    """Trial id -> status in Tune's newest experiment snapshot on storage."""
    states = sorted(exp.glob("experiment_state-*.json"))
    if not states:
        return {}
    try:
        return trial_statuses(states[-1].read_bytes())
    except ValueError:  # being replaced
        return {}


def start_long_trials(tmp_path: Path) -> tuple[Path, subprocess.Popen]:
    """A 3-trial sweep whose trials of 30 epochs each stay RUNNING for a few snapshots."""
    changes = {"search.num_samples": 3, "scheduler": {"type": "fifo"}, "fixed.epochs": 30}
    spec = write_spec(tmp_path, {**RESUMABLE, **changes})
    proc = start_raysweep(["run", str(spec)], cwd=tmp_path, log=tmp_path / "run.log")
    return tmp_path / "runs" / "sweep", proc


def resume_with_files_put_back(
    exp: Path, proc: subprocess.Popen, stale: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> SweepSummary:
    """Kill the driver, put older snapshot files back (a torn upload), resume in-process."""
    kill_group(proc)
    for name, content in stale.items():
        (exp / name).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="search.sweep.searcher_state"):
        return resume_sweep(str(exp))


def assert_three_configs_none_restarted(exp: Path, summary: SweepSummary) -> None:
    assert not summary.interrupted and summary.num_errors == 0
    statuses = snapshot_trials(exp)
    assert len(statuses) == 3 and set(statuses.values()) == {"TERMINATED"}  # no 4th trial
    ledger = read_ledger(exp)
    assert len(ledger) == 3  # three distinct configs: none trained twice, none lost
    for epochs in ledger.values():  # each resumed from its checkpoints, not restarted
        assert [e["epoch"] for e in epochs].count(1) == 1


def test_a_searcher_snapshot_older_than_the_trials_is_reconciled_on_resume(tmp_path, caplog):
    """The torn snapshot a driver killed mid-upload leaves (seen with S3): the searcher's
    files from before the first trial ended, the trials' from the second trial's run."""
    exp, proc = start_long_trials(tmp_path)
    stale: dict[str, bytes] = {}

    def first_trial_running_in_both() -> bool:
        # Tune's files are copied one by one even here: take the searcher's only when it,
        # like the trials' snapshot, has the first trial and nothing more.
        trials = snapshot_trials(exp)
        stale.clear()
        for pattern in ("search_gen_state-*", "searcher-state-*"):
            stale.update({p.name: p.read_bytes() for p in exp.glob(pattern)})
        generator = [v for k, v in stale.items() if k.startswith("search_gen_state")]
        try:
            live = pickle.loads(generator[0])["name:ReconcilingLimiter"]["live_trials"]
        except (IndexError, KeyError, EOFError, pickle.UnpicklingError):
            return False
        return list(trials.values()) == ["RUNNING"] and live == set(trials)

    wait_for(
        first_trial_running_in_both,
        timeout=120,
        what="a snapshot with the first trial running",
        proc=proc,
    )
    wait_for(
        lambda: len(snapshot_trials(exp)) == 2,
        timeout=120,
        what="a snapshot with the second trial",
        proc=proc,
    )
    summary = resume_with_files_put_back(exp, proc, stale, caplog)

    assert "disagreed with the trials" in caplog.text  # the torn state was there, and fixed
    # the stale sampler did not suggest the second config again; the second trial resumed
    assert_three_configs_none_restarted(exp, summary)


def test_a_trial_missing_from_an_older_trials_snapshot_runs_again_from_its_checkpoints(
    tmp_path, caplog
):
    """The reverse tear: Tune's trial snapshot from before the second trial, the searcher's
    from its run. Its config runs again under a new id, from the checkpoints it left."""
    exp, proc = start_long_trials(tmp_path)
    stale: dict[str, bytes] = {}

    def first_trial_alone() -> bool:
        for path in exp.glob("experiment_state-*.json"):
            content = path.read_bytes()
            try:
                statuses = trial_statuses(content)
            except (ValueError, KeyError):  # being replaced
                continue
            if list(statuses.values()) == ["RUNNING"]:
                stale[path.name] = content
        return bool(stale)

    wait_for(first_trial_alone, timeout=120, what="a snapshot of the first trial", proc=proc)

    def second_trial_trained() -> bool:
        ledger = read_ledger(exp)
        return len(ledger) == 2 and min(len(epochs) for epochs in ledger.values()) >= 3

    wait_for(second_trial_trained, timeout=120, what="the second trial's epochs", proc=proc)
    summary = resume_with_files_put_back(exp, proc, stale, caplog)

    # the lost config among the three, gone on from epoch 4+ rather than restarted
    assert_three_configs_none_restarted(exp, summary)
    assert "made again" in caplog.text  # the lost suggestion was handed out again


def test_a_checkpoint_deleted_after_the_last_snapshot_gets_a_placeholder(storage):
    """Tune's snapshot may name a checkpoint that retention has deleted since."""
    from types import SimpleNamespace

    from search.sweep.resume import repair_missing_checkpoints
    from trainables.checkpoint import SIDECAR_FILE, read_sidecar

    def trial(status: str, name: str) -> SimpleNamespace:
        result = SimpleNamespace(
            checkpoint=SimpleNamespace(path=(storage / name).path),
            metrics={"training_iteration": 3},
        )
        manager = SimpleNamespace(latest_checkpoint_result=result)
        return SimpleNamespace(
            status=status, run_metadata=SimpleNamespace(checkpoint_manager=manager)
        )

    (storage / "trial_b/checkpoint_000002" / SIDECAR_FILE).write_text("{}")  # still there
    analysis = SimpleNamespace(
        trials=[
            trial("RUNNING", "trial_a/checkpoint_000002"),
            trial("RUNNING", "trial_b/checkpoint_000002"),
            trial("TERMINATED", "trial_c/checkpoint_000002"),  # never resumed: left alone
        ]
    )
    assert repair_missing_checkpoints(analysis, storage) == 1
    assert read_sidecar(storage / "trial_a/checkpoint_000002") == {
        "next_epoch": 3,
        "placeholder": True,
    }
    assert not (storage / "trial_c").exists()
