"""The terminal view without Ray: progress, the plain lines, the live panel on a terminal."""

from __future__ import annotations

import io
import re

from rich.console import Console

from search.spec import parse_spec
from search.views.progress import SweepProgress, status_lines, trial_line
from search.views.terminal import LiveOutput, PlainOutput, build_output
from tests.helpers import spec_dict

ESCAPE = re.compile(r"\x1b\[")


def _progress() -> SweepProgress:
    p = SweepProgress.of(parse_spec(spec_dict({"fixed.epochs": 3})), "tiny")
    p.baseline_id = "base"
    base = {"lr": 1e-3, "epochs": 3}
    for epoch, acc in enumerate([0.5, 0.7, 0.8], start=1):
        p.result("base", base, {"epoch": epoch, "val_accuracy": acc})
    p.finish("base", base, {"epoch": 3, "val_accuracy": 0.8})
    p.result("weak", {"lr": 0.5}, {"epoch": 1, "val_accuracy": 0.3})
    p.finish("weak", {"lr": 0.5}, {"epoch": 1, "val_accuracy": 0.3})
    p.result("good", {"lr": 0.01}, {"epoch": 1, "val_accuracy": 0.9})
    p.finish("lost", {"lr": 1e9}, {"epoch": 1, "val_accuracy": 0.0, "diverged": True})
    return p


def test_progress_counts_statuses_as_status_does_and_reads_deltas_against_the_baseline():
    p = _progress()
    assert [p.trials[t].status for t in ("base", "weak", "good", "lost")] == [
        "terminated",
        "early_stopped",
        "running",
        "diverged",
    ]
    assert p.done == 3 and p.epochs == 3 + 1 + 1 + 1
    assert p.best().trial_id == "good" and round(p.delta(p.best()), 4) == 0.1
    assert trial_line(p, p.trials["weak"]) == (
        "[3/4] trial weak  early_stopped    1 epochs  val_accuracy 0.3000  -0.5000 vs base"
    )
    assert trial_line(p, p.trials["base"]).endswith("+0.0000 vs base  (baseline)")


def test_status_lines_show_counts_epochs_budget_baseline_and_the_best_config():
    p = _progress()
    p.epoch_budget = 50
    lines = status_lines(p)
    assert lines[0].startswith("trials 3/4   elapsed 0:0") and "ETA 0:0" in lines[0]
    assert lines[1] == (
        "running 1   early-stopped 1   errored 0   diverged 1   epochs trained 6 of 50"
    )
    assert lines[2] == "baseline val_accuracy 0.8000  (trial base, 3 epochs)"
    assert lines[3].startswith("best val_accuracy 0.9000 (+0.1000 vs baseline)  trial good")
    assert lines[4] == 'best config {"lr": 0.01}'


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_the_live_panel_and_a_pipe_plain_lines_without_escape_codes(
    monkeypatch,
):
    monkeypatch.setenv("TERM", "xterm-256color")
    assert isinstance(build_output(_Terminal()), LiveOutput)
    pipe = io.StringIO()
    plain = build_output(pipe)
    assert isinstance(plain, PlainOutput)
    p = _progress()
    plain.start(p, "runs/tiny/raysweep.log")
    plain.finished(p, p.trials["weak"])
    assert not ESCAPE.search(pipe.getvalue())
    assert pipe.getvalue().splitlines()[0].endswith("Ray/Tune/Optuna log: runs/tiny/raysweep.log")

    screen = io.StringIO()
    live = LiveOutput(Console(file=screen, force_terminal=True, width=120))
    live.start(p, None)
    live.refresh(p)
    live.close(p)
    drawn = screen.getvalue()
    assert ESCAPE.search(drawn), "a terminal is redrawn in place"
    text = ESCAPE.sub("", drawn)
    assert "raysweep tiny" in text and "trials 3/4" in text and "best config" in text


def test_the_final_panel_leaves_the_baseline_and_the_best_to_the_summary():
    import io

    from rich.console import Console

    from search.views.terminal import LiveOutput

    p = _progress()
    assert status_lines(p, final=True) == status_lines(p)[:2]
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    output = LiveOutput(console)
    output.start(p, None)
    output.close(p)
    console.print(output._panel(p))  # the panel as it is left on screen
    last = console.file.getvalue().rsplit("raysweep tiny", 1)[1]
    assert "trials 3/4" in last and "best config" not in last and "baseline" not in last
