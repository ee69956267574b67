"""cluster.yaml is a real Ray cluster-launcher config, valid against Ray's own schema."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[1] / "cluster.yaml"


def load() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def test_cluster_yaml_validates_against_rays_schema():
    config = load()
    validate_config(prepare_config(copy.deepcopy(config)))
    gpu = config["available_node_types"]["gpu_worker"]
    assert gpu["min_workers"] == 0 and config["available_node_types"]["head"]["resources"] == {
        "CPU": 0
    }
    start = " ".join(config["head_start_ray_commands"])
    assert "RAY_AUTH_MODE=token" in start and "--dashboard-host=127.0.0.1" in start
    assert all(
        "RAY_AUTH_MODE=token" in " ".join(config[k])
        for k in ("head_start_ray_commands", "worker_start_ray_commands")
    )


def test_a_cluster_yaml_without_head_node_type_is_refused():
    config = load()
    del config["head_node_type"]
    with pytest.raises(ValueError, match="head_node_type"):
        validate_config(prepare_config(config))
