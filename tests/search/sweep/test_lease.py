"""The experiment lease on its own: real processes racing for it, dying, taking it over."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import yaml

from search.cli import main
from search.errors import ExperimentExistsError, LeaseHeldError
from search.results import load_results
from search.sweep.experiment import ensure_new, write_spec
from search.sweep.lease import TTL_ENV, Holder, acquire
from search.sweep.lease_stores import (
    CheckedLeaseStore,
    LocalLeaseStore,
    S3LeaseStore,
    store_for,
)
from tests.helpers import spec_dict
from tests.processes import RAYSWEEP, kill_group, trial_workers, wait_for
from trainables.layout import LEASE_FILE, LOG_FILE, SPEC_FILE
from trainables.recovery import read_ledger
from trainables.storage import Location

# A process that takes the lease when told to go, says whether it won, and holds it long
# enough for every racer to have tried. Everything is imported and connected before "ready".
RACER = """
import sys, time
from search.cli import main
from search.errors import ExperimentExistsError, LeaseHeldError
from search.sweep.lease import acquire
from search.sweep.lease_stores import store_for
from trainables.storage import Location
exp = Location.of(sys.argv[1])
store_for(exp).read()
print("ready", flush=True)
sys.stdin.readline()
try:
    lease = acquire(exp, command="run")
except LeaseHeldError as exc:
    print("refused", exc, flush=True)
    sys.exit(0)
print("won", flush=True)
time.sleep(float(sys.argv[2]))
lease.release()
"""


def racers(exp: Location, n: int, hold_s: float) -> list[subprocess.Popen]:
    """``n`` racers, started together, each ready to go."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, exp.uri, str(hold_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(n)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return procs


def go(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def test_of_drivers_racing_for_a_free_lease_exactly_one_wins(storage):
    procs = racers(storage, 3, hold_s=3)
    go(procs)
    outs = [p.communicate(timeout=60)[0] for p in procs]
    verdicts = sorted(out.split()[0] for out in outs)
    assert verdicts == ["refused"] * 2 + ["won"], outs
    winner = procs[[o.startswith("won") for o in outs].index(True)].pid
    assert all(f"pid {winner}," in o for o in outs if o.startswith("refused")), outs
    # On S3 the race is settled by conditional writes, not by the write-then-check fallback.
    expected = S3LeaseStore if storage.fs.type_name == "s3" else LocalLeaseStore
    assert isinstance(store_for(storage), expected)


def test_a_dead_holder_on_this_host_frees_the_lease_at_once(storage):
    [holder] = racers(storage, 1, hold_s=600)
    go([holder])
    assert holder.stdout is not None and holder.stdout.readline() == "won\n"
    holder.kill()
    holder.wait(timeout=30)
    started = time.monotonic()
    acquire(storage, command="resume").release()  # no wait for its 30 s TTL
    print(f"same-host takeover after SIGKILL: {time.monotonic() - started:.2f} s")


def test_another_hosts_lease_holds_until_it_expires(tmp_path):
    exp = Location.of(tmp_path / "exp")
    store = store_for(exp)
    now = time.time()
    other = Holder("run", "elsewhere", 1, "pid:[1]", "1", now - 100, now - 5, 30.0, "t")
    store.swap(None, other.to_bytes())
    with pytest.raises(LeaseHeldError, match=r"raysweep run on host elsewhere, pid 1, since .*"):
        acquire(exp, command="resume")
    expired = Holder("run", "elsewhere", 1, "pid:[1]", "1", now - 100, now - 31, 30.0, "t")
    store.swap(other.to_bytes(), expired.to_bytes())
    lease = acquire(exp, command="resume")
    assert Holder.parse(store.read()[0]) == lease.holder
    lease.release()
    assert store.read()[0] is None


def test_a_renewing_holder_learns_at_once_that_it_was_taken_over(storage, monkeypatch):
    monkeypatch.setenv(TTL_ENV, "0.6")
    first = acquire(storage, command="run")
    lost: list[str] = []
    done = threading.Event()
    first.renew_in_background(on_lost=lambda why: (lost.append(why), done.set()))
    renewed = first.holder.renewed
    wait_for(lambda: first.holder.renewed > renewed, timeout=10, what="a renewal")
    with pytest.raises(LeaseHeldError):
        acquire(storage, command="resume")
    second = acquire(storage, command="resume", take_over=True)
    assert done.wait(timeout=10)
    assert "taken over by raysweep resume" in lost[0]
    first.release()  # leaves the taker's lease alone
    assert Holder.parse(store_for(storage).read()[0]) == second.holder
    second.release()


def test_an_experiment_holding_only_a_released_lease_is_still_new(tmp_path):
    exp = Location.of(tmp_path / "exp")
    acquire(exp, command="run").release()
    assert (tmp_path / "exp" / LEASE_FILE).exists()
    ensure_new(exp)  # a driver that stopped before writing anything left only the lease


def test_a_start_killed_before_tune_began_leaves_an_experiment_run_starts_again(tmp_path):
    exp = Location.of(tmp_path / "exp")
    write_spec(exp, "name: first\n", identity={"a": 1}, provenance={})  # written first
    acquire(exp, command="run").release()
    (tmp_path / "exp" / LOG_FILE).write_text("Ray's start-up lines\n")
    ensure_new(exp)
    write_spec(exp, "name: second\n", identity={"a": 2}, provenance={}, keep_existing=True)
    assert (tmp_path / "exp" / SPEC_FILE).read_text() == "name: first\n"  # not another's
    (tmp_path / "exp" / "trial_0001").mkdir()  # Tune began: it is an experiment now
    with pytest.raises(ExperimentExistsError, match="already exists; resume it"):
        ensure_new(exp)


def test_write_then_check_store_on_s3_refuses_a_second_holder(s3_bucket):
    where = Location.of(f"{s3_bucket}/exp") / LEASE_FILE
    store = CheckedLeaseStore(where)
    assert store.read() == (None, None)
    version = store.swap(None, b'{"a": 1}')
    assert version == b'{"a": 1}'
    assert store.swap(None, b'{"b": 2}') is None  # someone holds it
    assert store.swap(version, b'{"c": 3}') == b'{"c": 3}'
    store.clear(b'{"c": 3}')
    assert store.read() == (None, None)


# --- real drivers ------------------------------------------------------------------------

LONG = {
    "name": "leased",
    "space.lr": {"type": "float", "low": 1.0e-3, "high": 0.1, "log": True},
    "fixed.epochs": 12,
    "search.num_samples": 2,
    "search.max_concurrent": 1,
    "scheduler": {"type": "fifo"},
}
# The first driver runs on "another machine": a host name of its own (a UTS namespace), so
# only its lease's expiry frees the experiment, as after a lost machine.
ELSEWHERE = ["unshare", "--uts", "sh", "-c", 'hostname elsewhere && exec "$0" "$@"', RAYSWEEP]


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode == 0


needs_unshare = pytest.mark.skipif(
    not _can_unshare(),
    reason="needs `unshare --uts` (root) to run a driver under another host name",
)


def stop(driver: subprocess.Popen) -> None:
    if driver.poll() is None:  # a driver that failed on its own is reported by wait_for
        kill_group(driver)


def start_elsewhere(args: list[str], tmp_path: Path, ttl_s: float) -> subprocess.Popen:
    return subprocess.Popen(
        [*ELSEWHERE, *args],
        cwd=tmp_path,
        env={**os.environ, TTL_ENV: str(ttl_s)},
        stdout=open(tmp_path / "first.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def raysweep(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RAYSWEEP, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )


def tree(exp: Location) -> dict[str, tuple[int, int]]:
    """Every file of the experiment: size and modification time."""
    infos = exp.fs.get_file_info(pafs.FileSelector(exp.path, recursive=True))
    return {i.path: (i.size, i.mtime_ns) for i in infos if i.type == pafs.FileType.File}


def trained(exp: Location, n: int) -> Callable[[], bool]:
    return lambda: sum(len(e) for e in read_ledger(exp).values()) >= n


def freeze_trials(driver: subprocess.Popen) -> None:
    """Stop the driver's trials where they are (SIGSTOP): the driver lives on, renewing its
    lease, for as long as the test needs, however fast the epochs are."""
    wait_for(lambda: bool(trial_workers(driver)), timeout=60, what="a trial", proc=driver)
    for worker in trial_workers(driver):
        worker.suspend()


def assert_refused(done: subprocess.CompletedProcess, holder: int) -> None:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and not done.stdout.strip(), done.stderr
    assert f"raysweep run on host elsewhere, pid {holder}, since " in lines[0], lines[0]


def assert_finished(exp: Location) -> None:
    trials = load_results(exp.uri).trials
    assert [t.status for t in trials] == ["terminated"] * 2
    assert all(t.epochs_completed == 12 for t in trials)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)  # three drivers start Ray one after the other: minutes on a busy CI
@needs_unshare
def test_one_driver_per_experiment_a_dead_ones_lease_is_taken_over(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(LONG)))
    exp = Location.of(tmp_path / "runs" / "leased")
    first = start_elsewhere(["run", str(spec)], tmp_path, ttl_s=60)
    try:
        wait_for(trained(exp, 2), timeout=180, what="2 epochs", proc=first, every=0.2)
        freeze_trials(first)
        started = time.monotonic()
        second = raysweep(["resume", exp.uri], tmp_path)
        refused_s = time.monotonic() - started
        assert_refused(second, first.pid)
        assert first.poll() is None, "the first driver was disturbed"
        assert main(["status", exp.uri]) == 0  # reading needs no lease
    finally:
        stop(first)
    # Dead now, but on "another machine" and within its TTL: still refused, nothing touched.
    before = tree(exp)
    assert_refused(raysweep(["resume", exp.uri], tmp_path), first.pid)
    assert tree(exp) == before
    taken = raysweep(["resume", exp.uri, "--take-over"], tmp_path)
    assert taken.returncode == 0, taken.stdout[-3000:] + taken.stderr[-3000:]
    assert "took the lease over from raysweep run on host elsewhere" in taken.stderr
    assert_finished(exp)
    assert store_for(exp).read()[0] is None  # released at the end
    print(f"second driver refused in {refused_s:.1f} s")


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)  # three drivers start Ray one after the other: minutes on a busy CI
@needs_unshare
def test_on_s3_a_killed_drivers_lease_expires_and_resume_needs_no_clean_up(s3_bucket, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(LONG)))
    storage = f"{s3_bucket}/sweeps"
    exp = Location.of(f"{storage}/leased")
    ttl = 4.0
    first = start_elsewhere(["run", str(spec), "--storage", storage], tmp_path, ttl_s=ttl)
    try:
        wait_for(trained(exp, 2), timeout=180, what="2 epochs", proc=first, every=0.5)
        freeze_trials(first)
        assert_refused(raysweep(["resume", exp.uri], tmp_path), first.pid)
        assert first.poll() is None
    finally:
        stop(first)
    killed = time.monotonic()
    attempts = []
    while not attempts or attempts[-1].returncode == 2:  # as a user retrying would
        assert time.monotonic() - killed < 120, attempts[-1].stderr
        attempts.append(raysweep(["resume", exp.uri], tmp_path))
    assert attempts[-1].returncode == 0, attempts[-1].stdout[-3000:] + attempts[-1].stderr
    for refused in attempts[:-1]:
        assert_refused(refused, first.pid)
    # Taken because it expired: the dead driver's last renewal was a TTL ago or more.
    took = re.search(r"took the lease over from .* \(renewed (\d+) s ago", attempts[-1].stderr)
    assert took is not None and int(took[1]) >= ttl, attempts[-1].stderr[-3000:]
    assert_finished(exp)
    print(f"resume attempts after the kill: {len(attempts)} (TTL {ttl:g} s)")
