"""Library log records go to the experiment's log file; storage problems still show."""

from __future__ import annotations

import io
import logging

from search.views.logs import captured_logs, without_tune_restore_hint


def test_library_records_go_to_the_file_and_storage_problems_to_the_terminal_in_one_line(
    tmp_path,
):
    terminal = io.StringIO()
    log_file = tmp_path / "exp" / "raysweep.log"
    ray_handlers = list(logging.getLogger("ray").handlers)
    with captured_logs(log_file, terminal=terminal):
        logging.getLogger("optuna").info("A new study created in memory with name: optuna")
        logging.getLogger("ray.tune.tune").warning("Trial status: 2 RUNNING")
        try:
            raise OSError("Access Denied")
        except OSError:
            logging.getLogger("ray.tune.execution.experiment_state").exception(
                "Saving experiment state to storage at 'bucket/exp' failed with exception: "
            )
    assert terminal.getvalue() == (
        "warning: Saving experiment state to storage at 'bucket/exp' failed with exception"
        ": OSError: Access Denied\n"
    )
    written = log_file.read_text()
    assert "A new study created" in written and "Trial status" in written
    assert "Traceback" in written, "the file keeps the whole record"
    assert logging.getLogger("ray").handlers == ray_handlers, "put back afterwards"


def test_tunes_restore_hint_is_dropped_even_with_verbose(caplog):
    with without_tune_restore_hint(), caplog.at_level(logging.WARNING, logger="ray.tune.tune"):
        logging.getLogger("ray.tune.tune").warning(
            "Experiment has been interrupted, but the most recent state was saved.\n"
            'Resume experiment with: Tuner.restore(path="/x", trainable=...)'
        )
        logging.getLogger("ray.tune.tune").warning("Total run time: 3.00 seconds")
    assert [r.getMessage() for r in caplog.records] == ["Total run time: 3.00 seconds"]
