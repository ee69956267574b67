"""The Pareto front of a multi-objective sweep."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(points: Sequence[Sequence[float] | None], modes: Sequence[str]) -> list[bool]:
    """Which points no other point dominates (``None``: not on the front)."""
    signs = [1.0 if m == "max" else -1.0 for m in modes]
    scored = [None if p is None else [s * v for s, v in zip(signs, p)] for p in points]

    def dominated(a: list[float]) -> bool:
        return any(
            b is not None
            and all(x >= y for x, y in zip(b, a))
            and any(x > y for x, y in zip(b, a))
            for b in scored
        )

    return [a is not None and not dominated(a) for a in scored]
