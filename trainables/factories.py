"""Your code, named in the spec as ``package.module:function``: imported only on purpose.

A factory is code the user chose to run; nothing else is imported by name from a spec.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load_factory(path: str) -> Callable[..., Any]:
    """Import ``package.module:function``; ``ImportError``/``AttributeError`` if it isn't there."""
    module, _, name = path.partition(":")
    if not module or not name:
        raise ImportError(f"{path!r} is not of the form 'package.module:function'")
    function = getattr(importlib.import_module(module), name)
    if not callable(function):
        raise TypeError(f"{path!r} is not callable")
    return function  # type: ignore[no-any-return]
