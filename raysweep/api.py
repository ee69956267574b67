"""The Python API for notebooks and scripts: the same functions the CLI calls.

Imports are deferred so that ``import raysweep`` stays cheap and starts nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from torch import nn

    from search.results.export import ExportSummary
    from search.results.report import ReportSummary
    from search.spec import SweepSpec
    from search.sweep.run import SweepSummary


def load(
    spec: str | os.PathLike[str] | Mapping[str, Any], overrides: list[str] | None = None
) -> SweepSpec:
    """A validated spec from a YAML file or a dict shaped like one (``SpecError`` if invalid)."""
    from search.spec import load_spec, parse_mapping

    if isinstance(spec, Mapping):
        return parse_mapping(spec, overrides)
    return load_spec(os.fspath(spec), overrides)


def run(
    spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    overrides: list[str] | None = None,
    name: str | None = None,
    storage: str | None = None,
    address: str | None = None,
    take_over: bool = False,
    verbose: bool = False,
) -> SweepSummary:
    """Run a sweep to the end and summarize it (``raysweep run``): a line per finished
    trial as it goes (``verbose``: Tune's tables and Ray's logs instead)."""
    from search.sweep.run import run_sweep

    source = "<dict>" if isinstance(spec, Mapping) else os.fspath(spec)
    summary = run_sweep(
        load(spec, overrides),
        name=name,
        storage=storage,
        address=address,
        source=source,
        take_over=take_over,
        verbose=verbose,
    )
    return summary


def resume(
    path: str | os.PathLike[str],
    *,
    address: str | None = None,
    take_over: bool = False,
    verbose: bool = False,
) -> SweepSummary:
    """Continue an interrupted sweep (``raysweep resume``)."""
    from search.sweep.resume import resume_sweep

    return resume_sweep(str(path), address=address, take_over=take_over, verbose=verbose)


def results_table(path: str | os.PathLike[str], *, top: int | None = None) -> pa.Table:
    """One typed row per trial, best first, as an Arrow table (the export's schema)."""
    from search.results import load_results
    from search.results.export import trials_table

    return trials_table(load_results(str(path)), top=top)


def results(path: str | os.PathLike[str], *, top: int | None = None) -> pd.DataFrame:
    """``results_table`` as a pandas DataFrame."""
    return results_table(path, top=top).to_pandas()


def curves(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Per-epoch learning curves of every trial, long format."""
    from search.results import load_results
    from search.results.export import curves_table

    return curves_table(load_results(str(path))).to_pandas()


def export(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    top: int | None = None,
    curves: bool = False,
    models: bool = True,
) -> ExportSummary:
    """Write Parquet (and named model files) like ``raysweep export``."""
    from search.results.export import export_experiment

    return export_experiment(str(path), str(out), top=top, curves=curves, models=models)


def report(path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> ReportSummary:
    """Plots and a standalone results page, like ``raysweep report``."""
    from search.results.report import write_report

    return write_report(str(path), str(out_dir))


def load_model(path: str | os.PathLike[str]) -> nn.Module:
    """The network stored in a named model file, ready for inference."""
    from trainables.model_file import load_model as _load

    return _load(path)
