"""PyMC's NUTS start as occupancy.inference uses it: jittered chains and a mass matrix that adapts early."""
import numpy as np
import pymc as pm
import pytest
from pymc.model.core import ValueGradFunction

from occupancy.inference import INITS, MASS_MATRIX_DISCARD, SamplerSpec, StartReusingNUTS, _nuts_start


@pytest.mark.parametrize("init", INITS)
def test_nuts_start_jitters_each_chain_and_adapts_the_mass_matrix_early(init):
    with pm.Model():
        pm.Normal("x", 0.0, 2.0, shape=3)
        points, step = _nuts_start(SamplerSpec(chains=2, seed=1, init=init))
    assert len(points) == 2 and not np.allclose(points[0]["x"], points[1]["x"])  # dispersed starts for R-hat
    potential, rng = step.potential, np.random.default_rng(0)
    ones = np.ones(3)

    def warm_up(n):  # draws of the posterior N(0, 2) and the gradients of its log density there
        for _ in range(n):
            x = rng.normal(0.0, 2.0, 3)
            potential.update(x, -x / 4.0, tune=True)

    np.testing.assert_array_equal(potential.velocity(ones), ones)  # the unit mass matrix to begin with
    warm_up(MASS_MATRIX_DISCARD)  # the first warm-up draws are left out (they are still far from the posterior)
    np.testing.assert_array_equal(potential.velocity(ones), ones)
    warm_up(2 * MASS_MATRIX_DISCARD + 1)  # then the estimate moves, well before PyMC's first window of 101
    velocity = potential.velocity(ones)  # the adapted variances, off 1 towards the posterior's 4 (noisy so early)
    assert (velocity > 1.2).all() and (velocity < 8.0).all(), velocity
    warm_up(400)
    np.testing.assert_allclose(potential.velocity(ones), 4.0, rtol=0.3)


def test_an_unknown_init_is_refused():
    with pytest.raises(ValueError, match="sampler init must be one of"):
        SamplerSpec(init="advi")


def test_the_nuts_start_calls_the_logp_and_gradient_function(monkeypatch):
    """numba compiles a function on its first call (`sampler.gradient: numba`): that call has to happen in this
    process, before PyMC forks the chains, so that they inherit the compiled code instead of compiling again."""
    calls = []
    call = ValueGradFunction.__call__
    monkeypatch.setattr(ValueGradFunction, "__call__", lambda self, *a, **k: calls.append(self) or call(self, *a, **k))
    with pm.Model():
        pm.Normal("x", 0.0, 1.0, shape=2)
        _, step = _nuts_start(SamplerSpec(chains=2, seed=1))
    assert any(f is step._logp_dlogp_func for f in calls)


def _sample(step, points, draws=60):
    return pm.sample(draws=draws, tune=40, chains=1, cores=1, step=step, initvals=points[:1], random_seed=3,
                     progressbar=False, compute_convergence_checks=False, discard_tuned_samples=False)


def test_start_reusing_nuts_gives_pymcs_draws_with_one_evaluation_per_leapfrog_step():
    with pm.Model():
        pm.Normal("x", 0.0, [1.0, 3.0])
        pm.HalfNormal("s", 2.0)
        spec = SamplerSpec(chains=1, seed=1)
        points, step = _nuts_start(spec)
        assert isinstance(step, StartReusingNUTS)
        evaluations = []
        integrate = step.integrator._logp_dlogp_func
        step.integrator._logp_dlogp_func = lambda q, info: evaluations.append(1) or integrate(q, info)
        reused = _sample(step, points)
        _, pymc_step = _nuts_start(spec)
        plain = _sample(pm.NUTS(potential=pymc_step.potential, logp_dlogp_func=pymc_step._logp_dlogp_func,
                                target_accept=spec.target_accept), points)
    for name in ("x", "s"):
        np.testing.assert_array_equal(reused.posterior[name].values, plain.posterior[name].values)
        np.testing.assert_array_equal(reused.warmup_posterior[name].values, plain.warmup_posterior[name].values)
    leapfrog_steps = int(reused.sample_stats.n_steps.sum() + reused.warmup_sample_stats.n_steps.sum())
    # one evaluation per leapfrog step and one at the very start; PyMC's NUTS evaluates every draw's start again
    assert len(evaluations) == leapfrog_steps + 1, (len(evaluations), leapfrog_steps)


def test_start_reusing_nuts_evaluates_again_when_another_step_method_moves_its_density():
    with pm.Model():
        switch = pm.Bernoulli("switch", 0.5)
        x = pm.Normal("x", 0.0, 1.0)
        pm.Normal("y", x + 3.0 * switch, 1.0, observed=[2.5, 3.5])
        draws = [pm.sample(draws=40, tune=20, chains=1, cores=1, random_seed=4, progressbar=False,
                           compute_convergence_checks=False, step=[nuts([x]), pm.BinaryMetropolis([switch])])
                 for nuts in (StartReusingNUTS, pm.NUTS)]
    assert draws[0].posterior["switch"].values.std() > 0  # the other step method did move
    np.testing.assert_array_equal(draws[0].posterior["x"].values, draws[1].posterior["x"].values)
