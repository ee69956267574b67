"""A real multi-node Ray cluster on this machine's loopback, started and stopped by a test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_env() -> dict[str, str]:
    # Once ~/.ray/auth_token exists, `ray start --head` turns token auth on; every process that
    # joins must then say so too.
    # raysweep is installed where Ray is, on every node (cluster.yaml does the same), so a Ray
    # Job's entrypoint finds the `raysweep` command.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "RAY_AUTH_MODE": "token", "PATH": path}


def worker(name: str, *, cpus: float = 1) -> tuple[str, list[str]]:
    """A worker node's name and ``ray start`` resources; ``node_<name>`` pins work to it."""
    return name, [f"--num-cpus={cpus:g}", f'--resources={{"node_{name}": 1}}']


# The default shape: nothing runs on the head, two 1-CPU workers (as cluster.yaml: a CPU head
# that only schedules, workers that train).
HEAD_CPUS = 0
WORKERS = dict([worker("a"), worker("b")])


@dataclass
class LocalCluster:
    temp: str  # short: Ray's unix socket paths must fit in 107 bytes
    port: int
    dashboard_port: int
    dashboard: bool = False  # the Jobs API needs it (and ray[default])
    head_cpus: float = HEAD_CPUS
    head_gpus: float = 0  # logical GPUs: Ray schedules on them whether or not a device exists
    workers: dict[str, list[str]] = field(default_factory=lambda: dict(WORKERS))
    env: dict[str, str] = field(default_factory=dict)  # extra environment of every node
    nodes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def jobs_address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, name: str, args: list[str], *, wait: bool = True) -> None:
        # Each node's dashboard agent on a port of its own: at Ray's default (52365) the head's
        # agent lost to the shared test Ray's, and the Jobs API then had "No available agent".
        agent = f"--dashboard-agent-listen-port={free_port()}"
        proc = subprocess.Popen(
            [RAY, "start", *args, agent, f"--temp-dir={self.temp}", "--disable-usage-stats"],
            env={**cluster_env(), **self.env},  # its workers inherit it
            cwd=self.temp,  # where its jobs start: keep them out of the checkout
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its daemons keep this process group: killed together
        )
        self.nodes[name] = proc
        if wait and proc.wait(timeout=120) != 0:
            raise RuntimeError(f"ray start for {name} failed")

    def start(self) -> None:
        gpus = [f"--num-gpus={self.head_gpus:g}"] if self.head_gpus else []
        self._start(
            "head",
            [
                "--head",
                f"--port={self.port}",
                f"--num-cpus={self.head_cpus:g}",
                *gpus,
                f"--include-dashboard={str(self.dashboard).lower()}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
                "--node-ip-address=127.0.0.1",
            ],
        )
        for name, resources in self.workers.items():
            self._start(name, [f"--address={self.address}", *resources])

    def processes(self, name: str) -> list[psutil.Process]:
        pgid = self.nodes[name].pid
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == pgid:
                    found.append(proc)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        return found

    def kill_raylet(self, name: str) -> None:
        for proc in self.processes(name):
            if "raylet" in proc.name():
                proc.kill()

    def node_pids(self, name: str) -> set[int]:
        """Every process of node ``name``: its process group and their children (Ray's
        workers)."""
        pids = set()
        for proc in self.processes(name):
            pids.add(proc.pid)
            try:
                pids |= {child.pid for child in proc.children(recursive=True)}
            except psutil.NoSuchProcess:
                pass
        return pids

    def kill_node(self, name: str) -> None:
        """SIGKILL every process of node ``name`` at once (raylet, workers, agents), as a lost
        machine goes."""
        for pid in self.node_pids(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def restart_worker(self, name: str) -> None:
        """Start worker node ``name`` again, without waiting for it (a replacement machine
        joining the cluster while the sweep goes on)."""
        self._start(name, [f"--address={self.address}", *self.workers[name]], wait=False)

    def stop(self) -> None:
        for name, proc in reversed(list(self.nodes.items())):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.temp, ignore_errors=True)


def start_local_cluster(
    *,
    dashboard: bool = False,
    head_cpus: float = HEAD_CPUS,
    head_gpus: float = 0,
    workers: dict[str, list[str]] | None = None,
    env: dict[str, str] | None = None,
) -> LocalCluster:
    """Start a cluster: by default a 0-CPU head and workers ``a`` and ``b`` with 1 CPU each."""
    cluster = LocalCluster(
        tempfile.mkdtemp(prefix="rs", dir="/tmp"),
        free_port(),
        free_port(),
        dashboard,
        head_cpus,
        head_gpus,
        dict(WORKERS if workers is None else workers),
        dict(env or {}),
    )
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    return cluster
