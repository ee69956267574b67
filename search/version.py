"""raysweep's version and the versions of the libraries an experiment was made with.

A leaf: the CLI, the API and the experiment's provenance read it without importing the rest.
"""

from __future__ import annotations

from importlib import metadata

__version__ = "0.1.0"

# Read from the installed distributions, so recording provenance imports none of them.
_LIBRARIES = ("ray", "optuna", "torch", "pyarrow")


def versions() -> dict[str, str]:
    found = {"raysweep": __version__}
    for name in _LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
