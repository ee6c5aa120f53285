"""Posterior summary in unmarked's notation, and convergence diagnostics that complain loudly."""
from __future__ import annotations

import logging

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ["parameter", "mean", "sd", "q2.5", "q97.5", "r_hat", "ess_bulk"]
RHAT_LIMIT = 1.01


# variable -> label of one element in unmarked's notation (elements are az.summary's "var[a, b]" indices)
LABELS = {
    "p": "p[{}]", "psi": "psi[{}]", "psi_conditional": "{}", "f": "f[{}]", "alpha": "logit_p[{}]",
    "beta_psi": "beta_psi[{}]", "beta_p": "beta_p[{}]", "true_label_mean": "true_label_mean[{}]",
    "true_label_dispersion": "true_label_dispersion[{}]", "false_rate": "false_rate[{}]",
    "false_label_dispersion": "false_label_dispersion[{}]", "detection_site_sd": "detection_site_sd[{}]",
    "false_label_site_sd": "false_label_site_sd[{}]", "missed_visit": "missed_visit[{}]",
}
STATS = {"mean": np.mean, "sd": lambda v: np.std(v, ddof=1),
         "q2.5": lambda v: np.quantile(v, 0.025), "q97.5": lambda v: np.quantile(v, 0.975)}


def summarize(posterior: xr.Dataset) -> pd.DataFrame:
    """Reported quantities first (p, psi, conditionals), then the model's own parameters."""
    names = [v for v in LABELS if v in posterior]
    table = az.summary(posterior, var_names=names, kind="diagnostics", stat_funcs=STATS, extend=True, round_to="none")
    table.insert(0, "parameter", parameter_labels(table.index))
    return table[SUMMARY_COLUMNS].reset_index(drop=True)


def parameter_labels(index: pd.Index) -> list[str]:
    """az.summary's "var[a, b]" row names in unmarked's notation (LABELS)."""
    var = index.str.extract(r"^([^\[]+)", expand=False)
    element = index.str.extract(r"^[^\[]+\[(.*)\]$", expand=False).fillna("")
    return [LABELS[v].format(e) for v, e in zip(var, element)]


def reported(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows of the ecological quantities: p[...], psi[...] and conditionals."""
    return summary[summary["parameter"].str.match(r"^(p|psi)\[")]


def diagnostics(idata, summary: pd.DataFrame) -> dict:
    """R-hat, bulk ESS over every summarised quantity, and the number of divergent transitions."""
    diverging = 0
    if hasattr(idata, "sample_stats") and "diverging" in idata.sample_stats:
        diverging = int(idata.sample_stats["diverging"].sum())
    n_chains = int(idata.posterior.sizes["chain"])
    rep = reported(summary)
    out = {
        "max_r_hat": float(summary["r_hat"].max()) if n_chains > 1 else None,
        "min_ess_bulk": float(summary["ess_bulk"].min()),
        "min_ess_bulk_reported": float(rep["ess_bulk"].min()) if len(rep) else None,
        "divergences": diverging,
        "chains": n_chains,
        "draws": int(idata.posterior.sizes["draw"]),
    }
    bad = summary.loc[summary["r_hat"] > RHAT_LIMIT, "parameter"].tolist() if n_chains > 1 else []
    out["r_hat_above_limit"] = bad
    out["converged"] = not bad and diverging == 0
    return out


def warn_if_unconverged(diag: dict) -> None:
    if diag["r_hat_above_limit"]:
        log.error("!" * 72)
        log.error("NOT CONVERGED: R-hat > %.2f for %s (max %.3f). Do not use these estimates; sample longer "
                  "or check the model.", RHAT_LIMIT, diag["r_hat_above_limit"][:10], diag["max_r_hat"])
        log.error("!" * 72)
    if diag["divergences"]:
        log.error("%d divergent transitions: estimates may be biased; raise target_accept.", diag["divergences"])
    if diag["chains"] < 2:
        log.warning("one chain only: R-hat cannot be computed")
