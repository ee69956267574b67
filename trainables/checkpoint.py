"""Exact checkpoints: one self-describing dict with everything a trial needs to continue.

Files are written atomically (temp file, fsync, rename). Beside ``state.pt`` lies ``state.json``
with its SHA-256 and the epoch it resumes at, so a torn or corrupted file is detected on load
and the newest usable checkpoint can be found without unpickling every candidate.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.serialization import config as serialization_config

from trainables.atomic import atomic_write
from trainables.loop import TrainState
from trainables.storage import Location

FORMAT_VERSION = 1
CHECKPOINT_FILE = "state.pt"
SIDECAR_FILE = "state.json"


class CheckpointError(Exception):
    """Raised when a checkpoint file is missing, truncated, corrupt or of an unknown format."""


def _rng_state(state: TrainState) -> dict[str, Any]:
    # The legacy global numpy state holds an ndarray, which weights_only loading refuses:
    # its key array travels as a tensor instead.
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "batch_order": state.generator.get_state(),
        "python": random.getstate(),
        "numpy": (
            name,
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            pos,
            has_gauss,
            cached,
        ),
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def _set_rng_state(state: TrainState, rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"].cpu())  # map_location may have moved it
    state.generator.set_state(rng["batch_order"].cpu())
    random.setstate(rng["python"])
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])


def to_checkpoint_dict(state: TrainState) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "lr_scheduler": None if state.lr_scheduler is None else state.lr_scheduler.state_dict(),
        "next_epoch": state.next_epoch,
        "best_metric": state.best_metric,
        "rng": _rng_state(state),
        "train_config": state.config.to_dict(),
        "architecture": state.architecture.to_dict(),
        "n_inputs": state.n_inputs,
        "n_outputs": state.n_outputs,
        "history": [dict(m) for m in state.history],
        "grad_scaler": None if state.scaler is None else state.scaler.state_dict(),
        # Where inside the epoch (``checkpoint.every_steps``); 0 between epochs.
        "position": {
            "batches": state.position,
            "loss_sum": state.loss_sum,
            "seen": state.seen,
            "epoch_rng": state.epoch_rng,
        },
    }


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(
    state: TrainState, directory: str | os.PathLike[str], *, key: str | None = None
) -> Path:
    """Write ``state`` into ``directory`` as ``state.pt`` plus its sidecar; return the file.

    ``key`` (the trial key) goes into the sidecar, so recovery never mistakes another
    config's checkpoint for this trial's.
    """
    path = Path(directory) / CHECKPOINT_FILE
    buffer = io.BytesIO()
    # The zip format's per-record CRC-32 is a third of the save for a small model, and the
    # SHA-256 below already covers every byte.
    with serialization_config.patch({"save.compute_crc32": False}):  # type: ignore[attr-defined]
        torch.save(to_checkpoint_dict(state), buffer)
    blob = buffer.getvalue()
    sidecar = {
        "sha256": hashlib.sha256(blob).hexdigest(),
        "next_epoch": state.next_epoch,
        "trial_key": key,
        "position": state.position,  # batches into next_epoch (mid-epoch checkpoints)
    }
    # Written into a scratch directory that Tune then copies to storage: the checksum, not an
    # fsync here, is what catches a torn copy (bench: fsync was half the cost of a save).
    atomic_write(path, lambda f: f.write(blob), fsync=False)
    atomic_write(
        path.with_name(SIDECAR_FILE), lambda f: f.write(json.dumps(sidecar).encode()), fsync=False
    )
    return path


def write_placeholder(directory: Location | str | os.PathLike[str], next_epoch: int) -> None:
    """Stand in for a checkpoint Tune still references but that is gone from storage.

    It holds no state, only the epoch Tune believes the trial reached; the trial then resumes
    from the newest real checkpoint and re-reports the epochs in between.
    """
    sidecar = json.dumps({"next_epoch": next_epoch, "placeholder": True}).encode()
    (Location.of(directory) / SIDECAR_FILE).write_bytes(sidecar)


def has_state(directory: Location | str | os.PathLike[str]) -> bool:
    return (Location.of(directory) / CHECKPOINT_FILE).is_file()


def read_sidecar(directory: Location | str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint's sidecar fields, local or in object storage; empty when it is missing or
    unreadable (then the checkpoint is unusable)."""
    try:
        sidecar = json.loads((Location.of(directory) / SIDECAR_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return sidecar if isinstance(sidecar, dict) else {}


def checkpoint_epoch(directory: Location | str | os.PathLike[str]) -> int | None:
    """The epoch a checkpoint resumes at, from its sidecar; ``None`` if there is no usable one."""
    try:
        return int(read_sidecar(directory)["next_epoch"])
    except (KeyError, TypeError, ValueError):
        return None


def checkpoint_key(directory: Location | str | os.PathLike[str]) -> str | None:
    """The trial key a checkpoint was written for, from its sidecar."""
    key = read_sidecar(directory).get("trial_key")
    return key if isinstance(key, str) else None


def read_checkpoint(
    directory: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Verify and load a checkpoint dict (``weights_only=True``); raise ``CheckpointError``."""
    path = Path(directory) / CHECKPOINT_FILE
    try:
        sidecar = json.loads(path.with_name(SIDECAR_FILE).read_text())
        expected = sidecar["sha256"]
        actual = _digest(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: checkpoint or its checksum is missing ({exc})") from exc
    if actual != expected:
        raise CheckpointError(f"{path}: checksum mismatch (truncated or corrupt)")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # an unpickling error means a file we cannot trust
        raise CheckpointError(f"{path}: cannot be loaded: {exc}") from exc
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {payload.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    return payload


def load_checkpoint(state: TrainState, directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Restore ``state`` in place from a checkpoint written by ``save_checkpoint``; return the
    hyperparameters it was trained with (they differ after a PBT exploit)."""
    device = next(state.model.parameters()).device
    payload = read_checkpoint(directory, device=device)
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    if state.lr_scheduler is not None and payload["lr_scheduler"] is not None:
        state.lr_scheduler.load_state_dict(payload["lr_scheduler"])
    state.next_epoch = int(payload["next_epoch"])
    state.best_metric = payload["best_metric"]
    state.history = [dict(m) for m in payload["history"]]
    if state.scaler is not None and payload.get("grad_scaler"):
        state.scaler.load_state_dict(payload["grad_scaler"])
    position = payload.get("position") or {}
    state.position = int(position.get("batches", 0))
    state.loss_sum = float(position.get("loss_sum", 0.0))
    state.seen = int(position.get("seen", 0))
    rng = position.get("epoch_rng")
    state.epoch_rng = None if rng is None else rng.cpu()
    _set_rng_state(state, payload["rng"])
    return dict(payload["train_config"])
