"""raysweep's exceptions. The CLI prints ``error: <message>`` and exits 2 for the input errors."""

from __future__ import annotations


class RaysweepError(Exception):
    """Base class of every error raysweep raises on purpose."""


class SpecError(RaysweepError):
    """The sweep spec or a ``--set`` override is invalid; raised before Ray starts."""


class ResumeError(RaysweepError):
    """A directory can't be resumed: not a raysweep experiment, or its spec was changed."""


class NotAnExperimentError(ResumeError):
    """A directory that exists holds no raysweep spec: no sweep was ever saved in it."""


class StorageError(RaysweepError):
    """The experiment storage can't be written (checked with a probe file before a sweep)."""


class ExperimentExistsError(RaysweepError):
    """``run`` was asked to create an experiment whose directory already holds one."""


class LeaseHeldError(RaysweepError):
    """Another live driver holds the experiment's lease (``run``/``resume``; see lease.py)."""


class ExportError(RaysweepError):
    """An export can't be written: bad ``--top``, a missing output directory."""


class DashboardError(RaysweepError):
    """``raysweep dashboard`` can't listen where it was asked to (the port is taken)."""


class StorageRefusedError(RaysweepError):
    """The experiment storage refused a write during a sweep (out of space, over quota,
    read-only, access denied): the sweep stopped with its state saved; resume it once fixed.
    The CLI exits 1 (a run that could not finish), not 2."""
