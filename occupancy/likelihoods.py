"""Log-likelihood of each observation stream given every latent occupancy state (PyTensor).

Each stream returns, per species and site, log P(stream data | z_s = 0) and log P(stream data |
z_s = 1) at every node of the site's detection effect. `combine_streams` adds the streams, sums the
site effect out by Gauss-Hermite quadrature and gives (site, state) matrices, which are combined with
log psi(m) by a log-sum-exp over the 2^S states, so the latent states are marginalised exactly.
Equations: docs/occupancy.md.

Detection is parameterised by eta = logit(p), p = Pr(the species is photographed at least once in an
occasion when present); logit p of species s at site i is eta + sd_s * e_is with e_is ~ Normal(0, 1):
sites differ in how often they see a species they hold (a trail it follows, a camera it passes by).
Classified sites are read at the sequence level with the species' use of each occasion summed out
(`sequence_stream` for classifier labels, `score_stream` for calibrated scores), so the likelihood does
not depend on how many photos a visit produces.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

RATE_FLOOR = 1e-12  # keeps log(1 - exp(-rate)) finite when no event can produce a label
# log-probability of an impossible combination: finite, so a log-sum-exp whose every term is impossible
# (a state without a species that a verified sequence shows) stays finite instead of NaN
IMPOSSIBLE = -1e10
TINY = 1e-300  # floor of a sum of probabilities that underflowed (only at absurd parameter values)


def state_matrix(n_species: int) -> np.ndarray:
    """All 2^S presence/absence states, (state, species), state 0 = nothing present."""
    m = np.arange(2 ** n_species)
    return ((m[:, None] >> np.arange(n_species)[None, :]) & 1).astype(float)


def site_effect_nodes(sd_given: bool, n_nodes: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and log weights for a standard normal site effect; one node at 0 without it."""
    if not sd_given:
        return np.zeros(1), np.zeros(1)
    t, w = np.polynomial.hermite.hermgauss(n_nodes)
    return np.sqrt(2.0) * t, np.log(w / np.sqrt(np.pi))


def log_add_exp(a, b):
    """log(exp(a) + exp(b)) for finite a, b: the larger term plus softplus(-|a - b|), one exp and one log1p
    per element, exact when one term is IMPOSSIBLE, with the gradient sigmoid(a - b) even at a tie.

    PyTensor's `logaddexp` is rewritten into a guarded log-sum-exp with three exps per element. (The per-unit
    mixtures over quadrature nodes take `_detection_mixture`: one log an element.)"""
    gap = a - b
    ahead = gap > 0
    return pt.switch(ahead, a, b) + pt.softplus(pt.switch(ahead, -gap, gap))


def _per_site_sums(eta) -> bool:
    """eta (S, 1, 1, K): no detection covariate, so occasions can be summed per site first."""
    return eta.type.broadcastable[1:3] == (True, True)


def hard_stream(y: np.ndarray, eta: pt.TensorVariable):
    """Labels taken as truth (manual, or naive classifier labels). y: (S, N, J) with NaN missing.

    eta: logit p per node of the site effect, (S, N, J, K) or (S, 1, 1, K) without detection
    covariates (detections are then summed per site first). Returns (absent, present): (S, N)
    log Pr(y | z_s = 0), which is 0 or IMPOSSIBLE (a detection where the species is absent), and
    (S, N, K) log Pr(y | z_s = 1, node k): Bernoulli(p) per observed occasion.
    """
    observed = ~np.isnan(y)
    y0 = np.where(observed, y, 0.0)
    log_not = -pt.softplus(eta)  # log(1 - p)
    log_det = pt.log1mexp(pt.minimum(log_not, -RATE_FLOOR))
    if _per_site_sums(eta):
        # sufficient statistics: detections and non-detections per species and site
        n_det, n_non = y0.sum(axis=2), ((1 - y0) * observed).sum(axis=2)  # (S, N)
        present = n_det[:, :, None] * log_det[:, :, 0, :] + n_non[:, :, None] * log_not[:, :, 0, :]
    else:
        mask = np.where(observed, 1.0, 0.0)[..., None]
        present = pt.sum(mask * (y0[..., None] * log_det + (1 - y0[..., None]) * log_not), axis=2)  # (S, N, K)
    absent = np.where((y0 > 0).any(axis=2), IMPOSSIBLE, 0.0)  # (S, N)
    return absent, present


def score_stream(ev, eta: pt.TensorVariable, visit_mean, visit_dispersion, n_sites: int):
    """Calibrated scores of the sequences at scored sites, one site-occasion ("unit") and species at a time.

    ev: `occupancy.scores.ScoreEvidence` (P units); eta as in `sequence_stream`. Per species s (both (S,)):
    visit_mean, visit_dispersion = the number X of s's own sequences when s used an occasion (negative
    binomial, variance mean + dispersion mean^2, at least one). With w_ps (s photographed at unit p) ~
    Bern(z_s p_s) summed out, Pr(scores | z_s = 1) = (1 - p) + p LR_ps relative to z_s = 0, where
    LR_ps = sum_x Pr(X = x | 1 <= X <= n_p) Lbar_psx is the scores' likelihood ratio of 'the species
    left some x of the unit's n_p sequences' against 'none is the species' (docs/occupancy.md, (3)).
    Returns (absent, present) as `hard_stream`, each unit's terms divided by max(1, max_x Lbar_psx).
    """
    P = ev.n_units
    if P == 0:
        return None
    x = np.arange(1, ev.max_visit + 1, dtype=float)
    mean = visit_mean[:, None]
    log_visit = negative_binomial_logpmf(x[None, :], mean, mean + visit_dispersion[:, None] * mean ** 2)  # (S, X)
    # truncated to 1 <= X <= n_p: a unit cannot hold more of s's sequences than it has
    log_cum = pt.log(pt.cumsum(pt.exp(log_visit), axis=1))
    last = np.minimum(ev.n_sequences, ev.max_visit).astype(int) - 1
    # sum_x Pr(X = x) Lbar_x as a weighted sum of data scaled to at most 1 (the scale is data too): several
    # times cheaper than a log-sum-exp over (S, P, X), and Pr(X = x) <= 1 keeps it from overflowing
    scale = ev.log_mean_products.max(axis=2)  # (S, P)
    weighted = pt.sum(pt.exp(log_visit)[:, None, :] * np.exp(ev.log_mean_products - scale[:, :, None]), axis=2)
    # both hypotheses are divided by max(1, exp(scale)), a constant of the data, so the terms stay log-probability
    # sized: a run of sequences that all look like the species gives LR = e^700 and more, whose exp overflows
    # in the gradients of the log-sum-exps downstream
    shift = np.maximum(scale, 0.0)
    log_lr = (scale - shift) + pt.log(pt.maximum(weighted, TINY)) - log_cum[:, last]  # (S, P), minus the shift
    ll_present = _detection_mixture(eta, ev, -shift, log_lr)  # (S, P, K)
    return _sum_units_to_sites(-shift, ev.unit_site, n_sites), _sum_units_to_sites(ll_present, ev.unit_site, n_sites)


def _detection_mixture(eta: pt.TensorVariable, ev, ll_missed, ll_photographed):
    """log((1 - p) exp(ll_missed) + p exp(ll_photographed)) per species, unit and node, (S, P, K): a unit's
    log-likelihood when the species is present, whether it was photographed there summed out. ll_missed and
    ll_photographed are (S, P); p depends on species and node only, broadcast over units, unless detection
    has covariates.

    Written as the larger of the two plus log(w + w' r), with r = exp(-|ll_photographed - ll_missed|) per unit
    and w, w' the matching p and 1 - p: one log per element and no exp, where `log_add_exp` of the two terms
    takes an exp and a log1p, and its gradient a sigmoid (this mixture was the gradient's largest cost;
    docs/occupancy.md, Speed). Exact when one term is IMPOSSIBLE (r = 0)."""
    eta_units = eta[:, 0, 0, None, :] if _per_site_sums(eta) else eta[:, ev.unit_site, ev.unit_occasion, :]
    p = pt.maximum(pt.sigmoid(eta_units), RATE_FLOOR)  # p >= RATE_FLOOR, as log1mexp(min(log q, -RATE_FLOOR))
    q = pt.sigmoid(-eta_units)
    gap = ll_photographed - ll_missed
    ahead = gap > 0
    larger = pt.switch(ahead, ll_photographed, ll_missed)[:, :, None]
    # exp(-|gap|) with the branch of `larger`: abs would give no gradient at a tie
    r = pt.exp(pt.switch(ahead, -gap, gap))[:, :, None]
    ahead = ahead[:, :, None]
    return larger + pt.log(pt.maximum(pt.switch(ahead, p, q) + pt.switch(ahead, q, p) * r, TINY))


def _sum_units_to_sites(per_unit, unit_site: np.ndarray, n_sites: int):
    """(S, P, ...) per-unit log-likelihoods -> (S, N, ...) per site (unit p belongs to site unit_site[p]).

    A flat indexed add, which PyTensor runs in C (its gradient too, a gather), rather than a product with a
    0/1 (unit, site) matrix: pip's PyTensor has no C BLAS, so those products ran through Python, about a
    tenth of the lynx gradient (docs/occupancy.md, Speed). PyTensor has C code for one-dimensional adds only."""
    if isinstance(per_unit, np.ndarray):
        sums = np.zeros((per_unit.shape[0], n_sites) + per_unit.shape[2:])
        np.add.at(sums, (slice(None), unit_site), per_unit)
        return sums
    n_species, _, *rest = per_unit.type.shape  # static: the data are constants of the graph
    width = int(np.prod(rest))
    # flat position of element (s, p, k) in the (S, N, K) result
    target = (np.arange(n_species)[:, None, None] * n_sites + unit_site[None, :, None]) * width + np.arange(width)
    sums = pt.inc_subtensor(pt.zeros(n_species * n_sites * width)[target.ravel()], per_unit.ravel())
    return sums.reshape((n_species, n_sites, *rest))


def combine_streams(streams, log_weights: np.ndarray, states: np.ndarray):
    """(site, state) log-likelihood from per-stream (absent (S, N), present (S, N, K)) pairs.

    Streams are independent given z and the site effect; the site effect (one per species and site,
    K quadrature nodes) is summed out per species after the streams' log-likelihoods are added, so a
    site seen by two streams shares one effect.
    """
    absent = sum(a for a, _ in streams)
    present = sum(p for _, p in streams)
    present = pt.logsumexp(present + log_weights[None, None, :], axis=2)  # (S, N)
    # (N, M): a broadcast product and a sum over species, not two dots (see `occupancy_log_psi`)
    by_state = present.T[:, None, :] * states[None] + pt.as_tensor(absent).T[:, None, :] * (1 - states)[None]
    return pt.sum(by_state, axis=2)


def negative_binomial_logpmf(m, mean, var):
    """log NB(m) with the given mean and variance (variance floored just above the mean: Poisson limit)."""
    return _negative_binomial_shape_logpmf(m, mean, mean ** 2 / pt.maximum(var - mean, 1e-6 * mean ** 2 + 1e-12))


def _negative_binomial_shape_logpmf(m, mean, shape):
    """log NB(m) with the given mean and shape (variance mean + mean^2 / shape)."""
    return (pt.gammaln(m + shape) - pt.gammaln(shape) - pt.gammaln(m + 1)
            + shape * (pt.log(shape) - pt.log(shape + mean)) + m * (pt.log(mean) - pt.log(shape + mean)))


def false_label_exposure(n_sequences, label_count, verified_miss) -> np.ndarray:
    """Sequences that could carry a false label of s: not labelled s, or labelled s and found not to be s."""
    return np.maximum(np.asarray(n_sequences) - label_count + verified_miss, 1.0)


def unit_loglik(m, exposure, hit, miss, confirmed, true_mean, true_dispersion, false_rate, false_dispersion,
                missed_visit=None):
    """log Pr(a unit's data on a species | photographed there), and | not: elementwise, parameters broadcast.

    m: sequences labelled s; exposure: `false_label_exposure`; hit / miss: verified sequences labelled
    s that show s / do not; confirmed: a verified sequence shows s. Equations: `sequence_stream`.
    missed_visit: None, or Pr(the classifier labels none of a visit's sequences s) (the hurdle form).
    """
    false_mean = false_rate * exposure
    false_var = false_mean + false_mean ** 2 * false_dispersion
    true_var = true_mean + true_mean ** 2 * true_dispersion
    # false labels alone: their shape 1 / dispersion is one number per species, so gammaln(shape) is not
    # recomputed per unit (these special functions are most of the gradient's cost)
    false_only = _negative_binomial_shape_logpmf(m, false_mean, 1.0 / pt.maximum(false_dispersion, 1e-6))
    unused = false_only + np.where(confirmed, IMPOSSIBLE, 0.0)
    if missed_visit is not None:
        return _hurdle_used_loglik(m, hit, miss, false_only, false_mean, false_var, true_mean, true_var,
                                   missed_visit), unused
    used = negative_binomial_logpmf(m, false_mean + true_mean, false_var + true_var)
    used = used + hit * pt.log(true_mean) + miss * pt.log(false_mean) - (hit + miss) * pt.log(false_mean + true_mean)
    return used, unused


def _hurdle_used_loglik(m, hit, miss, false_only, false_mean, false_var, true_mean, true_var, missed_visit):
    """log Pr(unit data | photographed) when the classifier misses a whole visit with its own probability.

    With probability `missed_visit` no sequence of the visit is labelled s: the m labels are false ones
    alone (`false_only`, their log-probability) and no verified sequence labelled s can show s. Otherwise
    X = 1 + NB(true_mean, true_dispersion) of them are, and m - 1 is negative binomial with the mean and
    variance of F + X - 1. A negative binomial for X itself ties Pr(X = 0) to the spread of the positive
    counts: on the Ain records it put 0.09-0.51 there against an observed 0.03-0.25 (docs/occupancy.md, "Visits
    the classifier missed"), reading months without a label as visits the classifier may have missed.
    """
    m, hit = np.asarray(m, dtype=float), np.asarray(hit, dtype=float)  # data: the masks below are constants
    missed = pt.log(missed_visit) + false_only + np.where(hit > 0, IMPOSSIBLE, 0.0)
    seen_count = negative_binomial_logpmf(np.maximum(m - 1, 0.0), false_mean + true_mean, false_var + true_var)
    true_share = (1 + true_mean) / (1 + true_mean + false_mean)  # precision of the label in a visit it saw
    seen = (pt.log1p(-missed_visit) + seen_count + np.where(m >= 1, 0.0, IMPOSSIBLE)
            + hit * pt.log(true_share) + miss * pt.log1p(-true_share))
    return log_add_exp(missed, seen)


def false_site_factor(site_sd, effect, exp=np.exp):
    """Multiplier of a species' false-label rate at each labelled site: lognormal with mean 1.

    site_sd (..., S), effect (..., S, L) standard normal per species and labelled site; `exp` = pt.exp
    inside a model. A busy trail where people read as chamois keeps producing chamois labels month after
    month; the factor lets the model read that as the site's own false-label rate rather than as chamois
    being there (measured: docs/occupancy.md, "How much of that bias is the labels'?").
    """
    sd = site_sd[..., :, None]
    return exp(sd * effect - sd ** 2 / 2)


def sequence_stream(ev, eta: pt.TensorVariable, true_mean, true_dispersion, false_rate, false_dispersion, n_sites: int,
                    missed_visit=None):
    """Classifier labels of sequences at classified sites, one site-occasion ("unit") and species at a time.

    ev: `SequenceEvidence` (P units); eta: (S, N, J, K) logit p per node of the site effect, or
    (S, 1, 1, K). Per species s (all (S,)):
    true_mean, true_dispersion = the number X of s's own sequences labelled s in an occasion s used
    (negative binomial, variance mean + dispersion mean^2: visits come in overdispersed numbers of
    sequences, and X = 0 is a visit the classifier missed entirely); false_rate = Pr(a sequence of
    another class is labelled s), (S,), or (S, P) per unit with a site factor (`false_site_factor`);
    false_dispersion = overdispersion of the count of those false labels (how much they vary between
    sites and months: a busy trail, a herd of cows).

    w_ps (s photographed at unit p) ~ Bern(z_s p_s) is summed out. Given w_ps, the unit's data on s are
    - m_ps, its sequences labelled s: F + w X, F ~ NB(false_rate * e_ps, false_dispersion) the false
      labels (e_ps = `false_label_exposure`), as a negative binomial with the sum's mean and variance;
    - each verified sequence labelled s: it shows s with probability w E[X] / (w E[X] + E[F]). This is
      the label's precision at that unit, conditional on the label, so a policy that picks sequences
      by their label, site or occasion leaves it unbiased;
    - a verified sequence that shows s (any label) makes w_ps = 0 impossible.
    missed_visit (S,) or None: the hurdle form of X (`_hurdle_used_loglik`): Pr(X = 0) is its own parameter.
    Species are independent given z (a sequence's other-species labels count as false labels of s).
    Returns (absent, present) as `hard_stream`: (S, N) log Pr(data | z_s = 0) and (S, N, K)
    log Pr(data | z_s = 1, node k) per site.
    """
    P = ev.n_units
    if P == 0:
        return None
    m = ev.label_count.T  # (S, P)
    hit, miss = ev.verified_hit.T, ev.verified_miss.T
    # false labels scale with the unit's other traffic: its sequences not labelled s, plus those labelled s
    # that a person found to be something else (using every sequence would count s's own sequences as
    # exposure, and a site busy with deer would make deer labels look false)
    exposure = false_label_exposure(ev.n_sequences[:, None], ev.label_count, ev.verified_miss)  # (P, S)
    ll_used, ll_unused = unit_loglik(m, exposure.T, hit, miss, ev.confirmed.T, true_mean[:, None],
                                     true_dispersion[:, None], false_rate if false_rate.ndim == 2 else false_rate[:, None],
                                     false_dispersion[:, None], None if missed_visit is None else missed_visit[:, None])
    ll_present = _detection_mixture(eta, ev, ll_unused, ll_used)  # (S, P, K)
    return _sum_units_to_sites(ll_unused, ev.unit_site, n_sites), _sum_units_to_sites(ll_present, ev.unit_site, n_sites)


def occupancy_log_psi(eta_terms: pt.TensorVariable, term_design: np.ndarray):
    """log psi(state) for every site: multivariate Bernoulli with natural parameters per term.

    eta_terms: (N, F) natural parameters (f_1..f_S, then interaction terms); term_design (M, F): 1 where
    the state has every species of the term. log psi = log_softmax over states of term_design @ f.
    """
    # a broadcast product and a sum, not a dot: PyTensor from pip has no C BLAS, and its matrix-vector product
    # through Python cost more than the rest of this term (docs/occupancy.md, Speed)
    logits = pt.sum(eta_terms[:, None, :] * term_design[None, :, :], axis=2)  # (N, M)
    return logits - pt.logsumexp(logits, axis=1, keepdims=True)
