"""The graph cache: a fit of the same data, model and code loads its compiled functions and samples the same draws."""
import numpy as np
import pymc as pm
import pytest

import occupancy.model
from occupancy.compiled import CACHE_ENV, model_key
from occupancy.histories import DetectionData
from occupancy.inference import SamplerSpec, fit
from occupancy.model import ModelSpec, PriorSpec, build_model
from occupancy.simulate import simulate

SPEC = ModelSpec(interactions=(("lynx", "deer"),))
SAMPLER = SamplerSpec(chains=1, draws=40, tune=40, cores=1, seed=5)


@pytest.fixture(scope="module")
def data():
    sim = simulate(n_sites=25, species=("lynx", "deer"), natural={"lynx": 0.0, "deer": 1.0, "lynx:deer": 0.5},
                   interactions=(("lynx", "deer"),), seed=2)
    return sim.detection_data("ground_truth")


@pytest.fixture
def compiles(monkeypatch):
    """Counts the logp-and-gradient graphs compiled (rewritten) rather than loaded."""
    counted = []
    plain = pm.Model.logp_dlogp_function
    monkeypatch.setattr(pm.Model, "logp_dlogp_function", lambda self, *a, **k: counted.append(1) or plain(self, *a, **k))
    return counted


def _draws(result):
    return {name: result.idata.posterior[name].values for name in ("f", "alpha", "psi", "p")}


def test_a_second_fit_loads_the_compiled_functions_and_samples_the_same_draws(data, tmp_path, monkeypatch, compiles):
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(CACHE_ENV, "off")
    uncached = fit(data, SPEC, SAMPLER)
    assert len(compiles) == 1 and not any(home.iterdir())  # off: nothing written, not even to the default place
    monkeypatch.setenv(CACHE_ENV, str(cache))
    first, second = fit(data, SPEC, SAMPLER), fit(data, SPEC, SAMPLER)
    assert len(compiles) == 2  # the first fit with the cache compiled; the second loaded
    entries = list(cache.rglob("output.pkl"))
    assert len(entries) == 2  # the logp-and-gradient and the derived quantities' function
    for entry in entries:
        entry.write_bytes(b"truncated")
    again = fit(data, SPEC, SAMPLER)  # joblib logs that it could not load the entries, and computes them again
    assert len(compiles) == 3 and all(entry.read_bytes() != b"truncated" for entry in entries)
    for result in (first, second, again):
        for name, values in _draws(uncached).items():
            np.testing.assert_array_equal(_draws(result)[name], values, err_msg=name)
        np.testing.assert_array_equal(result.sites.to_numpy(), uncached.sites.to_numpy())


def test_the_key_follows_the_data_the_spec_and_the_graph(data, monkeypatch):
    key = build_model(data, SPEC).model.graph_key
    assert build_model(data, SPEC).model.graph_key == key  # a rebuild of the same model
    y = data.y.copy()
    y[tuple(np.argwhere(y == 0)[0])] = 1.0  # one detection more
    other = DetectionData(data.species, data.sites, data.occasions, y, sequences=data.sequences)
    assert build_model(other, SPEC).model.graph_key != key
    assert build_model(data, ModelSpec(interactions=SPEC.interactions, prior=PriorSpec(detection_sd=2.0))).model.graph_key != key
    # a build patched at run time (as a benchmark's ablation does) gets its own key: here PyMC's log transform
    monkeypatch.setattr(occupancy.model, "half_normal", lambda name, sigma, dims: pm.HalfNormal(name, sigma, dims=dims))
    assert build_model(data, SPEC).model.graph_key != key
    assert model_key(build_model(data, SPEC).model, "something else") != key
