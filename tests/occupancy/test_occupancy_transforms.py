"""The half-normal quantile transform: a bijection whose Jacobian makes the prior Normal(0, 1) in u."""
import numpy as np
import pymc as pm
import pytest
from scipy.stats import halfnorm, norm

from pymc.initial_point import make_initial_point_fn
from pymc.util import get_untransformed_name

from occupancy.transforms import HalfNormalQuantile

SIGMA = 0.7
X = np.array([1e-6, 0.01, 0.3, 1.0, 2.5, 4.0])  # up to 5.7 prior sds


def test_forward_is_the_prior_quantile_map_and_backward_inverts_it():
    t = HalfNormalQuantile(SIGMA)
    u = t.forward(X).eval()
    np.testing.assert_allclose(u, norm.ppf(halfnorm.cdf(X, scale=SIGMA)), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(t.backward(u).eval(), X, rtol=1e-7)


def test_jacobian_turns_the_half_normal_into_a_standard_normal():
    t = HalfNormalQuantile(SIGMA)
    u = np.linspace(-6.0, 6.0, 25)
    x = t.backward(u).eval()
    # log |dx/du| by central differences (x is about 1e-9 at u = -6: relative precision there)
    h = 1e-5
    numeric = np.log((t.backward(u + h).eval() - t.backward(u - h).eval()) / (2 * h))
    np.testing.assert_allclose(t.log_jac_det(u).eval(), numeric, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(halfnorm.logpdf(x, scale=SIGMA) + t.log_jac_det(u).eval(), norm.logpdf(u), atol=1e-6)


def test_model_samples_the_value_in_u_and_keeps_the_half_normal_prior():
    with pm.Model() as model:
        pm.HalfNormal("scale", sigma=SIGMA, default_transform=HalfNormalQuantile(SIGMA))
    (value,) = model.value_vars
    assert value.name == "scale_halfnormalquantile__"
    # PyMC maps a value variable's name back to its variable by underscores (step-method logs, and initial
    # values given per chain, as occupancy.inference passes them)
    assert get_untransformed_name(value.name) == "scale"
    point = make_initial_point_fn(model=model, overrides={value.name: 1.5}, jitter_rvs=set())(0)
    assert point[value.name] == pytest.approx(1.5)
    logp = model.compile_logp()
    for u in (-3.0, 0.0, 2.0):  # the joint density in u is the standard normal's
        assert logp({value.name: u}) == pytest.approx(norm.logpdf(u), abs=1e-6)
    draws = pm.draw(model["scale"], draws=4000, random_seed=1)  # forward draws: the half-normal itself
    assert abs(np.mean(draws) - SIGMA * np.sqrt(2 / np.pi)) < 0.03


def test_sigma_must_be_positive():
    with pytest.raises(ValueError, match="sigma must be > 0"):
        HalfNormalQuantile(0.0)


def _compiled(mode=None):
    import pytensor
    import pytensor.tensor as pt

    from occupancy.erfcinv import erfcinv

    y = pt.dvector("y")
    return pytensor.function([y], [erfcinv(y), pytensor.grad(erfcinv(y).sum(), y)], mode=mode)


def test_c_erfcinv_matches_scipy_across_its_domain_and_its_gradient():
    from scipy.special import erfcinv as scipy_erfcinv

    fn = _compiled()
    assert all(node.op.scalar_op.__class__.__name__ != "Erfcinv" for node in fn.maker.fgraph.apply_nodes
               if hasattr(node.op, "scalar_op"))  # PyTensor's Python op is gone from the compiled graph
    # both tails to the smallest doubles, the middle, and y just below 2 (the upper tail of u)
    y = np.concatenate([np.logspace(-300, 0, 600), np.linspace(1e-6, 2 - 1e-6, 2001), 2 - np.logspace(-15, -1, 200)])
    value, grad = fn(y)
    expected = scipy_erfcinv(y)
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, -np.sqrt(np.pi) / 2 * np.exp(expected**2), rtol=1e-10)
    edges, _ = fn(np.array([0.0, 2.0, -0.5, 2.5, np.nan]))
    np.testing.assert_array_equal(edges, [np.inf, -np.inf, np.nan, np.nan, np.nan])


def test_c_erfcinv_keeps_the_python_and_numba_implementations():
    pytest.importorskip("numba")
    from scipy.special import erfcinv as scipy_erfcinv

    y = np.array([1e-10, 0.3, 1.0, 1.7])
    for mode in ("FAST_COMPILE", "NUMBA"):  # FAST_COMPILE runs the Python implementation
        value, _ = _compiled(mode)(y)
        np.testing.assert_allclose(value, scipy_erfcinv(y), rtol=1e-12, atol=1e-15)
