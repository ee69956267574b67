"""What ``run`` and ``resume`` show while Tune fits: raysweep's view, or Tune's with --verbose."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

from search._tune_compat import tuner_run_config
from search.spec import SweepSpec
from search.views.logs import captured_logs, without_tune_restore_hint
from search.views.progress import SweepProgress
from search.views.terminal import TerminalView, build_output
from trainables.layout import LOG_FILE
from trainables.storage import Location

NEW_OUTPUT = "RAY_AIR_NEW_OUTPUT"


def log_file_for(experiment: Location) -> Path:
    """Inside a local experiment; for one on object storage, in this machine's temp folder
    (a log appended to line by line has no place in an object store)."""
    if experiment.is_local:
        return Path(experiment.path) / LOG_FILE
    return Path(tempfile.gettempdir()) / "raysweep" / f"{experiment.name}.{LOG_FILE}"


@contextmanager
def driver_logs(experiment: Location, *, verbose: bool) -> Iterator[Path | None]:
    """Around starting Ray and fitting: the libraries' log records into the experiment's log
    file (``None`` with ``verbose``: they stay on the terminal). Tune's ``Tuner.restore``
    hint is dropped either way."""
    with ExitStack() as stack:
        stack.enter_context(without_tune_restore_hint())
        if verbose:
            yield None
        else:
            yield stack.enter_context(captured_logs(log_file_for(experiment)))


@contextmanager
def watched(
    tuner: Any,
    spec: SweepSpec,
    experiment: Location,
    *,
    log_file: Path | None,
    stream: TextIO | None = None,
) -> Iterator[TerminalView]:
    """Around ``tuner.fit()``: raysweep's view as one more callback, Tune's output silenced.

    Tune's new output engine prints its experiment table and TensorBoard hint even at
    ``verbose=0``; its legacy engine (``RAY_AIR_NEW_OUTPUT=0``, Tune's documented switch) at
    ``verbose=0`` prints nothing.
    """
    view = TerminalView(SweepProgress.of(spec, experiment.name), build_output(stream), experiment)
    run_config = tuner_run_config(tuner)
    run_config.verbose = 0
    run_config.callbacks = [*(run_config.callbacks or []), view]
    before = os.environ.get(NEW_OUTPUT)
    os.environ[NEW_OUTPUT] = "0"
    try:
        with view.showing(None if log_file is None else str(log_file)):
            yield view
    finally:
        if before is None:
            os.environ.pop(NEW_OUTPUT, None)
        else:
            os.environ[NEW_OUTPUT] = before
