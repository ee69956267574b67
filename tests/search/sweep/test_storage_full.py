"""Storage that refuses writes mid-sweep (a full disk, a bucket that denies writes): the sweep
stops at once with one line and no trial failed; once fixed, resume continues every trial."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from search.cli import EXIT_FAILED, EXIT_OK, main
from search.results import load_results
from search.sweep.snapshot import snapshot_files
from tests.helpers import spec_dict
from tests.processes import start_raysweep
from trainables.layout import EARLIER_DIR, SNAPSHOT_DIR, TORN_DIR
from trainables.recovery import read_ledger
from trainables.storage import Location

pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]

TRIALS, EPOCHS = 6, 4
SPEC = {
    "name": "full",
    "scheduler": {"type": "fifo"},
    "fixed.epochs": EPOCHS,
    "search.num_samples": TRIALS,
    "search.sampler": "random",
    "checkpoint.keep": 10,
}


@pytest.fixture
def small_disk(tmp_path):
    """A 12 MB tmpfs of this test's own (the test runs as root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def checkpoint_count(exp: Path) -> int:
    return len(list(exp.glob("trial_*/checkpoint_*/state.json")))


def fill(disk: Path) -> None:
    """Take every free byte of the disk: the sweep's next write fails with ENOSPC."""
    with open(disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError:
            pass


def fill_when(condition, disk: Path, filled: list[float]) -> threading.Thread:
    def run() -> None:
        deadline = time.monotonic() + 300
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)
        fill(disk)
        filled.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def the_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Logging error" not in err, err[-3000:]


def assert_continued_from_checkpoints(exp: Path | Location, trial_ids: set[str]) -> None:
    results = load_results(str(exp))
    assert len(results.trials) == TRIALS  # no trial twice
    assert trial_ids <= {t.trial_id for t in results.trials}  # the same trials, continued
    assert all(t.status == "terminated" and t.epochs_completed == EPOCHS for t in results.trials)
    for key, entries in read_ledger(exp).items():
        trained = Counter(e["epoch"] for e in entries)
        # Checkpoints every epoch: at most the epoch whose checkpoint was refused is trained
        # again (a trial started over from epoch 1 would train two or more again).
        assert sum(n - 1 for n in trained.values()) <= 1, (key, trained)


def test_a_full_disk_stops_the_sweep_at_once_and_resume_continues_every_trial(
    small_disk, tmp_path, capsys
):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(SPEC)))
    exp = small_disk / "full"
    filled: list[float] = []
    fill_when(lambda: checkpoint_count(exp) >= 3, small_disk, filled)

    code = main(["run", str(spec), "--storage", str(small_disk)])
    stopped = time.monotonic()
    err = capsys.readouterr().err
    line = the_error_line(err)
    assert code == EXIT_FAILED
    assert "No space left on device" in line and f"raysweep resume {exp}" in line, line
    assert_no_traceback(err)  # raysweep.log is on the full disk too: its records are dropped
    seconds = stopped - filled[0]
    with capsys.disabled():
        print(f"\nfull disk -> sweep stopped: {seconds:.1f} s")
    assert seconds < 60
    started = {p.name.removeprefix("trial_") for p in exp.glob("trial_*")}
    assert started and len(started) < TRIALS  # stopped mid-sweep

    (small_disk / "filler").unlink()  # space freed
    assert main(["resume", str(exp)]) == EXIT_OK
    out = capsys.readouterr()
    assert "(0 errored)" in out.out, out.out[-2000:]
    assert_continued_from_checkpoints(exp, started)


def chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", "-R", flag, str(path)], capture_output=True, check=False)


@pytest.fixture
def immutable_later(tmp_path):
    """``chattr -R +i`` on a folder when asked: every write in it fails with EPERM, root's
    included (a chmod does not stop root). Undone at the end, so the folder can be removed."""
    made: list[Path] = []
    probe = tmp_path / "probe"
    probe.write_text("")
    chattr("+i", probe)
    try:
        probe.write_text("x")
        pytest.skip("chattr +i does not refuse writes here")
    except PermissionError:
        pass
    finally:
        chattr("-i", probe)

    def when(condition, folder: Path) -> threading.Thread:
        def run() -> None:
            deadline = time.monotonic() + 300
            while not condition() and time.monotonic() < deadline:
                time.sleep(0.02)
            made.append(folder)
            chattr("+i", folder)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    yield when
    for folder in made:
        chattr("-i", folder)


def test_storage_that_refuses_writes_with_eperm_ends_in_one_line_and_resume_continues(
    immutable_later, tmp_path, capsys
):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(SPEC)))
    storage = tmp_path / "runs"
    exp = storage / "full"
    immutable_later(lambda: checkpoint_count(exp) >= 3, exp)
    log = tmp_path / "run.log"
    # Its own process: what the user sees includes the log's closing at exit.
    driver = start_raysweep(["run", str(spec), "--storage", str(storage)], cwd=tmp_path, log=log)
    assert driver.wait(timeout=300) == EXIT_FAILED
    said = log.read_text()
    line = the_error_line(said)
    assert "Operation not permitted" in line and f"raysweep resume {exp}" in line, line
    assert_no_traceback(said)  # raysweep.log refuses writes too: its records are dropped
    started = {p.name.removeprefix("trial_") for p in exp.glob("trial_*")}
    assert started and len(started) < TRIALS  # stopped mid-sweep

    chattr("-i", exp)  # fixed
    assert main(["resume", str(exp)]) == EXIT_OK
    out = capsys.readouterr()
    assert "(0 errored)" in out.out, out.out[-2000:]
    assert_no_traceback(out.err)
    assert_continued_from_checkpoints(exp, started)


def test_a_torn_tune_snapshot_is_recognised_and_the_kept_copy_is_resumed(tmp_path, caplog):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(spec_dict({**SPEC, "search.num_samples": 2})))
    storage = tmp_path / "runs"
    exp = storage / "full"
    assert main(["run", str(spec), "--storage", str(storage)]) == EXIT_OK
    kept = snapshot_files(Location.of(exp / SNAPSHOT_DIR))
    assert {f.name for f in kept} == {f.name for f in snapshot_files(Location.of(exp))}
    newest = max(exp.glob("experiment_state-*.json"))
    newest.write_bytes(newest.read_bytes()[:100])  # torn, as a write on a full disk leaves it

    with caplog.at_level("WARNING"):
        assert main(["resume", str(exp)]) == EXIT_OK
    assert "torn" in caplog.text and newest.name in caplog.text
    assert "no Tune experiment state yet" not in caplog.text  # not mistaken for "no state"
    assert (exp / TORN_DIR / newest.name).exists()
    # Restored from the kept copy: the same two trials, none started again in place.
    assert len(load_results(str(exp)).trials) == 2


def s3_checkpoints(exp: Location) -> int:
    import pyarrow.fs as pafs

    infos = exp.fs.get_file_info(pafs.FileSelector(exp.path, recursive=True, allow_not_found=True))
    return sum(i.path.endswith("/state.json") and "/checkpoint_" in i.path for i in infos)


def deny_writes(s3_server, bucket: str) -> None:
    import json

    import boto3

    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    boto3.client("s3", endpoint_url=s3_server.endpoint).put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )


@pytest.mark.ray
def test_a_bucket_that_starts_refusing_writes_stops_the_sweep_and_resume_continues(
    s3_server, s3_bucket, tmp_path
):
    import boto3

    from tests.processes import RAYSWEEP

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(SPEC)))
    uri = f"{s3_bucket}/sweeps/full"
    exp = Location.of(uri)
    bucket = s3_bucket.removeprefix("s3://")
    log = tmp_path / "run.log"
    driver = subprocess.Popen(
        [RAYSWEEP, "run", str(spec), "--storage", f"{s3_bucket}/sweeps"],
        cwd=tmp_path,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 300
    while s3_checkpoints(exp) < 3 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    deny_writes(s3_server, bucket)
    denied = time.monotonic()
    assert driver.wait(timeout=120) == EXIT_FAILED
    print(f"\nwrites denied -> sweep stopped: {time.monotonic() - denied:.1f} s")
    line = the_error_line(log.read_text())
    assert "ACCESS_DENIED" in line and f"raysweep resume {uri}" in line, line
    started = {
        c.name.removeprefix("trial_") for c in exp.children() if c.name.startswith("trial_")
    }
    assert started and len(started) < TRIALS

    boto3.client("s3", endpoint_url=s3_server.endpoint).delete_bucket_policy(Bucket=bucket)
    resumed = subprocess.run(
        [RAYSWEEP, "resume", uri], cwd=tmp_path, capture_output=True, text=True, timeout=400
    )
    assert resumed.returncode == EXIT_OK, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "(0 errored)" in resumed.stdout
    assert_continued_from_checkpoints(exp, started)


def tear_every_snapshot(exp: Path) -> None:
    """Every Tune snapshot file torn and no good copy kept: nothing for ``Tuner.restore``."""
    for f in snapshot_files(Location.of(exp)):
        path = exp / f.name
        path.write_bytes(path.read_bytes()[:50])
    subprocess.run(["rm", "-rf", str(exp / SNAPSHOT_DIR)], check=True)


def space_keys(exp: Path) -> list[tuple]:
    trials = load_results(str(exp)).trials
    space = sorted(spec_dict(SPEC)["space"])
    return sorted(tuple(repr(t.config[k]) for k in space) for t in trials)


def test_a_sweep_with_no_readable_tune_state_is_rebuilt_from_the_index(tmp_path, caplog):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(SPEC)))
    storage = tmp_path / "runs"
    exp = storage / "full"
    assert main(["run", str(spec), "--storage", str(storage)]) == EXIT_OK
    before = space_keys(exp)
    old = {p.name for p in exp.glob("trial_*")}
    trained_before = {k: len(v) for k, v in read_ledger(exp).items()}
    tear_every_snapshot(exp)

    with caplog.at_level("WARNING"):
        assert main(["resume", str(exp)]) == EXIT_OK
    assert "rebuilding the sweep from raysweep's index" in caplog.text, caplog.text[-3000:]
    results = load_results(str(exp))
    assert len(results.trials) == TRIALS  # no trial twice
    assert all(t.status == "terminated" and t.epochs_completed == EPOCHS for t in results.trials)
    assert space_keys(exp) == before  # the same configs, continued
    assert sum(t.is_baseline for t in results.trials) == 1
    # Each finished trial continued from its last checkpoint: not one epoch trained again.
    assert {k: len(v) for k, v in read_ledger(exp).items()} == trained_before
    assert {p.name for p in (exp / EARLIER_DIR).iterdir()} == old  # set aside, not lost
    assert not old & {p.name for p in exp.glob("trial_*")}


def test_a_full_disk_that_tore_every_snapshot_resumes_from_the_index(small_disk, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(SPEC)))
    exp = small_disk / "full"
    fill_when(lambda: checkpoint_count(exp) >= 3, small_disk, [])
    assert main(["run", str(spec), "--storage", str(small_disk)]) == EXIT_FAILED
    checkpointed = set(read_ledger(exp))
    assert checkpointed

    (small_disk / "filler").unlink()  # space freed, but Tune's snapshot is lost
    tear_every_snapshot(exp)
    assert main(["resume", str(exp)]) == EXIT_OK
    results = load_results(str(exp))
    assert len(results.trials) == TRIALS
    assert all(t.status == "terminated" and t.epochs_completed == EPOCHS for t in results.trials)
    ledger = read_ledger(exp)
    assert checkpointed <= set(ledger)  # every earlier trial went on
    for key, entries in ledger.items():
        trained = Counter(e["epoch"] for e in entries)
        assert sum(n - 1 for n in trained.values()) <= 1, (key, trained)
