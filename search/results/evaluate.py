"""``raysweep evaluate``: the chosen trials' best checkpoints on the held-out test split.

The test split never takes part in the search; this is the one place it is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import torch

from search.errors import ExportError, SpecError
from search.results.export import checkpoint_uri, provenance, write_parquet
from search.results.models import trial_checkpoint
from search.results.records import ExperimentResults, TrialResult, load_results
from search.spec.data import load_data
from trainables.architecture import Architecture
from trainables.config import TrainConfig
from trainables.data import Dataset, TestSet
from trainables.loop import score_model
from trainables.model import build_model


@dataclass(frozen=True)
class TestResult:
    trial_id: str
    rank: int
    val_metric: float | None
    test_loss: float
    test_score: float  # accuracy (classification) or mean absolute error (regression)
    checkpoint: str | None


def evaluate_experiment(path: str, *, top: int = 1) -> tuple[str, list[TestResult], pa.Table]:
    """Test metrics of the ``top`` best trials; also as a typed Arrow table."""
    if top < 1:
        raise ExportError(f"--top must be >= 1, but got {top}")
    results = load_results(path)
    data, test = load_data(results.spec.data)
    if test is None:
        raise SpecError(
            f"{path}: the sweep holds out no test split (data.test_fraction is 0); "
            "set data.test_fraction in the next sweep's spec"
        )
    score_name = "test_accuracy" if data.n_classes else "test_mae"
    ranked = [t for t in results.ranked() if t.rank is not None][:top]
    rows = [row for t in ranked if (row := _evaluate_trial(t, data, test)) is not None]
    return score_name, rows, _evaluation_table(results, rows, score_name)


def _evaluate_trial(trial: TrialResult, data: Dataset, test: TestSet) -> TestResult | None:
    """The trial's best usable checkpoint scored on the test split (``None``: no checkpoint)."""
    payload = trial_checkpoint(trial)
    if payload is None:
        return None
    config = TrainConfig.from_dict(payload["train_config"])
    architecture = Architecture.from_dict(payload.get("architecture"))
    try:
        model = build_model(
            config, n_inputs=data.n_features, n_outputs=data.n_outputs, architecture=architecture
        )
    except (ImportError, AttributeError) as exc:  # a factory model scores only where it imports
        raise ExportError(
            f"trial {trial.trial_id}: evaluate rebuilds the network, but model.factory "
            f"{architecture.factory!r} can't be imported here: {exc}"
        ) from None
    model.load_state_dict(payload["model"])
    x, y = torch.as_tensor(test.x), torch.as_tensor(test.y)
    loss, score = score_model(model, x, y, data.n_classes)
    return TestResult(
        trial.trial_id,
        trial.rank or 0,  # ranked by the caller
        trial.metric_best,
        loss,
        score,
        checkpoint_uri(trial.checkpoint),
    )


def _evaluation_table(
    results: ExperimentResults, rows: list[TestResult], score_name: str
) -> pa.Table:
    schema = pa.schema(
        [
            pa.field("experiment", pa.string(), nullable=False),
            pa.field("trial_id", pa.string(), nullable=False),
            pa.field("rank", pa.int32(), nullable=False),
            pa.field("metric_best", pa.float64()),
            pa.field("test_loss", pa.float64(), nullable=False),
            pa.field(score_name, pa.float64(), nullable=False),
            pa.field("checkpoint", pa.string()),
        ]
    )
    return pa.Table.from_pylist(
        [
            {
                "experiment": results.path.name,
                "trial_id": r.trial_id,
                "rank": r.rank,
                "metric_best": r.val_metric,
                "test_loss": r.test_loss,
                score_name: r.test_score,
                "checkpoint": r.checkpoint,
            }
            for r in rows
        ],
        schema=schema,
    ).replace_schema_metadata(provenance(results))


def write_evaluation(table: pa.Table, out: str) -> Path:
    target = Path(out).expanduser()
    if not target.parent.is_dir():
        raise ExportError(f"{out}: output directory {str(target.parent)!r} does not exist")
    write_parquet(table, target)
    return target
