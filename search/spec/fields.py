"""Reading one YAML mapping into typed values, with errors that name the field and the value."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from search.errors import SpecError

T = TypeVar("T")
REQUIRED: Any = object()

_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)


def is_kind(value: Any, kind: type) -> bool:
    """``isinstance`` that keeps bools out of numbers and lets ints stand for floats."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:  # NaN and inf are never meant in a spec; they only break things later
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


class Section:
    """A mapping of the spec being read: ``take`` typed keys, then ``done`` rejects the rest."""

    def __init__(self, raw: Any, path: str, source: str) -> None:
        self.path, self.source = path, source
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            self.fail(f"`{path}` must be a mapping, but got {raw!r}")
        self.raw: Mapping[str, Any] = raw
        self._taken: set[str] = set()

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, message: str) -> NoReturn:
        raise SpecError(f"{self.source}: {message}")

    def take(
        self,
        key: str,
        kind: type[T],
        default: Any = REQUIRED,
        *,
        check: Callable[[T], bool] | None = None,
        expect: str = "",
    ) -> T:
        self._taken.add(key)
        if key not in self.raw or self.raw[key] is None and default is not REQUIRED:
            if default is REQUIRED:
                self.fail(f"`{self.field(key)}` is required")
            return default  # type: ignore[no-any-return]
        value = self.raw[key]
        if not is_kind(value, kind):
            self.fail(f"`{self.field(key)}` must be {kind_name(kind)}, but got {value!r}")
        if kind is float:
            value = float(value)
        if check is not None and not check(value):
            self.fail(f"`{self.field(key)}` must be {expect}, but got {value!r}")
        return value  # type: ignore[no-any-return]

    def choice(
        self, key: str, accepted: Mapping[str, Any] | tuple[str, ...], default: Any = REQUIRED
    ) -> str:
        value = self.take(key, str, default)
        if value not in accepted:
            self.fail(f"unknown {self.field(key)} {value!r}; expected one of {sorted(accepted)}")
        return value

    def claim(self, key: str) -> Any:
        """Mark ``key`` as known and return its raw value, for callers that parse it."""
        self._taken.add(key)
        return self.raw.get(key)

    def sub(self, key: str) -> Section:
        self._taken.add(key)
        return Section(self.raw.get(key), self.field(key), self.source)

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self._taken)
        if unknown:
            where = f"`{self.path}`" if self.path else "the spec"
            self.fail(f"unknown keys {unknown} in {where}; expected {sorted(self._taken)}")
