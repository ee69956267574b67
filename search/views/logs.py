"""Ray's, Tune's and Optuna's log records into a file beside the experiment, not the terminal.

Python logging only: the embedded Ray's worker output is kept off the driver by
``ray.init(log_to_driver=False)`` and Tune's own progress output by ``RunConfig(verbose=0)``;
this catches what the driver itself logs (Tune's controller, syncer and interrupt hint, Ray's
token-auth warning, Optuna's "A new study created"). Storage problems still reach the terminal
as one line each.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# The libraries whose driver-side records go to the file. Each keeps its records off the root
# logger (propagate False) while inside, so nothing reaches Python's last-resort stderr handler.
CAPTURED = ("ray", "optuna", "py.warnings", "filelock", "fsspec", "urllib3", "botocore")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STORAGE_WORDS = ("storage", "sync operation failed", "upload", "persist")


class StorageProblems(logging.Filter):
    """Warnings and errors about the experiment's storage: the user must see those."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        message = record.getMessage().lower()
        return "still in progress" not in message and any(w in message for w in STORAGE_WORDS)


class TuneRestoreHint(logging.Filter):
    """Drops Tune's "Resume experiment with: Tuner.restore(...)": raysweep prints its own
    ``raysweep resume ...`` line, the one a raysweep user runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tuner.restore(" not in record.getMessage()


class DroppingFileHandler(logging.FileHandler):
    """The log file, which lives on the experiment's storage: a record that storage refuses
    (full, read-only, denied) is dropped quietly, and closing never raises. The sweep says
    in one line why it stopped; a log that can't be written is never the reason for a
    traceback (Python's ``--- Logging error ---`` included)."""

    def __init__(self, path: Path) -> None:
        # Opened with the first record, so a refused open is dropped like a refused write.
        super().__init__(path, encoding="utf-8", delay=True)

    def handleError(self, record: logging.LogRecord) -> None:
        pass

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the buffered records could not be flushed: dropped
            pass


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = record.getMessage().strip().splitlines()[0].rstrip(": ")
        if record.exc_info and record.exc_info[1] is not None:
            line += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return f"warning: {line.splitlines()[0]}"


def _terminal_handler(stream: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.addFilter(StorageProblems())
    handler.setFormatter(_OneLine())
    return handler


@contextmanager
def captured_logs(log_file: Path, *, terminal: TextIO | None = None) -> Iterator[Path]:
    """While inside, the ``CAPTURED`` loggers write to ``log_file`` (appended: a resume adds to
    it) and only storage problems to ``terminal`` (stderr); everything is put back after."""
    import optuna.logging

    optuna.logging.get_logger("optuna")  # Optuna adds its stderr handler on first use: now
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # the storage refuses writes: the records are dropped (see the handler)
        pass
    to_file = DroppingFileHandler(log_file)
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    handlers = [to_file, _terminal_handler(terminal or sys.stderr)]
    saved = {}
    for name in CAPTURED:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.propagate)
        logger.handlers = list(handlers)
        logger.propagate = False
    logging.captureWarnings(True)
    try:
        yield log_file
    finally:
        logging.captureWarnings(False)
        for name, (before, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers = before
            logger.propagate = propagate
        to_file.close()


@contextmanager
def without_tune_restore_hint() -> Iterator[None]:
    """With ``--verbose`` too, Tune's restore hint is left out (see ``TuneRestoreHint``)."""
    hint = TuneRestoreHint()
    # A logger's filters see only the records logged on it: Tune's hint is ray.tune.tune's.
    logger = logging.getLogger("ray.tune.tune")
    logger.addFilter(hint)
    try:
        yield
    finally:
        logger.removeFilter(hint)
