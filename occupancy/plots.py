"""Figures like the seed paper's: marginal and conditional occupancy, one colour per data set."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from zoo.runs import atomic_path  # noqa: E402


def _panel(ax, summaries: Mapping[str, pd.DataFrame], pattern: str, title: str) -> None:
    labels = list(summaries)
    params = []
    for s in summaries.values():
        params += [p for p in s.loc[s["parameter"].str.match(pattern), "parameter"] if p not in params]
    height = 0.8 / max(len(labels), 1)
    for k, (label, s) in enumerate(summaries.items()):
        rows = s.set_index("parameter").reindex(params)
        y = [i - 0.4 + height * (k + 0.5) for i in range(len(params))]  # first data set on top
        ax.errorbar(rows["mean"], y, xerr=[rows["mean"] - rows["q2.5"], rows["q97.5"] - rows["mean"]],
                    fmt="o", capsize=3, label=label, color=f"C{k}")
    ax.set_yticks(range(len(params)), params)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("posterior mean and 95% interval")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)


def plot_occupancy(summaries: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """Two panels (marginal psi[species], conditional psi[target | ...]); one colour per summary."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    _panel(axes[0], summaries, r"^psi\[[^|]+\]$", "Marginal occupancy")
    _panel(axes[1], summaries, r"^psi\[.+\|.+\]$", "Conditional occupancy")
    axes[1].legend(loc="best", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    return path
