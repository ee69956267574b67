"""What ``raysweep run`` prints, on real tiny sweeps: piped, on a pseudo-terminal, --verbose."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from search.cli import main
from tests.helpers import spec_dict

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[3]
RAYSWEEP = str(Path(sys.executable).with_name("raysweep"))
TRIAL_LINE = re.compile(
    r"^\[\d/4\] trial [0-9a-f]{8}  (terminated|early_stopped|error|diverged) +\d+ epochs  "
    r"val_accuracy (\d\.\d{4}|-)  ([+-]\d\.\d{4}|-) vs base(  \(baseline\))?$"
)
NOISE = (
    "Checkpoint successfully created",
    "Tuner.restore",
    "Token authentication",
    "A new study created",
    "Trial status",
    "TensorBoard",
    "Traceback",
    "repeated",
)


def _spec(tmp_path: Path, changes: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict(changes)))
    return path


def _env() -> dict[str, str]:
    # The test factory must import in the driver and in Ray's workers.
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_piped_output_is_one_line_per_trial_and_the_summary_with_errors_shown(tmp_path):
    spec = _spec(
        tmp_path,
        {
            "model": {"factory": "tests.factories:refuses_width_16"},
            "failure": {"max_retries": 0},
            "fixed.epochs": 2,
        },
    )
    piped = tmp_path / "out.txt"
    with open(piped, "w") as stream:  # a file, as `raysweep run ... > out.txt 2>&1`
        done = subprocess.run(
            [RAYSWEEP, "run", str(spec), "--storage", str(tmp_path / "runs")],
            cwd=tmp_path,
            env=_env(),
            stdout=stream,
            stderr=subprocess.STDOUT,
            timeout=280,
        )
    out = piped.read_text()
    lines = out.splitlines()
    exp = tmp_path / "runs" / "tiny"
    log_file = exp / "raysweep.log"
    assert lines[0] == (
        "sweep tiny: 4 trials, metric val_accuracy (max); Ray/Tune/Optuna log: "
        "runs/tiny/raysweep.log"  # relative to the working directory, like the summary's
    ), out
    trial_lines = [line for line in lines if line.startswith("[")]
    assert len(trial_lines) == 4 and all(TRIAL_LINE.match(t) for t in trial_lines), out
    errored = [t for t in trial_lines if " error " in t]
    assert errored, f"the factory refuses width 16; no trial had it:\n{out}"
    assert done.returncode == 1  # a run whose trials errored
    for line in errored:
        at = lines.index(line)
        assert (
            lines[at + 1]
            == "  error: ValueError: width 16 is refused by this test's model factory"
        )
        error_file = Path(lines[at + 2].removeprefix("  error file: "))
        assert error_file.parent.parent == exp and error_file.is_file()
    assert not [n for n in NOISE if n in out], out
    # The header, a line per trial and two per error, then the summary after a blank line.
    blank = lines.index("")
    assert blank == 1 + 4 + 2 * len(errored), out
    assert lines[blank + 1] == f"experiment: {exp}" and len(lines) - blank <= 16, out
    assert lines[-1] == "in the browser:  raysweep dashboard runs/tiny"  # relative to cwd
    captured = log_file.read_text()
    assert "A new study created" in captured  # Optuna's chatter went to the file


@pytest.mark.slow
def test_a_terminal_gets_the_live_view_redrawn_in_place(tmp_path):
    spec = _spec(tmp_path, {"search.num_samples": 2, "fixed.epochs": 1})
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [RAYSWEEP, "run", str(spec), "--storage", str(tmp_path / "runs")],
        cwd=tmp_path,
        env={**_env(), "TERM": "xterm-256color", "COLUMNS": "120"},
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    drawn = bytearray()
    deadline = time.monotonic() + 280
    # Until the process has ended and the terminal has nothing more (Ray's processes may
    # hold it open a little longer).
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: every process holding it ended
            break
        if not chunk:
            break
        drawn.extend(chunk)
    assert proc.wait(timeout=30) == 0
    os.close(controller)
    screen = drawn.decode(errors="replace")
    assert "\x1b[" in screen, "drawn with escape codes, in place"
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "raysweep tiny" in text and "trials 2/2" in text and "best config" in text
    assert "early-stopped" in text and "epochs trained" in text
    assert "in the browser:  raysweep dashboard" in text
    assert not [n for n in NOISE if n in text], text
    # Nothing printed a line per trial: those are for pipes.
    assert not re.search(r"\[\d/2\] trial", text)


def test_verbose_gives_back_tunes_progress_table(tmp_path, ray_session, capsys):
    spec = _spec(tmp_path, {"search.num_samples": 1, "fixed.epochs": 1})
    code = main(["run", str(spec), "--storage", str(tmp_path / "runs"), "--verbose"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Trial status" in out and "Configuration for experiment" in out
    assert "[1/1] trial" not in out and "Ray/Tune/Optuna log" not in out
    assert not (tmp_path / "runs" / "tiny" / "raysweep.log").exists()
