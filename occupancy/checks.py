"""Model checking: a posterior predictive check of detection frequencies per species.

For a sample of posterior draws, each site's occupancy state is drawn from its posterior given the
data, then new data are replicated at the same sites and occasions: detections of hard-labelled
sites (Bernoulli p), and at classified sites the count of sequences labelled s (false labels plus,
when s was photographed, its own labels: the model of `likelihoods.sequence_stream`). The statistic
is the number of site-occasions with a detection (hard labels) or with at least one sequence labelled
s (classifier labels). A Bayesian p-value near 0 or 1 says the model cannot reproduce the data.
Score-based evidence is not replicated (it is a likelihood ratio, not data).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import log_softmax

from occupancy.sequences import SequenceEvidence
from occupancy.likelihoods import false_label_exposure, false_site_factor

CHECK_COLUMNS = ["species", "stream", "observed", "replicated_mean", "q2.5", "q97.5", "p_value"]


def _negative_binomial(rng, mean, dispersion):
    """Draws with the given mean and variance mean + dispersion mean^2 (Poisson when dispersion is 0)."""
    mean = np.maximum(mean, 1e-12)
    shape = 1.0 / np.maximum(dispersion, 1e-6)
    return rng.negative_binomial(shape, shape / (shape + mean))


def _replicate_units(rng, ev: SequenceEvidence, z, p_units, params) -> np.ndarray:
    """(P, S) bool: a replicated unit has at least one sequence labelled s."""
    true_mean, true_dispersion, false_rate, false_dispersion, missed_visit = params
    exposure = false_label_exposure(ev.n_sequences[:, None], ev.label_count, ev.verified_miss)  # (P, S)
    used = rng.random(p_units.shape) < z[ev.unit_site] * p_units
    own = _negative_binomial(rng, np.broadcast_to(true_mean, used.shape), np.broadcast_to(true_dispersion, used.shape))
    if missed_visit is not None:  # the hurdle: a visit the classifier saw leaves 1 + NB own labels
        own = (own + 1) * (rng.random(used.shape) >= missed_visit)
    false = _negative_binomial(rng, false_rate * exposure, np.broadcast_to(false_dispersion, used.shape))
    return (false + used * own) > 0


def detection_frequency_check(occ_model, idata, n_draws: int = 200, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Observed vs replicated detection frequency per species and stream.

    Returns the table (CHECK_COLUMNS) and the replicated statistics {(species, stream): array} for plots.
    """
    rng = np.random.default_rng(seed)
    post = idata.posterior
    fn = occ_model.compile_state_function()
    names = [rv.name for rv in occ_model.model.free_RVs]
    data, states, species = occ_model.data, occ_model.states, list(occ_model.data.species)
    observed_y = ~np.isnan(data.y)  # (S, N, J)
    y0 = np.where(observed_y, data.y, 0.0)
    ev = data.sequences if data.sequences is not None and data.sequences.n_units else None
    streams = {"hard labels": observed_y.any()} | {"classifier labels": ev is not None}
    streams = [s for s, present in streams.items() if present]
    observed = {("hard labels", s): float((y0[k] > 0).sum()) for k, s in enumerate(species)}
    if ev is not None:
        observed |= {("classifier labels", s): float((ev.label_count[:, k] > 0).sum()) for k, s in enumerate(species)}

    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    picks = rng.choice(n_chain * n_draw, size=min(n_draws, n_chain * n_draw), replace=False)
    replicated = {key: np.empty(len(picks)) for key in observed}
    values = {n: post[n].values.reshape(n_chain * n_draw, *post[n].shape[2:]) for n in names}
    for i, flat in enumerate(picks):
        point = {n: values[n][flat] for n in names}
        log_psi, loglik, eta, site_sd = fn(point)
        site_post = np.exp(log_softmax(log_psi + loglik, axis=1))  # (N, M)
        state = np.array([rng.choice(len(states), p=row / row.sum()) for row in site_post])
        z = states[state]  # (N, S)
        # each site's detection effect is drawn afresh from its fitted distribution (a mixed predictive)
        effect = site_sd[:, None, None] * rng.standard_normal(data.y.shape[:2])[:, :, None]
        p = 1.0 / (1.0 + np.exp(-(np.broadcast_to(eta, data.y.shape) + effect)))  # (S, N, J)
        y_rep = (rng.random(p.shape) < z.T[:, :, None] * p) & observed_y
        for k, s in enumerate(species):
            replicated[("hard labels", s)][i] = y_rep[k].sum()
        if ev is not None:
            params = [point[n] for n in ("true_label_mean", "true_label_dispersion", "false_rate", "false_label_dispersion")]
            params.append(point.get("missed_visit"))
            if "false_label_site_effect" in point:  # (P, S): each unit's site factor on the false-label rate
                _, unit_index = ev.labelled_sites()
                factor = false_site_factor(point["false_label_site_sd"], point["false_label_site_effect"])
                params[2] = params[2] * factor[:, unit_index].T
            units = _replicate_units(rng, ev, z, p[:, ev.unit_site, ev.unit_occasion].T, params)
            for k, s in enumerate(species):
                replicated[("classifier labels", s)][i] = units[:, k].sum()
    rows = []
    for (stream, s), rep in replicated.items():
        if stream not in streams:
            continue
        obs = observed[(stream, s)]
        rows.append({"species": s, "stream": stream, "observed": obs, "replicated_mean": float(rep.mean()),
                     "q2.5": float(np.quantile(rep, 0.025)), "q97.5": float(np.quantile(rep, 0.975)),
                     # mid-p: ties count half, so a statistic the model reproduces exactly reads 0.5
                     "p_value": float(np.mean(rep > obs) + 0.5 * np.mean(rep == obs))})
    keep = {key: rep for key, rep in replicated.items() if key[0] in streams}
    return pd.DataFrame(rows, columns=CHECK_COLUMNS), keep
