"""The driver's peak memory on a 1 GB and a 4 GB image folder: it must not grow with the data.

``python -m bench.image_memory [--quick]`` writes two folders of random RGB PNGs (noise does
not compress: the files are as large as their pixels), then runs ``raysweep run`` on each as
a user would, with its own local Ray: 2 trials of 1 epoch, images resized to 16x16. The
driver is the ``raysweep`` process itself; its peak resident set (``VmHWM``) and its PSS
are sampled until it exits. Trials open the folder themselves, so the driver reads only the
file names and a 512-image sample for the channel statistics.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, log, mib, start_run, tree_memory, write_yaml

SIDE = 512  # 512 x 512 x 3 bytes of noise: about 0.79 MB a file
GB = 10**9


def write_folder(root: Path, total_bytes: int) -> int:
    """Random PNGs in 2 class folders until ``total_bytes`` are on disk; the bytes written."""
    from PIL import Image

    done = root / ".complete"
    if done.exists():
        return int(done.read_text())
    rng = np.random.default_rng(0)
    written, index = 0, 0
    while written < total_bytes:
        folder = root / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{index:06d}.png"
        pixels = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, compress_level=0)
        written += path.stat().st_size
        index += 1
    done.write_text(str(written))
    return written


def _spec(name: str, folder: Path) -> dict[str, Any]:
    return {
        "name": name,
        "data": {"images": str(folder), "image_size": 16, "channels": 3, "val_fraction": 0.1},
        "metric": {"name": "val_accuracy", "mode": "max"},
        "space": {"lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}},
        "fixed": {"batch_size": 256, "epochs": 1, "depth": 1, "width": 8},
        "search": {"num_samples": 2, "max_concurrent": 2, "seed": 0, "baseline": {"lr": 1e-3}},
        "scheduler": {"type": "fifo"},
        "checkpoint": {"every": 1, "keep": 1},
        "resources": {"cpus_per_trial": 1},
    }


def _vm_hwm(pid: int) -> int:
    """The process's peak resident set so far (bytes), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(workdir: Path, folder: Path, name: str, logfile: Path) -> dict[str, Any]:
    spec = write_yaml(workdir / f"{name}.yaml", _spec(name, folder))
    hwm, pss = 0, 0
    with open(logfile, "ab") as out:
        started = time.perf_counter()
        proc = start_run(spec, workdir / "runs", out)
        while proc.poll() is None:
            try:
                hwm = max(hwm, _vm_hwm(proc.pid))
            except OSError:
                break
            tree = tree_memory(proc.pid)
            if tree is not None and "driver" in tree.by_role:
                pss = max(pss, tree.by_role["driver"]["pss"])
            time.sleep(0.1)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"raysweep run exited with {proc.returncode}; see {logfile}")
    return {"driver_peak_rss": hwm, "driver_peak_pss": pss, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.image_memory", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="0.25 GB and 1 GB instead")
    parser.add_argument("--data", type=Path, default=Path("/tmp/raysweep-image-memory"))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    sizes = (GB // 4, GB) if args.quick else (GB, 4 * GB)
    workdir = Path(tempfile.mkdtemp(prefix="rsim-", dir="/tmp"))
    logfile = workdir / "runs.log"
    rows = []
    for size in sizes:
        folder = args.data / f"{size // 10**6}MB"
        log(f"image_memory: writing {size / GB:.2f} GB of PNGs to {folder} ...")
        on_disk = write_folder(folder, size)
        log(f"image_memory: raysweep run on {on_disk / GB:.2f} GB ...")
        row = {"folder_bytes": on_disk, **measure(workdir, folder, f"mem{size // 10**6}", logfile)}
        log(
            f"image_memory: {on_disk / GB:.2f} GB folder: driver peak RSS "
            f"{mib(row['driver_peak_rss']):.0f} MiB, PSS {mib(row['driver_peak_pss']):.0f} MiB"
        )
        rows.append(row)
    growth = rows[1]["driver_peak_rss"] / rows[0]["driver_peak_rss"]
    result = {"rows": rows, "driver_peak_rss_ratio_large_to_small": growth, "log": str(logfile)}
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "image_memory.json"
    target.write_text(json.dumps(result, indent=2))
    log(f"image_memory: driver peak RSS, large / small folder: {growth:.3f}x -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
