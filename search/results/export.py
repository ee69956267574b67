"""Typed Parquet exports of an experiment: one row per trial, or per-epoch learning curves.

The schema is declared, never inferred: the same space always gives the same columns and types,
and an all-null column keeps its type. Files are written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from search.errors import ExportError
from search.results.records import EARLY_STOPPED, ExperimentResults, TrialResult, load_results
from search.spec import SweepSpec
from search.version import versions
from trainables import config as names
from trainables.atomic import atomic_write
from trainables.config import lookup_hyperparameter

_ARROW_TYPES = {float: pa.float64(), int: pa.int64(), str: pa.string()}


def hyperparameter_fields(spec: SweepSpec) -> list[pa.Field]:
    """One typed column per hyperparameter of the spec, searched and fixed alike, by name."""
    keys = sorted({*spec.space, *spec.fixed})
    return [pa.field(k, _arrow_type(spec, k)) for k in keys]


def _arrow_type(spec: SweepSpec, name: str) -> pa.DataType:
    """The registry's type; for `opt_*`/`user_*` names, the type of the values the spec gives."""
    hp = lookup_hyperparameter(name)
    if hp is not None and hp.kind in _ARROW_TYPES:
        return _ARROW_TYPES[hp.kind]
    param = spec.space.get(name)
    if param is None:
        values: list[Any] = [spec.fixed[name]]
    elif param.choices is not None:
        values = list(param.choices)
    else:
        values = [1.0] if param.type == "float" else [1]
    kinds = {type(v) for v in values}
    if kinds == {bool}:
        return pa.bool_()
    if kinds <= {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def trials_schema(spec: SweepSpec) -> pa.Schema:
    return pa.schema(
        [
            pa.field("experiment", pa.string(), nullable=False),
            pa.field("trial_id", pa.string(), nullable=False),
            pa.field("rank", pa.int32()),
            pa.field("status", pa.string(), nullable=False),
            pa.field("baseline", pa.bool_(), nullable=False),
            pa.field("pareto", pa.bool_(), nullable=False),
            *hyperparameter_fields(spec),
            pa.field("epochs_completed", pa.int32(), nullable=False),
            pa.field("epochs_max", pa.int32(), nullable=False),
            pa.field("trained_to_end", pa.bool_(), nullable=False),
            # the rung (epoch) where the scheduler stopped it; null unless stopped early
            pa.field("stopped_at_epoch", pa.int32()),
            pa.field("metric_best", pa.float64()),
            pa.field("metric_last", pa.float64()),
            pa.field("delta_vs_baseline", pa.float64()),
            pa.field("val_loss", pa.float64()),
            pa.field("time_total_s", pa.float64()),
            pa.field("checkpoint", pa.string()),
            pa.field("model_file", pa.string()),
            *objective_fields(spec),
        ]
    )


def objective_fields(spec: SweepSpec) -> list[pa.Field]:
    """Multi-objective sweeps: each objective's last value, ``obj_<name>``."""
    if len(spec.objectives) < 2:
        return []
    return [pa.field(f"obj_{o.name}", pa.float64()) for o in spec.objectives]


def curves_schema(spec: SweepSpec) -> pa.Schema:
    score = [m for m in spec.reported_metrics if m not in (names.TRAIN_LOSS, names.VAL_LOSS)]
    return pa.schema(
        [
            pa.field("experiment", pa.string(), nullable=False),
            pa.field("trial_id", pa.string(), nullable=False),
            pa.field(names.EPOCH, pa.int32(), nullable=False),
            pa.field(names.TRAIN_LOSS, pa.float64()),
            pa.field(names.VAL_LOSS, pa.float64()),
            *[pa.field(m, pa.float64()) for m in score],
            pa.field(names.LR, pa.float64()),
            pa.field(names.EPOCH_TIME_S, pa.float64()),
            pa.field(names.DIVERGED, pa.bool_()),
        ]
    )


def provenance(results: ExperimentResults) -> dict[bytes, bytes]:
    spec = results.spec
    meta = {
        "raysweep.experiment": str(results.path),
        "raysweep.spec": spec.to_yaml(),
        "raysweep.metric": spec.metric.name,
        "raysweep.mode": spec.metric.mode,
        "raysweep.seed": str(spec.search.seed),
        "raysweep.versions": json.dumps(versions(), sort_keys=True),
        "raysweep.exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return {k.encode(): v.encode() for k, v in meta.items()}


def checkpoint_uri(checkpoint: Any) -> str | None:
    if checkpoint is None:
        return None
    fs_type = checkpoint.filesystem.type_name
    if fs_type == "local":
        return Path(checkpoint.path).as_uri()
    return f"{fs_type}://{checkpoint.path}"


def _coerce(value: Any, arrow_type: pa.DataType) -> Any:
    if value is None:
        return None
    if arrow_type == pa.float64():
        return float(value)
    if arrow_type == pa.int64():
        return int(value)
    return str(value)


def _trial_row(
    spec: SweepSpec, name: str, trial: TrialResult, fields: list[pa.Field], model_file: str | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "experiment": name,
        "trial_id": trial.trial_id,
        "rank": trial.rank,
        "status": trial.status,
        "baseline": trial.is_baseline,
        "pareto": trial.pareto,
        "epochs_completed": trial.epochs_completed,
        "epochs_max": trial.epochs_max,
        "trained_to_end": trial.trained_to_end,
        "stopped_at_epoch": trial.epochs_completed if trial.status == EARLY_STOPPED else None,
        "metric_best": trial.metric_best,
        "metric_last": trial.metric_last,
        "delta_vs_baseline": trial.delta_vs_baseline,
        "val_loss": trial.val_loss,
        "time_total_s": trial.time_total_s,
        "checkpoint": checkpoint_uri(trial.checkpoint),
        "model_file": model_file,
    }
    for f in fields:  # conditional or missing hyperparameters stay null, typed
        row[f.name] = _coerce(trial.config.get(f.name), f.type)
    for f, value in zip(objective_fields(spec), trial.objective_values):
        row[f.name] = value
    return row


def trials_table(
    results: ExperimentResults,
    *,
    top: int | None = None,
    model_files: dict[str, str] | None = None,
) -> pa.Table:
    """One row per trial, best first (rank 1..n, unranked last); ``top`` keeps the K best."""
    schema = trials_schema(results.spec)
    fields = hyperparameter_fields(results.spec)
    trials = results.ranked()
    if top is not None:
        trials = [t for t in trials if t.rank is not None][:top]
    files = model_files or {}
    rows = [
        _trial_row(results.spec, results.path.name, t, fields, files.get(t.trial_id))
        for t in trials
    ]
    table = pa.Table.from_pylist(rows, schema=schema)
    return table.replace_schema_metadata(provenance(results))


def curves_table(results: ExperimentResults) -> pa.Table:
    """Learning curves in long format: one row per trial and epoch."""
    schema = curves_schema(results.spec)
    rows: list[dict[str, Any]] = []
    for trial in results.trials:
        for record in trial.history.to_dict("records"):
            row: dict[str, Any] = {"experiment": results.path.name, "trial_id": trial.trial_id}
            for f in schema:
                if f.name not in row:
                    value = record.get(f.name)
                    row[f.name] = None if value is None or value != value else value
            row[names.DIVERGED] = (
                bool(row[names.DIVERGED]) if row[names.DIVERGED] is not None else None
            )
            rows.append(row)
    table = pa.Table.from_pylist(rows, schema=schema)
    return table.replace_schema_metadata(provenance(results))


def write_parquet(table: pa.Table, out: Path) -> None:
    """Write atomically: a crash leaves the old file or none, never half a file."""
    atomic_write(out, lambda f: pq.write_table(table, f))


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    rows: int
    model_dir: Path | None
    models: int


def export_experiment(
    path: str, out: str, *, top: int | None = None, curves: bool = False, models: bool = True
) -> ExportSummary:
    """Export trials (or curves) of the experiment at ``path`` to the Parquet file ``out``."""
    from search.results.models import export_models

    if top is not None and top < 1:
        raise ExportError(f"--top must be >= 1, but got {top}")
    target = Path(out).expanduser()
    if not target.parent.is_dir():
        raise ExportError(f"{out}: output directory {str(target.parent)!r} does not exist")
    results = load_results(path)
    if curves:
        table = curves_table(results)
        write_parquet(table, target)
        return ExportSummary(target, table.num_rows, None, 0)
    chosen = results.ranked() if top is None else [t for t in results.ranked() if t.rank][:top]
    model_dir = target.with_name(target.stem + ".models") if models else None
    files = export_models(results, chosen, model_dir) if model_dir else {}
    table = trials_table(results, top=top, model_files=files)
    write_parquet(table, target)
    return ExportSummary(target, table.num_rows, model_dir, len(files))
