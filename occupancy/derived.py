"""Derived quantities: marginal and conditional occupancy, detection, per-site posterior occupancy.

Work on plain numpy arrays of state probabilities, so the same code gives the simulation's true
values and, draw by draw, the posterior.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import log_softmax, logsumexp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Conditional:
    """Pr(target present | given species present/absent), named in unmarked's notation."""

    target: str
    given: tuple[tuple[str, bool], ...]

    @property
    def name(self) -> str:
        cond = ", ".join(s if present else f"-{s}" for s, present in self.given)
        return f"psi[{self.target} | {cond}]"


def conditional_set(species: Sequence[str], specs: Sequence[Mapping] | None) -> list[Conditional]:
    """Every presence/absence combination of each {'species': target, 'given': [...]} entry."""
    out = []
    for spec in specs or ():
        target, given = spec.get("species"), list(spec.get("given", ()))
        unknown = [s for s in [target, *given] if s not in species]
        if unknown:
            raise ValueError(f"conditional {dict(spec)} names unknown species {unknown}; species are {list(species)}")
        if not given or target in given:
            raise ValueError(f"conditional on {target!r} needs other species to condition on, got {given}")
        for pattern in itertools.product((True, False), repeat=len(given)):
            out.append(Conditional(target, tuple(zip(given, pattern))))
    return out


def state_probabilities(natural: np.ndarray, term_design: np.ndarray) -> np.ndarray:
    """psi(state) from natural parameters (..., term) -> (..., state)."""
    return np.exp(log_softmax(natural @ term_design.T))


def marginal_occupancy(psi: np.ndarray, states: np.ndarray) -> np.ndarray:
    """(..., state) -> (..., species): Pr(z_s = 1)."""
    return psi @ states


def conditional_occupancy(psi: np.ndarray, states: np.ndarray, species: Sequence[str], cond: Conditional) -> np.ndarray:
    """(..., state) -> (...): Pr(z_target = 1 | given pattern)."""
    match = np.ones(states.shape[0], dtype=bool)
    for name, present in cond.given:
        match &= states[:, list(species).index(name)] == (1 if present else 0)
    target = states[:, list(species).index(cond.target)] == 1
    return psi[..., match & target].sum(-1) / psi[..., match].sum(-1)


def mean_detection(eta: np.ndarray, site_sd: np.ndarray, nodes: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
    """(..., S, N, J) detection probability averaged over the site effect on logit p (quadrature nodes);
    site_sd (..., S)."""
    shifted = eta[..., None] + np.asarray(site_sd)[..., None, None, None] * nodes
    return (np.exp(log_weights) / (1.0 + np.exp(-shifted))).sum(-1)


def posterior_derived(occ_model, idata, conditionals: Sequence[Conditional],
                      max_site_values: float = 2e7, max_batch_values: float = 4e6
                      ) -> tuple[xr.Dataset, pd.DataFrame, xr.Dataset]:
    """Draw-by-draw derived quantities (added to the posterior), the per-site occupancy table, and each
    site's log-likelihood (its data's log marginal probability, the latent state summed out) for
    InferenceData's log_likelihood group, so `az.loo` and `az.compare` work on a fit.

    Site-level psi are averaged over sites (with no occupancy covariate they are all equal; with
    covariates this is the average over the study's sites). p is averaged over observed site-occasions and
    over the site effect on detection (the detection probability of a site drawn at random).
    Draws are evaluated in batches of at most `max_batch_values` values (draw x site x state, or draw x
    species x site x occasion x quadrature node for detection with covariates).
    """
    post = idata.posterior
    fn = occ_model.compile_state_function()
    names = [rv.name for rv in occ_model.model.free_RVs]
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    states, species = occ_model.states, list(occ_model.data.species)
    observed = occ_model.data.observed_mask()
    N, S = observed.shape[0], len(species)
    total = n_chain * n_draw
    thin = max(1, int(np.ceil(total * N * S / max_site_values)))
    values = {n: post[n].values.reshape(total, *post[n].shape[2:]) for n in names}
    psi_m, psi_c, p_m = np.empty((total, S)), np.empty((total, len(conditionals))), np.empty((total, S))
    site_ll = np.empty((total, N))
    site_draws = []
    per_draw = max(N * len(states), occ_model.data.y.size * len(occ_model.nodes))  # loglik, or p at every node
    batch = max(1, int(max_batch_values // per_draw))
    for start in range(0, total, batch):
        part = slice(start, min(start + batch, total))
        # one compiled call per draw (cheap); the arithmetic on its outputs runs on the whole batch at once
        outputs = [fn({n: values[n][d] for n in names}) for d in range(part.start, part.stop)]
        log_psi, loglik, eta, site_sd = (np.stack(o) for o in zip(*outputs))  # (D, N|1, M), (D, N, M), ...
        psi = np.exp(log_psi)
        psi_m[part] = marginal_occupancy(psi, states).mean(1)
        for k, cond in enumerate(conditionals):
            psi_c[part, k] = conditional_occupancy(psi, states, species, cond).mean(1)
        if (eta == eta[..., :1, :1]).all():  # no detection covariate: one p per species, not per site-occasion
            eta = eta[..., :1, :1]
        p = mean_detection(eta, site_sd, occ_model.nodes, occ_model.log_weights)  # (D, S, N|1, J|1)
        p_m[part] = (p * observed[None, None]).sum((2, 3)) / max(observed.sum(), 1)
        joint = log_psi + loglik
        site_ll[part] = logsumexp(joint, axis=-1)
        kept = np.arange(part.start, part.stop) % thin == 0
        site_draws.append((np.exp(log_softmax(joint[kept], axis=-1)) @ states).astype(np.float32))
    psi_m, p_m = psi_m.reshape(n_chain, n_draw, S), p_m.reshape(n_chain, n_draw, S)
    psi_c, site_ll = psi_c.reshape(n_chain, n_draw, -1), site_ll.reshape(n_chain, n_draw, N)
    derived = xr.Dataset(
        {
            "psi": (("chain", "draw", "species"), psi_m),
            "p": (("chain", "draw", "species"), p_m),
            "psi_conditional": (("chain", "draw", "conditional"), psi_c),
        },
        coords={"chain": post.chain, "draw": post.draw, "species": species, "conditional": [c.name for c in conditionals]},
    )
    site = np.concatenate(site_draws)  # (draws, N, S)
    table = pd.DataFrame({
        "site": np.repeat(occ_model.data.sites, S),
        "species": np.tile(species, N),
        "mean": site.mean(0).reshape(-1),
        "q2.5": np.quantile(site, 0.025, axis=0).reshape(-1),
        "q97.5": np.quantile(site, 0.975, axis=0).reshape(-1),
        "detected": np.nan_to_num(occ_model.data.y).max(axis=2).T.reshape(-1) > 0,
    })
    loglik = xr.Dataset({"occupancy": (("chain", "draw", "site"), site_ll)},
                        coords={"chain": post.chain, "draw": post.draw, "site": list(occ_model.data.sites)})
    return derived, table, loglik
