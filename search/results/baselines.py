"""``--baselines-from``: earlier winners, read from an export, become a new sweep's baselines."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from search.errors import SpecError


def read_baselines(path: str, searched: list[str], *, top: int | None = None) -> list[dict]:
    """The searched hyperparameters of an export's rows, best rank first (``top`` of them)."""
    if top is not None and top < 1:
        raise SpecError(f"--top must be >= 1, but got {top}")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise SpecError(f"--baselines-from {path}: not a readable Parquet file ({exc})") from None
    missing = sorted(set(searched) - set(table.column_names))
    if missing or "rank" not in table.column_names:
        raise SpecError(
            f"--baselines-from {path}: columns {missing or ['rank']} are missing; a raysweep "
            f"export with the searched hyperparameters {sorted(searched)} and `rank` is needed"
        )
    rows = [r for r in table.select(["rank", *searched]).to_pylist() if r["rank"] is not None]
    rows.sort(key=lambda r: r["rank"])
    if not rows:
        raise SpecError(f"--baselines-from {path}: no ranked trials in it")
    # Conditional parameters are null where they did not apply: leave them out.
    return [{k: r[k] for k in searched if r[k] is not None} for r in rows[:top]]
