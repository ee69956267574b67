"""A standalone HTML report of an experiment: optimization history, Optuna's parallel
coordinates and parameter importances, learning curves and the results table.

Our own figures use ``Figure`` + ``FigureCanvasAgg`` (no pyplot state, works headless); Optuna's
matplotlib plots go through pyplot, so they are closed and their style is undone once saved.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from search.errors import ExportError
from search.results import RUNNING, TERMINATED, ExperimentResults, TrialResult, load_results
from search.space import to_distributions
from trainables import config as names

logger = logging.getLogger(__name__)

HISTORY, PARALLEL, IMPORTANCE, CURVES, INDEX = (
    "history.png",
    "parallel_coordinates.png",
    "importance.png",
    "learning_curves.png",
    "index.html",
)
TITLES = {
    HISTORY: "Optimization history",
    PARALLEL: "Parallel coordinates",
    IMPORTANCE: "Hyperparameter importances",
    CURVES: "Learning curves",
}


@dataclass(frozen=True)
class ReportSummary:
    out_dir: Path
    files: list[Path]


def write_report(path: str, out_dir: str) -> ReportSummary:
    """Write the report of the experiment at ``path`` into ``out_dir`` (created if missing)."""
    out = _output_dir(out_dir)
    results = load_results(path)
    notes: dict[str, str] = {}
    _save(_history_figure(results), out / HISTORY)
    _save(_curves_figure(results), out / CURVES)
    notes.update(_optuna_plots(results, out))
    images = [name for name in TITLES if name not in notes]
    for name in notes:  # a stale plot from an earlier report would contradict this one
        (out / name).unlink(missing_ok=True)
    (out / INDEX).write_text(_html(results, out, images, notes), encoding="utf-8")
    logger.info("wrote report of %s to %s", results.path, out)
    return ReportSummary(out, [out / name for name in (*images, INDEX)])


def _output_dir(out_dir: str) -> Path:
    out = Path(out_dir).expanduser()
    if not out.parent.is_dir():
        raise ExportError(f"{out_dir}: parent directory {str(out.parent)!r} does not exist")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a directory")
    out.mkdir(exist_ok=True)
    return out


def _save(fig: Figure, target: Path) -> None:
    FigureCanvasAgg(fig)
    fig.savefig(target, dpi=110, bbox_inches="tight")


def _metric_label(results: ExperimentResults) -> str:
    spec = results.spec
    return f"{spec.metric.name} ({'higher' if spec.metric.mode == 'max' else 'lower'} is better)"


def _history_figure(results: ExperimentResults) -> Figure:
    mode = results.spec.metric.mode
    done = [
        (i, t.metric_best)
        for i, t in enumerate(results.trials, start=1)
        if t.status != RUNNING and t.metric_best is not None
    ]
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    if done:
        xs, ys = zip(*done)
        pick = max if mode == "max" else min
        best = [pick(ys[: k + 1]) for k in range(len(ys))]
        ax.scatter(xs, ys, s=24, color="tab:blue", label="trial's best", zorder=3)
        ax.step(xs, best, where="post", color="tab:red", label="best so far")
    baseline = results.baseline
    if baseline is not None and baseline.metric_best is not None:
        ax.axhline(baseline.metric_best, color="gray", linestyle="--", label="baseline")
    if not ax.has_data():
        ax.text(0.5, 0.5, "no finished trials", ha="center", transform=ax.transAxes)
    ax.set(title=TITLES[HISTORY], xlabel="trial (creation order)", ylabel=_metric_label(results))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return fig


def _curve(trial: TrialResult, metric: str) -> tuple[list[float], list[float]]:
    history = trial.history
    if metric not in history or names.EPOCH not in history:
        return [], []
    # A resumed trial re-reports the epochs Tune lost: keep the last report of each epoch.
    frame = history[[names.EPOCH, metric]].dropna().drop_duplicates(names.EPOCH, keep="last")
    frame = frame.sort_values(names.EPOCH)
    return frame[names.EPOCH].tolist(), frame[metric].tolist()


def _stop_label(trial: TrialResult) -> tuple[int, str]:
    if trial.status == TERMINATED:
        return (math.inf, "ran to the end")  # type: ignore[return-value]
    if trial.status == RUNNING:
        return (-1, f"running (epoch {trial.epochs_completed})")
    return (trial.epochs_completed, f"stopped at epoch {trial.epochs_completed}")


def _curves_figure(results: ExperimentResults) -> Figure:
    metric = results.spec.metric.name
    groups = sorted({_stop_label(t) for t in results.trials}, key=lambda g: g[0])
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    cmap = fig.get_figure().colormaps["viridis"] if hasattr(fig, "colormaps") else None
    colors = _palette(len(groups), cmap)
    color_of = {label: colors[i] for i, (_, label) in enumerate(groups)}
    labelled: set[str] = set()
    for trial in results.trials:
        epochs, values = _curve(trial, metric)
        if not epochs:
            continue
        label = _stop_label(trial)[1]
        style: dict[str, Any] = {"color": color_of[label], "linewidth": 1.2, "alpha": 0.8}
        if trial.is_baseline:
            style.update(linewidth=3.5, alpha=1.0, zorder=4)
        ax.plot(epochs, values, marker="o", markersize=2.5, **style)
        if label not in labelled:
            labelled.add(label)
            ax.plot([], [], color=color_of[label], linewidth=2, label=label)
    if results.baseline is not None and _curve(results.baseline, metric)[0]:
        ax.plot([], [], color="black", linewidth=3.5, label="baseline (thick line)")
    ax.set(title=TITLES[CURVES], xlabel=names.EPOCH, ylabel=_metric_label(results))
    if labelled:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _palette(n: int, cmap: Callable[[float], Any] | None) -> list[Any]:
    if cmap is None or n <= 10:
        return [f"C{i}" for i in range(n)]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]
