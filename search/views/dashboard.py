"""``raysweep dashboard``: optuna-dashboard over a study derived from the experiment's records.

The study is rebuilt from the records (``search.results.study``) whenever they change, and
swapped in whole behind one storage object that the dashboard keeps: a Tune trial never shows
twice, and one that a resume continued never shows stale. Works for any experiment ``status``
can read (running, interrupted or finished; local or on object storage), from any machine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from optuna.storages import BaseStorage, InMemoryStorage

from search.errors import DashboardError
from search.results.experiment import experiment_path
from search.results.records import load_results
from search.results.study import build_study
from trainables.storage import Location

logger = logging.getLogger(__name__)

REFRESH_S = 4.0  # how often the records are read again: new epochs show within ~10 s
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _forward(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.current, name)(*args, **kwargs)

    method.__name__ = name
    return method


# An Optuna storage that forwards every call to the study built last (``.current``).
# Built with type(): its methods are BaseStorage's abstract ones, one forwarder each.
SwappedStorage: Any = type(
    "SwappedStorage",
    (BaseStorage,),
    {
        "__init__": lambda self, current: setattr(self, "current", current),
        **{name: _forward(name) for name in sorted(BaseStorage.__abstractmethods__)},
    },
)


def _fingerprint(results: Any) -> tuple[Any, ...]:
    return tuple(
        (t.trial_id, t.status, t.epochs_completed, len(t.history), t.is_baseline)
        for t in results.trials
    )


@dataclass
class FollowedStudy:
    """The experiment's study, rebuilt from its records when they change."""

    experiment: Location
    storage: Any = None  # a SwappedStorage
    fingerprint: tuple[Any, ...] | None = None

    def refresh(self) -> bool:
        """Read the records again; True if the study changed."""
        # A running trial's results reach the storage at Tune's next snapshot; until then Ray
        # warns, at every read, that it found none. They show at the next refresh.
        analysis_logger = logging.getLogger("ray.tune.analysis.experiment_analysis")
        level = analysis_logger.level
        analysis_logger.setLevel(logging.ERROR)
        try:
            results = load_results(self.experiment)
        finally:
            analysis_logger.setLevel(level)
        fingerprint = _fingerprint(results)
        if fingerprint == self.fingerprint:
            return False
        fresh = InMemoryStorage()
        build_study(results, fresh)
        if self.storage is None:
            self.storage = SwappedStorage(fresh)
        else:
            self.storage.current = fresh  # one assignment: a request sees the old or the new
        self.fingerprint = fingerprint
        return True

    def follow(self, stop: threading.Event, every: float = REFRESH_S) -> None:
        while not stop.wait(every):
            try:
                self.refresh()
            except Exception as exc:  # a snapshot caught mid-write: the next read gets it
                logger.debug("dashboard refresh failed: %s", exc)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # one line per request: noise
        pass


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def start_dashboard(
    experiment: str, *, host: str = "127.0.0.1", port: int = 8080
) -> tuple[WSGIServer, FollowedStudy, threading.Event]:
    """Serve optuna-dashboard for ``experiment``; the caller runs ``serve_forever``."""
    import optuna_dashboard

    followed = FollowedStudy(experiment_path(experiment))
    followed.refresh()
    try:
        server = make_server(
            host,
            port,
            optuna_dashboard.wsgi(followed.storage),
            server_class=_ThreadedServer,
            handler_class=_QuietHandler,
        )
    except OSError as exc:
        raise DashboardError(
            f"can't listen on {host}:{port} ({exc.strerror or exc}); pick another --port"
        ) from None
    stop = threading.Event()
    threading.Thread(
        target=followed.follow, args=(stop,), name="raysweep-dashboard", daemon=True
    ).start()
    return server, followed, stop


def dashboard_url(server: WSGIServer, host: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{server.server_port}/dashboard/"


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")
