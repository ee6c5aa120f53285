"""Figures like the seed paper's: marginal and conditional occupancy, one colour per data set; and the
posterior predictive check. Built on matplotlib's object API, so a caller's backend (a notebook's) is
left alone."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from core.runs import save_figure


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
    fig = Figure(figsize=(13, 5.4), layout="constrained")
    axes = fig.subplots(1, 2)
    _panel(axes[0], summaries, r"^psi\[[^|]+\]$", "Marginal occupancy")
    _panel(axes[1], summaries, r"^psi\[.+\|.+\]$", "Conditional occupancy")
    handles, labels = axes[0].get_legend_handles_labels()
    # below the panels: inside them it hides intervals once there are more than two or three data sets
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), fontsize="small")
    return save_figure(fig, path)


def plot_predictive_check(check: pd.DataFrame, replicated: Mapping[tuple[str, str], np.ndarray],
                          path: str | Path) -> Path:
    """One panel per species and stream: replicated detection frequencies, the observed one as a line."""
    n = len(check)
    cols = min(n, 5)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(3 * cols, 2.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, row in zip(axes, check.to_dict("records")):
        rep = replicated[(row["stream"], row["species"])]
        ax.hist(rep, bins=min(30, max(5, len(np.unique(rep)))), color="C0", alpha=0.7)
        ax.axvline(row["observed"], color="C3", lw=2)
        ax.set_title(f"{row['species']}, {row['stream']}\np = {row['p_value']:.2f}", fontsize="small")
        ax.set_xlabel("site-occasions with a detection", fontsize="small")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle("Posterior predictive check: replicated (bars) vs observed (line)")
    fig.tight_layout()
    return save_figure(fig, path)
