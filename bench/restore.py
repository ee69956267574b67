"""``python -m bench.restore``: how long a killed sweep takes to get going again when its
experiment lives in S3, against the same sweep on local disk.

One spec (digits, random sampler with a fixed seed so both storages get the same configs,
FIFO so every trial trains all its epochs, a checkpoint every epoch) runs as
``raysweep run SPEC --storage X`` with X a local directory, then ``s3://`` on a moto server
this bench starts on the loopback. Once about a trial and a half of epochs are in the
ledger, the driver and its embedded Ray are SIGKILLed (``tests.processes.kill_group``), and
``raysweep resume EXPERIMENT`` is timed:

* restore: from spawning the resume command to the end of the first epoch trained after it
  (the ledger entry's own time stamp): Ray start, Tune's restore of the experiment, the
  trial's restore from its checkpoint and one epoch. The moment the first trial actor
  appears splits it in two; a coarse poll of the ledger checks the stamp.
* whole resume: from spawning the command to its exit, the rest of the sweep included.
* re-trained epochs: epochs the ledger holds more than once for one trial (trained before
  the kill but not checkpointed where the resume found them).

``--rounds`` alternates the order, so neither storage always runs on a machine warmed (or
loaded) by the other. A resume that fails or hangs stays in the JSON, with its log's
error-looking lines, but out of the medians. Every command's output goes to
``bench/results/restore.log``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Measurement,
    SweepShape,
    add_output_arguments,
    log,
    median,
    sweep_spec,
    write_results,
    write_yaml,
)
from tests.processes import kill_group, start_raysweep, trial_workers, wait_for
from tests.s3 import CREDENTIALS, S3Server, start_s3_server

NAME = "bench-restore"
STORAGES = ("local", "s3")
RUN_TIMEOUT_S = 600
RESUME_TIMEOUT_S = 900
# The kill waits on the ledger: a short poll so the kill lands near its target epoch count.
KILL_POLL_S = 0.25
# During the timed resume the ledger poll is only a cross-check of the entries' own time
# stamps; a slow one keeps its S3 requests from loading the (shared, 2-CPU) machine.
RESUME_POLL_S = 1.0
WORKER_POLL_S = 0.1
NOTABLE = re.compile(r"Traceback|Error|ERROR|Exception|\bWARN|timed out|[Tt]imeout")

Entry = tuple[str, str, int, int, float]  # trial key, trial id, epoch, pid, time stamp


def spec_for(trials: int, epochs: int, concurrent: int) -> dict[str, Any]:
    shape = SweepShape(num_samples=trials, epochs=epochs, max_concurrent=concurrent)
    return sweep_spec(NAME, shape, scheduler="fifo", sampler="random")


def ledger(experiment: Any) -> set[Entry]:
    """Every trained epoch of ``experiment`` (a ``Location``), as comparable tuples."""
    from trainables.recovery import read_ledger

    return {
        (key, str(e["trial_id"]), int(e["epoch"]), int(e["pid"]), float(e["t"]))
        for key, entries in read_ledger(experiment).items()
        for e in entries
    }


def retrained(entries: set[Entry]) -> int:
    """Epochs trained more than once for the same trial key (trial ids can change on resume)."""
    return len(entries) - len({(key, epoch) for key, _, epoch, _, _ in entries})


def notable_lines(path: Path, limit: int = 40) -> list[str]:
    """The log's error- and warning-looking lines, each once, in order of appearance."""
    seen: dict[str, None] = {}
    for line in path.read_text(errors="replace").splitlines():
        if NOTABLE.search(line):
            seen.setdefault(line.strip()[:300], None)
    return list(seen)[:limit]


def sweep(
    kind: str,
    tag: str,
    spec: Path,
    workdir: Path,
    server: S3Server,
    epochs: int,
    trials: int,
    logs: list[tuple[str, Path]],
) -> dict[str, Any]:
    """Run, kill at ~1.5 trials' epochs, resume; the timings and what the ledger shows."""
    from search.results import TERMINATED, load_results
    from trainables.storage import Location

    if kind == "local":
        storage = str(workdir / f"{tag}-storage")
    else:
        storage = f"s3://{server.new_bucket()}/sweeps"  # a fresh bucket: nothing left over
    experiment = f"{storage}/{NAME}"
    exp = Location.of(experiment)
    kill_at = round(1.5 * epochs)
    result: dict[str, Any] = {"storage": kind, "experiment": experiment, "kill_at": kill_at}
    load_before = os.getloadavg()[0]  # the machine is shared: say how busy it was

    run_log = workdir / f"{tag}-run.log"
    logs.append((f"{tag}: raysweep run --storage {storage}", run_log))
    started = time.perf_counter()
    driver = start_raysweep(["run", str(spec), "--storage", storage], cwd=workdir, log=run_log)
    try:
        wait_for(
            lambda: len(ledger(exp)) >= kill_at,
            timeout=RUN_TIMEOUT_S,
            what=f"{kill_at} trained epochs",
            proc=driver,
            every=KILL_POLL_S,
        )
    finally:
        if driver.poll() is None:
            kill_group(driver)
    result["run_until_kill_s"] = time.perf_counter() - started
    before = ledger(exp)
    result["epochs_before_kill"] = len(before)
    result["retrained_before_resume"] = retrained(before)

    resume_log = workdir / f"{tag}-resume.log"
    logs.append((f"{tag}: raysweep resume {experiment}", resume_log))
    first_worker_s: float | None = None
    first_seen_s: float | None = None
    t0 = time.time()
    started = time.perf_counter()
    proc = start_raysweep(["resume", experiment], cwd=workdir, log=resume_log)
    next_poll = started
    hung = False
    while proc.poll() is None:
        now = time.perf_counter()
        if now - started > RESUME_TIMEOUT_S:
            hung = True
            kill_group(proc)
            break
        if first_worker_s is None:
            try:
                if trial_workers(proc):
                    first_worker_s = now - started
            except Exception:  # the process tree changes under psutil: look again next time
                pass
        if first_seen_s is None and now >= next_poll:
            next_poll = now + RESUME_POLL_S
            try:
                if ledger(exp) - before:
                    first_seen_s = time.perf_counter() - started
            except OSError:  # a ledger file replaced while listed
                pass
        time.sleep(WORKER_POLL_S)
    whole = time.perf_counter() - started
    after = ledger(exp)
    new = after - before
    trials_after = load_results(experiment).trials
    result.update(
        resume_rc=proc.returncode,
        resume_hung=hung,
        restore_s=(min(e[4] for e in new) - t0) if new else None,
        restore_seen_by_poll_s=first_seen_s,
        first_trial_actor_s=first_worker_s,
        whole_resume_s=whole,
        epochs_after=len(after),
        epochs_trained_in_resume=len(new),
        retrained=retrained(after),
        retrained_epoch_1=sum(e[2] == 1 for e in after) - len({e[0] for e in after}),
        trials=len(trials_after),
        finished=sum(t.status == TERMINATED for t in trials_after),
        complete=sum(t.epochs_completed == epochs for t in trials_after),
        expected_trials=trials,
        resume_log_notable=notable_lines(resume_log),
        load_1min_before_after=[load_before, os.getloadavg()[0]],
    )
    restore = result["restore_s"]
    log(
        f"{tag}: killed at {len(before)} epochs after {result['run_until_kill_s']:.1f} s; "
        f"resume rc {proc.returncode}{' (HUNG, killed)' if hung else ''}: "
        f"restore {restore if restore is None else round(restore, 2)} s (first trial actor "
        f"{first_worker_s if first_worker_s is None else round(first_worker_s, 2)} s), "
        f"whole {whole:.1f} s, {len(new)} epochs trained, {result['retrained']} re-trained, "
        f"{result['finished']}/{trials} trials finished, "
        f"{len(result['resume_log_notable'])} notable log lines"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restore", description=__doc__)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=2, help="search.max_concurrent")
    parser.add_argument("--rounds", type=int, default=2, help="kill/resume per storage")
    add_output_arguments(parser)
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    logfile = args.out / "restore.log"
    workdir = Path(tempfile.mkdtemp(prefix="rsb-", dir="/tmp"))
    log(f"work dir {workdir}; command output goes to {logfile}")
    started = time.perf_counter()
    spec_dict = spec_for(args.trials, args.epochs, args.concurrent)
    spec = write_yaml(workdir / "spec.yaml", spec_dict)
    # Every raysweep process and its Ray workers inherit these: the credentials as an
    # instance profile would give them (dummies, so real ones never reach the moto server),
    # and a Ray of their own even while other Rays run on this shared machine.
    os.environ.update(CREDENTIALS)
    os.environ["RAY_ADDRESS"] = "local"
    moto_log = workdir / "moto.log"
    logs: list[tuple[str, Path]] = []
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    server = start_s3_server(moto_log)
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    try:
        for i in range(args.rounds):
            order = STORAGES if i % 2 == 0 else tuple(reversed(STORAGES))
            for kind in order:
                tag = f"round{i}-{kind}"
                try:
                    runs.append(
                        sweep(
                            kind,
                            tag,
                            spec,
                            workdir,
                            server,
                            args.epochs,
                            args.trials,
                            logs,
                        )
                    )
                except Exception as exc:  # one failed round shouldn't lose the others
                    log(f"{tag} failed: {exc!r}")
                    errors.append(f"{tag}: {exc!r}")
    finally:
        server.stop()
        with open(logfile, "w") as out:
            for title, path in [*logs, ("moto server", moto_log)]:
                out.write(f"\n===== {title} =====\n")
                out.write(path.read_text(errors="replace") if path.exists() else "(none)\n")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    def ok(r: dict[str, Any]) -> bool:
        # A resume that failed or hung timed its failure, not a restore: details only.
        return r["resume_rc"] == 0 and not r["resume_hung"]

    def med(kind: str, key: str) -> float | None:
        values = [
            r[key] for r in runs if r["storage"] == kind and ok(r) and r.get(key) is not None
        ]
        return median([float(v) for v in values]) if values else None

    def ratio(key: str) -> float | None:
        s3, local = med("s3", key), med("local", key)
        return s3 / local if s3 is not None and local else None

    m = Measurement("restore")
    metrics = (
        ("restore_s", "restore (to first new epoch)", "s"),
        ("first_trial_actor_s", "  of which to first trial actor", "s"),
        ("whole_resume_s", "whole resume", "s"),
        ("retrained", "re-trained epochs", ""),
    )
    for key, label, unit in metrics:
        for kind in STORAGES:
            rounds = [
                _short(r.get(key)) if ok(r) else f"failed (rc {r['resume_rc']})"
                for r in runs
                if r["storage"] == kind
            ]
            if key == "whole_resume_s":
                trained = [r["epochs_trained_in_resume"] for r in runs if r["storage"] == kind]
                rounds.append(f"epochs trained {trained}")
            m.row(f"{kind} {label}", med(kind, key), unit, note=f"rounds: {rounds}")
        if key != "retrained":
            m.row(f"ratio s3 / local {label.strip()}", ratio(key))
    m.details = {
        "trials": args.trials,
        "epochs": args.epochs,
        "concurrent": args.concurrent,
        "rounds": args.rounds,
        "runs": runs,
        "errors": errors,
    }
    if errors:
        m.error = "\n".join(errors)
    write_results(
        args.out / "restore.json", [m], started=started, moto=_moto_version(), spec=spec_dict
    )
    return 1 if errors or not all(ok(r) for r in runs) else 0


def _short(value: Any) -> Any:
    return round(value, 2) if isinstance(value, float) else value


def _moto_version() -> str:
    try:
        from importlib.metadata import version

        return version("moto")
    except Exception as exc:  # context, not a result
        return repr(exc)


if __name__ == "__main__":
    raise SystemExit(main())
