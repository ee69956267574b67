"""Reading a spec file (local or on the experiment's storage) into a ``SweepSpec``."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from search.errors import SpecError
from search.spec.overrides import apply_overrides
from search.spec.sweep_spec import SweepSpec, parse_spec
from search.spec.yaml_io import safe_load

if TYPE_CHECKING:
    from trainables.storage import Location


def load_spec(path: str | Path | Location, overrides: list[str] | None = None) -> SweepSpec:
    """Read, override (``--set key=value``) and parse a spec file; raise ``SpecError``."""
    source = str(path)
    file = Path(path) if isinstance(path, str) else path  # a Location reads from its storage
    try:
        text = file.read_text()
    except OSError as exc:
        reason = exc.strerror or str(exc).splitlines()[0]
        raise SpecError(f"{source}: cannot read spec: {reason}") from None
    try:
        raw = safe_load(text)
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise SpecError(f"{source}: not valid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the spec must be a mapping, but got {type(raw).__name__}")
    raw.setdefault("name", Path(file.name).stem)
    return parse_spec(apply_overrides(raw, overrides or [], source), source=source)


def parse_mapping(
    raw: Mapping[str, Any], overrides: list[str] | None = None, *, source: str = "<dict>"
) -> SweepSpec:
    """A spec given as a mapping shaped like the YAML (the Python API)."""
    return parse_spec(apply_overrides(dict(raw), overrides or [], source), source=source)


def with_baselines(spec: SweepSpec, baselines: list[dict[str, Any]], *, source: str) -> SweepSpec:
    """``spec`` with ``search.baseline`` replaced by ``baselines`` (validated like the rest)."""
    raw = copy.deepcopy(dict(spec.raw))
    search = raw.get("search")
    raw["search"] = {**(search if isinstance(search, dict) else {}), "baseline": baselines}
    return parse_spec(raw, source=source)
