"""Creating an experiment directory: its storage, checked writable, and the spec it runs under."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from search.errors import ExperimentExistsError, StorageError
from trainables.layout import (
    IDENTITY_FILE,
    LEASE_FILE,
    LOG_FILE,
    PROBE_PREFIX,
    SPEC_FILE,
    STATE_DIR,
)
from trainables.storage import Location

DEFAULT_STORAGE = "runs"


def resolve_storage(storage: str | None) -> Location:
    """The storage root: a local/NFS path (made absolute) or a pyarrow URI; default ``./runs``."""
    try:
        return Location.of(storage or DEFAULT_STORAGE)
    except (ValueError, OSError) as exc:  # an unknown scheme, a malformed URI
        raise StorageError(
            f"--storage {storage!r}: not a path or a storage URI pyarrow understands "
            f"(s3://, gs://, file://): {exc}"
        ) from None


def probe_storage(root: Location) -> None:
    """Write and delete a probe file, so unwritable storage fails now, not after hours."""
    probe = root / f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    try:
        root.mkdir()
        probe.write_bytes(b"raysweep")
        probe.delete()
    except (OSError, ValueError) as exc:  # ValueError: pyarrow's invalid-path errors
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise StorageError(f"storage {str(root)!r} is not writable: {reason}") from None


def experiment_dir(storage: Location, name: str) -> Location:
    return storage / name


def _started(path: Location) -> bool:
    """Anything in it but what a start writes before Tune does: the spec and its identity
    (written first), the lease and the log (a start killed or failed before Tune began)."""
    before_tune = {(path / f).path for f in (LEASE_FILE, IDENTITY_FILE)}
    for child in path.children():
        if child.name in (LOG_FILE, SPEC_FILE):
            continue
        if child.name != STATE_DIR or any(c.path not in before_tune for c in child.children()):
            return True
    return False


def ensure_new(path: Location) -> None:
    try:
        taken = _started(path)
    except (OSError, ValueError):  # unreachable storage: the probe says why, in one line
        return
    if taken:
        raise ExperimentExistsError(
            f"experiment {str(path)!r} already exists; resume it with `raysweep resume {path}` "
            "or pick another --name"
        )


def write_spec(
    path: Location,
    spec_yaml: str,
    *,
    identity: Mapping[str, Any],
    provenance: dict[str, str],
    keep_existing: bool = False,
) -> None:
    """Save the spec a sweep runs under, with provenance, so the directory describes itself,
    and the parts of it that a resume must not change. ``keep_existing``: not over a spec
    that is there already (another driver's, until the lease says whose it is)."""
    if keep_existing and (path / SPEC_FILE).exists():
        return
    header = "".join(f"# {k}: {v}\n" for k, v in provenance.items())
    (path / IDENTITY_FILE).write_text(json.dumps(identity, sort_keys=True, indent=1))
    (path / SPEC_FILE).write_text(header + spec_yaml)


def read_identity(path: Location) -> dict[str, Any] | None:
    try:
        return json.loads((path / IDENTITY_FILE).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None
