"""The report's tables: the verdict (deviation of each fit from the ground-truth fit), the leaderboard of
classifier runs, per-class tables, estimates and sampler diagnostics. Plain data frames in and out."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from zoo.report.inputs import Fit, Run

LEVELS = ("image", "sequence")
METRICS = ("accuracy", "top3_accuracy", "macro_f1", "nll", "ece")


def reference_fit(fits: list[Fit], name: str | None = None) -> Fit | None:
    """The ground-truth fit every other fit is judged against: named, else the one with labels=ground_truth."""
    if name:
        match = [f for f in fits if f.name == name or str(f.path) == name]
        if not match:
            raise ValueError(f"reference fit {name!r} is not among the fits {[f.name for f in fits]}")
        return match[0]
    truth = [f for f in fits if f.labels == "ground_truth"]
    return truth[0] if truth else None


def study_quantities(reference: Fit) -> list[str]:
    """What the study asks: the conditional occupancies and the marginals of the species they involve."""
    params = reference.summary["parameter"].tolist()
    conditionals = OmegaConf.to_container(OmegaConf.select(reference.config, "study.conditionals", default=[]) or [])
    species = []
    for spec in conditionals:
        species += [s for s in [spec["species"], *spec.get("given", [])] if s not in species]
    targets = tuple(f"psi[{spec['species']} |" for spec in conditionals)
    wanted = [f"psi[{s}]" for s in species] + [p for p in params if p.startswith(targets)]
    wanted = [p for p in wanted if p in params]
    return wanted or [p for p in params if p.startswith("psi[")]


def deviations(fits: list[Fit], reference: Fit, quantities: list[str]) -> pd.DataFrame:
    """One row per fit and quantity: estimate and interval, the ground-truth mean, the deviation."""
    truth = reference.summary.set_index("parameter")["mean"]
    rows = []
    for fit in fits:
        if fit is reference:
            continue
        s = fit.summary.set_index("parameter")
        for q in quantities:
            if q not in s.index:
                continue
            mean, lo, hi = (float(s.loc[q, c]) for c in ("mean", "q2.5", "q97.5"))
            rows.append({"fit": fit.name, "labels": fit.labels, "classifier": fit.classifier, "parameter": q, "estimate": mean, "q2.5": lo,
                         "q97.5": hi, "ground_truth": float(truth[q]), "deviation": mean - float(truth[q]),
                         "covers_truth": bool(lo <= truth[q] <= hi)})
    return pd.DataFrame(rows, columns=["fit", "labels", "classifier", "parameter", "estimate", "q2.5", "q97.5", "ground_truth",
                                       "deviation", "covers_truth"])


def verdict(dev: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per fit: mean and largest |deviation|, the quantity furthest off, and whether it is good enough."""
    rows = []
    for fit, d in dev.groupby("fit", sort=False):
        worst = d.loc[d["deviation"].abs().idxmax()]
        largest = abs(float(worst["deviation"]))
        rows.append({"fit": fit, "labels": d["labels"].iloc[0], "classifier": d["classifier"].iloc[0], "mean_abs_deviation": float(d["deviation"].abs().mean()),
                     "max_abs_deviation": largest, "furthest_off": worst["parameter"],
                     "truth_inside_95%": f"{int(d['covers_truth'].sum())}/{len(d)}",
                     "good_enough": largest <= tolerance})
    return pd.DataFrame(rows)


def verdict_sentence(row: dict, tolerance: float) -> str:
    judgement = "good enough for this question" if row["good_enough"] else "not good enough for this question"
    # three decimals, as the table: at two, 0.053 against a tolerance of 0.05 read "off by 0.05: not good enough"
    return (f"**{row['fit']}** ({row['labels']}, {row['classifier']}): {row['furthest_off']} off by "
            f"{row['max_abs_deviation']:.3f} (mean over the study's quantities {row['mean_abs_deviation']:.3f}; ground "
            f"truth inside the 95% interval for {row['truth_inside_95%']}): {judgement} (tolerance {tolerance:g}).")


def ecological_consequence(verdict_table: pd.DataFrame, fits: list[Fit], runs: list[Run]) -> pd.DataFrame:
    """Per emulated classifier and label mode: the verdict over its seeds (mean of the mean |deviation|, the
    largest |deviation| of any seed)."""
    by_name = {f.name: f for f in fits}
    run_names = {Path(r.path).resolve(): r.name for r in runs}
    rows = []
    for row in verdict_table.to_dict("records"):
        fit = by_name[row["fit"]]
        if fit.emulated_from:
            rows.append({**row, "classifier": run_names.get(Path(fit.emulated_from).resolve(), fit.emulated_from)})
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows)
    return (table.groupby(["classifier", "labels"], sort=False)
            .agg(seeds=("fit", "size"), mean_abs_deviation=("mean_abs_deviation", "mean"),
                 max_abs_deviation=("max_abs_deviation", "max"), good_enough=("good_enough", "all"))
            .reset_index())


def _head_options(cfg) -> str:
    head = OmegaConf.select(cfg, "head", default=None)
    if head is None:
        return "–"
    parts = [f"pool {OmegaConf.select(head, 'pooling.kind', default='?')}"]
    if OmegaConf.select(head, "calibration.enabled", default=False):
        parts.append("temperature")
    if OmegaConf.select(head, "prior.enabled", default=False):
        parts.append("prior")
    smoothing = OmegaConf.select(cfg, "train.label_smoothing", default=None)
    if smoothing:
        parts.append(f"smoothing {smoothing}")
    return ", ".join(parts)


def leaderboard(runs: list[Run], n_params: dict[str, float] | None = None,
                ecological: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run, split and level: the recipe, the ecological consequence of its mistakes (largest
    |deviation| from the ground truth of the emulated fits, naive and uncertainty-aware) and every metric
    metrics.json holds."""
    eco = {}
    if ecological is not None and len(ecological):
        for row in ecological.to_dict("records"):
            eco[(row["classifier"], row["labels"])] = row["max_abs_deviation"]
    rows = []
    for run in runs:
        minutes = float(run.history["seconds"].sum()) / 60 if run.history is not None and "seconds" in run.history else np.nan
        images_per_s = (run.metrics.get("inference") or {}).get("images_per_s", np.nan)  # runs before it was measured: NaN
        for split in run.splits:
            for level in LEVELS:
                block = run.metrics[split].get(level)
                if not block:
                    continue
                rows.append({
                    "run": run.name, "backbone": OmegaConf.select(run.config, "model.name", default="?"),
                    "img_size": OmegaConf.select(run.config, "model.img_size", default=None),
                    "head": _head_options(run.config),
                    "params_M": (n_params or {}).get(run.name, np.nan), "train_min": minutes,
                    "infer_img_s": images_per_s,
                    "eco_max_dev_naive": eco.get((run.name, "naive"), np.nan),
                    "eco_max_dev_aware": eco.get((run.name, "confusion"), np.nan),
                    "split_kind": OmegaConf.select(run.config, "data.split.kind", default="?"),
                    "eval_split": split, "level": level, "n": block["n"], **{k: block.get(k, np.nan) for k in METRICS},
                    "mistake_severity": block.get("mistake_severity", {}).get("mean_mistake_severity", np.nan),
                })
    return pd.DataFrame(rows)


def per_class(run: Run, split: str = "valid", level: str = "image") -> pd.DataFrame:
    block = run.metrics[split][level]["per_class"]
    return pd.DataFrame([{"class": c, **v} for c, v in block.items()])


def most_confused(run: Run, split: str = "valid", level: str = "image") -> pd.DataFrame:
    return pd.DataFrame(run.metrics[split][level].get("most_confused", []), columns=["true", "predicted", "count"])


def estimates(fits: list[Fit]) -> pd.DataFrame:
    """Parameters as rows, one `mean [q2.5, q97.5]` column per fit."""
    if not fits:
        return pd.DataFrame()
    order = list(dict.fromkeys(p for fit in fits for p in fit.summary["parameter"]))  # reported quantities first
    table = pd.DataFrame({fit.name: fit.summary.set_index("parameter").apply(
        lambda r: f"{r['mean']:.2f} [{r['q2.5']:.2f}, {r['q97.5']:.2f}]", axis=1) for fit in fits}).reindex(order)
    return table.reset_index(names="parameter")


def diagnostics(fits: list[Fit]) -> pd.DataFrame:
    return pd.DataFrame([{"fit": f.name, "labels": f.labels, "max_r_hat": f.summary["r_hat"].max(),
                          "min_ess_bulk": f.summary["ess_bulk"].min(),
                          "divergences": f.diagnostics.get("divergences", np.nan)} for f in fits])
