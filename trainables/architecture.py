"""Which network a trial trains, as plain data (no torch).

It travels to the workers and into every checkpoint, so a saved model can be rebuilt without
the spec; ``trainables.model`` builds it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MODEL_TYPES = ("mlp", "cnn", "factory")


@dataclass(frozen=True)
class Architecture:
    type: str = "mlp"
    input_shape: tuple[int, ...] | None = None  # cnn: (channels, height, width)
    factory: str | None = None  # "package.module:function"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Architecture:
        if not d:
            return cls()
        shape = d.get("input_shape")
        return cls(d.get("type", "mlp"), tuple(shape) if shape else None, d.get("factory"))
