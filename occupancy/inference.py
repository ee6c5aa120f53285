"""Sample a model with NUTS (PyMC's default, nutpie or numpyro), then derive and summarise."""
from __future__ import annotations

import importlib.util
import os
import logging
import time
from dataclasses import dataclass, field

import arviz as az
import pandas as pd
import pymc as pm

from occupancy.derived import Conditional, posterior_derived
from occupancy.histories import DetectionData
from occupancy.model import ModelSpec, OccupancyModel, build_model
from occupancy.summary import diagnostics, summarize, warn_if_unconverged

log = logging.getLogger(__name__)
BACKEND_MODULES = {"auto": None, "pymc": None, "nutpie": "nutpie", "numpyro": "numpyro", "blackjax": "blackjax"}
# numpyro and nutpie compile faster (cold fits 12-19 s vs 25 s) and run all chains in one process, which
# matters on a busy machine; PyMC is a little faster once its compile cache is warm (docs/occupancy.md).
AUTO_ORDER = ("numpyro", "nutpie")


@dataclass(frozen=True)
class SamplerSpec:
    backend: str = "pymc"  # 'pymc' (PyMC's NUTS), 'nutpie', 'numpyro', or 'auto' (the fastest installed)
    chains: int = 4
    draws: int = 1000
    tune: int = 500  # enough here: every lynx fit had bulk ESS > 2700, R-hat <= 1.004 (docs/occupancy.md)
    target_accept: float = 0.9
    cores: int | None = None  # None: min(chains, CPUs) for the pymc back-end
    seed: int = 20220422
    progressbar: bool = False

    def __post_init__(self):
        if self.backend not in BACKEND_MODULES:
            raise ValueError(f"sampler backend must be one of {list(BACKEND_MODULES)}, got {self.backend!r}")
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


def resolve_backend(backend: str) -> str:
    if backend == "auto":
        for name in AUTO_ORDER:
            if importlib.util.find_spec(BACKEND_MODULES[name]) is not None:
                return name
        return "pymc"
    module = BACKEND_MODULES[backend]
    if module and importlib.util.find_spec(module) is None:
        log.warning("sampler backend %r is not installed; using PyMC's default NUTS", backend)
        return "pymc"
    return backend


def _enable_jax_cache() -> None:
    """Persistent XLA compile cache, so a second run of the same model skips compilation."""
    import jax

    cache = os.environ.get("OCCUPANCY_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "camtrap-zoo", "jax"))
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
    if backend == "pymc":
        # PyMC's own default assumes hyper-threads and uses half the CPUs: on a 2-core laptop, one
        cores = spec.cores or min(spec.chains, os.cpu_count() or 1)
        kwargs.update(cores=cores, compute_convergence_checks=False)
    with occ_model.model:
        idata = pm.sample(**kwargs)
    idata.posterior.attrs["sampler_backend"] = backend
    return idata


def fit(data: DetectionData, model_spec: ModelSpec = ModelSpec(), sampler: SamplerSpec = SamplerSpec(),
        conditionals: list[Conditional] | tuple = ()) -> FitResult:
    """Build, sample, derive and summarise; the returned InferenceData holds the derived quantities too."""
    t0 = time.perf_counter()
    occ_model = build_model(data, model_spec)
    t1 = time.perf_counter()
    idata = sample(occ_model, sampler)
    t2 = time.perf_counter()
    derived, site_table = posterior_derived(occ_model, idata, conditionals)
    idata.posterior = idata.posterior.assign(derived)
    summary = summarize(idata.posterior)
    diag = diagnostics(idata, summary)
    warn_if_unconverged(diag)
    t3 = time.perf_counter()
    timings = {"build_s": t1 - t0, "sample_s": t2 - t1, "derive_s": t3 - t2, "total_s": t3 - t0,
               "backend": idata.posterior.attrs["sampler_backend"]}
    diag["timings"] = timings
    return FitResult(idata, summary, site_table, diag, occ_model, timings)
