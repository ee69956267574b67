"""Rebuilding a sweep whose Tune state is lost: its trials, from raysweep's own files.

When Tune's snapshot is torn with no good copy kept, or a driver died before Tune's first
snapshot, ``Tuner.restore`` has nothing to start from, yet the trial folders and raysweep's
index of their checkpoints are intact. The sweep then starts again in place with every earlier
trial's config proposed first (after the baselines): each lands on a key the index knows, so
it continues from its newest checkpoint and re-reports the epochs before it, and the searcher
and scheduler see the results they saw before. The earlier folders move to ``EARLIER_DIR``,
out of Tune's way (the index still finds their checkpoints), so no trial is listed twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from search.spec import SweepSpec
from trainables.layout import BASELINE_FILE, EARLIER_DIR, TRIAL_DIR_PREFIX
from trainables.storage import Location

PARAMS_FILE = "params.json"  # the config Tune writes into each trial folder as it starts


@dataclass(frozen=True)
class Rebuilt:
    """What the rebuild found: the configs to propose again, in the order they first ran."""

    configs: tuple[dict[str, Any], ...]
    moved: int  # earlier trial folders set aside
    unreadable: int  # of them, folders with no readable config (their trials start anew)

    def warning(self, experiment: Location) -> str:
        unread = f", {self.unreadable} without a readable config" if self.unreadable else ""
        return (
            f"{experiment}: no readable Tune state; rebuilding the sweep from raysweep's index: "
            f"{len(self.configs)} earlier trials continue from their newest checkpoints "
            f"({self.moved} earlier trial folders set aside in {EARLIER_DIR}{unread})"
        )


def _trial_dirs(experiment: Location) -> list[Location]:
    return [c for c in experiment.children() if c.name.startswith(TRIAL_DIR_PREFIX) and c.is_dir()]


def _read_config(trial_dir: Location) -> dict[str, Any] | None:
    try:
        config = json.loads((trial_dir / PARAMS_FILE).read_text())
    except (OSError, ValueError):  # not written yet, or torn by the same full disk
        return None
    return config if isinstance(config, dict) else None


def _started_at(trial_dir: Location) -> float:
    info = trial_dir.fs.get_file_info((trial_dir / PARAMS_FILE).path)
    return info.mtime.timestamp() if info.mtime is not None else 0.0


def proposals(spec: SweepSpec, configs: list[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The searched values of each earlier config, without the baselines (proposed first
    anyway) and without repeats, at most the sweep's trial budget."""
    seen = [dict(b) for b in spec.search.baselines]
    out: list[dict[str, Any]] = []
    for config in configs:
        point = {k: config[k] for k in spec.space if k in config}
        if len(point) != len(spec.space) or point in seen:
            continue
        seen.append(point)
        out.append(point)
    return tuple(out[: max(0, spec.search.num_samples - len(spec.search.baselines))])


def rebuild(spec: SweepSpec, experiment: Location) -> Rebuilt | None:
    """Set the earlier trial folders aside and return their configs; ``None`` if none ran."""
    dirs = _trial_dirs(experiment)
    if not dirs:
        return None
    found = [(d, _read_config(d)) for d in dirs]
    readable = sorted(((d, c) for d, c in found if c is not None), key=lambda p: _started_at(p[0]))
    configs = proposals(spec, [c for _, c in readable])
    aside = experiment / EARLIER_DIR
    for trial_dir in dirs:
        target = aside / trial_dir.name
        if target.exists():  # a folder of the same name set aside by an earlier rebuild
            continue
        trial_dir.move_to(target)
    # The baseline is recorded by trial id: the new baseline trial must be marked again.
    if (experiment / BASELINE_FILE).exists():
        (experiment / BASELINE_FILE).delete()
    return Rebuilt(configs, moved=len(dirs), unreadable=len(dirs) - len(readable))
