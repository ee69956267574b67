"""Starting Ray as raysweep does: trials in warm, prestarted workers; Tune's code imported while
Ray starts; nothing of Ray needed to read a spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ray.tune.execution.class_cache import _ActorClassCache

from search.data_spec import load_data
from search.run import build_trainable
from search.spec import parse_spec
from tests.helpers import spec_dict

REPO = Path(__file__).resolve().parents[2]


def _env_without_aws() -> dict[str, str]:
    # Tune passes AWS credentials set in the driver on to trial actors as their runtime env,
    # which puts them in fresh processes: a user of local storage has none set.
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "RAY_ADDRESS": "local"
    }


def test_trial_actors_carry_only_the_variables_the_driver_sets(tmp_path):
    spec = parse_spec(spec_dict(), source="<test>")
    data, _ = load_data(spec.data)
    build_trainable(spec, experiment=tmp_path / "exp", data=data)

    class Trial:
        pass

    env_vars = _ActorClassCache().get(Trial)._default_options["runtime_env"]["env_vars"]
    assert "PL_DISABLE_FORK" not in env_vars
    assert env_vars["AWS_ACCESS_KEY_ID"] == os.environ["AWS_ACCESS_KEY_ID"]  # set by conftest


def test_embedded_ray_starts_trials_in_warm_prestarted_workers(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tests.warm_start_probe", str(tmp_path / "runs")],
        cwd=REPO,
        env=_env_without_aws(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"tuner_imported": True, "prestarted": True, "preloaded": True}


def test_reading_a_spec_imports_no_ray():
    code = (
        "import sys; from search.spec import load_spec; load_spec('examples/digits.yaml'); "
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
