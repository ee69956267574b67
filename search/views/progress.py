"""A running sweep's progress as plain data, and the lines that show it. No Ray, no terminal.

Fed by the terminal view's Tune callback; statuses are the ones ``status`` and the export use,
so a finished trial reads the same live as it does afterwards.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from search.results.records import DIVERGED, EARLY_STOPPED, ERROR, RUNNING, TERMINATED
from search.results.records import _finite as finite_or_none
from search.spec import SweepSpec
from trainables import config as names

FINISHED = (TERMINATED, EARLY_STOPPED, DIVERGED, ERROR)


@dataclass
class TrialProgress:
    trial_id: str
    config: dict[str, Any]
    epochs: int = 0
    best: float | None = None  # the best value of the sweep metric over its epochs
    status: str = RUNNING


@dataclass
class SweepProgress:
    """What the live view shows: counts, epochs, the baseline and the best trial so far."""

    name: str
    metric: str
    mode: str
    total: int
    max_epochs: int
    epoch_budget: int | None = None
    time_budget_s: float | None = None
    started: float = field(default_factory=time.monotonic)
    trials: dict[str, TrialProgress] = field(default_factory=dict)
    baseline_id: str | None = None
    finished_before: int = 0  # trials a resumed sweep had already finished

    @classmethod
    def of(cls, spec: SweepSpec, name: str) -> SweepProgress:
        return cls(
            name=name,
            metric=spec.metric.name,
            mode=spec.metric.mode,
            total=spec.search.num_samples,
            max_epochs=spec.max_epochs,
            epoch_budget=spec.search.max_total_epochs,
            time_budget_s=spec.search.time_budget_s,
        )

    def trial(self, trial_id: str, config: dict[str, Any]) -> TrialProgress:
        if trial_id not in self.trials:
            keep = {k: v for k, v in config.items() if not str(k).startswith("_")}
            self.trials[trial_id] = TrialProgress(trial_id, keep)
        return self.trials[trial_id]

    def result(self, trial_id: str, config: dict[str, Any], metrics: dict[str, Any]) -> None:
        """One reported epoch."""
        t = self.trial(trial_id, config)
        t.epochs = int(metrics.get(names.EPOCH, t.epochs + 1) or 0)
        value = finite_or_none(metrics.get(self.metric))
        if value is not None and (t.best is None or self._better(value, t.best)):
            t.best = value

    def finish(self, trial_id: str, config: dict[str, Any], last: dict[str, Any]) -> str:
        """The trial ended without an error: trained to the end, stopped early or diverged."""
        t = self.trial(trial_id, config)
        if last:
            self.result(trial_id, config, last)
        max_epochs = int(config.get("epochs") or self.max_epochs)
        if last.get(names.DIVERGED):
            t.status = DIVERGED
        else:
            t.status = TERMINATED if t.epochs >= max_epochs else EARLY_STOPPED
        return t.status

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.mode == "max" else a < b

    def count(self, status: str) -> int:
        return sum(1 for t in self.trials.values() if t.status == status)

    @property
    def done(self) -> int:
        return sum(1 for t in self.trials.values() if t.status in FINISHED)

    @property
    def epochs(self) -> int:
        return sum(t.epochs for t in self.trials.values())

    @property
    def baseline(self) -> TrialProgress | None:
        return self.trials.get(self.baseline_id) if self.baseline_id else None

    def best(self) -> TrialProgress | None:
        scored = [t for t in self.trials.values() if t.best is not None]
        if not scored:
            return None
        pick = max if self.mode == "max" else min
        return pick(scored, key=lambda t: float(t.best))  # type: ignore[arg-type]

    def delta(self, t: TrialProgress) -> float | None:
        base = self.baseline
        if base is None or base.best is None or t.best is None:
            return None
        return t.best - base.best

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> float | None:
        """Seconds left at this run's pace of finished trials; ``None`` before the first."""
        finished_now = self.done - self.finished_before
        if finished_now <= 0:
            return None
        left = (self.total - self.done) * self.elapsed() / finished_now
        if self.time_budget_s is not None:
            left = min(left, max(0.0, self.time_budget_s - self.elapsed()))
        return left


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def trial_line(p: SweepProgress, t: TrialProgress) -> str:
    """The plain line for a finished trial: id, status, epochs, metric, delta vs baseline."""
    mark = "  (baseline)" if t.trial_id == p.baseline_id else ""
    return (
        f"[{p.done:>{len(str(p.total))}}/{p.total}] trial {t.trial_id}  {t.status:<13} "
        f"{t.epochs:>4} epochs  {p.metric} {_value(t.best)}  {_signed(p.delta(t))} vs base{mark}"
    )


def shown_path(path: str) -> str:
    """A local path under the working directory as a relative one (``runs/NAME``)."""
    if "://" in path or not os.path.isabs(path):
        return path
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def header_line(p: SweepProgress, log_file: str | None) -> str:
    log = f"; Ray/Tune/Optuna log: {shown_path(log_file)}" if log_file else ""
    return f"sweep {p.name}: {p.total} trials, metric {p.metric} ({p.mode}){log}"


def status_lines(p: SweepProgress, *, final: bool = False) -> list[str]:
    """The live view: progress, counts, epochs, baseline, best (with delta and config).
    ``final``: the panel left on screen above the summary, which says baseline and best."""
    budget = f" of {p.epoch_budget}" if p.epoch_budget else ""
    time_budget = f" (time budget {clock(p.time_budget_s)})" if p.time_budget_s else ""
    lines = [
        f"trials {p.done}/{p.total}   elapsed {clock(p.elapsed())}{time_budget}   "
        f"ETA {clock(p.eta())}",
        f"running {p.count(RUNNING)}   early-stopped {p.count(EARLY_STOPPED)}   "
        f"errored {p.count(ERROR)}   diverged {p.count(DIVERGED)}   "
        f"epochs trained {p.epochs}{budget}",
    ]
    if final:
        return lines
    base = p.baseline
    lines.append(
        f"baseline {p.metric} {_value(base.best if base else None)}"
        + (f"  (trial {base.trial_id}, {base.epochs} epochs)" if base else "")
    )
    best = p.best()
    if best is None:
        lines.append(f"best {p.metric} -")
    else:
        lines.append(
            f"best {p.metric} {_value(best.best)} ({_signed(p.delta(best))} vs baseline)  "
            f"trial {best.trial_id}, {best.epochs} epochs"
        )
        lines.append(f"best config {json.dumps(best.config, default=str)}")
    return lines
