"""The PyTensor likelihood against a direct, loop-over-states computation of the same probabilities."""
import itertools

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from occupancy.derived import Conditional, conditional_occupancy, conditional_set, marginal_occupancy, state_probabilities
from occupancy.histories import DetectionData
from occupancy.likelihoods import state_matrix
from occupancy.model import ModelSpec, PriorSpec, build_model, term_design_matrix

SPECIES = ("lynx", "deer")
RNG = np.random.default_rng(0)


def point(occ_model, f, alpha, theta=None):
    values = {"f": np.asarray(f, float), "alpha": np.asarray(alpha, float)}
    if theta is not None:
        values["theta"] = theta
    return values


def psi_of_state(f, z):
    """Rota et al.: psi(z) proportional to exp(f1 z1 + f2 z2 + f12 z1 z2)."""
    weights = {s: np.exp(f[0] * s[0] + f[1] * s[1] + f[2] * s[0] * s[1]) for s in itertools.product((0, 1), repeat=2)}
    return weights[z] / sum(weights.values())


def direct_site_loglik(y, w, y_cls, w_cls, other, log_lr, f, alpha, theta):
    """log sum_z psi(z) P(data | z), written out occasion by occasion for one site."""
    p = expit(np.asarray(alpha))
    lam = -np.log1p(-p)
    total = 0.0
    for z in itertools.product((0, 1), repeat=2):
        like = 1.0
        for j in range(y.shape[1]):
            for s in range(2):
                if not np.isnan(y[s, j]):
                    pw = z[s] * (1 - np.exp(-w[j] * lam[s]))
                    like *= pw if y[s, j] == 1 else 1 - pw
                if log_lr is not None and not np.isnan(log_lr[s, j]):
                    like *= z[s] * p[s] * np.exp(log_lr[s, j]) + (1 - z[s] * p[s])
            if y_cls is not None and not np.isnan(y_cls[0, j]):
                for lab in range(2):
                    rate = sum(z[k] * w_cls[j] * lam[k] * theta[k, lab] for k in range(2)) + other[j] * theta[2, lab] / theta[2, 2]
                    like *= 1 - np.exp(-rate) if y_cls[lab, j] == 1 else np.exp(-rate)
        total += psi_of_state(f, z) * like
    return np.log(total)


def make_data(with_classifier=False, with_scores=False):
    y = np.array([
        [[1, 0, np.nan], [0, 0, 0], [np.nan, np.nan, np.nan]],
        [[0, 1, 1], [1, np.nan, 0], [0, 0, 0]],
    ], dtype=float)
    kw = {}
    if with_classifier:
        kw["truth_weight"] = np.array([[1.0, 1.0, 1.0], [0.3, 0.3, 0.3], [0.3, 0.3, 0.3]])
        kw["y_classifier"] = np.array([
            [[np.nan] * 3, [1, 0, 0], [0, 1, 1]],
            [[np.nan] * 3, [0, 0, 1], [1, 1, 0]],
        ], dtype=float)
        kw["classifier_weight"] = np.array([[0.0] * 3, [0.7] * 3, [0.7] * 3])
        kw["other_predicted"] = np.array([[0.0] * 3, [3.0, 0, 1], [10.0, 2, 0]])
        kw["verified_counts"] = np.array([[5, 2, 1], [1, 8, 0], [2, 3, 40]], dtype=float)
    if with_scores:
        kw["score_log_lr"] = RNG.normal(0, 2, size=(2, 3, 3))
        kw["score_log_lr"][:, 0, 1] = np.nan
    return DetectionData(species=SPECIES, sites=("a", "b", "c"), occasions=("1", "2", "3"), y=y, **kw)


@pytest.mark.parametrize("with_classifier,with_scores", [(False, False), (True, False), (False, True)])
def test_marginalised_likelihood_matches_direct_sum_over_states(with_classifier, with_scores):
    data = make_data(with_classifier, with_scores)
    occ = build_model(data, ModelSpec(interactions=(("lynx", "deer"),)))
    f, alpha = np.array([0.3, -0.4, 0.8]), np.array([-0.2, 0.5])
    theta = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]]) if with_classifier else None
    log_psi, loglik, _ = occ.compile_state_function()(point(occ, f, alpha, theta))
    model_site = logsumexp(log_psi + loglik, axis=1)
    w = data.truth_weight if data.truth_weight is not None else np.ones((3, 3))
    for i in range(3):
        expected = direct_site_loglik(
            data.y[:, i], w[i],
            None if data.y_classifier is None else data.y_classifier[:, i],
            None if data.classifier_weight is None else data.classifier_weight[i],
            None if data.other_predicted is None else data.other_predicted[i],
            None if data.score_log_lr is None else data.score_log_lr[:, i], f, alpha, theta)
        assert model_site[i] == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # and the model's total log density adds exactly these site terms to the priors
    logp = occ.model.compile_logp(vars=[occ.model["occupancy_loglik"]], jacobian=False, sum=True)
    start = occ.model.initial_point()
    start.update({"f": f, "alpha": alpha})
    if with_classifier:
        start["theta_simplex__"] = occ.model.rvs_to_transforms[occ.model["theta"]].forward(theta).eval()
    assert logp(start) == pytest.approx(model_site.sum(), rel=1e-9)


def test_state_probabilities_and_conditionals():
    states = state_matrix(3)
    assert states.shape == (8, 3) and len({tuple(s) for s in states}) == 8
    design = term_design_matrix(states, [(0, 1)])
    psi = state_probabilities(np.array([0.2, -0.1, 0.5, 1.2]), design)
    assert psi.sum() == pytest.approx(1.0)
    species = ("lynx", "deer", "chamois")
    marg = marginal_occupancy(psi, states)
    # conditioning on deer present and absent averages back to the marginal
    present, absent = Conditional("lynx", (("deer", True),)), Conditional("lynx", (("deer", False),))
    pd_ = marg[1]
    assert pd_ * conditional_occupancy(psi, states, species, present) + (1 - pd_) * conditional_occupancy(psi, states, species, absent) == pytest.approx(marg[0])
    # chamois has no interaction: independent of lynx and deer
    assert conditional_occupancy(psi, states, species, Conditional("chamois", (("lynx", True), ("deer", False)))) == pytest.approx(marg[2])
    names = [c.name for c in conditional_set(species, [{"species": "lynx", "given": ["deer", "chamois"]}])]
    assert names == ["psi[lynx | deer, chamois]", "psi[lynx | deer, -chamois]", "psi[lynx | -deer, chamois]", "psi[lynx | -deer, -chamois]"]


def test_model_has_named_dims_and_rejects_unknown_names():
    data = make_data(with_classifier=True)
    occ = build_model(data, ModelSpec(interactions=(("lynx", "deer"),), prior=PriorSpec(penalty=1.28)))
    assert occ.model.named_vars_to_dims["f"] == ("term",)
    assert list(occ.model.coords["term"]) == ["lynx", "deer", "lynx:deer"]
    assert occ.model.named_vars_to_dims["theta"] == ("true_class", "predicted_class")
    with pytest.raises(ValueError, match="unknown species \\['wolf'\\]"):
        build_model(data, ModelSpec(interactions=(("lynx", "wolf"),)))
    with pytest.raises(ValueError, match="unknown site covariate"):
        build_model(data, ModelSpec(occupancy_covariates=("elevation",)))
    with pytest.raises(ValueError, match="unknown species"):
        conditional_set(SPECIES, [{"species": "lynx", "given": ["wolf"]}])
    with pytest.raises(ValueError, match="penalty must be > 0"):
        PriorSpec(penalty=0)
