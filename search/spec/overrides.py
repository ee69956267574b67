"""``--set dotted.key=value`` overrides, applied to the raw YAML mapping before validation."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from search.errors import SpecError
from search.spec.yaml_io import safe_load


def apply_overrides(raw: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``a.b.c=value`` set; values are parsed as YAML."""
    result = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise SpecError(
                f"--set {item!r}: expected dotted.key=value, e.g. search.num_samples=8"
            )
        try:
            value = safe_load(text)
        except yaml.YAMLError:
            raise SpecError(f"--set {item!r}: the value is not valid YAML") from None
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise SpecError(f"{source}: --set {key}: `{where}` is {child!r}, not a mapping")
            node = child
        node[parts[-1]] = value
    return result
