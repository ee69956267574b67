"""The recommendation (trained the longest first) and the rung-agreement check, on records
shaped as ``load_results`` builds them."""

from __future__ import annotations

import pandas as pd
import pytest

from search.results.fidelity import fidelity_lines, rung_agreement, rungs
from search.results.recommend import recommend, recommendation_lines
from search.results.records import (
    EARLY_STOPPED,
    TERMINATED,
    ExperimentResults,
    TrialResult,
    _rank,
)
from search.spec import parse_spec
from tests.helpers import spec_dict
from trainables.storage import Location


def _trial(trial_id: str, curve: list[float], max_epochs: int = 9) -> TrialResult:
    history = pd.DataFrame({"epoch": range(1, len(curve) + 1), "val_accuracy": curve})
    return TrialResult(
        trial_id=trial_id,
        status=TERMINATED if len(curve) >= max_epochs else EARLY_STOPPED,
        tune_status="TERMINATED",
        config={},
        epochs_completed=len(curve),
        epochs_max=max_epochs,
        metric_best=max(curve),
        metric_last=curve[-1],
        val_loss=None,
        time_total_s=None,
        checkpoints=(),
        history=history,
    )


def _results(trials: list[TrialResult]) -> ExperimentResults:
    spec = parse_spec(spec_dict({"fixed.epochs": 9, "scheduler": {"type": "asha"}}))
    _rank(trials, "max")
    return ExperimentResults(Location.of("/tmp/nowhere"), spec, trials)


def test_a_trial_stopped_early_with_a_better_value_is_listed_not_crowned():
    finished = _trial("finished", [0.5, 0.6, 0.7, 0.75, 0.8, 0.82, 0.84, 0.85, 0.86])
    quick = _trial("quick", [0.8, 0.9, 0.95])  # stopped at epoch 3: 0.95 > 0.86
    results = _results([quick, finished])
    assert finished.rank == 1 and quick.rank == 2
    rec = recommend(results)
    assert rec.best is finished and rec.trained_to_end and rec.looked_better == (quick,)
    lines = recommendation_lines(rec, "val_accuracy")
    assert "the best of the 1 trials trained to the end (9 of 9 epochs)" in lines[0]
    assert "quick stopped at epoch 3: 0.9500" in lines[1]


def test_before_any_trial_finished_the_deepest_one_is_recommended_and_said_so():
    deep = _trial("deep", [0.5, 0.6, 0.7, 0.72])
    shallow = _trial("shallow", [0.9])
    deep.status = shallow.status = "running"
    rec = recommend(_results([shallow, deep]))
    assert rec.best is deep and not rec.trained_to_end
    assert "trained the longest so far (4 of 9 epochs)" in recommendation_lines(rec, "m")[0]


def _finished(trial_id: str, at_rung_1: float, final: float) -> TrialResult:
    curve = [at_rung_1] + [final] * 8
    return _trial(trial_id, curve)


def test_rung_agreement_is_spearman_between_each_rung_and_the_final_values():
    # epoch 1 ranks the four finished trials exactly backwards; epochs 3 agree
    trials = [_finished(str(i), at_rung_1=0.1 * i, final=0.9 - 0.1 * i) for i in range(4)]
    results = _results(trials)
    assert rungs(results) == [1, 3]  # grace 1, factor 3, 9 epochs
    one, three = rung_agreement(results)
    assert one.epoch == 1 and one.spearman == pytest.approx(-1.0) and one.trials == 4
    assert three.spearman == pytest.approx(1.0)
    lines = fidelity_lines(results)
    assert "epoch 1: -1.00, epoch 3: 1.00" in lines[0]
    assert lines[1].startswith("warning: the rung at epoch 1") and "grace_period" in lines[1]


def test_too_few_finished_trials_give_no_verdict():
    results = _results([_finished("a", 0.1, 0.9), _finished("b", 0.2, 0.8)])
    assert all(a.spearman is None for a in rung_agreement(results))
    assert fidelity_lines(results) == [  # no line of dashes: what it takes, said once
        "rung agreement with final val_accuracy: needs 4 trials trained to the end, 2 more "
        "than the 2 so far"
    ]
