"""Starting Ray as raysweep does: trials in warm, prestarted workers; Tune's code imported while
Ray starts; nothing of Ray needed to read a spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ray.tune.execution.class_cache import _ActorClassCache

from search.sweep import ray_session as session

REPO = Path(__file__).resolve().parents[3]


def _trial_env_vars() -> dict[str, str]:
    class Trial:
        pass

    return dict(_ActorClassCache().get(Trial)._default_options["runtime_env"]["env_vars"])


def test_trial_actors_carry_only_the_variables_the_driver_sets_and_tune_gets_its_tables_back():
    before = _trial_env_vars()
    with session.trial_environment():
        env_vars = _trial_env_vars()
    assert "PL_DISABLE_FORK" not in env_vars
    # This session's Ray wasn't started by ensure_ray: Tune passes the credentials as always.
    assert env_vars["AWS_ACCESS_KEY_ID"] == os.environ["AWS_ACCESS_KEY_ID"]  # set by conftest
    assert _trial_env_vars() == before  # the sweep is over: Tune's module tables as they were
    assert "PL_DISABLE_FORK" in before


def test_on_the_embedded_ray_only_variables_changed_since_it_started_are_passed(
    ray_session, monkeypatch
):
    started_with = {
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": "the value when Ray started",
    }
    gcs = ray_session.get_runtime_context().gcs_address
    monkeypatch.setattr(session, "_embedded", session._EmbeddedRay(gcs, started_with))
    with session.trial_environment():
        env_vars = _trial_env_vars()
    assert "AWS_ACCESS_KEY_ID" not in env_vars  # inherited unchanged by the workers
    assert env_vars["AWS_SECRET_ACCESS_KEY"] == os.environ["AWS_SECRET_ACCESS_KEY"]
    assert "AWS_ACCESS_KEY_ID" in _trial_env_vars()


def test_embedded_ray_starts_trials_in_warm_prestarted_workers_on_loopback_only(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tests.warm_start_probe", str(tmp_path / "runs")],
        cwd=REPO,
        # AWS credentials set (conftest): Tune would pass them as a runtime env
        env={**os.environ, "RAY_ADDRESS": "local"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {
        "tuner_imported": True,
        "prestarted": True,
        "preloaded": True,
        "listening_beyond_loopback": [],
    }


def test_loopback_only_puts_rays_switch_back_and_respects_a_users_setting(monkeypatch):
    from ray._private import ray_constants

    name = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    monkeypatch.delenv(name, raising=False)
    before = ray_constants.ENABLE_RAY_CLUSTER
    with session.loopback_only():
        assert os.environ[name] == "0" and ray_constants.ENABLE_RAY_CLUSTER is False
    assert name not in os.environ and ray_constants.ENABLE_RAY_CLUSTER == before

    monkeypatch.setenv(name, "1")  # the user wants the local Ray reachable
    with session.loopback_only():
        assert os.environ[name] == "1" and ray_constants.ENABLE_RAY_CLUSTER == before
