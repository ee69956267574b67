"""Run by a test in a fresh process: ``python -m tests.warm_start_probe STORAGE``.

Starts the embedded Ray as ``raysweep run`` does, runs one plain Tune trial that reports on
its own process, and prints one JSON line: was the Tuner's code imported while Ray started,
did the trial run in a worker Ray had prestarted for no job in particular, did that worker
already hold torch's dynamo and the trainable, and what of this Ray listens beyond loopback.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys

import psutil

WORKER_MODULES = ("torch._dynamo", "trainables.trainable")
# A worker Ray starts before any job asks for one logs under the nil job id: worker-W-ffffffff-PID
PRESTARTED = "-ffffffff-"


def probe(config: dict) -> None:
    from ray import tune

    preloaded = all(name in sys.modules for name in WORKER_MODULES)
    tune.report({"log": os.readlink("/proc/self/fd/2"), "preloaded": preloaded})


def listening_beyond_loopback() -> list[str]:
    """Every socket this process and the Ray processes it started listen on, off loopback."""
    found = set()
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            sockets = proc.net_connections(kind="inet")
        except psutil.Error:  # ended meanwhile
            continue
        for s in sockets:
            if s.status != psutil.CONN_LISTEN:
                continue
            ip = ipaddress.ip_address(s.laddr.ip)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            if not ip.is_loopback:  # 0.0.0.0 and :: (every interface) included
                found.add(f"{proc.name()} {s.laddr.ip}:{s.laddr.port}")
    return sorted(found)


def main(storage: str) -> dict[str, object]:
    from search.sweep.ray_session import ensure_ray, trial_environment

    ensure_ray(trials_at_once=1)
    tuner_imported = "trainables.trainable" in sys.modules
    from ray import tune

    tuner = tune.Tuner(
        tune.with_resources(probe, {"cpu": 1}),
        tune_config=tune.TuneConfig(num_samples=1),
        run_config=tune.RunConfig(storage_path=storage, verbose=0),
    )
    with trial_environment():
        results = tuner.fit()
    metrics = results[0].metrics
    return {
        "tuner_imported": tuner_imported,
        "prestarted": PRESTARTED in metrics["log"],
        "preloaded": bool(metrics["preloaded"]),
        "listening_beyond_loopback": listening_beyond_loopback(),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
