"""A finished experiment reads back where the sweep's model factory, MLflow and OptunaHub are
absent: reading a spec is a pure parse; only run, validate and submit check what runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from search.cli import main
from search.spec import parse_spec
from search.sweep.run import run_sweep
from tests.helpers import spec_dict

REPO = Path(__file__).resolve().parents[3]
# Absent as a missing package is: ``import tests.factories`` (and mlflow, optunahub) raises
# ImportError in the subprocess.
ABSENT = (
    "import sys\nfor name in ('tests', 'mlflow', 'optunahub'):\n    sys.modules[name] = None\n"
)


def _cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    code = (
        ABSENT
        + "from search.cli import main\n"
        + f"rc = main({args!r})\n"
        + "loaded = sorted(m for m in sys.modules if m.startswith(('tests.', 'mlflow.')))\n"
        + "print(json.dumps({'rc': rc, 'loaded': loaded}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        cwd=tmp_path,  # not the repository: nothing of it beside the installed packages
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def factory_experiment(ray_session, tmp_path_factory) -> Path:
    storage = tmp_path_factory.mktemp("factory")
    spec = parse_spec(
        spec_dict(
            {
                "model": {"factory": "tests.factories:tiny_resnet_mlp"},
                "fixed.epochs": 2,
                "search.num_samples": 2,
                "scheduler": {"type": "fifo"},
            }
        )
    )
    summary = run_sweep(spec, storage=str(storage))
    assert summary.num_errors == 0 and summary.best is not None
    return Path(summary.path)


def test_status_and_export_of_a_factory_sweep_work_without_the_factory(
    factory_experiment, tmp_path
):
    status = _cli(["status", str(factory_experiment)], tmp_path)
    assert status.returncode == 0, status.stderr[-2000:]
    outcome = json.loads(status.stdout.strip().splitlines()[-1])
    assert outcome == {"rc": 0, "loaded": []}
    assert "(baseline)" in status.stdout and "terminated" in status.stdout

    out = tmp_path / "trials.parquet"
    export = _cli(["export", str(factory_experiment), "-o", str(out)], tmp_path)
    assert export.returncode == 0, export.stderr[-2000:]
    assert json.loads(export.stdout.strip().splitlines()[-1]) == {"rc": 0, "loaded": []}
    table = pd.read_parquet(out)
    assert len(table) == 2 and table["model_file"].notna().all()


def test_a_saved_spec_needing_mlflow_and_optunahub_reads_back_without_them(tmp_path):
    spec = spec_dict(
        {
            "search.sampler": "auto",
            "tracking": {"mlflow": "sqlite:///nowhere.db"},
            "model": {"factory": "nowhere.models:build"},
        }
    )
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    code = (
        ABSENT
        + "from search.spec import load_spec\n"
        + "s = load_spec('s.yaml')\n"
        + "print(s.search.sampler, s.tracking.mlflow, s.architecture.factory)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["auto", "sqlite:///nowhere.db", "nowhere.models:build"]


def test_running_that_spec_where_the_factory_is_missing_fails_before_ray(tmp_path, capsys):
    spec = spec_dict({"model": {"factory": "nowhere.models:build"}})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    for command in (["validate"], ["run", "--storage", str(tmp_path / "runs")]):
        assert main([command[0], str(tmp_path / "s.yaml"), *command[1:]]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "`model.factory` 'nowhere.models:build'" in err
    assert not (tmp_path / "runs").exists()
