"""raysweep: distributed hyperparameter search for PyTorch models on Ray Tune and Optuna.

The public Python API; the CLI (``raysweep``) is a thin layer over the same functions::

    import raysweep
    summary = raysweep.run("examples/digits.yaml", overrides=["search.num_samples=8"])
    raysweep.results(summary.path)          # one row per trial, best first (pandas)
    raysweep.export(summary.path, "best.parquet", top=5)
"""

from __future__ import annotations

from raysweep.api import (
    curves,
    export,
    load,
    load_model,
    report,
    results,
    results_table,
    resume,
    run,
)
from search.version import __version__

__all__ = [
    "__version__",
    "curves",
    "export",
    "load",
    "load_model",
    "report",
    "results",
    "results_table",
    "resume",
    "run",
]
