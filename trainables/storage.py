"""A place in experiment storage: a local (or NFS) directory or a pyarrow URI, one API.

Ray Tune moves checkpoints and results through a ``pyarrow.fs`` filesystem; raysweep's own
files (spec, identity, recovery index, ledger) go through the same filesystem, so any node of
a cluster can resume any trial whether the experiment lives on NFS, ``s3://`` or ``gs://``.
S3-compatible servers (MinIO, moto, ...) are reached with ``AWS_ENDPOINT_URL``, as in the AWS
tools, or pyarrow's ``?endpoint_override=...`` in the URI.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from trainables.atomic import atomic_write

# Errors that say the storage refuses writes (full, over quota, read-only, not allowed): no
# retry of the trial can succeed until a person frees space or fixes permissions.
REFUSING_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
# pyarrow's S3 errors carry no errno, only the AWS error name in the message.
REFUSING_S3_ERRORS = ("ACCESS_DENIED", "AccessDenied", "QuotaExceeded")


class StorageRefused(Exception):
    """A write to the experiment storage was refused: out of space, over quota, read-only or
    denied. Not the trial's fault: the sweep stops (nothing failed, nothing retried) until it
    is fixed, then ``raysweep resume`` continues it."""


def refuses_writes(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the storage refuses writes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageRefused):
            return True
        if isinstance(current, OSError):
            if current.errno in REFUSING_ERRNOS:
                return True
            if any(name in str(current) for name in REFUSING_S3_ERRORS):
                return True
        current = current.__cause__ or current.__context__
    return False


# pyarrow's filesystem type names, as URI schemes.
_SCHEMES = {"gcs": "gs"}


@dataclass(frozen=True)
class Location:
    fs: pafs.FileSystem
    path: str  # in ``fs``: absolute for a local one, "bucket/key" for object stores
    query: str = ""  # the URI's options (``endpoint_override=...``), kept for ``uri``

    @classmethod
    def of(cls, where: Location | str | os.PathLike[str]) -> Location:
        """A local path (made absolute: Tune needs one) or any URI pyarrow understands."""
        if isinstance(where, Location):
            return where
        text = os.fspath(where)
        if "://" in text and not text.startswith("file://"):
            fs, path = pafs.FileSystem.from_uri(text)  # raises ValueError/OSError when unknown
            if not path.strip("/"):
                raise ValueError(f"{text!r} names no bucket or folder")
            query = text.split("?", 1)[1] if "?" in text else ""
            return cls(fs, path.rstrip("/"), query)
        local = Path(text.removeprefix("file://")).expanduser().resolve()
        return cls(pafs.LocalFileSystem(), str(local))

    @property
    def is_local(self) -> bool:
        return self.fs.type_name == "local"

    @property
    def uri(self) -> str:
        if self.is_local:
            return self.path
        scheme = _SCHEMES.get(self.fs.type_name, self.fs.type_name)
        return f"{scheme}://{self.path}" + (f"?{self.query}" if self.query else "")

    @property
    def tune_filesystem(self) -> pafs.FileSystem | None:
        """What Ray Tune's ``storage_filesystem`` takes: ``None`` lets it handle local paths."""
        return None if self.is_local else self.fs

    def __str__(self) -> str:
        return self.uri

    def __truediv__(self, name: str | os.PathLike[str]) -> Location:
        return Location(self.fs, f"{self.path.rstrip('/')}/{os.fspath(name)}", self.query)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        return Location(self.fs, self.path.rstrip("/").rsplit("/", 1)[0] or "/", self.query)

    def _type(self) -> pafs.FileType:
        return self.fs.get_file_info(self.path).type

    def exists(self) -> bool:
        return bool(self._type() != pafs.FileType.NotFound)

    def is_dir(self) -> bool:
        return bool(self._type() == pafs.FileType.Directory)

    def is_file(self) -> bool:
        return bool(self._type() == pafs.FileType.File)

    def children(self) -> list[Location]:
        """What lies directly inside, sorted by name; nothing when the directory is missing."""
        selector = pafs.FileSelector(self.path, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except (NotADirectoryError, FileNotFoundError):
            return []
        found = (Location(self.fs, i.path, self.query) for i in infos)
        return sorted(found, key=lambda loc: loc.path)

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as f:
            return bytes(f.read())

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes, *, fsync: bool = True) -> None:
        """Replace the file whole: a reader sees the old content or the new, never half."""
        if self.is_local:
            atomic_write(Path(self.path), lambda f: f.write(data), fsync=fsync)
            return
        # An object store's PUT is atomic: no temp file, no rename (which S3 does by copying).
        with self.fs.open_output_stream(self.path) as f:
            f.write(data)

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode())

    def delete(self) -> None:
        self.fs.delete_file(self.path)

    def mkdir(self) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def move_to(self, target: Location) -> None:
        """Move this file or directory tree to ``target`` on the same storage."""
        target.parent.mkdir()
        if self.is_local:
            self.fs.move(self.path, target.path)  # a rename
            return
        # Object stores have no directory rename: copy the tree, then delete it.
        pafs.copy_files(
            self.path, target.path, source_filesystem=self.fs, destination_filesystem=self.fs
        )
        self.fs.delete_dir(self.path)

    def download(self, target: str | os.PathLike[str]) -> None:
        """Copy this directory's tree into the local directory ``target``."""
        os.makedirs(target, exist_ok=True)  # pyarrow creates no local destination folder
        pafs.copy_files(
            self.path,
            os.fspath(target),
            source_filesystem=self.fs,
            destination_filesystem=pafs.LocalFileSystem(),
        )

    @contextmanager
    def local_dir(self) -> Iterator[Path]:
        """This directory as a local path: itself when local, else a temporary copy."""
        if self.is_local:
            yield Path(self.path)
            return
        with tempfile.TemporaryDirectory(prefix="raysweep-copy-") as scratch:
            self.download(scratch)
            yield Path(scratch)
