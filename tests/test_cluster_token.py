"""cluster.yaml's nodes share one token: its own commands, run for a head and workers here.

The launcher, on each node: file_mounts, then setup_commands, then the node type's start
commands with ``RAY_HEAD_IP`` and ``RAY_OVERRIDE_RESOURCES`` exported. This test does the
same on this machine's loopback, each node with a HOME of its own (``/home/ubuntu`` in the
config becomes that HOME), and the token placed where its file mount puts it. What it must
leave out is listed in ``launcher_commands``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.cluster import RAY, free_port

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.cluster]

CLUSTER = Path(__file__).resolve().parents[1] / "cluster.yaml"
REMOTE_HOME = "/home/ubuntu"
# Left out: the network installs (raysweep is installed here already) and `ray stop` (it
# would stop every Ray on this machine, other tests' too).
LEFT_OUT = (
    "python3 -m pip install --upgrade pip",
    f"python3 -m pip install -e {REMOTE_HOME}/raysweep",
    "ray stop",
)


def launcher_commands(config: dict, start_key: str, flags: str, gcs_port: int) -> list[str]:
    """A node's setup and start commands from cluster.yaml, fitted to this machine: its ports
    replaced by free ones (other Rays run here), ``flags`` added to ``ray start``."""
    commands = []
    for cmd in [*config["setup_commands"], *config[start_key]]:
        if cmd.strip() in LEFT_OUT:
            continue
        assert "pip install" not in cmd and "ray stop" not in cmd, f"new in cluster.yaml: {cmd}"
        cmd = re.sub(r"--autoscaling-config=\S+", "", cmd)  # the launcher's AWS autoscaler
        cmd = cmd.replace("--port=6379", f"--port={gcs_port}").replace(":6379", f":{gcs_port}")
        cmd = cmd.replace(
            "--ray-client-server-port=10001", f"--ray-client-server-port={free_port()}"
        )
        commands.append(cmd.replace("ray start", f"{RAY} start {flags}"))
    return commands


def node_env(home: Path, **extra: str) -> dict[str, str]:
    """A node's (or the user's) environment: a HOME of its own, no token from this one's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    return {**env, **extra}


def generate_token(home: Path) -> str:
    """What the README asks of the user, once, on their own machine."""
    subprocess.run(
        [RAY, "get-auth-token", "--generate"], env=node_env(home), check=True, capture_output=True
    )
    return (home / ".ray" / "auth_token").read_text()


def mount_files(config: dict, user_home: Path, node_home: Path) -> None:
    """file_mounts as the launcher syncs them (the checkout is installed here already)."""
    for remote, local in config["file_mounts"].items():
        if local == ".":
            continue
        source = Path(local.replace("~", str(user_home), 1))
        target = node_home / Path(remote).relative_to(REMOTE_HOME)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)  # rsync -a, as the launcher


@dataclass
class Cluster:
    root: Path
    config: dict = field(default_factory=lambda: yaml.safe_load(CLUSTER.read_text()))
    gcs_port: int = field(default_factory=free_port)
    groups: list[int] = field(default_factory=list)

    def start_node(
        self, name: str, start_key: str, user_home: Path, resources: dict, flags: str
    ) -> subprocess.CompletedProcess:
        """Run one node's commands as the launcher would; the last result is ray start's."""
        home = self.root / name
        home.mkdir()
        mount_files(self.config, user_home, home)
        env = node_env(
            home,
            RAY_HEAD_IP="127.0.0.1",
            RAY_OVERRIDE_RESOURCES=json.dumps(resources),
        )
        temp = f"--temp-dir={self.root / 'ray'} --dashboard-agent-listen-port={free_port()}"
        done = None
        for cmd in launcher_commands(self.config, start_key, f"{temp} {flags}", self.gcs_port):
            proc = subprocess.Popen(
                ["bash", "-c", cmd],
                env=env,
                cwd=home,
                start_new_session=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            self.groups.append(proc.pid)  # ray start's daemons stay in its process group
            out, _ = proc.communicate(timeout=180)
            done = subprocess.CompletedProcess(cmd, proc.returncode, out)
            if proc.returncode != 0:
                break
        assert done is not None
        return done

    def stop(self) -> None:
        for group in reversed(self.groups):
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


DRIVER = """
import json, sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR")

@ray.remote(num_cpus=1, resources={"node_w": 1})
def where():
    return ray.get_runtime_context().get_node_id()

alive = [n for n in ray.nodes() if n["Alive"]]
print(json.dumps({"alive": len(alive), "ran_on": ray.get(where.remote(), timeout=120),
                  "workers": [n["NodeID"] for n in alive if "node_w" in n["Resources"]]}))
"""


def test_the_nodes_share_the_users_token_and_a_stranger_is_refused():
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="rt", dir="/tmp")))  # short socket paths
    try:
        user = cluster.root / "user"
        token = generate_token(user)
        head = cluster.start_node(
            "head",
            "head_start_ray_commands",
            user,
            cluster.config["available_node_types"]["head"]["resources"],
            f"--dashboard-port={free_port()}",
        )
        assert head.returncode == 0, head.stdout[-3000:]
        assert (cluster.root / "head" / ".ray" / "auth_token").read_text() == token
        worker = cluster.start_node(
            "worker", "worker_start_ray_commands", user, {"CPU": 1, "node_w": 1}, ""
        )
        assert worker.returncode == 0, worker.stdout[-3000:]
        ran = subprocess.run(
            [sys.executable, "-c", DRIVER, f"127.0.0.1:{cluster.gcs_port}"],
            env=node_env(user, RAY_AUTH_MODE="token"),  # the user's machine, its one token
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
        seen = json.loads(ran.stdout.strip().splitlines()[-1])
        assert seen["alive"] == 2 and seen["workers"] == [seen["ran_on"]], seen

        stranger = cluster.root / "stranger"
        assert generate_token(stranger) != token
        refused = cluster.start_node(
            "impostor", "worker_start_ray_commands", stranger, {"CPU": 1}, ""
        )
        assert refused.returncode != 0, refused.stdout[-3000:]
        print(refused.stdout[-1500:])
    finally:
        cluster.stop()
