from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from search.cli import main
from tests.helpers import spec_dict

ROOT = Path(__file__).resolve().parents[2]


def write_spec(tmp_path, changes=None) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict(changes)))
    return path


def test_validate_prints_a_summary_of_a_good_spec(tmp_path, capsys):
    assert main(["validate", str(write_spec(tmp_path)), "--set", "search.num_samples=9"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and "9 trials" in out and "val_accuracy (max)" in out


@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_spec_is_one_error_line_exit_2_and_nothing_written(
    tmp_path, capsys, command, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path, {"scheduler.grace_period": 10})
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([command, str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: ") and "`scheduler.grace_period` must be <= epochs" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_bad_set_override_is_refused(tmp_path, capsys):
    assert main(["validate", str(write_spec(tmp_path)), "--set", "search.num_samples"]) == 2
    assert "expected dotted.key=value" in capsys.readouterr().err


def test_console_script_exits_2_on_unknown_optimizer(tmp_path):
    spec = write_spec(tmp_path, {"space.optimizer.choices": ["adam", "lion"]})
    exe = Path(sys.executable).with_name("raysweep")
    proc = subprocess.run(
        [str(exe), "run", str(spec)], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "'lion'" in proc.stderr
    assert "'adamw'" in proc.stderr  # the accepted values are listed
    assert not (tmp_path / "runs").exists()


def test_run_refuses_an_existing_experiment(tmp_path, capsys):
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    (tmp_path / "runs" / "tiny" / "x").write_text("")
    code = main(["run", str(write_spec(tmp_path)), "--storage", str(tmp_path / "runs")])
    assert code == 2
    assert "already exists; resume it with `raysweep resume" in capsys.readouterr().err


def test_unwritable_storage_is_refused_before_anything_starts(tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    spec = write_spec(tmp_path)
    assert main(["run", str(spec), "--storage", str(not_a_dir / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: storage ") and "is not writable" in err
