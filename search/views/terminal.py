"""raysweep's own terminal view of a running sweep, fed by a Tune callback in the driver.

On a terminal it is one rich ``Live`` panel, redrawn in place. Anywhere else (a pipe, CI,
``nohup``, a notebook) it prints plain lines: one per finished trial, an errored trial's
exception and error file. The CLI prints the final summary after it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO

from ray.tune import Callback

from search.results.records import ERROR, creation_order
from search.views.progress import (
    SweepProgress,
    TrialProgress,
    header_line,
    status_lines,
    trial_line,
)
from trainables.storage import Location


class Output(Protocol):
    def start(self, progress: SweepProgress, log_file: str | None) -> None: ...
    def refresh(self, progress: SweepProgress) -> None: ...
    def finished(self, progress: SweepProgress, trial: TrialProgress) -> None: ...
    def errored(self, progress: SweepProgress, trial: TrialProgress, message: str) -> None: ...
    def close(self, progress: SweepProgress) -> None: ...


class PlainOutput:
    """Lines only, each written once: what a pipe or a CI log should hold."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def start(self, progress: SweepProgress, log_file: str | None) -> None:
        self._print(header_line(progress, log_file))

    def refresh(self, progress: SweepProgress) -> None:
        pass

    def finished(self, progress: SweepProgress, trial: TrialProgress) -> None:
        self._print(trial_line(progress, trial))

    def errored(self, progress: SweepProgress, trial: TrialProgress, message: str) -> None:
        self._print(trial_line(progress, trial))
        self._print(message)

    def close(self, progress: SweepProgress) -> None:
        pass


class LiveOutput:
    """A panel redrawn in place (rich); errors are printed above it and stay."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.live: Any = None
        self.lock = threading.Lock()  # rich redraws from its own thread
        self.final = False

    def _panel(self, progress: SweepProgress) -> Any:
        from rich.panel import Panel
        from rich.text import Text

        with self.lock:
            body = "\n".join(status_lines(progress, final=self.final))
        return Panel(Text(body), title=f"raysweep {progress.name}", expand=False)

    def start(self, progress: SweepProgress, log_file: str | None) -> None:
        from rich.live import Live

        self.console.print(header_line(progress, log_file), highlight=False, soft_wrap=True)
        self.live = Live(
            get_renderable=lambda: self._panel(progress),
            console=self.console,
            refresh_per_second=2,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.live.start()

    def refresh(self, progress: SweepProgress) -> None:
        if self.live is not None:
            self.live.refresh()

    def finished(self, progress: SweepProgress, trial: TrialProgress) -> None:
        self.refresh(progress)

    def errored(self, progress: SweepProgress, trial: TrialProgress, message: str) -> None:
        self.console.print(trial_line(progress, trial), highlight=False, soft_wrap=True)
        self.console.print(message, highlight=False, soft_wrap=True, style="red")

    def close(self, progress: SweepProgress) -> None:
        self.final = True  # the summary printed below says the baseline and the best
        if self.live is not None:
            self.live.stop()  # leaves the last panel on screen, drawn once more
            self.live = None


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    ipython = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return type(ipython).__name__ == "ZMQInteractiveShell"


def build_output(stream: TextIO | None = None) -> Output:
    """Live on a terminal; plain lines in a pipe, in CI and in notebooks (text, no escapes)."""
    stream = stream or sys.stdout
    is_tty = getattr(stream, "isatty", lambda: False)()
    if is_tty and os.environ.get("TERM") != "dumb" and not _in_notebook():
        from rich.console import Console

        return LiveOutput(Console(file=stream))
    return PlainOutput(stream)


def error_message(trial: Any, experiment: Location) -> str:
    """The exception's last line and where its error file lies in the experiment."""
    last = "unknown error"
    local = trial.error_file  # the driver's copy; it reaches the experiment at the snapshot
    if local and Path(local).is_file():
        lines = [ln for ln in Path(local).read_text(errors="replace").splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else last
    name = trial.run_metadata.error_filename or "error.txt"
    where = experiment / Path(str(trial.path)).name / name
    return f"  error: {last}\n  error file: {where}"


class TerminalView(Callback):
    """Tune's trial events -> ``SweepProgress`` -> an ``Output``. Not pickled with the Tuner:
    it is attached to the Tuner after the Tuner saved itself (see ``attach_view``)."""

    def __init__(self, progress: SweepProgress, output: Output, experiment: Location) -> None:
        self.progress = progress
        self.output = output
        self.experiment = experiment
        self.seeded = False
        self.last_refresh = 0.0
        # Shared with a live output, which reads the progress from rich's refresh thread.
        self.lock: Any = getattr(output, "lock", None) or threading.Lock()

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if trials and not self.seeded:
            self._seed(trials)
        now = time.monotonic()
        if now - self.last_refresh > 0.5:
            self.last_refresh = now
            self.output.refresh(self.progress)

    def _seed(self, trials: list) -> None:
        """The trials Tune restored (a resume): counted, not printed again."""
        self.seeded = True
        with self.lock:
            self.progress.baseline_id = min(trials, key=creation_order).trial_id
            for trial in trials:
                last = dict(trial.last_result or {})
                if trial.status == "TERMINATED":
                    self.progress.finish(trial.trial_id, trial.config, last)
                elif trial.status == "ERROR":
                    self.progress.trial(trial.trial_id, trial.config).status = ERROR
                elif last:
                    self.progress.result(trial.trial_id, trial.config, last)
            self.progress.finished_before = self.progress.done

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info):
        with self.lock:
            self.progress.result(trial.trial_id, trial.config, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        with self.lock:
            self.progress.finish(trial.trial_id, trial.config, dict(trial.last_result or {}))
        self.output.finished(self.progress, self.progress.trials[trial.trial_id])

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        with self.lock:
            record = self.progress.trial(trial.trial_id, trial.config)
            record.status = ERROR
        message = error_message(trial, self.experiment)
        self.output.errored(self.progress, record, message)

    @contextmanager
    def showing(self, log_file: str | None) -> Iterator[None]:
        self.output.start(self.progress, log_file)
        try:
            yield
        finally:
            self.output.close(self.progress)
