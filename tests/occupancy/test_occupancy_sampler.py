"""PyMC's NUTS start as occupancy.inference uses it: jittered chains and a mass matrix that adapts early."""
import numpy as np
import pymc as pm

from occupancy.inference import MASS_MATRIX_DISCARD, SamplerSpec, _nuts_start


def test_nuts_start_jitters_each_chain_and_adapts_the_mass_matrix_before_the_first_window():
    with pm.Model():
        pm.Normal("x", 0.0, 2.0, shape=3)
        points, step = _nuts_start(SamplerSpec(chains=2, seed=1))
    assert len(points) == 2 and not np.allclose(points[0]["x"], points[1]["x"])  # dispersed starts for R-hat
    potential, rng = step.potential, np.random.default_rng(0)
    ones = np.ones(3)
    np.testing.assert_array_equal(potential.velocity(ones), ones)  # the unit mass matrix to begin with
    for _ in range(MASS_MATRIX_DISCARD):  # the first warm-up draws are left out (they are still far from the posterior)
        potential.update(rng.normal(0.0, 2.0, 3), None, tune=True)
    np.testing.assert_array_equal(potential.velocity(ones), ones)
    for _ in range(20):  # then the estimate moves after every draw, well before PyMC's first window of 101
        potential.update(rng.normal(0.0, 2.0, 3), None, tune=True)
    velocity = potential.velocity(ones)  # the adapted variances, off 1 towards the draws' 4 (20 draws: noisy)
    assert (velocity > 1.2).all() and (velocity < 8.0).all(), velocity
