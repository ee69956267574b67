"""An experiment directory on disk: where it lives and the raysweep files beside Ray's own."""

from __future__ import annotations

import os
from pathlib import Path

from search.errors import ExperimentExistsError

SPEC_FILE = "raysweep_spec.yaml"
DEFAULT_STORAGE = "runs"


def resolve_storage(storage: str | None) -> Path:
    """A local storage root as an absolute path (Tune needs one); default ``./runs``."""
    return Path(storage or DEFAULT_STORAGE).expanduser().resolve()


def experiment_dir(storage: Path, name: str) -> Path:
    return storage / name


def ensure_new(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        raise ExperimentExistsError(
            f"experiment {str(path)!r} already exists; resume it with `raysweep resume {path}` "
            "or pick another --name"
        )


def write_spec(path: Path, spec_yaml: str, *, provenance: dict[str, str]) -> None:
    """Save the spec a sweep runs under, with provenance, so the directory describes itself."""
    path.mkdir(parents=True, exist_ok=True)
    header = "".join(f"# {k}: {v}\n" for k, v in provenance.items())
    tmp = path / f".{SPEC_FILE}.tmp"
    tmp.write_text(header + spec_yaml)
    os.replace(tmp, path / SPEC_FILE)


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
