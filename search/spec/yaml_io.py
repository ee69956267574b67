"""Safe YAML loading that reads ``1e-3`` as a float.

PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-3``) and ``1e-3`` is a string; nobody
writing a learning rate expects that. This loader is ``SafeLoader`` with the YAML 1.2 float rule.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (no arbitrary objects) with YAML 1.2 floats."""


SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=SpecLoader)  # noqa: S506 - SpecLoader is a SafeLoader
