"""The dashboard's study, through Optuna's API, on real tiny sweeps; and optuna-dashboard in a
real headless Chromium (Debian's ``chromium``, driven by playwright, no downloaded browser)."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from search.cli import main
from search.results import load_results
from search.results.study import build_study
from search.spec import parse_spec
from search.sweep.run import run_sweep
from search.views.dashboard import FollowedStudy, dashboard_url, start_dashboard
from tests.helpers import spec_dict
from tests.processes import start_raysweep, wait_for

pytestmark = pytest.mark.usefixtures("ray_session")

# Where it is missing, `make test` installs `chromium` as root with apt (see the Makefile).
CHROMIUM = os.environ.get("RAYSWEEP_CHROMIUM", "/usr/bin/chromium")
DOCS_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"

# ASHA over 6 trials stops some early; the factory refuses width 16, so some error: the
# study has trials trained to the end, stopped early and failed.
MIXED = {
    "space.lr": {"type": "float", "low": 1.0e-5, "high": 0.3, "log": True},
    "model": {"factory": "tests.factories:refuses_width_16"},
    "failure": {"max_retries": 0},
    "fixed.epochs": 4,
    "search.num_samples": 6,
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    spec = parse_spec(spec_dict(MIXED))
    summary = run_sweep(spec, name="mixed", storage=str(tmp_path_factory.mktemp("d")))
    return load_results(summary.path)


def test_the_study_has_one_optuna_trial_per_tune_trial_with_state_values_and_attributes(mixed):
    study = build_study(mixed)
    assert study.study_name == "mixed" and study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert study.metric_names == ["val_accuracy"]
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == len(mixed.trials) == 6
    expected = {"terminated": TrialState.COMPLETE, "early_stopped": TrialState.PRUNED}
    expected |= {"diverged": TrialState.FAIL, "error": TrialState.FAIL}
    assert {t.status for t in mixed.trials} >= {"terminated", "early_stopped", "error"}
    for optuna_trial, record in zip(trials, mixed.trials):
        attrs = optuna_trial.user_attrs
        assert attrs["tune_trial_id"] == record.trial_id
        assert optuna_trial.state == expected[record.status]
        assert attrs["status"] == record.status and attrs["epochs"] == record.epochs_completed
        assert attrs["baseline"] == record.is_baseline
        assert attrs["delta_vs_baseline"] == record.delta_vs_baseline
        history = record.history
        epochs = {} if history.empty else dict(zip(history["epoch"], history["val_accuracy"]))
        assert optuna_trial.intermediate_values == epochs
        if record.status != "error":
            assert attrs["checkpoint"] == record.checkpoint.path
            assert Path(attrs["checkpoint"]).is_dir()
            assert attrs["node"] == str(history["node_id"].iloc[-1])
        # Typed as the spec declares them: float, int, categorical choice.
        assert isinstance(optuna_trial.params["lr"], float)
        assert type(optuna_trial.params["depth"]) is int
        assert optuna_trial.params["width"] in (16, 32)
        if optuna_trial.state == TrialState.COMPLETE:
            assert optuna_trial.value == record.metric_best
    assert trials[0].user_attrs["baseline"] and study.user_attrs["baseline_trial"] == (
        mixed.trials[0].trial_id
    )
    assert study.best_trial.user_attrs["tune_trial_id"] == mixed.ranked()[0].trial_id


def test_a_multi_objective_sweep_is_a_multi_objective_study(tmp_path):
    spec = spec_dict(
        {
            "metric": [
                {"name": "val_accuracy", "mode": "max"},
                {"name": "n_params", "mode": "min"},
            ],
            "search.sampler": "nsga2",
            "search.num_samples": 2,
            "fixed.epochs": 1,
            "scheduler": {"type": "fifo"},
        }
    )
    summary = run_sweep(parse_spec(spec), name="multi", storage=str(tmp_path))
    study = build_study(load_results(summary.path))
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_accuracy", "n_params"]
    assert all(len(t.values) == 2 for t in study.trials)
    assert study.best_trials


@pytest.mark.slow
def test_the_dashboard_follows_a_running_sweep_and_its_resume_without_stale_trials(tmp_path):
    path = tmp_path / "spec.yaml"
    changes = {
        "name": "follow",
        "fixed.epochs": 100,
        "search.num_samples": 2,
        "scheduler": {"type": "fifo"},
    }
    path.write_text(yaml.safe_dump(spec_dict(changes)))
    exp = tmp_path / "runs" / "follow"
    proc = start_raysweep(["run", str(path)], cwd=tmp_path, log=tmp_path / "run.log")
    followed = FollowedStudy(exp)

    def epochs_shown() -> int:
        try:
            followed.refresh()
        except Exception:  # not a raysweep experiment yet: the spec is written at start
            return 0
        return sum(len(t.intermediate_values) for t in followed.storage.get_all_trials(0))

    wait_for(lambda: epochs_shown() >= 2, timeout=240, what="2 epochs in the study", proc=proc)
    seen = epochs_shown()
    # New epochs reach the study within ~10 s (Tune snapshots with every checkpoint here).
    wait_for(lambda: epochs_shown() > seen, timeout=10, what="a new epoch", proc=proc, every=1)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    assert proc.wait(timeout=120) == 130
    said = (tmp_path / "run.log").read_text()
    assert f"interrupted: continue with  raysweep resume {exp}" in said
    assert not [n for n in ("Tuner.restore", "Traceback", "SystemExit") if n in said], said
    followed.refresh()
    interrupted = followed.storage.get_all_trials(0)
    assert TrialState.RUNNING in {t.state for t in interrupted}

    assert main(["resume", str(exp)]) == 0
    followed.refresh()
    trials = followed.storage.get_all_trials(0)
    assert len(trials) == 2, "one Optuna trial per Tune trial, none twice"
    assert len({t.user_attrs["tune_trial_id"] for t in trials}) == 2
    assert {t.user_attrs["tune_trial_id"] for t in interrupted} == {
        t.user_attrs["tune_trial_id"] for t in trials
    }
    for trial in trials:
        assert trial.state == TrialState.COMPLETE
        assert sorted(trial.intermediate_values) == list(range(1, 101))


def _chromium() -> str:
    found = shutil.which(CHROMIUM) or shutil.which("chromium")
    if found is None:
        pytest.fail(
            f"the dashboard's browser test needs Chromium (none at {CHROMIUM} or on PATH): "
            "run `sudo apt-get install -y chromium` (`make test` does as root), or point "
            "RAYSWEEP_CHROMIUM at one"
        )
    return found


def test_the_dashboard_renders_the_study_in_a_real_browser(mixed, tmp_path):
    from playwright.sync_api import sync_playwright

    browser_path = _chromium()
    server, _, stop = start_dashboard(str(mixed.path), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = dashboard_url(server, "127.0.0.1")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(url)
            page.get_by_text("mixed").first.click()  # the study, by the experiment's name
            page.get_by_role("heading", name="History").wait_for(timeout=30_000)
            # A rendered plotly history plot: an SVG with one marker per trial with a value.
            points = page.locator(".js-plotly-plot .scatterlayer .point")
            points.first.wait_for(timeout=30_000)
            assert points.count() >= 4
            page.wait_for_timeout(1000)  # the plots finish their transitions
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            page.goto(url.rstrip("/") + "/studies/0/trials")
            page.get_by_text("6 Trials").wait_for(timeout=30_000)
            browser.close()
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_the_dashboard_says_in_one_line_when_its_port_is_taken(mixed):
    import socket

    from search.errors import DashboardError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DashboardError, match=f"can't listen on 127.0.0.1:{port} .*--port"):
            start_dashboard(str(mixed.path), port=port)


def test_the_dashboard_refuses_what_is_not_an_experiment(tmp_path, capsys):
    assert main(["dashboard", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nope'}: no such experiment directory\n"
