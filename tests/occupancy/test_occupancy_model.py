"""The PyTensor likelihood against a direct, loop-over-states computation of the same probabilities."""
import itertools
from types import SimpleNamespace

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.special import expit, logsumexp
from scipy.stats import nbinom

from occupancy.derived import Conditional, conditional_occupancy, conditional_set, marginal_occupancy, state_probabilities
from occupancy.histories import DetectionData
from occupancy.likelihoods import (IMPOSSIBLE, RATE_FLOOR, _detection_mixture, _sum_units_to_sites, log_add_exp, site_effect_nodes,
                                   state_matrix)
from occupancy.scores import ScoreEvidence, log_mean_subset_products
from occupancy.sequences import SequenceEvidence
from occupancy.model import ModelSpec, PriorSpec, build_model, term_design_matrix

SPECIES = ("lynx", "deer")
RNG = np.random.default_rng(0)


CLASSIFIER = {"true_label_mean": np.array([2.5, 6.0]), "true_label_dispersion": np.array([0.4, 0.9]),
              "false_rate": np.array([0.01, 0.03]),
              "false_label_dispersion": np.array([0.6, 0.2])}


# a site factor on false-label rates, per species and labelled site (sites 1 and 2 of make_data)
FALSE_SITE = {"false_label_site_sd": np.array([0.8, 0.5]), "false_label_site_effect": np.array([[0.4, -1.1], [-0.3, 0.9]])}
LABELLED_SITES = {1: 0, 2: 1}


# Pr(a visit leaves no own label) of each species, for the hurdle form of the classifier stream
MISSED = {"missed_visit": np.array([0.15, 0.05])}


# own sequences per visit of each species, for the score stream
VISITS = {"visit_sequence_mean": np.array([1.8, 4.0]), "visit_sequence_dispersion": np.array([0.5, 1.2])}


def point(f, alpha, classifier=False, site_sd=None, false_site=False, scores=False, missed=False):
    values = {"f": np.asarray(f, float), "alpha": np.asarray(alpha, float)}
    if site_sd is not None:
        values["detection_site_sd"] = np.asarray(site_sd, float)
    if classifier:
        values |= CLASSIFIER | (FALSE_SITE if false_site else {}) | (MISSED if missed else {})
    if scores:
        values |= VISITS
    return values


def psi_of_state(f, z):
    """Rota et al.: psi(z) proportional to exp(f1 z1 + f2 z2 + f12 z1 z2)."""
    weights = {s: np.exp(f[0] * s[0] + f[1] * s[1] + f[2] * s[0] * s[1]) for s in itertools.product((0, 1), repeat=2)}
    return weights[z] / sum(weights.values())


def nb_pmf(m, mean, var):
    """scipy's negative binomial with the given mean and variance (written independently of the model)."""
    shape = mean ** 2 / (var - mean)
    return nbinom.pmf(m, shape, shape / (shape + mean))


def unit_likelihood(z, s, unit, p, false_site=False, missed=False):
    """Pr(unit's data on species s | z_s), summing the species' use w of the occasion by hand."""
    m, n, hit, miss, confirmed = unit["m"][s], unit["n"], unit["hit"][s], unit["miss"][s], unit["confirmed"][s]
    c = {k: v[s] for k, v in CLASSIFIER.items()}
    factor = 1.0
    if false_site:  # lognormal with mean 1
        sd, effect = FALSE_SITE["false_label_site_sd"][s], FALSE_SITE["false_label_site_effect"][s, LABELLED_SITES[unit["site"]]]
        factor = np.exp(sd * effect - sd ** 2 / 2)
    f_mean = c["false_rate"] * factor * max(n - m + miss, 1)  # exposure: sequences not labelled s, and labelled s but not s
    f_var = f_mean + c["false_label_dispersion"] * f_mean ** 2
    t_var = c["true_label_mean"] + c["true_label_dispersion"] * c["true_label_mean"] ** 2
    total = 0.0
    for w in (0, 1):
        prior = (p[s] if w else 1 - p[s]) if z[s] else float(w == 0)
        if prior == 0 or (confirmed and not w):
            continue
        if w and missed:  # a hurdle: the visit left no own label (with Pr pi0), or 1 + NB of them
            pi0, own = MISSED["missed_visit"][s], 1 + c["true_label_mean"]
            precision = own / (own + f_mean)
            none_own = pi0 * nb_pmf(m, f_mean, f_var) * (hit == 0)
            some_own = (1 - pi0) * (m >= 1) * nb_pmf(m - 1, f_mean + c["true_label_mean"], f_var + t_var)
            total += prior * (none_own + some_own * precision ** hit * (1 - precision) ** miss)
            continue
        like = nb_pmf(m, f_mean + w * c["true_label_mean"], f_var + w * t_var)
        precision = w * c["true_label_mean"] / (w * c["true_label_mean"] + f_mean)
        total += prior * like * precision ** hit * (1 - precision) ** miss
    return total


def score_unit_ratio(s, log_l):
    """Pr(scores | s used the unit) / Pr(scores | it did not), enumerating every set of sequences that
    could be the species' own: X ~ NB truncated to 1..n, each x-set equally likely. Also the model's
    constant divisor of the unit's terms, max(1, the largest mean product over x-sets of one size)."""
    n = log_l.shape[0]
    mean, disp = VISITS["visit_sequence_mean"][s], VISITS["visit_sequence_dispersion"][s]
    visit = nb_pmf(np.arange(n + 1), mean, mean + disp * mean ** 2)
    visit = visit / visit[1:].sum()
    total, largest = 0.0, 1.0
    for x in range(1, n + 1):
        products = [np.exp(log_l[list(subset), s].sum()) for subset in itertools.combinations(range(n), x)]
        total += visit[x] * np.mean(products)
        largest = max(largest, np.mean(products))
    return total, largest


def species_likelihood(s, present, p, y, score_units, units, false_site=False, missed=False):
    """Pr(site data on species s | z_s = present, detection p), occasion by occasion and unit by unit."""
    z = [0, 0]
    z[s] = int(present)
    pp = [p, p]
    like = 1.0
    for j in range(y.shape[1]):
        if not np.isnan(y[s, j]):
            like *= z[s] * p if y[s, j] == 1 else 1 - z[s] * p
    for unit in score_units:
        ratio, divisor = score_unit_ratio(s, unit["log_l"])
        like *= (z[s] * p * ratio + (1 - z[s] * p)) / divisor
    for unit in units:
        like *= unit_likelihood(z, s, unit, pp, false_site, missed)
    return like


def direct_site_loglik(y, score_units, units, f, alpha, site_sd=(0.0, 0.0), integrate=None, false_site=False,
                       missed=False):
    """log sum_z psi(z) P(data | z): the site effect e_s ~ N(0, 1) on logit p is integrated per species
    (by `integrate`, a function of the integrand; default the model's Gauss-Hermite nodes)."""
    if integrate is None:
        nodes, log_weights = site_effect_nodes(True)
        integrate = lambda g: sum(np.exp(lw) * g(e) for e, lw in zip(nodes, log_weights))  # noqa: E731
    like = {}
    for s in range(2):
        like[s, 0] = species_likelihood(s, False, expit(alpha[s]), y, score_units, units, false_site, missed)
        like[s, 1] = integrate(lambda e: species_likelihood(s, True, expit(alpha[s] + site_sd[s] * e), y, score_units,
                                                            units, false_site, missed))
    total = sum(psi_of_state(f, z) * like[0, z[0]] * like[1, z[1]] for z in itertools.product((0, 1), repeat=2))
    return np.log(total)


# classified units of make_data(with_classifier=True): site, occasion, sequences labelled lynx / deer, ...
UNITS = [
    dict(site=1, occasion=0, m=[1, 0], n=12, hit=[0, 0], miss=[1, 0], confirmed=[False, False]),
    dict(site=1, occasion=2, m=[0, 3], n=40, hit=[0, 1], miss=[0, 1], confirmed=[False, True]),
    dict(site=2, occasion=0, m=[2, 1], n=5, hit=[1, 0], miss=[0, 0], confirmed=[True, False]),
    dict(site=2, occasion=1, m=[0, 0], n=7, hit=[0, 0], miss=[0, 0], confirmed=[False, True]),  # deer under another label
]
# scored units of make_data(with_scores=True): per sequence, log Pr(images | lynx) / Pr(images | not lynx), same for deer
SCORE_UNITS = [
    dict(site=0, occasion=1, log_l=np.array([[4.0, -3.0], [-1.0, 0.5], [0.2, -2.0]])),  # one clear lynx among three
    dict(site=1, occasion=0, log_l=np.array([[-2.0, 3.0]])),  # a lone deer-looking sequence
    dict(site=2, occasion=2, log_l=np.array([[-0.5, 1.0], [-3.0, 2.5], [0.0, -1.0], [1.5, 0.3], [-1.0, 2.0]])),
]


def make_data(with_classifier=False, with_scores=False):
    y = np.array([
        [[1, 0, np.nan], [0, 0, 0], [np.nan, np.nan, np.nan]],
        [[0, 1, 1], [1, np.nan, 0], [0, 0, 0]],
    ], dtype=float)
    kw = {}
    if with_classifier:
        for u in UNITS:
            y[:, u["site"], u["occasion"]] = np.nan
        kw["sequences"] = SequenceEvidence(
            unit_site=np.array([u["site"] for u in UNITS]), unit_occasion=np.array([u["occasion"] for u in UNITS]),
            label_count=np.array([u["m"] for u in UNITS], float), n_sequences=np.array([u["n"] for u in UNITS], float),
            verified_hit=np.array([u["hit"] for u in UNITS], float), verified_miss=np.array([u["miss"] for u in UNITS], float),
            confirmed=np.array([u["confirmed"] for u in UNITS]))
    if with_scores:
        for u in SCORE_UNITS:
            y[:, u["site"], u["occasion"]] = np.nan
        kw["scores"] = ScoreEvidence(
            unit_site=np.array([u["site"] for u in SCORE_UNITS]), unit_occasion=np.array([u["occasion"] for u in SCORE_UNITS]),
            n_sequences=np.array([len(u["log_l"]) for u in SCORE_UNITS], float),
            log_mean_products=np.stack([log_mean_subset_products(u["log_l"], 5) for u in SCORE_UNITS], axis=1).transpose(2, 1, 0))
    return DetectionData(species=SPECIES, sites=("a", "b", "c"), occasions=("1", "2", "3"), y=y, **kw)


@pytest.mark.parametrize("site_sd", [None, (0.7, 1.3)])
@pytest.mark.parametrize("with_classifier,with_scores,false_site,missed",
                         [(False, False, False, False), (True, False, False, False), (True, False, True, False),
                          (True, False, False, True), (False, True, False, False)])
def test_marginalised_likelihood_matches_direct_sum_over_states(with_classifier, with_scores, false_site, missed,
                                                                site_sd):
    data = make_data(with_classifier, with_scores)
    prior = PriorSpec(site_detection_sd=0.0 if site_sd is None else 1.0, false_site_sd=1.0 if false_site else 0.0,
                      missed_visit=(1.0, 9.0) if missed else None)
    occ = build_model(data, ModelSpec(interactions=(("lynx", "deer"),), prior=prior))
    f, alpha = np.array([0.3, -0.4, 0.8]), np.array([-0.2, 0.5])
    values = point(f, alpha, with_classifier, site_sd, false_site, with_scores, missed)
    log_psi, loglik, _, _ = occ.compile_state_function()(values)
    model_site = logsumexp(log_psi + loglik, axis=1)
    for i in range(3):
        units = [u for u in UNITS if u["site"] == i] if with_classifier else []
        score_units = [u for u in SCORE_UNITS if u["site"] == i] if with_scores else []
        expected = direct_site_loglik(data.y[:, i], score_units, units, f, alpha, site_sd or (0.0, 0.0),
                                      false_site=false_site, missed=missed)
        assert model_site[i] == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # and the model's total log density adds exactly these site terms to the priors
    logp = occ.model.compile_logp(vars=[occ.model["occupancy_loglik"]], jacobian=False, sum=True)
    start = occ.model.initial_point()
    for name, value in values.items():
        rv = occ.model[name]
        transform = occ.model.rvs_to_transforms.get(rv)
        key = occ.model.rvs_to_values[rv].name
        start[key] = transform.forward(value).eval() if transform is not None else value
    assert logp(start) == pytest.approx(model_site.sum(), rel=1e-9)


def test_site_effect_quadrature_matches_adaptive_integration():
    """The model's Gauss-Hermite nodes are enough: a site's likelihood matches scipy's adaptive integral."""
    from scipy.integrate import quad
    from scipy.stats import norm

    data = make_data(with_classifier=True)
    f, alpha, site_sd = np.array([0.3, -0.4, 0.8]), np.array([-0.2, 0.5]), (0.7, 1.3)
    adaptive = lambda g: quad(lambda e: g(e) * norm.pdf(e), -10, 10, epsabs=1e-13)[0]  # noqa: E731
    for i in range(3):
        units = [u for u in UNITS if u["site"] == i]
        exact = direct_site_loglik(data.y[:, i], [], units, f, alpha, site_sd, integrate=adaptive)
        assert direct_site_loglik(data.y[:, i], [], units, f, alpha, site_sd) == pytest.approx(exact, abs=1e-4)


def test_log_add_exp_matches_numpy_with_its_gradient_at_impossible_and_equal_terms():
    a = np.array([0.0, -3.0, 5.0, IMPOSSIBLE, -700.0, 2.5, -1e-3])
    b = np.array([0.0, 4.0, -40.0, -2.0, -720.0, IMPOSSIBLE, 1e-3])
    x, y = pt.dvector("x"), pt.dvector("y")
    out = log_add_exp(x, y)
    value, grad_x = pytensor.function([x, y], [out, pytensor.grad(out.sum(), x)])(a, b)
    np.testing.assert_allclose(value, np.logaddexp(a, b), rtol=1e-14)
    np.testing.assert_allclose(grad_x, expit(a - b), rtol=1e-12, atol=1e-300)  # d/da = Pr(term a), 1/2 at a tie


def test_detection_mixture_matches_log_add_exp_with_its_gradients_at_impossible_and_extreme_terms():
    """The unit mixture as larger term + log(w + w' r) against the plain log(q e^missed + p e^photographed)."""
    missed = np.array([[0.0, -3.0, 5.0, IMPOSSIBLE, -700.0, 2.5, -1e-3, IMPOSSIBLE]])
    photographed = np.array([[0.0, 4.0, -40.0, -2.0, -720.0, IMPOSSIBLE, 1e-3, IMPOSSIBLE]])
    eta_nodes = np.array([-30.0, -2.0, 0.0, 0.7, 25.0])[None, None, None, :]
    eta, lm, lp = pt.tensor("eta", shape=(1, 1, 1, None)), pt.dmatrix("lm"), pt.dmatrix("lp")  # no covariates
    ours = _detection_mixture(eta, None, lm, lp)
    log_q = -pt.softplus(eta[:, 0, 0, None, :])
    log_p = pt.log1mexp(pt.minimum(log_q, -RATE_FLOOR))  # p floored at RATE_FLOOR, as in the model
    plain = log_add_exp(log_q + lm[:, :, None], log_p + lp[:, :, None])
    outputs = [ours, plain] + [pytensor.grad(o.sum(), v) for o in (ours, plain) for v in (eta, lm, lp)]
    fn = pytensor.function([eta, lm, lp], outputs)
    got = fn(eta_nodes, missed[:, :7], photographed[:, :7])
    np.testing.assert_allclose(got[0], got[1], rtol=1e-13, atol=1e-14)
    for ours_grad, plain_grad in zip(got[2:5], got[5:]):
        np.testing.assert_allclose(ours_grad, plain_grad, rtol=1e-10, atol=1e-12)
    # both terms impossible: IMPOSSIBLE at every p, so no gradient (log_add_exp's rounding leaves 2.5e-7 here)
    both = fn(eta_nodes, missed[:, 7:], photographed[:, 7:])
    np.testing.assert_allclose(both[0], IMPOSSIBLE)
    np.testing.assert_allclose(both[2], 0.0, atol=1e-12)


def test_detection_mixture_with_detection_covariates_takes_each_units_own_p():
    """With covariates p varies by site and occasion: each unit's mixture uses its own cell's p."""
    rng = np.random.default_rng(4)
    eta_cells = rng.normal(scale=2.0, size=(2, 3, 4, 5))  # (S, N, J, K)
    ev = SimpleNamespace(unit_site=np.array([0, 2, 2, 1]), unit_occasion=np.array([3, 0, 1, 3]))
    missed, photographed = rng.normal(scale=3.0, size=(2, 4)), rng.normal(scale=3.0, size=(2, 4))
    eta = pt.tensor4("eta")
    got = pytensor.function([eta], _detection_mixture(eta, ev, missed, photographed))(eta_cells)
    cell = eta_cells[:, ev.unit_site, ev.unit_occasion, :]  # (S, P, K)
    expected = np.logaddexp(missed[:, :, None] - np.logaddexp(0, cell), photographed[:, :, None] - np.logaddexp(0, -cell))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_unit_sums_per_site_match_a_loop_over_units():
    rng = np.random.default_rng(3)
    unit_site = np.array([2, 0, 2, 2, 1, 0])
    per_unit = rng.normal(size=(3, 6, 4))
    expected = np.stack([per_unit[:, unit_site == i].sum(axis=1) for i in range(4)], axis=1)  # site 3 has no unit
    np.testing.assert_allclose(_sum_units_to_sites(per_unit, unit_site, 4), expected)
    x = pt.tensor3("x", shape=(3, 6, 4))
    summed = _sum_units_to_sites(x, unit_site, 4)
    weights = rng.normal(size=(3, 4, 4))
    value, grad = pytensor.function([x], [summed, pytensor.grad((summed * weights).sum(), x)])(per_unit)
    np.testing.assert_allclose(value, expected, rtol=1e-14)
    np.testing.assert_allclose(grad, weights[:, unit_site], rtol=1e-14)  # each unit gets its site's weight


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
    occ = build_model(data, ModelSpec(interactions=(("lynx", "deer"),), prior=PriorSpec(penalty=1.28, false_site_sd=1.0)))
    assert occ.model.named_vars_to_dims["f"] == ("term",)
    assert list(occ.model.coords["term"]) == ["lynx", "deer", "lynx:deer"]
    assert occ.model.named_vars_to_dims["false_rate"] == ("species",)
    assert occ.model.named_vars_to_dims["false_label_site_effect"] == ("species", "labelled_site")
    assert list(occ.model.coords["labelled_site"]) == ["b", "c"]  # the sites with classified units
    with pytest.raises(ValueError, match="unknown species \\['wolf'\\]"):
        build_model(data, ModelSpec(interactions=(("lynx", "wolf"),)))
    with pytest.raises(ValueError, match="unknown site covariate"):
        build_model(data, ModelSpec(occupancy_covariates=("elevation",)))
    with pytest.raises(ValueError, match="unknown species"):
        conditional_set(SPECIES, [{"species": "lynx", "given": ["wolf"]}])
    with pytest.raises(ValueError, match="penalty must be > 0"):
        PriorSpec(penalty=0)
    with pytest.raises(ValueError, match="false_site_sd must be >= 0"):
        PriorSpec(false_site_sd=-0.5)
    for bad in ((0.0, 9.0), 5.0, ("a", "b")):
        with pytest.raises(ValueError, match="missed_visit must be two Beta shape parameters"):
            PriorSpec(missed_visit=bad)
    with pytest.raises(ValueError, match="false_rate must be two Beta shape parameters"):
        PriorSpec(false_rate=1.0)
