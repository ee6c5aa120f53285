"""The report's own figures: deviation from the ground truth per quantity, and how much verification is
enough. (Forest plots: occupancy.plots; confusion matrices: zoo.evaluate; reliability: heads.calibration.)
Matplotlib's object API, so a caller's backend is left alone; files are written atomically."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from core.runs import save_figure

POLICY_STYLES = {"planned": ("tab:green", "o"), "random_photos": ("tab:blue", "s"),
                 "random_sequences": ("tab:orange", "^")}


def save(fig: Figure, path: str | Path) -> Path:
    # no software stamp in the file, so the same inputs give the same bytes
    return save_figure(fig, path, metadata={"Software": None})


def plot_deviation(dev: pd.DataFrame, path: str | Path, title: str = "Deviation from the ground-truth fit",
                   group: str | None = None) -> Path:
    """Estimate minus ground truth with its 95% interval, per quantity, one colour per fit; with `group` (a column
    of `dev`, e.g. the classifier and label mode of emulated fits) one colour and legend entry per group, its fits
    (seeds) side by side."""
    params = list(dict.fromkeys(dev["parameter"]))
    fits = list(dict.fromkeys(dev["fit"]))
    groups = dev.drop_duplicates("fit").set_index("fit")[group] if group else pd.Series(fits, index=fits)
    colours = {g: f"C{k + 1}" for k, g in enumerate(dict.fromkeys(groups))}
    sizes = groups.value_counts()
    fig = Figure(figsize=(8, 0.55 * len(params) * max(1, len(fits) / 3) + 2.2), layout="constrained")
    ax = fig.subplots()
    height, labelled = 0.8 / max(len(fits), 1), set()  # one legend entry per group
    for k, fit in enumerate(fits):
        d = dev[dev["fit"] == fit].set_index("parameter").reindex(params)
        y = np.arange(len(params)) - 0.4 + height * (k + 0.5)
        lo, hi = d["q2.5"] - d["ground_truth"], d["q97.5"] - d["ground_truth"]
        label = (f"{groups[fit]} ({sizes[groups[fit]]} fits)" if group else f"{fit} ({d['labels'].dropna().iloc[0]})")
        ax.errorbar(d["deviation"], y, xerr=[d["deviation"] - lo, hi - d["deviation"]], fmt="o", capsize=3,
                    color=colours[groups[fit]], label=None if groups[fit] in labelled else label)
        labelled.add(groups[fit])
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(range(len(params)), params)
    ax.invert_yaxis()
    ax.set_xlabel("estimate - ground-truth estimate (occupancy probability; bars: 95% interval)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=min(len(colours), 2 if group else 3),
               fontsize=8)
    return save(fig, path)


def plot_verification_curve(rows: list[dict], path: str | Path, quantities: int = 7,
                            title: str = "How much verification is enough") -> Path:
    """Deviation against verification effort (the occupancy verification benchmark's rows), per policy,
    the naive fit and the ground truth as reference lines; band = range over seeds."""
    table = pd.DataFrame(rows)
    fitted = table[table["photo_share"] > 0]
    n_classified = int(round((fitted["photos"] / fitted["photo_share"]).median()))
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2, sharex=True)
    naive = table[table["policy"] == "naive"].iloc[0]
    for ax, col, what in ((axes[0], "mean_abs_dev", "mean"), (axes[1], "max_abs_dev", "max")):
        for policy, (colour, marker) in POLICY_STYLES.items():
            sub = table[table["policy"] == policy]
            if sub.empty:
                continue
            # x = the photos actually verified: the planner stops when nothing is left worth checking
            agg = sub.groupby("budget").agg(share=("photo_share", "mean"), mean=(col, "mean"), lo=(col, "min"),
                                            hi=(col, "max")).drop_duplicates(["share", "mean"]).reset_index()
            ax.plot(agg["share"] * 100, agg["mean"], marker=marker, color=colour, label=policy.replace("_", " "))
            if len(sub) > len(agg):
                ax.fill_between(agg["share"] * 100, agg["lo"], agg["hi"], color=colour, alpha=0.15)
        ax.axhline(naive[col], color="tab:red", ls="--", label="naive (classifier as truth)")
        ax.axhline(0, color="black", lw=1, label="ground truth")
        ax.set_xscale("log")
        ax.set_xlabel(f"photos verified by a person (% of the {n_classified:,} classified)")
        ax.set_ylabel("|estimate - ground truth| (occupancy probability)")
        ax.set_title(f"{what} |deviation| ({quantities} occupancy quantities)", fontsize=10)
    axes[0].legend(fontsize=8)
    planned = table.loc[table["policy"] == "planned", "photo_share"]
    stop = f"; the planner stopped at {planned.max():.1%}, nothing left worth checking" if len(planned) else ""
    fig.suptitle(f"{title} (band: range over seeds{stop})", fontsize=10)
    fig.tight_layout()
    return save(fig, path)
