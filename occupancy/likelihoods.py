"""Log-likelihood of each observation stream given every latent occupancy state (PyTensor).

All functions return (site, state) matrices: log P(stream data of site i | z_i = state m). They are
summed over streams and combined with log psi(m) by a log-sum-exp over the 2^S states, so the latent
states are marginalised exactly. Equations: docs/occupancy.md.

Detection is parameterised by eta = logit(p), p = Pr(at least one event of the species in an occasion
when present). Written as a Poisson rate of events, lambda = -log(1 - p) = softplus(eta), which lets a
stream that sees only a share w of the events (a verified subset) use p_w = 1 - exp(-w * lambda), and
lets confused events add up as independent Poisson streams (thinning).
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

RATE_FLOOR = 1e-12  # keeps log(1 - exp(-rate)) finite when no event can produce a label


def state_matrix(n_species: int) -> np.ndarray:
    """All 2^S presence/absence states, (state, species), state 0 = nothing present."""
    m = np.arange(2 ** n_species)
    return ((m[:, None] >> np.arange(n_species)[None, :]) & 1).astype(float)


def hard_stream(y: np.ndarray, weight: np.ndarray | None, eta: pt.TensorVariable, states: np.ndarray):
    """Labels taken as truth (manual, or naive classifier labels). y: (S, N, J) with NaN missing.

    Given z_s = 1: Bernoulli(p_w) per observed occasion; given z_s = 0: any detection is impossible
    (handled by the constant `impossible` mask, so no log(0) enters the graph). eta is (S, N, J), or
    (S, 1, 1) without detection covariates, in which case detections are summed per site first.
    """
    observed = ~np.isnan(y)
    if weight is not None:
        observed &= (weight > 0)[None]
    y0 = np.where(observed, y, 0.0)
    w = np.ones(y.shape[1:]) if weight is None else np.asarray(weight, dtype=float)
    w_site = _per_site_constant(w, observed.any(axis=0))
    if eta.type.broadcastable[1:] == (True, True) and w_site is not None:
        # sufficient statistics: detections and non-detections per species and site
        n_det, n_non = (y0 * observed).sum(axis=2), ((1 - y0) * observed).sum(axis=2)  # (S, N)
        log_not = -w_site[None, :] * pt.softplus(eta[:, :, 0])
        log_det = pt.log1mexp(pt.minimum(log_not, -RATE_FLOOR))
        ll_present = n_det * log_det + n_non * log_not
    else:
        log_not = -w[None] * pt.softplus(eta)  # log(1 - p_w)
        log_det = pt.log1mexp(pt.minimum(log_not, -RATE_FLOOR))
        ll_present = pt.sum(np.where(observed, 1.0, 0.0) * (y0 * log_det + (1 - y0) * log_not), axis=2)  # (S, N)
    detected = (y0 > 0).any(axis=2).T  # (N, S)
    impossible = (detected[:, None, :] & (states[None, :, :] == 0)).any(axis=2)  # (N, M)
    return pt.dot(ll_present.T, states.T) + np.where(impossible, -np.inf, 0.0)


def _per_site_constant(w: np.ndarray, observed: np.ndarray) -> np.ndarray | None:
    """Per-site weight if it is the same on every observed occasion of the site, else None."""
    w_obs = np.where(observed, w, np.nan)
    with np.errstate(all="ignore"):
        lo, hi = np.nanmin(np.where(observed.any(1)[:, None], w_obs, 1.0), axis=1), np.nanmax(np.where(observed.any(1)[:, None], w_obs, 1.0), axis=1)
    return lo if np.allclose(lo, hi) else None


def score_stream(log_lr: np.ndarray, eta: pt.TensorVariable, states: np.ndarray):
    """Calibrated scores as evidence: P(data | z_s) is proportional to z_s p LR + (1 - z_s p).

    log_lr: (S, N, J) log likelihood ratio of 'species detected' vs 'not detected'; NaN = missing.
    """
    observed = ~np.isnan(log_lr)
    lr0 = np.where(observed, log_lr, 0.0)
    log_not = -pt.softplus(eta)
    log_det = pt.log1mexp(pt.minimum(log_not, -RATE_FLOOR))
    per_occasion = pt.logaddexp(log_not, log_det + lr0)
    ll_present = pt.sum(np.where(observed, 1.0, 0.0) * per_occasion, axis=2)  # (S, N); absent -> log 1 = 0
    return pt.dot(ll_present.T, states.T)


def classifier_stream(
    y_pred: np.ndarray,
    weight: np.ndarray,
    other_predicted: np.ndarray,
    eta: pt.TensorVariable,
    theta: pt.TensorVariable,
    states: np.ndarray,
):
    """Classifier labels read through a confusion matrix theta (true class x predicted class, last = other).

    Events of true species k arrive at rate w * z_k * lambda_k and are labelled l with probability
    theta[k, l]; events of non-focal classes (about other_predicted / theta[other, other] of them) are
    labelled l with probability theta[other, l]. By Poisson thinning the counts of each predicted label
    are independent Poisson given z, so Pr(label l seen at least once) = 1 - exp(-Lambda_l(z)) with
    Lambda_l(z) = sum_k z_k w lambda_k theta[k, l] + n_other theta[other, l] / theta[other, other].

    Non-detections contribute -Lambda, which is linear in z: they are summed per site before the states
    enter. Only detections need log(1 - exp(-Lambda)) state by state, so the graph grows with the
    number of detections, not with sites x occasions x labels x states.
    """
    S, N, J = y_pred.shape
    observed = ~np.isnan(y_pred) & (weight > 0)[None]
    if not observed.any():
        return None
    y0 = np.where(observed, y_pred, 0.0)
    lam = weight[None] * pt.softplus(eta)  # (S_true, N, J) rate of classifier-stream events when present
    other_rate = other_predicted[..., None] * (theta[S, :S] / theta[S, S])[None, None, :]  # (N, J, S_pred)
    # non-detections: -sum Lambda over (j, l) with y = 0
    negative = (observed & (y0 == 0)).transpose(1, 2, 0).astype(float)  # (N, J, S_pred)
    neg_theta = pt.tensordot(negative, theta[:S, :S], axes=[[2], [1]])  # (N, J, S_true)
    b = pt.sum(lam.dimshuffle(1, 2, 0) * neg_theta, axis=1)  # (N, S_true)
    c = pt.sum(negative * other_rate, axis=(1, 2))  # (N,)
    ll = -(pt.dot(b, states.T) + c[:, None])  # (N, M)
    # detections: log(1 - exp(-Lambda)) for each (site, occasion, label) seen, state by state
    pos_l, pos_i, pos_j = np.nonzero(observed & (y0 == 1))
    if pos_l.size:
        a = lam[:, pos_i, pos_j].T * theta[:S, pos_l].T  # (P, S_true): rate of label l_p from each species
        rate = pt.dot(a, states.T) + other_rate[pos_i, pos_j, pos_l][:, None] + RATE_FLOOR  # (P, M)
        to_site = np.zeros((N, pos_l.size))
        to_site[pos_i, np.arange(pos_l.size)] = 1.0
        ll = ll + pt.dot(to_site, pt.log1mexp(-rate))
    return ll


def occupancy_log_psi(eta_terms: pt.TensorVariable, term_design: np.ndarray):
    """log psi(state) for every site: multivariate Bernoulli with natural parameters per term.

    eta_terms: (N, F) natural parameters (f_1..f_S, then interaction terms); term_design (M, F): 1 where
    the state has every species of the term. log psi = log_softmax over states of term_design @ f.
    """
    logits = pt.dot(eta_terms, term_design.T)  # (N, M)
    return logits - pt.logsumexp(logits, axis=1, keepdims=True)
