"""``make test`` on a fresh machine: the dashboard's browser test gets its Chromium, or says how."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_chromium(tmp_path: Path, chromium: str, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAYSWEEP_CHROMIUM": chromium, "PATH": path}
    return subprocess.run(
        ["/usr/bin/make", "-s", "-C", str(ROOT), "chromium"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_chromium_is_quiet_when_raysweep_chromium_is_there(tmp_path):
    done = make_chromium(tmp_path, "/bin/sh", os.environ["PATH"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_make_chromium_says_what_to_run_where_it_cannot_install_it(tmp_path):
    # A machine with no Chromium and no apt-get: only `id` on PATH.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").symlink_to("/usr/bin/id")
    done = make_chromium(tmp_path, str(tmp_path / "no-chromium"), str(bin_dir))
    assert done.returncode == 0, done.stderr  # the one browser test fails, not the build
    assert done.stdout.splitlines() == [
        "note: no Chromium: the dashboard's browser test will fail; install it with "
        "`sudo apt-get install -y chromium` or point RAYSWEEP_CHROMIUM at one"
    ]
