"""``raysweep evaluate``: the chosen trials' best checkpoints on the held-out test split.

The test split never takes part in the search; this is the one place it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch

from search.errors import ExportError, SpecError
from search.results.export import checkpoint_uri, provenance, write_parquet
from search.results.models import trial_checkpoint
from search.results.records import ExperimentResults, TrialResult, load_results
from search.spec import SweepSpec
from search.spec.data import load_data
from trainables import config as names
from trainables.architecture import Architecture
from trainables.config import TrainConfig
from trainables.loop import TensorData, score_model_on
from trainables.model import build_model


@dataclass(frozen=True)
class TestResult:
    trial_id: str
    rank: int
    val_metric: float | None
    test_loss: float
    test_score: float  # the first metric: accuracy (classification) or MAE (regression)
    checkpoint: str | None
    scores: dict[str, float] = field(default_factory=dict)  # every test_<metric>


def evaluate_experiment(path: str, *, top: int = 1) -> tuple[str, list[TestResult], pa.Table]:
    """Test metrics of the ``top`` best trials; also as a typed Arrow table."""
    if top < 1:
        raise ExportError(f"--top must be >= 1, but got {top}")
    results = load_results(path)
    spec = results.spec
    columns = [c for c in spec.reported_metrics if c.startswith("val_") and c != names.VAL_LOSS]
    score_name = "test_" + columns[0].removeprefix("val_")
    ranked = [t for t in results.ranked() if t.rank is not None][:top]
    feed_for = _trial_data_feeds(spec, path) if spec.data.in_trial else _table_feed(spec, path)
    rows = [row for t in ranked if (row := _evaluate_trial(t, spec, feed_for)) is not None]
    return score_name, rows, _evaluation_table(results, rows, score_name)


FeedFor = Callable[[TrainConfig], Any]


def _no_test_split(path: str, *, trial_data: bool = False) -> SpecError:
    where = "data.test_fraction is 0" + (
        ", no test/ folder, no test data set" if trial_data else ""
    )
    return SpecError(
        f"{path}: the sweep holds out no test split ({where}); "
        "set data.test_fraction in the next sweep's spec"
    )


def _table_feed(spec: SweepSpec, path: str) -> FeedFor:
    data, test = load_data(spec.data)
    if test is None:
        raise _no_test_split(path)
    x, y = torch.as_tensor(test.x), torch.as_tensor(test.y)
    feed = TensorData(x[:0], y[:0], x, y, data.n_classes)
    return lambda config: feed


def _trial_data_feeds(spec: SweepSpec, path: str) -> FeedFor:
    """The test split opened as a trial opens its data (your factory gets the trial's config)."""
    from trainables.datasets import build_trial_data
    from trainables.feeds import LoaderFeed
    from trainables.sources import LoaderSpec

    trial_data = spec.data.trial_data
    assert trial_data is not None  # in_trial

    def feed_for(config: TrainConfig) -> Any:
        try:
            opened = build_trial_data(trial_data, config)
        except (ImportError, AttributeError) as exc:
            raise ExportError(f"{path}: the data can't be opened here: {exc}") from None
        if opened.test is None:
            raise _no_test_split(path, trial_data=True)
        return LoaderFeed(
            opened,
            batch_size=config.batch_size,
            seed=0,
            spec=LoaderSpec(),
            device=torch.device("cpu"),
            task=trial_data.task,
            evaluate_on=opened.test,
        )

    return feed_for


def _evaluate_trial(trial: TrialResult, spec: SweepSpec, feed_for: FeedFor) -> TestResult | None:
    """The trial's best usable checkpoint scored on the test split (``None``: no checkpoint)."""
    payload = trial_checkpoint(trial)
    if payload is None:
        return None
    config = TrainConfig.from_dict(payload["train_config"])
    architecture = Architecture.from_dict(payload.get("architecture"))
    try:
        model = build_model(
            config,
            n_inputs=int(payload["n_inputs"]),
            n_outputs=int(payload["n_outputs"]),
            architecture=architecture,
        )
    except (ImportError, AttributeError) as exc:  # a factory model scores only where it imports
        raise ExportError(
            f"trial {trial.trial_id}: evaluate rebuilds the network, but model.factory "
            f"{architecture.factory!r} can't be imported here: {exc}"
        ) from None
    model.load_state_dict(payload["model"])
    scores = score_model_on(model, feed_for(config), spec.recipe)
    tested = {"test_" + k.removeprefix("val_"): v for k, v in scores.items()}
    first = [k for k in tested if k != "test_loss"]
    return TestResult(
        trial.trial_id,
        trial.rank or 0,  # ranked by the caller
        trial.metric_best,
        tested["test_loss"],
        tested[first[0]] if first else float("nan"),
        checkpoint_uri(trial.checkpoint),
        tested,
    )


def _evaluation_table(
    results: ExperimentResults, rows: list[TestResult], score_name: str
) -> pa.Table:
    extra = sorted({c for r in rows for c in r.scores} - {"test_loss", score_name})
    schema = pa.schema(
        [
            pa.field("experiment", pa.string(), nullable=False),
            pa.field("trial_id", pa.string(), nullable=False),
            pa.field("rank", pa.int32(), nullable=False),
            pa.field("metric_best", pa.float64()),
            pa.field("test_loss", pa.float64(), nullable=False),
            pa.field(score_name, pa.float64(), nullable=False),
            *[pa.field(c, pa.float64()) for c in extra],
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
                **{c: r.scores.get(c) for c in extra},
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
