"""Recovery on simulated data: known parameters in, posterior out, truth inside the intervals.

Tolerance: for a calibrated posterior, |mean - truth| / sd exceeds 3.5 with probability ~5e-4 per
quantity, so with ~10 quantities a fit fails by chance in well under 1% of seeds; seeds are fixed, so
the tests are deterministic. Short chains (2 x 250, run in parallel on 2 cores) keep the file under a minute or two on 2 cores.
"""
import numpy as np
import pytest

from occupancy.derived import conditional_set
from occupancy.inference import SamplerSpec, fit
from occupancy.model import ModelSpec
from occupancy.simulate import simulate

SPECIES = ("lynx", "deer", "chamois")
INTERACTIONS = (("lynx", "deer"), ("lynx", "chamois"))
CONDITIONALS = conditional_set(SPECIES, [{"species": "lynx", "given": ["deer", "chamois"]}])
NATURAL = {"lynx": -0.6, "deer": 0.8, "chamois": -0.4, "lynx:deer": 1.2, "lynx:chamois": 0.6}
DETECTION = {"lynx": 0.35, "deer": 0.55, "chamois": 0.45}
# Ain-like: chamois precision is poor because many non-focal events (people, cows) are called chamois
CONFUSION = np.array([
    [0.80, 0.00, 0.02, 0.18],
    [0.00, 0.70, 0.10, 0.20],
    [0.00, 0.06, 0.80, 0.14],
    [0.002, 0.007, 0.04, 0.951],
])
SAMPLER = SamplerSpec(chains=2, draws=250, tune=250, seed=7)
MODEL = ModelSpec(interactions=INTERACTIONS)
Z_LIMIT = 3.5


@pytest.fixture(scope="module")
def study():
    return simulate(n_sites=60, n_occasions=9, species=SPECIES, natural=NATURAL, interactions=INTERACTIONS,
                    detection=DETECTION, confusion=CONFUSION, other_rate=4.0, classified_fraction=0.5,
                    verified_fraction=0.1, score_separation=3.0, conditionals=CONDITIONALS, seed=11)


def z_scores(result, truth):
    s = result.summary.set_index("parameter")
    return {k: abs(s.loc[k, "mean"] - v) / s.loc[k, "sd"] for k, v in truth.items()}


def covered(result, truth):
    s = result.summary.set_index("parameter")
    return np.mean([s.loc[k, "q2.5"] <= v <= s.loc[k, "q97.5"] for k, v in truth.items()])


def test_ground_truth_fit_recovers_parameters(study):
    result = fit(study.detection_data("ground_truth"), MODEL, SAMPLER, CONDITIONALS)
    z = z_scores(result, study.truth)
    assert max(z.values()) < Z_LIMIT, z
    assert covered(result, study.truth) >= 0.8
    assert result.diagnostics["divergences"] == 0 and result.diagnostics["max_r_hat"] < 1.05
    assert set(result.sites["site"]) == set(study.sites)
    # sites where a species was seen are occupied with certainty
    seen = result.sites[result.sites["detected"]]
    assert np.allclose(seen["mean"], 1.0)


def test_confusion_fit_corrects_what_the_naive_fit_gets_wrong(study):
    naive = fit(study.detection_data("naive"), MODEL, SAMPLER, CONDITIONALS)
    aware = fit(study.detection_data("confusion"), MODEL, SAMPLER, CONDITIONALS)
    z_aware, z_naive = z_scores(aware, study.truth), z_scores(naive, study.truth)
    assert max(z_aware.values()) < Z_LIMIT, z_aware
    # false chamois from people and cows push the naive chamois occupancy up, well beyond its own interval
    naive_s = naive.summary.set_index("parameter").loc["psi[chamois]"]
    assert naive_s["mean"] - study.truth["psi[chamois]"] > 2 * naive_s["sd"], z_naive
    assert naive_s["q2.5"] > study.truth["psi[chamois]"] or z_naive["psi[chamois]"] > 2 * z_aware["psi[chamois]"]
    # false chamois come from the many non-focal events: the fitted false-label rate sits near the confusion's
    s = aware.summary.set_index("parameter")
    assert s.loc["false_rate[chamois]", "q2.5"] < CONFUSION[3, 2] * 1.5 and s.loc["false_rate[chamois]", "mean"] > CONFUSION[3, 2] / 3


def test_score_fit_recovers_parameters(study):
    result = fit(study.detection_data("scores"), MODEL, SAMPLER, CONDITIONALS)
    z = z_scores(result, study.truth)
    assert max(z.values()) < Z_LIMIT, z
