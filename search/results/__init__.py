"""Reading a sweep's results: Tune's records as typed trials, and what is made from them
(status, Parquet export, named model files, test evaluation, reports). Needs no running Ray,
and nothing the sweep itself needed (no model factory, no MLflow, no network)."""

from __future__ import annotations

from search.results.experiment import budget_spent, experiment_path, read_baseline, read_spec
from search.results.records import (
    DIVERGED,
    EARLY_STOPPED,
    ERROR,
    RUNNING,
    TERMINATED,
    ExperimentResults,
    TrialResult,
    load_results,
)

__all__ = [
    "DIVERGED",
    "EARLY_STOPPED",
    "ERROR",
    "RUNNING",
    "TERMINATED",
    "ExperimentResults",
    "TrialResult",
    "budget_spent",
    "experiment_path",
    "load_results",
    "read_baseline",
    "read_spec",
]
