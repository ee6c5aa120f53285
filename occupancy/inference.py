"""Sample a model with NUTS (PyMC's default, nutpie or numpyro), then derive and summarise."""
from __future__ import annotations

import importlib.util
import os
import logging
import time
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
from pymc.blocking import RaveledVars
from pymc.step_methods.hmc.integration import CpuLeapfrogIntegrator, State
from pymc.step_methods.hmc.nuts import Proposal
from threadpoolctl import threadpool_limits

from occupancy.checks import detection_frequency_check
from occupancy.compiled import CACHE_ROOT
from occupancy.derived import Conditional, posterior_derived
from occupancy.histories import DetectionData
from occupancy.model import ModelSpec, OccupancyModel, build_model
from occupancy.summary import diagnostics, summarize, warn_if_unconverged

log = logging.getLogger(__name__)
BACKEND_MODULES = {"auto": None, "pymc": None, "nutpie": "nutpie", "numpyro": "numpyro", "blackjax": "blackjax"}
GRADIENTS = ("c", "numba")  # how the pymc back-end compiles the logp-and-gradient function
# how the pymc back-end starts: jittered initial points, then a diagonal mass matrix adapted in warm-up from the
# draws' variances (PyMC's default) or from the draws' and the gradients' (nutpie's way; PyMC calls it experimental)
INITS = ("jitter+adapt_diag", "jitter+adapt_diag_grad")
# On a CPU PyMC's own NUTS is the fastest here: its C compile is cached on disk, while nutpie recompiles
# with numba (~20 s) and numpyro runs the small lynx model slower (docs/occupancy.md, Speed). A JAX
# back-end pays off on a GPU, so 'auto' takes numpyro only where JAX sees one.
AUTO_GPU_BACKEND = "numpyro"


@dataclass(frozen=True)
class SamplerSpec:
    backend: str = "pymc"  # 'pymc' (PyMC's NUTS), 'nutpie', 'numpyro', or 'auto' (numpyro on a GPU, else pymc)
    chains: int = 2  # one per core of a laptop; split R-hat still compares four half-chains
    draws: int = 1000
    tune: int = 500  # enough here: bulk ESS and R-hat of the lynx fits in docs/occupancy.md (Speed)
    target_accept: float = 0.8  # same ESS as 0.9 on the lynx fits, 9 leapfrog steps a draw instead of 15
    cores: int | None = None  # None: min(chains, CPUs) for the pymc back-end
    seed: int = 20220422
    progressbar: bool = False
    gradient: str = "c"  # the pymc back-end's logp-and-gradient: 'c' (PyTensor's C) or 'numba' (docs: Speed)
    init: str = "jitter+adapt_diag"  # the pymc back-end's start and mass matrix adaptation (INITS; docs: Speed)

    def __post_init__(self):
        if self.backend not in BACKEND_MODULES:
            raise ValueError(f"sampler backend must be one of {list(BACKEND_MODULES)}, got {self.backend!r}")
        if self.gradient not in GRADIENTS:
            raise ValueError(f"sampler gradient must be one of {list(GRADIENTS)}, got {self.gradient!r}")
        if self.init not in INITS:
            raise ValueError(f"sampler init must be one of {list(INITS)}, got {self.init!r}")
        if self.chains < 1 or self.draws < 1 or self.tune < 0:
            raise ValueError("chains and draws must be >= 1, tune >= 0")
        if not 0 < self.target_accept < 1:
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept}")


@dataclass
class FitResult:
    idata: az.InferenceData
    summary: pd.DataFrame
    sites: pd.DataFrame
    diagnostics: dict
    occ_model: OccupancyModel
    timings: dict = field(default_factory=dict)
    check: pd.DataFrame | None = None  # posterior predictive check of detection frequencies (occupancy.checks)
    replicated: dict = field(default_factory=dict)  # its replicated statistics, for plots


def _jax_sees_gpu() -> bool:
    if importlib.util.find_spec("jax") is None:
        return False
    import jax

    return any(d.platform == "gpu" for d in jax.devices())


def resolve_backend(backend: str) -> str:
    if backend == "auto":
        gpu = importlib.util.find_spec(BACKEND_MODULES[AUTO_GPU_BACKEND]) is not None and _jax_sees_gpu()
        return AUTO_GPU_BACKEND if gpu else "pymc"
    module = BACKEND_MODULES[backend]
    if module and importlib.util.find_spec(module) is None:
        log.warning("sampler backend %r is not installed; using PyMC's default NUTS", backend)
        return "pymc"
    return backend


def _enable_jax_cache() -> None:
    """Persistent XLA compile cache, so a second run of the same model skips compilation."""
    import jax

    cache = os.environ.get("OCCUPANCY_JAX_CACHE", str((CACHE_ROOT / "jax").expanduser()))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def sample(occ_model: OccupancyModel, spec: SamplerSpec = SamplerSpec()) -> az.InferenceData:
    backend = resolve_backend(spec.backend)
    kwargs = dict(draws=spec.draws, tune=spec.tune, chains=spec.chains, target_accept=spec.target_accept,
                  random_seed=spec.seed, progressbar=spec.progressbar, nuts_sampler=backend)
    if backend == "numpyro":
        _enable_jax_cache()
        # all chains in one compiled program: one XLA compile, and a 2-core laptop has one CPU device
        kwargs["nuts_sampler_kwargs"] = {"chain_method": "vectorized"}
    blas_threads = None
    if spec.gradient != "c" and backend != "pymc":
        log.warning("sampler.gradient=%s is for the pymc back-end; %s compiles its own", spec.gradient, backend)
    if spec.init != SamplerSpec.init and backend != "pymc":
        log.warning("sampler.init=%s is for the pymc back-end; %s adapts its own way", spec.init, backend)
    if backend == "pymc":
        # PyMC's own default assumes hyper-threads and uses half the CPUs: on a 2-core laptop, one
        cores = spec.cores or min(spec.chains, os.cpu_count() or 1)
        kwargs.update(cores=cores, compute_convergence_checks=False)
        # each chain process gets its share of the cores: BLAS threads of parallel chains fighting over the
        # same cores made a 2-chain score fit 6 times slower (docs/occupancy.md, Speed)
        blas_threads = max(1, (os.cpu_count() or 1) // cores)
    with occ_model.model, threadpool_limits(limits=blas_threads, user_api="blas"):
        if backend == "pymc":
            occ_model.model.gradient = spec.gradient
            # `init_nuts` calls the logp-and-gradient function here (it checks the jittered initial points), so
            # the forked chains inherit the code that numba compiles or loads on that first call
            kwargs["initvals"], kwargs["step"] = _nuts_start(spec)
            del kwargs["target_accept"]  # the step carries it
        idata = pm.sample(**kwargs)
    idata.posterior.attrs["sampler_backend"] = backend
    return idata


# warm-up draws left out of the mass matrix's first estimate (PyMC's default 50): see `_nuts_start`
MASS_MATRIX_DISCARD = 10


class _StartReusingIntegrator(CpuLeapfrogIntegrator):
    """PyMC's leapfrog integrator that knows the log density and gradient where the last trajectory ended."""

    last_end: Proposal | None = None

    def compute_state(self, q: RaveledVars, p: np.ndarray) -> State:
        last = self.last_end
        if last is None or not np.array_equal(q.data, last.q.data):
            return super().compute_state(q, p)
        velocity = self._potential.velocity(p, out=None)
        kinetic = self._potential.energy(p, velocity=velocity)
        return State(q, p, velocity, last.q_grad, kinetic - last.logp, last.logp, 0)


class StartReusingNUTS(pm.NUTS):
    """PyMC's NUTS, one logp-and-gradient evaluation a draw cheaper: each draw starts its trajectory where the
    last one ended, and PyMC evaluates the model there again although the last trajectory already did (1,500 of
    a lynx chain's ~17,000 evaluations). The draws are the same, bit for bit (docs/occupancy.md, Speed). Beside
    other step methods (a discrete variable's), whose moves change the density at the same point, it evaluates
    every start as PyMC does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.integrator = _StartReusingIntegrator(self.potential, self._logp_dlogp_func)

    def _hamiltonian_step(self, start, p0, step_size):
        step = super()._hamiltonian_step(start, p0, step_size)
        if not self.shared:  # variables of other step methods would change the density at the same q
            self.integrator.last_end = step.end
        return step


def _nuts_start(spec: SamplerSpec) -> tuple[list[dict], StartReusingNUTS]:
    """Initial points and the NUTS step (`StartReusingNUTS`), from PyMC's own start `spec.init`: jittered
    initial points and a diagonal mass matrix adapted in warm-up, starting from the 11th warm-up draw rather than
    after PyMC's first 50 (`jitter+adapt_diag_grad`) or first window of 101 (`jitter+adapt_diag`, then updated
    after every draw): in the lynx fit the first 100 warm-up iterations at the unit mass matrix took a quarter of
    all leapfrog steps. `jitter+adapt_diag_grad` estimates each variance from the draws' and the gradients'
    variances (as nutpie does): 11-19% fewer leapfrog steps than `jitter+adapt_diag` on the lynx fits at a similar
    ESS; PyMC calls it experimental, so PyMC's own start stays the default (docs/occupancy.md, Speed).
    `discard_window` and `early_update` are options of PyMC's mass matrix adaptation that `pm.sample` does not
    expose."""
    seeds = np.random.default_rng(spec.seed).integers(2**30, size=spec.chains).tolist()
    points, pymc_step = pm.init_nuts(init=spec.init, chains=spec.chains, random_seed=seeds, tune=spec.tune,
                                     target_accept=spec.target_accept, progressbar=False)
    potential = pymc_step.potential
    potential._early_update = True
    potential._discard_window = MASS_MATRIX_DISCARD
    # PyMC's NUTS as `init_nuts` built it, on its compiled logp-and-gradient function (no second graph rewrite)
    step = StartReusingNUTS(potential=potential, rng=seeds[0], initial_point=points[0],
                            logp_dlogp_func=pymc_step._logp_dlogp_func, target_accept=spec.target_accept)
    return points, step


def fit(data: DetectionData, model_spec: ModelSpec = ModelSpec(), sampler: SamplerSpec = SamplerSpec(),
        conditionals: list[Conditional] | tuple = ()) -> FitResult:
    """Build, sample, derive and summarise; the returned InferenceData holds the derived quantities too."""
    # PyTensor records a stack trace for each of the tens of thousands of graph variables that the gradient
    # and its rewrite create, so that an error can name the line that made one: about 1 s of a lynx fit
    # (docs/occupancy.md, Speed). The graph is built here from validated data, not from a user's code.
    with pytensor.config.change_flags(traceback__limit=0):
        return _fit(data, model_spec, sampler, conditionals)


def _fit(data, model_spec, sampler, conditionals) -> FitResult:
    t0 = time.perf_counter()
    occ_model = build_model(data, model_spec)
    t1 = time.perf_counter()
    idata = sample(occ_model, sampler)
    t2 = time.perf_counter()
    derived, site_table, loglik = posterior_derived(occ_model, idata, conditionals)
    idata.posterior = idata.posterior.assign(derived)
    idata.add_groups(log_likelihood=loglik)
    summary = summarize(idata.posterior)
    diag = diagnostics(idata, summary)
    warn_if_unconverged(diag)
    check, replicated = detection_frequency_check(occ_model, idata, seed=sampler.seed)
    extreme = check.loc[(check["p_value"] < 0.025) | (check["p_value"] > 0.975)]
    for row in extreme.to_dict("records"):
        log.warning("posterior predictive check: %s (%s) detected at %.0f site-occasions, the model replicates "
                    "%.0f (95%%: %.0f-%.0f); the model does not reproduce these data", row["species"], row["stream"],
                    row["observed"], row["replicated_mean"], row["q2.5"], row["q97.5"])
    diag["predictive_p_values"] = {f"{r['species']} / {r['stream']}": round(r["p_value"], 3)
                                   for r in check.to_dict("records")}
    t3 = time.perf_counter()
    timings = {"build_s": t1 - t0, "sample_s": t2 - t1, "derive_s": t3 - t2, "total_s": t3 - t0,
               "backend": idata.posterior.attrs["sampler_backend"]}
    diag["timings"] = timings
    return FitResult(idata, summary, site_table, diag, occ_model, timings, check, replicated)
