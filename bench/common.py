"""Shared pieces: result rows, the benchmark spec, logging, timing and process-tree memory."""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
VENV_BIN = Path(sys.executable).parent
RAYSWEEP_CLI = VENV_BIN / "raysweep"

# The bench's own progress goes to the terminal's stderr, even while a sweep's output
# (Tune's progress table, worker logs) is redirected into the log file.
_CONSOLE = os.fdopen(os.dup(2), "w", buffering=1)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=_CONSOLE)


@dataclass
class Row:
    """One line of the table: a measured value against its goal."""

    measurement: str
    name: str
    value: float | None
    unit: str
    goal: str  # human-readable, e.g. "<= 1.2"
    passed: bool | None  # None: informational, no goal
    note: str = ""


@dataclass
class Measurement:
    name: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def row(
        self,
        name: str,
        value: float | None,
        unit: str = "",
        *,
        at_most: float | None = None,
        at_least: float | None = None,
        note: str = "",
    ) -> None:
        goal, passed = "", None
        if at_most is not None:
            goal, passed = f"<= {at_most:g}{unit}", value is not None and value <= at_most
        elif at_least is not None:
            goal, passed = f">= {at_least:g}{unit}", value is not None and value >= at_least
        self.rows.append(Row(self.name, name, value, unit, goal, passed, note))

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": [asdict(r) for r in self.rows],
            "details": self.details,
            "error": self.error,
        }


# ---------------------------------------------------------------------------------------------
# The benchmark sweep: by default 24 trials on digits, 10 epochs, ASHA (grace 1, rf 3), 2 at once.

SPACE: dict[str, dict[str, Any]] = {
    "lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-1, "log": True},
    "depth": {"type": "int", "low": 1, "high": 4},
    "width": {"type": "categorical", "choices": [32, 64, 128, 256]},
    "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adagrad", "adam"]},
}
BASELINE: dict[str, Any] = {"lr": 1.0e-3, "depth": 2, "width": 64, "optimizer": "adam"}
METRIC, MODE = "val_accuracy", "max"
SEED = 0


# The data sets a bench sweep trains on, as a spec's ``data`` section.
DATA: dict[str, dict[str, Any]] = {
    "digits": {"dataset": "digits", "val_fraction": 0.2, "seed": 0},
    # The "20k-sample synthetic task": trials of seconds rather than of tenths.
    "synthetic-20k": {
        "dataset": "synthetic",
        "n_samples": 20000,
        "n_features": 64,
        "n_classes": 2,
        "val_fraction": 0.2,
        "seed": 0,
    },
}


@dataclass(frozen=True)
class SweepShape:
    num_samples: int = 24
    epochs: int = 10
    max_concurrent: int = 2
    batch_size: int = 64
    data: str = "digits"  # a key of DATA
    scheduler: str = "asha"  # "asha" (grace 1, rf 3) or "fifo"; the bare loop prunes alike


def sweep_spec(
    name: str,
    shape: SweepShape,
    *,
    scheduler: str | None = None,
    sampler: str = "tpe",
    max_concurrent: int | None = None,
) -> dict[str, Any]:
    """The raysweep spec dict of the benchmark sweep (the same shape the YAML would have)."""
    scheduler = scheduler or shape.scheduler
    sched: dict[str, Any] = {"type": scheduler}
    if scheduler == "asha":
        sched.update(grace_period=1, reduction_factor=3)
    return {
        "name": name,
        "data": dict(DATA[shape.data]),
        "metric": {"name": METRIC, "mode": MODE},
        "space": copy.deepcopy(SPACE),
        "fixed": {"batch_size": shape.batch_size, "epochs": shape.epochs},
        "search": {
            "sampler": sampler,
            "num_samples": shape.num_samples,
            "max_concurrent": max_concurrent or shape.max_concurrent,
            "seed": SEED,
            "baseline": dict(BASELINE),
        },
        "scheduler": sched,
        "checkpoint": {"every": 1, "keep": 2},
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0},
    }


def load_bench_data(name: str) -> Any:
    """A data set of ``DATA``, loaded exactly as raysweep loads it from a spec."""
    from search.spec import parse_spec
    from search.spec.data import load_data

    spec = parse_spec(sweep_spec("data", SweepShape(data=name)), source="<bench>")
    data, _ = load_data(spec.data)
    return data


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sample ``space`` (raysweep's spec format) with a native Optuna trial."""
    out: dict[str, Any] = {}
    for name, p in space.items():
        if p["type"] == "float":
            out[name] = trial.suggest_float(name, p["low"], p["high"], log=p.get("log", False))
        elif p["type"] == "int":
            out[name] = trial.suggest_int(name, p["low"], p["high"], log=p.get("log", False))
        else:
            out[name] = trial.suggest_categorical(name, p["choices"])
    return out


def write_yaml(path: Path, spec: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------
# Reading a raysweep experiment back.


def epoch_times(experiment: str | Path) -> list[float]:
    """Every reported epoch's own ``epoch_time_s`` (``raysweep.curves``)."""
    import raysweep

    curves = raysweep.curves(experiment)
    return [float(v) for v in curves["epoch_time_s"].dropna()]


def ledger_lines(experiment: str | Path) -> list[dict[str, Any]]:
    """Every trained epoch (raysweep's ledger), in no particular order."""
    from trainables.recovery import read_ledger

    return [entry for entries in read_ledger(experiment).values() for entry in entries]


def start_run(spec: Path, storage: Path, out: IO[bytes]) -> subprocess.Popen:
    """``raysweep run SPEC`` as the user types it, on a local Ray of its own."""
    return subprocess.Popen(
        [str(RAYSWEEP_CLI), "run", str(spec), "--storage", str(storage)],
        stdout=out,
        stderr=out,
        env={**os.environ, "RAY_ADDRESS": "local"},
        cwd=REPO,
    )


# ---------------------------------------------------------------------------------------------
# What was measured: the code and the versions.


def code_info() -> dict[str, Any]:
    """Which raysweep was measured: its location, and its git commit when it has one."""
    import search

    root = Path(search.__file__).resolve().parent.parent
    info: dict[str, Any] = {"root": str(root)}
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "search", "trainables"],
            capture_output=True,
            text=True,
        )
        if head.returncode == 0:
            info.update(commit=head.stdout.strip(), dirty=bool(dirty.stdout.strip()))
    except OSError:
        pass
    return info


def versions_info() -> dict[str, str]:
    try:
        from search.version import versions

        return versions()
    except Exception as exc:  # versions are context, not a result
        return {"error": repr(exc)}


def _fmt(row: Row) -> str:
    if row.value is None:
        return "-"
    v = row.value
    if row.measurement == "checkpoint":
        return f"{v:.1%}"
    return f"{v:.3g}{row.unit}" if abs(v) < 1000 else f"{v:.0f}{row.unit}"


def table(measurements: list[Measurement]) -> str:
    rows: list[tuple[str, str, str, str, str, str]] = []
    for m in measurements:
        if m.error is not None:
            rows.append((m.name, "FAILED", "", "", "ERROR", m.error.splitlines()[-1][:70]))
        for r in m.rows:
            verdict = "" if r.passed is None else ("PASS" if r.passed else "MISS")
            goal = r.goal
            if r.measurement == "checkpoint" and r.goal:
                goal = "<= " + f"{float(r.goal.split()[-1]):.0%}"
            rows.append((r.measurement, r.name, _fmt(r), goal, verdict, r.note))
    head = ("measurement", "metric", "value", "goal", "", "note")
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(5)]
    lines = []
    for x in [head, *rows]:
        cells = [x[i].ljust(widths[i]) for i in range(5)]
        lines.append("  ".join(cells) + "  " + x[5])
    lines.insert(1, "-" * min(140, max(len(line) for line in lines)))
    return "\n".join(lines)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every bench entry point takes: where results go, whether to keep work."""
    parser.add_argument("--keep", action="store_true", help="keep the temporary experiments")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help=f"results folder (default {RESULTS_DIR})"
    )


def write_results(
    out: Path, measurements: list[Measurement], *, started: float, **context: Any
) -> dict[str, Any]:
    """Print the table and write it, with what was measured where and when, to ``out``."""
    text = table(measurements)
    print(text)
    payload = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_s": time.perf_counter() - started,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions_info(),
        "code": code_info(),
        **context,
        "measurements": {m.name: m.to_json() for m in measurements},
        "table": text,
    }
    out.write_text(json.dumps(payload, indent=1, default=str))
    print(f"\nwrote {out} ({payload['elapsed_s']:.0f} s)")
    return payload


# ---------------------------------------------------------------------------------------------
# Output capture, timing and memory.


@contextlib.contextmanager
def redirected(logfile: Path) -> Iterator[None]:
    """Send fds 1 and 2 (ours and inherited by children) to ``logfile`` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(logfile, "ab", buffering=0) as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


@dataclass
class TreeMemory:
    """Memory of a process and all its descendants, summed (bytes), and by process role."""

    rss: int
    pss: int  # shared pages split between the processes mapping them: no double counting
    uss: int
    processes: int
    by_role: dict[str, dict[str, int]] = field(default_factory=dict)


def _role(process: Any, root: int) -> str:
    if process.pid == root:
        return "driver"
    try:
        name = process.name()
        title = " ".join(process.cmdline()[:1])
    except Exception:
        return "other"
    for key in ("raylet", "gcs_server", "IDLE", "ImplicitFunc", "train_trial"):
        if key in name or key in title:
            return "trial worker" if key in ("ImplicitFunc", "train_trial") else key
    return "ray::" + title[5:30] if title.startswith("ray::") else name


def tree_memory(pid: int) -> TreeMemory | None:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = TreeMemory(0, 0, 0, 0)
    for p in procs:
        try:
            info = p.memory_full_info()
        except psutil.Error:
            continue
        pss = getattr(info, "pss", info.rss)
        total.rss += info.rss
        total.pss += pss
        total.uss += info.uss
        total.processes += 1
        role = total.by_role.setdefault(_role(p, pid), {"n": 0, "rss": 0, "pss": 0, "uss": 0})
        role["n"] += 1
        role["rss"] += info.rss
        role["pss"] += pss
        role["uss"] += info.uss
    return total


def median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


def mib(n: float) -> float:
    return n / 2**20


def timeline(experiment: str | Path, t0: float, t1: float, slots: int) -> dict[str, float]:
    """Where a sweep's slot-seconds went, from the ledger (epoch end times) and the curves.

    ``t0``/``t1`` are wall-clock times (``time.time()``) of the sweep's start and end. The
    slot-seconds (slots x wall) split into: start-up (before the first epoch starts), the
    trials' own epochs, the gaps between consecutive epochs of one trial (report,
    checkpoint, ledger), trial turnover and idle slots in between, and the tail after the
    last epoch (results, shutdown).
    """
    import raysweep

    curves = raysweep.curves(experiment)
    own = {
        (str(r.trial_id), int(r.epoch)): float(r.epoch_time_s)
        for r in curves.itertuples()
        if r.epoch_time_s == r.epoch_time_s  # not NaN
    }
    ends: dict[str, list[tuple[int, float]]] = {}
    for line in ledger_lines(experiment):
        ends.setdefault(str(line["trial_id"]), []).append((int(line["epoch"]), float(line["t"])))
    starts: list[float] = []
    last_ends: list[float] = []
    gaps = 0.0
    for trial_id, epochs in ends.items():
        epochs.sort()
        previous_end: float | None = None
        for epoch, end in epochs:
            start = end - own.get((trial_id, epoch), 0.0)
            starts.append(start)
            if previous_end is not None:
                gaps += max(0.0, start - previous_end)
            previous_end = end
        last_ends.append(epochs[-1][1])
    if not starts:
        return {}
    total = slots * (t1 - t0)
    startup = slots * (min(starts) - t0)
    tail = slots * (t1 - max(last_ends))
    train = sum(own.values())
    return {
        "slot_seconds": total,
        "startup": startup,
        "train": train,
        "between_epochs": gaps,
        "turnover_and_idle": total - startup - tail - train - gaps,
        "tail": tail,
        "first_epoch_start_s": min(starts) - t0,
        "last_epoch_end_s": max(last_ends) - t0,
    }


def shares(parts: dict[str, float]) -> str:
    """``startup 40%, train 10%, ...`` for a ``timeline`` result."""
    if not parts:
        return ""
    total = parts["slot_seconds"]
    keys = ("startup", "train", "between_epochs", "turnover_and_idle", "tail")
    return ", ".join(f"{k} {parts[k] / total:.0%}" for k in keys)
