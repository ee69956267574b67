"""One live driver per experiment: an exclusive lease, renewed while the driver lives.

``run`` and ``resume`` take the lease before Ray starts. A second driver is refused at once,
told who holds it; a driver that dies (SIGKILL, a lost machine) stops renewing, and its lease
expires ``ttl`` seconds after the last renewal (on the holder's own host a dead pid frees it
at once). ``take_over`` replaces a lease deliberately; a live driver that loses its lease that
way stops at its next renewal, as if Ctrl-C had been pressed.

Every change is a compare-and-swap on the lease's last version, so of two drivers racing for
a free (or expired) lease exactly one wins, on each kind of storage:

- local / NFS: the lease file is rewritten in place under ``flock`` (released by the kernel
  when its holder dies; Linux's NFS client maps it to NFS locks);
- S3: conditional writes (``If-None-Match: *`` to create, ``If-Match: <ETag>`` to renew or
  take over) through boto3, because pyarrow's filesystem can't send them;
- other object stores (gs://, ...): a write, a pause, a read back that must still be ours
  (races wider than the pause are caught at the next renewal, which then stops the driver).

Times are wall-clock seconds of the hosts involved: their clocks must agree to well within
the TTL, as NTP keeps them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from search.errors import LeaseHeldError, RaysweepError, StorageError
from search.sweep.lease_stores import LeaseStore, store_for
from trainables.storage import Location

logger = logging.getLogger(__name__)

TTL_ENV = "RAYSWEEP_LEASE_TTL_S"
DEFAULT_TTL_S = 30.0  # renewed every third of it: a dead driver's lease lasts 20-30 s


def lease_ttl() -> float:
    try:
        ttl = float(os.environ.get(TTL_ENV, DEFAULT_TTL_S))
    except ValueError:
        ttl = 0.0
    if not ttl > 0:
        raise RaysweepError(f"{TTL_ENV} must be a positive number of seconds, got {ttl}")
    return ttl


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The process's start time since boot (``/proc``): a reused pid has another one."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


@dataclass(frozen=True)
class Holder:
    """Who holds the lease, as written in the lease file."""

    command: str  # run or resume
    host: str
    pid: int
    pid_ns: str  # a pid is only meaningful in its own namespace (containers share hosts)
    started: str  # the pid's start time, so a reused pid is not taken for the holder
    since: float  # when it took the lease
    renewed: float
    ttl_s: float
    token: str  # this holding, unique

    @classmethod
    def me(cls, command: str, ttl_s: float) -> Holder:
        now = time.time()
        pid = os.getpid()
        return cls(
            command,
            socket.gethostname(),
            pid,
            _pid_namespace(),
            _start_time(pid),
            now,
            now,
            ttl_s,
            uuid.uuid4().hex,
        )

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def parse(cls, raw: bytes | None) -> Holder | None:
        """The holder in a lease file; ``None`` when free or unreadable (a torn write)."""
        if not raw:
            return None
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None

    def gone(self, now: float) -> bool:
        """Expired, or (on this very host) its process has died."""
        if now - self.renewed > self.ttl_s:
            return True
        if self.host != socket.gethostname() or self.pid_ns != _pid_namespace():
            return False
        return _start_time(self.pid) != self.started  # "" when no such process

    def describe(self, now: float) -> str:
        since = datetime.fromtimestamp(self.since).astimezone().isoformat(timespec="seconds")
        return (
            f"raysweep {self.command} on host {self.host}, pid {self.pid}, since {since} "
            f"(renewed {max(0.0, now - self.renewed):.0f} s ago; it expires {self.ttl_s:g} s "
            "after the last renewal)"
        )


def _lost_stop_driver(reason: str) -> None:
    """What a driver does when its lease is gone: stop as Ctrl-C stops it (Tune saves)."""
    logger.error("%s; stopping this driver", reason)
    os.kill(os.getpid(), signal.SIGINT)


class Lease:
    """A lease this process holds; ``renew_in_background`` keeps it until ``release``."""

    def __init__(self, store: LeaseStore, holder: Holder, version: object) -> None:
        self.store = store
        self.holder = holder
        self._version = version
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def renew(self) -> bool:
        """Renew now; ``False`` when someone else holds it (it was taken over)."""
        renewed = replace(self.holder, renewed=time.time())
        version = self.store.swap(self._version, renewed.to_bytes())
        if version is None:
            return False
        self.holder, self._version = renewed, version
        return True

    def _renew_until_stopped(self, on_lost: Callable[[str], None]) -> None:
        while not self._stop.wait(self.holder.ttl_s / 3):
            try:
                if self.renew():
                    continue
                raw, _ = self.store.read()
                other = Holder.parse(raw)
                by = "nobody" if other is None else other.describe(time.time())
                return on_lost(f"the experiment's lease was taken over by {by}")
            except Exception as exc:  # storage unreachable for a moment: retry until expiry
                logger.warning("could not renew the experiment's lease: %s", exc)
                if time.time() - self.holder.renewed > self.holder.ttl_s:
                    return on_lost(f"the experiment's lease expired unrenewed ({exc})")

    def renew_in_background(self, on_lost: Callable[[str], None] = _lost_stop_driver) -> None:
        self._thread = threading.Thread(
            target=self._renew_until_stopped, args=(on_lost,), name="raysweep-lease", daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.store.clear(self._version)
        except Exception as exc:  # it expires on its own
            logger.warning("could not release the experiment's lease: %s", exc)


def acquire(exp: Location, *, command: str, take_over: bool = False) -> Lease:
    """Take the experiment's lease, or raise ``LeaseHeldError`` naming its live holder."""
    try:
        return _acquire(exp, command, take_over)
    except (OSError, ValueError) as exc:  # ValueError: pyarrow's invalid-path errors
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise StorageError(f"{exp}: cannot take the experiment's lease: {reason}") from None


def _acquire(exp: Location, command: str, take_over: bool) -> Lease:
    store = store_for(exp)
    me = Holder.me(command, lease_ttl())
    for _ in range(2):  # a lost race is read again: the winner is then named
        raw, version = store.read()
        current, now = Holder.parse(raw), time.time()
        if current is not None and not current.gone(now) and not take_over:
            raise LeaseHeldError(
                f"{exp} is in use by {current.describe(now)}; wait for it to end, or take the "
                "lease over with --take-over if that driver is dead"
            )
        me = replace(me, since=now, renewed=now)
        new_version = store.swap(version, me.to_bytes())
        if new_version is not None:
            if current is not None:
                logger.warning("%s: took the lease over from %s", exp, current.describe(now))
            return Lease(store, me, new_version)
    raise LeaseHeldError(f"{exp}: another driver took the lease while this one did")


@contextmanager
def experiment_lease(exp: Location, *, command: str, take_over: bool = False) -> Iterator[Lease]:
    """Hold the lease for the ``with`` block, renewed in the background; released after."""
    lease = acquire(exp, command=command, take_over=take_over)
    lease.renew_in_background()
    try:
        yield lease
    finally:
        lease.release()
