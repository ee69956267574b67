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


def __getattr__(name: str) -> object:
    # A data factory's return type; imported on use, as it brings torch.
    if name == "TrialData":
        from trainables.datasets import TrialData

        return TrialData
    raise AttributeError(f"module 'raysweep' has no attribute {name!r}")


__all__ = [
    "TrialData",
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
