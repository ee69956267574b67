"""The HTML report on real tiny sweeps: every file written, readable and self-contained."""

from __future__ import annotations

import matplotlib
import pytest

from search.errors import ExportError
from search.results import load_results
from search.results.report import write_report
from search.spec import parse_spec
from search.sweep.run import run_sweep
from tests.helpers import spec_dict

pytestmark = pytest.mark.usefixtures("ray_session")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = ("history.png", "parallel_coordinates.png", "importance.png", "learning_curves.png")


@pytest.fixture(scope="module")
def experiment(ray_session, tmp_path_factory):
    storage = tmp_path_factory.mktemp("report")
    spec = parse_spec(spec_dict({"fixed.epochs": 3, "search.num_samples": 4}))
    return run_sweep(spec, name="four", storage=str(storage)).path


@pytest.fixture(scope="module")
def single_trial(ray_session, tmp_path_factory):
    storage = tmp_path_factory.mktemp("report-single")
    spec = parse_spec(spec_dict({"fixed.epochs": 2, "search.num_samples": 1}))
    return run_sweep(spec, name="one", storage=str(storage)).path


def test_write_report_writes_every_plot_and_a_self_contained_page(experiment, tmp_path):
    rc_before = dict(matplotlib.rcParams)
    summary = write_report(str(experiment), str(tmp_path / "report"))
    out = tmp_path / "report"
    assert summary.out_dir == out
    assert sorted(p.name for p in summary.files) == sorted((*PLOTS, "index.html"))
    for name in PLOTS:
        data = (out / name).read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_SIGNATURE), name
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == len(PLOTS)
    assert "baseline" in page and "val_accuracy" in page and str(experiment) in page
    for trial in load_results(str(experiment)).trials:
        assert trial.trial_id in page
    assert "Not drawn" not in page
    assert dict(matplotlib.rcParams) == rc_before, "Optuna's ggplot style leaked out"
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == [], "Optuna's pyplot figures were left open"


def test_write_report_refuses_a_missing_parent_directory(experiment, tmp_path):
    with pytest.raises(ExportError, match="does not exist") as info:
        write_report(str(experiment), str(tmp_path / "missing" / "report"))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "missing").exists()


def test_report_of_a_single_trial_skips_optuna_plots_and_says_why(single_trial, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "importance.png").write_bytes(b"stale plot of an earlier report")
    summary = write_report(str(single_trial), str(out))
    names = {p.name for p in summary.files}
    assert {"index.html", "history.png", "learning_curves.png"} <= names
    assert "importance.png" not in names and not (out / "importance.png").exists()
    assert "parallel_coordinates.png" not in names
    assert (out / "history.png").read_bytes().startswith(PNG_SIGNATURE)
    page = (out / "index.html").read_text()
    assert "Not drawn: needs at least 2 trials" in page
    assert load_results(str(single_trial)).trials[0].trial_id in page
