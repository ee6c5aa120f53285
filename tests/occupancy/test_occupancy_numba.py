"""`sampler.gradient: numba`: the numba-compiled logp and gradient equal PyTensor's C ones, a new data set of the
same shapes reuses the compiled function with its own data, and the numba code for digamma and erfcinv
(occupancy.numba_ops) matches scipy."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.special

import occupancy.model as model_module
import occupancy.numba_ops  # noqa: F401  (registers the numba code)
from occupancy.compiled import shape_key
from occupancy.erfcinv import erfcinv
from occupancy.inference import SamplerSpec
from occupancy.model import ModelSpec, build_model, lift_data, put_data
from occupancy.simulate import simulate


def _simulated_model(seed, n_sites=20):
    sim = simulate(n_sites=n_sites, species=("lynx", "deer"), natural={"lynx": 0.0, "deer": 1.0, "lynx:deer": 0.5},
                   interactions=(("lynx", "deer"),), seed=seed)
    return build_model(sim.detection_data("ground_truth"), ModelSpec(interactions=(("lynx", "deer"),))).model


def test_numba_digamma_and_erfcinv_match_scipy():
    x = pt.vector("x")
    f = pytensor.function([x], [pt.psi(x), erfcinv(x)], mode="NUMBA")
    psi_at = np.concatenate([np.logspace(-8, 3, 400), -np.linspace(0.1, 5.3, 40) + 1e-3])
    psi, _ = f(psi_at)
    np.testing.assert_allclose(psi, scipy.special.digamma(psi_at), rtol=1e-12, atol=1e-12)
    erfc_at = np.concatenate([np.logspace(-300, 0, 300), 2 - np.logspace(-16, 0, 100), [0.0, 2.0]])
    _, inv = f(erfc_at)
    np.testing.assert_allclose(inv, scipy.special.erfcinv(erfc_at), rtol=1e-13)
    assert np.isnan(f(np.array([-0.5, 2.5, np.nan]))[1]).all()


def test_numba_gradient_equals_the_c_one_and_keeps_the_data_out_of_the_graph():
    model = _simulated_model(4)
    c_function = model.logp_dlogp_function(ravel_inputs=True)
    model.gradient = "numba"
    numba_function = model.logp_dlogp_function(ravel_inputs=True)
    assert numba_function._pytensor_function.maker.linker.__class__.__name__ == "NumbaLinker"
    point = model.initial_point(0)
    size = sum(point[v.name].size for v in model.continuous_value_vars)
    rng = np.random.default_rng(0)
    for x in rng.normal(scale=0.8, size=(5, size)):
        c_logp, c_grad = c_function(x, extra_vars={})
        numba_logp, numba_grad = numba_function(x, extra_vars={})
        np.testing.assert_allclose(numba_logp, c_logp, rtol=1e-10)
        np.testing.assert_allclose(numba_grad, c_grad, rtol=1e-8, atol=1e-10)
    # the data (every array constant) leave the graph as shared variables, so numba's code does not depend on them
    lifted, = lift_data([model.logp()])
    constants = [v for v in pytensor.graph.traversal.ancestors([lifted]) if isinstance(v, pt.TensorConstant)]
    assert constants and all(v.data.size == 1 for v in constants)


def test_an_unknown_gradient_is_refused():
    with pytest.raises(ValueError, match="gradient must be one of"):
        SamplerSpec(gradient="cuda")


def test_new_data_of_the_same_shapes_reuse_the_numba_function_with_their_own_data(tmp_path, monkeypatch):
    monkeypatch.setenv("OCCUPANCY_GRAPH_CACHE", str(tmp_path))
    first, second = _simulated_model(4), _simulated_model(5)
    assert shape_key([first.logp()]) == shape_key([second.logp()]) and first.graph_key != second.graph_key
    c_function = second.logp_dlogp_function(ravel_inputs=True)
    compiles = []
    compile_numba = model_module.numba_logp_dlogp_function
    monkeypatch.setattr(model_module, "numba_logp_dlogp_function", lambda *a: compiles.append(a) or compile_numba(*a))
    first.gradient = second.gradient = "numba"
    first_function = first.logp_dlogp_function(ravel_inputs=True)
    second_function = second.logp_dlogp_function(ravel_inputs=True)
    assert len(compiles) == 1  # the second data set loaded the function compiled for the first
    point = second.initial_point(0)
    size = sum(point[v.name].size for v in second.continuous_value_vars)
    for x in np.random.default_rng(1).normal(scale=0.8, size=(3, size)):
        c_logp, c_grad = c_function(x, extra_vars={})
        logp, grad = second_function(x, extra_vars={})
        np.testing.assert_allclose(logp, c_logp, rtol=1e-10)  # the second data set's density, not the first's
        np.testing.assert_allclose(grad, c_grad, rtol=1e-8, atol=1e-10)
        assert not np.isclose(first_function(x, extra_vars={})[0], c_logp)
    assert not put_data(first_function, [_simulated_model(4, n_sites=25).logp()])  # other shapes: compile again
