"""``python -m bench.search_quality [--quick]``: every method on every task, many seeds.

Writes ``bench/results/search_quality.json`` (``search_quality.quick.json`` with ``--quick``)
and a PNG of the anytime regret per task beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.search_quality import methods as methods_module
from bench.search_quality.compare import run_all, summarize
from bench.search_quality.curves import CURVES_DIR
from bench.search_quality.methods import CANDIDATES, METHODS
from bench.search_quality.plot import plot_regret
from bench.search_quality.table import load_table
from bench.search_quality.tasks import TASKS

RESULTS = Path(__file__).resolve().parent.parent / "results"
BUDGETS = [1, 2, 4, 8, 16, 32]
DEFAULT = "raysweep"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, budgets up to 8")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes running replays"
    )
    parser.add_argument(
        "--simulated-workers",
        type=int,
        default=methods_module.WORKERS,
        help="trials at once in each replay (4; a real sweep's max_concurrent)",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--fresh", action="store_true", help="ignore the replays cached by an earlier run"
    )
    args = parser.parse_args(argv)
    methods_module.WORKERS = args.simulated_workers  # read by every method as it builds
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds, budgets = (3, BUDGETS[:4]) if args.quick else (args.seeds, budgets)
    tables = {name: load_table(CURVES_DIR / f"{name}.parquet") for name in args.tasks.split(",")}
    methods = args.methods.split(",")
    started = time.perf_counter()
    out = args.out or RESULTS / (
        "search_quality.quick.json" if args.quick else "search_quality.json"
    )
    cache = out.with_suffix(".cells.jsonl")
    if args.fresh:
        cache.unlink(missing_ok=True)
    cells = run_all(tables, methods, seeds, budgets, args.workers, cache=cache)
    result: dict[str, Any] = summarize(cells, budgets)
    result["methods"] = {m: {**METHODS, **CANDIDATES}[m].description for m in methods}
    result["default"] = DEFAULT
    result["budgets"] = [str(b) for b in budgets]
    result["setup"] = {
        "workers": args.simulated_workers,
        "unit": "budget = epochs spent / epochs per config (full-training equivalents)",
        "regret": "best mean final validation metric minus the recommended config's (>= 0)",
        "seconds": round(time.perf_counter() - started, 1),
    }
    build = CURVES_DIR / "build.json"
    if build.exists():
        result["table"] = json.loads(build.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    plot_regret(result, out.with_suffix(".png"))
    budget = "8" if "8" in result["budgets"] else result["budgets"][-1]
    out.with_suffix(".md").write_text(markdown_table(result, budget))
    print(f"wrote {out} and {out.with_suffix('.png')} in {result['setup']['seconds']} s")
    _print_table(result, "8" if "8" in result["budgets"] else result["budgets"][-1])
    return result


def markdown_table(result: dict[str, Any], budget: str) -> str:
    """Median (IQM) validation regret at one budget, a column per task, a row per method."""
    tasks = list(result["tasks"])
    methods = sorted({m for t in tasks for m in result["tasks"][t]})
    lines = [
        f"| method (regret at {budget} full trainings: median, IQM; seeds) | "
        + " | ".join(tasks)
        + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for m in methods:
        cells = []
        for t in tasks:
            c = result["tasks"][t].get(m, {}).get(budget)
            cells.append(
                "-"
                if c is None
                else f"{c['median_regret']:.4f}, {c['iqm_regret']:.4f}; {c['seeds']}"
            )
        name = f"**{m}**" if m == result["default"] else m
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _print_table(result: dict[str, Any], budget: str) -> None:
    for task, by_method in result["tasks"].items():
        print(f"\n{task} (median regret at {budget} full-training equivalents)")
        for method, cells in sorted(
            by_method.items(), key=lambda kv: kv[1][budget]["median_regret"]
        ):
            c = cells[budget]
            print(f"  {method:22s} {c['median_regret']:.4f}  IQM {c['iqm_regret']:.4f}")


if __name__ == "__main__":
    main()
