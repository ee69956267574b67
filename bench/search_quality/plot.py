"""The anytime-regret plot: median regret per budget, the interquartile band shaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_regret(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    budgets = [int(b) for b in result["budgets"]]
    for ax, (task, by_method) in zip(axes[0], tasks.items()):
        for method, cells in by_method.items():
            median = [cells[str(b)]["median_regret"] for b in budgets]
            low = [cells[str(b)]["q25_regret"] for b in budgets]
            high = [cells[str(b)]["q75_regret"] for b in budgets]
            width = 2.5 if method == result["default"] else 1.2
            (line,) = ax.plot(budgets, median, marker="o", lw=width, label=method)
            ax.fill_between(budgets, low, high, color=line.get_color(), alpha=0.12)
        ax.set_xscale("log", base=2)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0)
        ax.set_title(task)
        ax.set_xlabel("budget (full-training equivalents)")
        ax.set_ylabel("regret of the recommended config (val)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
