"""Where a lease lives: compare-and-swap on one small file, for each kind of storage.

``read`` gives the content and a version; ``swap(version, data)`` writes only if the file is
still at ``version`` (``None``: absent) and gives the new version, or ``None`` when it was not.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from trainables.layout import LEASE_FILE
from trainables.storage import Location

LOCK_WAIT_S = 10.0  # a holder of the lock only reads and writes a few hundred bytes
SETTLE_S = 2.0  # write-then-check stores: far longer than a small PUT takes


class LeaseStore(Protocol):
    def read(self) -> tuple[bytes | None, object]: ...
    def swap(self, version: object, data: bytes) -> object | None: ...
    def clear(self, version: object) -> None: ...


class LocalLeaseStore:
    """A lease file rewritten in place under ``flock``: the version is its content."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + LOCK_WAIT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES) or (
                        time.monotonic() > deadline
                    ):
                        raise
                    time.sleep(0.01)
            yield fd
        finally:
            os.close(fd)  # and the lock with it

    @staticmethod
    def _content(fd: int) -> bytes | None:
        data = os.pread(fd, 1 << 16, 0)
        return data or None  # an empty file is a free lease

    def read(self) -> tuple[bytes | None, object]:
        if not self.path.exists():
            return None, None
        with self._locked() as fd:
            data = self._content(fd)
        return data, data

    def _write_if(self, version: object, data: bytes) -> bool:
        with self._locked() as fd:
            if self._content(fd) != version:
                return False
            # In place, not replaced by a rename: the lock belongs to this inode. A crash
            # mid-write leaves a torn file, which reads as free (its writer is dead).
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        return True

    def swap(self, version: object, data: bytes) -> object | None:
        return data if self._write_if(version, data) else None

    def clear(self, version: object) -> None:
        # Emptied, never deleted: a contender may have the file open, waiting for its lock.
        self._write_if(version, b"")


class S3LeaseStore:
    """A lease object changed only by S3's conditional writes; the version is its ETag."""

    def __init__(self, where: Location) -> None:
        import boto3

        options = where.fs.__reduce__()[1][0]  # the S3FileSystem's own settings
        endpoint = options.get("endpoint_override") or None
        if endpoint and "://" not in endpoint:
            endpoint = f"{options.get('scheme') or 'https'}://{endpoint}"
        self.client = boto3.client(
            "s3",
            region_name=where.fs.region or None,
            endpoint_url=endpoint,
            aws_access_key_id=options.get("access_key") or None,
            aws_secret_access_key=options.get("secret_key") or None,
            aws_session_token=options.get("session_token") or None,
        )
        self.bucket, self.key = where.path.split("/", 1)

    def _refused(self, exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        return code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")

    def read(self) -> tuple[bytes | None, object]:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self.key)
            return got["Body"].read(), got["ETag"]
        except self.client.exceptions.NoSuchKey:
            return None, None
        except Exception as exc:  # botocore's errors, as the OSError pyarrow would raise
            raise OSError(f"s3://{self.bucket}/{self.key}: {exc}") from exc

    def swap(self, version: object, data: bytes) -> object | None:
        condition: dict[str, Any] = (
            {"IfNoneMatch": "*"} if version is None else {"IfMatch": str(version)}
        )
        try:
            put = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data, **condition)
        except Exception as exc:
            if self._refused(exc):
                return None
            raise OSError(f"s3://{self.bucket}/{self.key}: {exc}") from exc
        return put["ETag"]

    def clear(self, version: object) -> None:
        if self.read()[1] == version:  # not a taker's lease
            self.client.delete_object(Bucket=self.bucket, Key=self.key)


class CheckedLeaseStore:
    """Any other pyarrow filesystem: write, wait, read back; the version is the content."""

    def __init__(self, where: Location) -> None:
        self.where = where

    def read(self) -> tuple[bytes | None, object]:
        try:
            data = self.where.read_bytes() or None
        except FileNotFoundError:
            return None, None
        return data, data

    def swap(self, version: object, data: bytes) -> object | None:
        if self.read()[1] != version:
            return None
        self.where.write_bytes(data)
        time.sleep(SETTLE_S)  # let a racing writer's PUT land, then look
        return data if self.read()[1] == data else None

    def clear(self, version: object) -> None:
        if self.read()[1] == version:
            self.where.delete()


def _has_boto3() -> bool:
    try:
        import boto3  # noqa: F401
    except ImportError:
        return False
    return True


def store_for(exp: Location) -> LeaseStore:
    where = exp / LEASE_FILE
    if exp.is_local:
        return LocalLeaseStore(Path(where.path))
    if exp.fs.type_name == "s3" and _has_boto3():
        return S3LeaseStore(where)
    return CheckedLeaseStore(where)
