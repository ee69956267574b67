"""Model factories for the tests, as a user would write them in their own package."""

from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn

from trainables.config import TrainConfig
from trainables.model import build_model


def tiny_resnet_mlp(config: TrainConfig, *, n_inputs: int, n_outputs: int) -> nn.Module:
    """A user's own network: one skip connection around a hidden layer."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(n_inputs, config.width)
            self.hidden = nn.Linear(config.width, config.width)
            self.out = nn.Linear(config.width, n_outputs)

        def forward(self, x):
            h = self.inp(x).relu()
            return self.out(h + self.hidden(h).relu())

    return Net()


def not_a_module(config: TrainConfig, *, n_inputs: int, n_outputs: int) -> str:
    return "oops"


# A probe for the resource tests: run inside each trial's Ray worker, it records what Ray gave
# that trial. It writes only on a node started with PROBE_DIR in its environment, so the
# driver's model check (and every other node) just builds the MLP.
PROBE_DIR = "RAYSWEEP_TEST_PROBE_DIR"


def probe_record() -> dict[str, Any]:
    import ray
    from ray import tune

    context = tune.get_context()
    return {
        "trial_id": context.get_trial_id(),
        "pid": os.getpid(),
        "node_id": ray.get_runtime_context().get_node_id(),
        "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "resources": context.get_trial_resources().required_resources,
        "t": time.time(),
    }


def _gpu_probe_mlp(
    config: TrainConfig, *, n_inputs: int, n_outputs: int, company: int, patience_s: float
) -> nn.Module:
    """The default MLP, after recording this trial and waiting up to ``patience_s`` until
    ``company`` trials of the sweep have recorded theirs.

    The wait makes concurrency a fact rather than a race: without it the first trial can
    finish its few tiny epochs before the last one's worker has imported torch.
    """
    root = os.environ.get(PROBE_DIR)
    if root:
        from ray import tune

        folder = Path(root) / tune.get_context().get_experiment_name()
        folder.mkdir(parents=True, exist_ok=True)
        record = probe_record()
        partial_file = folder / f".{record['trial_id']}.tmp"
        partial_file.write_text(json.dumps(record))
        partial_file.replace(folder / f"{record['trial_id']}.json")  # never read half-written
        deadline = time.monotonic() + patience_s
        while len(list(folder.glob("*.json"))) < company and time.monotonic() < deadline:
            time.sleep(0.05)
    return build_model(config, n_inputs=n_inputs, n_outputs=n_outputs)


def probe_records(root: Path, experiment: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / experiment).glob("*.json"))]


# Four trials wait for each other (long enough for four workers to boot on a loaded machine);
# a fail-safe, not a sleep: they go on as soon as the fourth arrives.
gpu_probe_together_4 = partial(_gpu_probe_mlp, company=4, patience_s=120.0)
# Waits briefly for a third trial: room for one to start beside two, if Ray allowed it.
gpu_probe_briefly_3 = partial(_gpu_probe_mlp, company=3, patience_s=5.0)


def refuses_width_16(config: TrainConfig, *, n_inputs: int, n_outputs: int) -> nn.Module:
    """The MLP, except that a width of 16 raises: real errored trials, for the error paths."""
    if config.width == 16:
        raise ValueError("width 16 is refused by this test's model factory")
    return build_model(config, n_inputs=n_inputs, n_outputs=n_outputs)


# Gates for the node-loss test: a moment in a trial ("start": building its model, "epoch":
# mid-epoch, "checkpoint": while its state is saved) at which the test kills that trial's
# node. The test arms a moment with a file ``armed-<moment>`` in GATE_DIR; the first trial to
# reach it writes its pid to ``arrived-<moment>`` and waits there until its node is killed.
# Only nodes started with GATE_DIR in their environment have gates (not the driver).
GATE_DIR = "RAYSWEEP_TEST_GATE_DIR"
GATE_PATIENCE_S = 300.0  # a fail-safe: the test kills the waiting process long before


def gate(moment: str) -> None:
    root = os.environ.get(GATE_DIR)
    if not root or not (Path(root) / f"armed-{moment}").exists():
        return
    try:
        fd = os.open(Path(root) / f"arrived-{moment}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:  # another trial got here first: this one goes on
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    deadline = time.monotonic() + GATE_PATIENCE_S
    while time.monotonic() < deadline:
        time.sleep(0.05)


class _Gated(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        if self.training:
            gate("epoch")
        return self.net(x)

    def state_dict(self, *args, **kwargs):
        gate("checkpoint")
        return super().state_dict(*args, **kwargs)


def gated_mlp(config: TrainConfig, *, n_inputs: int, n_outputs: int) -> nn.Module:
    gate("start")
    return _Gated(build_model(config, n_inputs=n_inputs, n_outputs=n_outputs))
