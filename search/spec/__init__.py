"""The sweep spec, parsed once into typed objects. Imports neither torch nor Ray."""

from __future__ import annotations

from search.errors import SpecError
from search.spec.load import load_spec, parse_mapping, with_baselines
from search.spec.scheduler import SCHEDULERS
from search.spec.sweep_spec import SweepSpec, parse_spec

__all__ = [
    "SCHEDULERS",
    "SpecError",
    "SweepSpec",
    "load_spec",
    "parse_mapping",
    "parse_spec",
    "with_baselines",
]
