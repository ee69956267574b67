"""Tune's experiment snapshot kept readable: a copy of the last good one, and torn files
recognised on resume.

Tune rewrites its snapshot files (``experiment_state-*.json``, the searcher's pickle, the
search generator's state) in place on local or NFS storage; a write that fails half-way (a
full disk) leaves a torn file, and Tune would then find no state, or fail unpickling the
searcher. Object stores replace a file whole, so there is nothing to keep there.
"""

from __future__ import annotations

import json
import logging
import pickletools
import time
from typing import Any

from ray import tune

from trainables.layout import SNAPSHOT_DIR, TORN_DIR
from trainables.storage import Location

logger = logging.getLogger(__name__)

# Tune's snapshot files, by prefix and suffix (TuneController, SearchGenerator, Searcher).
KINDS = (
    ("experiment_state-", ".json"),
    ("search_gen_state-", ".json"),
    ("searcher-state-", ".pkl"),
)
CHECK_EVERY_S = 1.0


def snapshot_files(directory: Location) -> list[Location]:
    """The newest file of each kind in ``directory`` (Tune restores from the newest name)."""
    children = directory.children()
    newest = []
    for prefix, suffix in KINDS:
        found = [c for c in children if c.name.startswith(prefix) and c.name.endswith(suffix)]
        if found:
            newest.append(max(found, key=lambda c: c.name))
    return newest


def readable(data: bytes, name: str) -> bool:
    """Whether a snapshot file is whole: the experiment state JSON that parses, the others
    (pickles, whatever their suffix) whose opcodes run to their STOP, no object built."""
    try:
        if name.startswith(KINDS[0][0]):
            json.loads(data)
        else:
            for _ in pickletools.genops(data):
                pass
    except ValueError:  # JSONDecodeError, and genops at a truncated pickle
        return False
    return bool(data)


def _read(location: Location) -> bytes | None:
    try:
        return location.read_bytes()
    except OSError:
        return None


class SnapshotKeeper(tune.Callback):
    """Copies Tune's snapshot into ``.raysweep/snapshot/`` each time it changes and reads
    whole; the copy is written atomically, so a full disk keeps the previous one."""

    def __init__(self, experiment: Location) -> None:
        self.experiment = experiment
        self.setup()

    def setup(self, *args: Any, **info: Any) -> None:
        # Tune calls this when a fit starts: a resumed sweep unpickles this object, and the
        # last run's clock and file stamps mean nothing in this process.
        self._seen: tuple[Any, ...] = ()
        self._checked = 0.0

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if not self.experiment.is_local or time.monotonic() - self._checked < CHECK_EVERY_S:
            return
        self._checked = time.monotonic()
        files = snapshot_files(self.experiment)
        infos = [self.experiment.fs.get_file_info(f.path) for f in files]
        seen = tuple((i.path, i.size, i.mtime_ns) for i in infos)
        if not files or seen == self._seen:
            return
        contents = [_read(f) for f in files]
        if any(c is None or not readable(c, f.name) for c, f in zip(contents, files)):
            return  # being written now, or torn: keep the last good copy
        try:
            keep(self.experiment, {f.name: c for f, c in zip(files, contents) if c})
        except OSError as exc:  # the storage is full: the sweep stops on a trial's write
            logger.debug("could not keep a copy of Tune's snapshot: %s", exc)
            return
        self._seen = seen


def keep(experiment: Location, files: dict[str, bytes]) -> None:
    kept = experiment / SNAPSHOT_DIR
    for name, data in files.items():
        (kept / name).write_bytes(data, fsync=False)
    for old in kept.children():
        if old.name not in files and not old.name.startswith("."):
            old.delete()


def repair_torn_snapshot(experiment: Location) -> str | None:
    """Set torn snapshot files aside and put the last good copies in their place; a warning
    saying what was done, or ``None`` when nothing was torn."""
    current = snapshot_files(experiment)
    torn = [f for f in current if not readable(_read(f) or b"", f.name)]
    if not torn:
        return None
    (experiment / TORN_DIR).mkdir()
    for f in torn:  # kept for a post-mortem; out of Tune's way
        experiment.fs.move(f.path, (experiment / TORN_DIR / f.name).path)
    kept = snapshot_files(experiment / SNAPSHOT_DIR)
    names = ", ".join(f.name for f in torn)
    good = {f.name: _read(f) for f in kept}
    if kept and all(d is not None and readable(d, n) for n, d in good.items()):
        for name, data in good.items():
            if data is not None and not (experiment / name).exists():
                (experiment / name).write_bytes(data)
        return (
            f"{experiment}: Tune's snapshot was torn ({names}, set aside in {TORN_DIR}); "
            f"resuming from the last good copy raysweep kept"
        )
    return (
        f"{experiment}: Tune's snapshot was torn ({names}, set aside in {TORN_DIR}) and no good "
        "copy was kept; resuming from an earlier snapshot, if any"
    )
