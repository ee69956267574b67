"""Finding a raysweep experiment (a path or URI) and the spec it ran under."""

from __future__ import annotations

import json
import os

from search.errors import NotAnExperimentError, ResumeError
from search.spec import SweepSpec, load_spec
from trainables.layout import BASELINE_FILE, BUDGET_FILE, SPEC_FILE
from trainables.storage import Location


def experiment_path(path: str | os.PathLike[str] | Location) -> Location:
    """The experiment directory, or ``ResumeError`` if it is not a raysweep experiment."""
    try:
        exp = Location.of(path)
        found = exp.is_dir()
        is_experiment = found and (exp / SPEC_FILE).is_file()
    except (ValueError, OSError) as exc:
        raise ResumeError(f"{path}: cannot read it: {str(exc).splitlines()[0]}") from None
    if not found:
        raise ResumeError(f"{path}: no such experiment directory")
    if not is_experiment:
        raise NotAnExperimentError(f"{path}: not a raysweep experiment (no {SPEC_FILE} in it)")
    return exp


def read_spec(exp: Location, overrides: list[str] | None = None) -> SweepSpec:
    """The spec saved with the experiment. Parsing is pure, so this works where the sweep's
    model factory, MLflow or OptunaHub are absent."""
    return load_spec(exp / SPEC_FILE, overrides)


def budget_spent(exp: Location) -> str | None:
    """Why the sweep stopped starting trials, if a budget ran out."""
    try:
        return str(json.loads((exp / BUDGET_FILE).read_text())["reason"])
    except (OSError, ValueError, KeyError):
        return None


def read_baseline(exp: Location) -> str | None:
    """The trial id the sweep recorded as its baseline (``None`` before the first trial)."""
    try:
        return str(json.loads((exp / BASELINE_FILE).read_text())["trial_id"])
    except (OSError, ValueError, KeyError):
        return None
