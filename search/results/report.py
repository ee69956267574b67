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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import optuna
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from search.errors import ExportError
from search.results.records import (
    RUNNING,
    TERMINATED,
    ExperimentResults,
    TrialResult,
    load_results,
)
from search.spec.space import to_distributions
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
    _save(_history_figure(results), out / HISTORY)
    _save(_curves_figure(results), out / CURVES)
    notes = _optuna_plots(results, out)
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


def _stop_label(trial: TrialResult) -> tuple[float, str]:
    """The ASHA rung where a trial stopped, as (sort key, legend label)."""
    if trial.status == TERMINATED:
        return (math.inf, "ran to the end")
    if trial.status == RUNNING:
        return (-1, f"running (epoch {trial.epochs_completed})")
    return (trial.epochs_completed, f"stopped at epoch {trial.epochs_completed}")


def _curves_figure(results: ExperimentResults) -> Figure:
    metric = results.spec.metric.name
    groups = sorted({_stop_label(t) for t in results.trials}, key=lambda g: g[0])
    # An ordered colormap: the colour itself says how far a trial got.
    shades = colormaps["viridis"](np.linspace(0.0, 0.85, max(len(groups), 1)))
    color_of = {label: shades[i] for i, (_, label) in enumerate(groups)}
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    labelled: set[str] = set()
    for trial in results.trials:
        epochs, values = _curve(trial, metric)
        if not epochs:
            continue
        label = _stop_label(trial)[1]
        style: dict[str, Any] = {"color": color_of[label], "linewidth": 1.2, "alpha": 0.8}
        if trial.is_baseline:  # a baseline stopped at the first rung is a single point
            style.update(linewidth=3.5, markersize=7, alpha=1.0, zorder=4)
        ax.plot(epochs, values, marker="o", **{"markersize": 2.5, **style})
        labelled.add(label)
    for _, label in groups:  # legend in stopping order, not in drawing order
        if label in labelled:
            ax.plot([], [], color=color_of[label], linewidth=2, label=label)
    if results.baseline is not None and _curve(results.baseline, metric)[0]:
        ax.plot([], [], color="gray", linewidth=3.5, marker="o", markersize=7, label="baseline")
    if not labelled:
        ax.text(0.5, 0.5, "no reported epochs", ha="center", transform=ax.transAxes)
    ax.set(title=TITLES[CURVES], xlabel=names.EPOCH, ylabel=_metric_label(results))
    if labelled:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


@contextmanager
def _optuna_quietly() -> Iterator[None]:
    """Optuna's INFO logs and ExperimentalWarnings off, and the pyplot style that
    ``plot_param_importances`` sets globally undone, for this block only."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings(), matplotlib.rc_context():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _study(results: ExperimentResults) -> optuna.Study:
    """The scored trials as an in-memory study over the searched hyperparameters."""
    space = results.spec.space
    distributions = to_distributions(dict(space))
    maximize = results.spec.metric.mode == "max"
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    for trial in results.trials:
        if trial.metric_best is None:
            continue
        # Conditional hyperparameters are absent (None) where they don't apply.
        params = {k: v for k, v in trial.config.items() if k in space and space[k].contains(v)}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: distributions[k] for k in params},
                value=trial.metric_best,
            )
        )
    return study


def _varied(study: optuna.Study) -> list[str]:
    seen: dict[str, set[str]] = {}
    for trial in study.trials:
        for name, value in trial.params.items():
            seen.setdefault(name, set()).add(repr(value))
    return sorted(name for name, values in seen.items() if len(values) > 1)


def _optuna_plots(results: ExperimentResults, out: Path) -> dict[str, str]:
    """Save Optuna's plots; return why, for each plot that can't be drawn."""
    from optuna.visualization.matplotlib import plot_parallel_coordinate, plot_param_importances

    metric = results.spec.metric.name
    notes: dict[str, str] = {}
    with _optuna_quietly():
        study = _study(results)
        varied = _varied(study)
        if len(study.trials) < 2:  # one line has nothing to compare and collapses the axes
            notes[PARALLEL] = (
                f"needs at least 2 trials with a finite metric, but got {len(study.trials)}"
            )
        else:
            # Optuna's default size crowds the tick labels of neighbouring axes.
            width = 2 + 1.6 * len(study.trials[0].params)
            axes = plot_parallel_coordinate(study, target_name=metric)
            _save_axes(axes, out / PARALLEL, size=(width, 5.5))
        if len(study.trials) < 2 or not varied:
            notes[IMPORTANCE] = (
                "needs at least 2 trials with a finite metric and a hyperparameter that varies, "
                f"but got {len(study.trials)} trial(s) and {len(varied)} varying hyperparameter(s)"
            )
        else:
            axes = plot_param_importances(study, params=varied, target_name=metric)
            _save_axes(axes, out / IMPORTANCE)
    for name, why in notes.items():
        logger.info("report: skipped %s: %s", name, why)
    return notes


def _save_axes(ax: Any, target: Path, size: tuple[float, float] | None = None) -> None:
    import matplotlib.pyplot as plt

    fig = ax.figure
    try:
        if size is not None:
            fig.set_size_inches(*size)
        fig.savefig(target, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
dt { font-weight: 600; float: left; clear: left; width: 7em; }
dd { margin: 0 0 0.3em 8em; font-family: monospace; }
img { max-width: 100%; border: 1px solid #ddd; } .note { color: #975; font-style: italic; }
table { border-collapse: collapse; font-size: 0.9em; } th { background: #f0f0f0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
tr.baseline { font-weight: 600; background: #fff7dd; }
"""


def _fmt(value: Any, sign: bool = False) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, float):
        return f"{value:+.4g}" if sign else f"{value:.4g}"
    return str(value)


def _html(results: ExperimentResults, out: Path, images: list[str], notes: dict[str, str]) -> str:
    spec, base, e = results.spec, results.baseline, html.escape
    title = f"raysweep report: {results.path.name}"
    base_text = "none" if base is None else f"{_fmt(base.metric_best)} (trial {base.trial_id})"
    facts = {
        "experiment": str(results.path),
        "metric": f"{spec.metric.name} ({spec.metric.mode})",
        "baseline": base_text,
        "trials": str(len(results.trials)),
        "fixed": ", ".join(f"{k}={v}" for k, v in spec.fixed.items()) or "\u2013",
    }
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1><dl>",
        *(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts.items()),
        "</dl>",
    ]
    for name, heading in TITLES.items():
        parts.append(f"<h2>{e(heading)}</h2>")
        if name in images:
            data = base64.b64encode((out / name).read_bytes()).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}" alt="{e(heading)}">')
        else:
            parts.append(f'<p class="note">Not drawn: {e(notes[name])}.</p>')
    parts += ["<h2>Recommendation and rung agreement</h2>", *_judgement(results)]
    parts += ["<h2>Trials</h2>", _table(results), "</body></html>\n"]
    return "\n".join(parts)


def _judgement(results: ExperimentResults) -> list[str]:
    from search.results.fidelity import fidelity_lines
    from search.results.recommend import recommend, recommendation_lines

    lines = recommendation_lines(recommend(results), results.spec.metric.name)
    lines += fidelity_lines(results)
    return [f"<p>{html.escape(line)}</p>" for line in lines] or ["<p>No trial yet.</p>"]


def _table(results: ExperimentResults) -> str:
    e = html.escape
    params = list(results.spec.space)
    head = ["rank", "trial_id", "status", "metric_best", "delta_vs_baseline", "epochs_completed"]
    rows = [f"<tr>{''.join(f'<th>{e(h)}</th>' for h in (*head, *params))}</tr>"]
    for t in results.ranked():
        cells = [
            _fmt(t.rank),
            f"{t.trial_id} (baseline)" if t.is_baseline else t.trial_id,
            t.status,
            _fmt(t.metric_best),
            _fmt(t.delta_vs_baseline, sign=True),
            _fmt(t.epochs_completed),
            *(_fmt(t.config.get(p)) for p in params),
        ]
        css = ' class="baseline"' if t.is_baseline else ""
        rows.append(f"<tr{css}>{''.join(f'<td>{e(c)}</td>' for c in cells)}</tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"
