"""Running every method over many replay seeds, and summarizing the regret per budget."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.search_quality.table import CurveTable


@dataclass(frozen=True)
class Cell:
    """One replay: a method on a task with a seed; regrets per budget."""

    task: str
    method: str
    seed: int
    val_regret: list[float]
    test_regret: list[float]
    reached_at: int | None
    trials: int


_tables: dict[str, CurveTable] = {}


def _quiet() -> None:
    import logging

    warnings.simplefilter("ignore")
    for name in ("ray", "optuna", "hpbandster"):
        logging.getLogger(name).setLevel(logging.ERROR)


def replay_one(job: tuple[str, str, int, list[int]]) -> Cell:
    from bench.search_quality.methods import CANDIDATES, METHODS

    task, method, seed, budgets = job
    _quiet()
    table = _tables[task]
    outcome = {**METHODS, **CANDIDATES}[method].run(table, seed, budgets)
    worst_val, worst_test = (float(r.max()) for r in table.regrets)
    val, test = [], []
    for rec in outcome.recommendations:
        v, t = (
            table.regret(rec.config_id) if rec.config_id is not None else (worst_val, worst_test)
        )
        val.append(v)
        test.append(t)
    return Cell(task, method, seed, val, test, outcome.reached_at, outcome.trials)


def _init(tables: dict[str, CurveTable]) -> None:
    _tables.update(tables)
    _quiet()


def _cached(
    cache: Path | None, budgets: list[int], simulated: int
) -> dict[tuple[str, str, int], Cell]:
    """Replays done by an earlier (interrupted) run with the same budgets and workers."""
    if cache is None or not cache.exists():
        return {}
    done = {}
    for line in cache.read_text().splitlines():
        record = json.loads(line)
        # records written before the option existed all ran 4 simulated workers
        same_workers = record.pop("simulated_workers", 4) == simulated
        if record.pop("budgets") == budgets and same_workers:
            cell = Cell(**record)
            done[(cell.task, cell.method, cell.seed)] = cell
    return done


def _fresh(
    tables: dict[str, CurveTable], jobs: list[tuple[str, str, int, list[int]]], workers: int
) -> Iterator[Cell]:
    if workers <= 1:
        _init(tables)
        yield from map(replay_one, jobs)
        return
    with multiprocessing.get_context("fork").Pool(workers, _init, (tables,)) as pool:
        yield from pool.imap_unordered(replay_one, jobs)


def run_all(
    tables: dict[str, CurveTable],
    methods: Iterable[str],
    seeds: int,
    budgets: list[int],
    workers: int,
    cache: Path | None = None,
) -> list[Cell]:
    """Every (task, method, seed) replay; with ``cache``, each is appended there as it ends,
    and those already there are not replayed again (an interrupted run goes on)."""
    from bench.search_quality import methods as _methods

    simulated = _methods.WORKERS
    done = _cached(cache, budgets, simulated)
    # seed by seed: an interrupted run leaves every method with as many seeds as the others
    wanted = [(t, m, s) for s in range(seeds) for t in tables for m in methods]
    jobs = [(*key, budgets) for key in wanted if key not in done]
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
    for cell in _fresh(tables, jobs, workers):  # type: ignore[arg-type]
        done[(cell.task, cell.method, cell.seed)] = cell
        if cache is not None:
            with cache.open("a") as f:
                record = {**dataclasses.asdict(cell), "budgets": budgets}
                f.write(json.dumps({**record, "simulated_workers": simulated}) + "\n")
    return [done[key] for key in wanted]


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle half, robust to a few lucky or unlucky runs."""
    ordered = np.sort(values)
    cut = len(ordered) // 4
    middle = ordered[cut : len(ordered) - cut] if len(ordered) >= 4 else ordered
    return float(middle.mean())


def summarize(cells: list[Cell], budgets: list[int]) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    reach: dict[str, Any] = {}
    for cell in cells:
        tasks.setdefault(cell.task, {}).setdefault(cell.method, []).append(cell)
    summary: dict[str, Any] = {}
    for task, by_method in tasks.items():
        summary[task], reach[task] = {}, {}
        for method, group in by_method.items():
            val = np.array([c.val_regret for c in group])
            test = np.array([c.test_regret for c in group])
            summary[task][method] = {
                str(b): {
                    "median_regret": round(float(np.median(val[:, i])), 5),
                    "iqm_regret": round(iqm(val[:, i]), 5),
                    "q25_regret": round(float(np.quantile(val[:, i], 0.25)), 5),
                    "q75_regret": round(float(np.quantile(val[:, i], 0.75)), 5),
                    "median_test_regret": round(float(np.median(test[:, i])), 5),
                    "iqm_test_regret": round(iqm(test[:, i]), 5),
                    "seeds": len(group),
                }
                for i, b in enumerate(budgets)
            }
            reached = [c.reached_at for c in group if c.reached_at is not None]
            # the median over seeds counts a run that never got there as never (None)
            never = len(group) - len(reached)
            median = float(np.median(reached + [np.inf] * never)) if group else np.inf
            reach[task][method] = {
                "median_epochs": None if not np.isfinite(median) else median,
                "reached": len(reached),
                "seeds": len(group),
                "median_trials": float(np.median([c.trials for c in group])),
            }
    return {"tasks": summary, "epochs_to_within_0.5pct": reach}
