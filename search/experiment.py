"""An experiment directory on disk: where it lives and the raysweep files beside Ray's own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search.errors import ExperimentExistsError, StorageError
from trainables.atomic import atomic_write_text

SPEC_FILE = "raysweep_spec.yaml"
IDENTITY_FILE = Path(".raysweep") / "identity.json"
DEFAULT_STORAGE = "runs"


def resolve_storage(storage: str | None) -> Path:
    """A local storage root as an absolute path (Tune needs one); default ``./runs``."""
    return Path(storage or DEFAULT_STORAGE).expanduser().resolve()


def probe_storage(root: Path) -> None:
    """Write and delete a probe file, so unwritable storage fails now, not after hours."""
    probe = root / f".raysweep-probe-{uuid.uuid4().hex}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"raysweep")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"storage {str(root)!r} is not writable: {exc.strerror or exc}"
        ) from None


def experiment_dir(storage: Path, name: str) -> Path:
    return storage / name


def ensure_new(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        raise ExperimentExistsError(
            f"experiment {str(path)!r} already exists; resume it with `raysweep resume {path}` "
            "or pick another --name"
        )


def write_spec(
    path: Path, spec_yaml: str, *, identity: Mapping[str, Any], provenance: dict[str, str]
) -> None:
    """Save the spec a sweep runs under, with provenance, so the directory describes itself,
    and the parts of it that a resume must not change."""
    header = "".join(f"# {k}: {v}\n" for k, v in provenance.items())
    atomic_write_text(path / IDENTITY_FILE, json.dumps(identity, sort_keys=True, indent=1))
    atomic_write_text(path / SPEC_FILE, header + spec_yaml)


def read_identity(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / IDENTITY_FILE).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def versions() -> dict[str, str]:
    import optuna
    import pyarrow
    import ray
    import torch

    from raysweep import __version__

    return {
        "raysweep": __version__,
        "ray": ray.__version__,
        "optuna": optuna.__version__,
        "torch": torch.__version__,
        "pyarrow": pyarrow.__version__,
    }
