"""``raysweep status`` on a real tiny sweep: counts, the best trials, the baseline, sorting."""

from __future__ import annotations

import itertools

import pytest

from search.cli import main
from search.results import load_results
from search.spec import parse_spec
from search.sweep.run import run_sweep
from tests.helpers import spec_dict

pytestmark = pytest.mark.usefixtures("ray_session")

# ASHA over 6 trials of 3 epochs: some trained to the end, some stopped early.
SPEC = {"search.num_samples": 6, "fixed.epochs": 3, "search.sampler": "random"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    storage = tmp_path_factory.mktemp("status")
    summary = run_sweep(parse_spec(spec_dict(SPEC)), name="status", storage=str(storage))
    return load_results(summary.path)


def status(capsys, sweep, *args: str) -> tuple[list[str], list[str]]:
    """The table's rows (trial ids, in order) and the lines around them."""
    assert main(["status", str(sweep.path), *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["trial", "status"])
    table = itertools.takewhile(lambda line: line and line[0] != "(", lines[header + 1 :])
    rows = [line.split()[0] for line in table]
    return rows, lines


def test_status_shows_the_counts_the_best_trials_the_baseline_and_the_recommendation(
    sweep, capsys
):
    rows, lines = status(capsys, sweep)
    assert rows == [t.trial_id for t in sweep.ranked()]  # best first
    counts = lines[2].removeprefix("by status: ").split(", ")
    assert sum(int(c.split()[0]) for c in counts) == 6
    assert {c.split()[1] for c in counts} == {t.status for t in sweep.trials}
    assert any(line.endswith("(baseline)") for line in lines)
    best = sweep.ranked()[0].trial_id
    assert any(line.startswith(f"recommended: trial {best}") for line in lines)
    assert not any("--all shows" in line for line in lines)  # nothing left out


def test_status_limit_keeps_the_baseline_and_says_what_it_left_out(sweep, capsys):
    baseline = next(t for t in sweep.trials if t.is_baseline)
    ranked = [t.trial_id for t in sweep.ranked()]
    rows, lines = status(capsys, sweep, "--limit", "1")
    expected = ranked[:1] + ([baseline.trial_id] if ranked[0] != baseline.trial_id else [])
    assert rows == expected
    hidden = 6 - len(expected)
    footer = lines[len(expected) + 4]
    assert footer.startswith("(the best 1 by rank") and f"; {hidden} more: --all shows" in footer

    rows, _ = status(capsys, sweep, "--all", "--sort", "trial")
    assert rows == [t.trial_id for t in sweep.trials]  # every trial, in creation order


def test_status_sorts_by_a_metric_best_first_and_by_a_hyperparameter(sweep, capsys):
    rows, _ = status(capsys, sweep, "--sort", "val_accuracy")
    by_id = {t.trial_id: t for t in sweep.trials}
    values = [by_id[r].metric_best for r in rows]
    assert values == sorted(values, reverse=True)  # mode max: the best first
    rows, _ = status(capsys, sweep, "--sort", "lr")
    assert [by_id[r].config["lr"] for r in rows] == sorted(t.config["lr"] for t in sweep.trials)
    rows, _ = status(capsys, sweep, "--sort=-lr", "--limit", "2")
    assert [by_id[r].config["lr"] for r in rows[:2]] == sorted(
        (t.config["lr"] for t in sweep.trials), reverse=True
    )[:2]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sort", "nope"], "error: --sort must be a metric, a hyperparameter or one of "),
        (["--limit", "0"], "error: --limit must be at least 1, but got 0"),
    ],
)
def test_status_refuses_a_bad_sort_or_limit_in_one_line(sweep, capsys, args, message):
    assert main(["status", str(sweep.path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
