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


def _rows(da: xr.DataArray, label) -> list[dict]:
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    stacked = da.stack(sample=("chain", "draw")) if not extra else da.stack(sample=("chain", "draw")).transpose(*extra, "sample")
    rhat = az.rhat(da.to_dataset(name="x"))["x"]
    ess = az.ess(da.to_dataset(name="x"), method="bulk")["x"]
    values = stacked.values.reshape(-1, stacked.sizes["sample"])
    coords = [()] if not extra else list(np.ndindex(*[da.sizes[d] for d in extra]))
    rows = []
    for k, idx in enumerate(coords):
        names = tuple(str(da[d].values[i]) for d, i in zip(extra, idx))
        v = values[k]
        rows.append({
            "parameter": label(*names),
            "mean": float(v.mean()), "sd": float(v.std(ddof=1)),
            "q2.5": float(np.quantile(v, 0.025)), "q97.5": float(np.quantile(v, 0.975)),
            "r_hat": float(rhat.values[idx] if extra else rhat.values),
            "ess_bulk": float(ess.values[idx] if extra else ess.values),
        })
    return rows


def summarize(posterior: xr.Dataset) -> pd.DataFrame:
    """Reported quantities first (p, psi, conditionals), then the model's own parameters."""
    rows = []
    labels = {
        "p": lambda s: f"p[{s}]",
        "psi": lambda s: f"psi[{s}]",
        "psi_conditional": lambda c: c,
        "f": lambda t: f"f[{t}]",
        "alpha": lambda s: f"logit_p[{s}]",
        "beta_psi": lambda s, c: f"beta_psi[{s}, {c}]",
        "beta_p": lambda s, c: f"beta_p[{s}, {c}]",
        "true_label_mean": lambda s: f"true_label_mean[{s}]",
        "true_label_dispersion": lambda s: f"true_label_dispersion[{s}]",
        "false_rate": lambda s: f"false_rate[{s}]",
        "false_label_dispersion": lambda s: f"false_label_dispersion[{s}]",
    }
    for var, label in labels.items():
        if var in posterior:
            rows.extend(_rows(posterior[var], label))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


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
