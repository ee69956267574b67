"""Real processes for fault tests: the raysweep CLI in its own session, killed for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

RAYSWEEP = str(Path(sys.executable).with_name("raysweep"))


def start_raysweep(args: list[str], *, cwd: Path, log: Path) -> subprocess.Popen:
    """``raysweep ARGS`` as a process group of its own (its embedded Ray included)."""
    return subprocess.Popen(
        [RAYSWEEP, *args],
        cwd=cwd,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
    every: float = 0.05,
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` s or if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the driver and every process of its session, as a crash or OOM kill would."""
    tree = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in tree:  # Ray's workers run in process groups of their own
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def trial_workers(proc: subprocess.Popen) -> list[psutil.Process]:
    """The Ray worker processes currently running a trial under ``proc``."""
    workers = []
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if "ImplicitFunc" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.NoSuchProcess:
            pass
    return workers
