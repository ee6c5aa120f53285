"""The multispecies occupancy model of Rota et al. (2016) in PyMC, with classifier-aware detection streams.

Latent occupancy z_i in {0,1}^S is multivariate Bernoulli with natural parameters f (one per species,
plus the chosen interaction terms), marginalised exactly over the 2^S states. Detection is logit-linear
in covariates. Priors are independent Normals: unmarked's penalised likelihood with penalty lambda is
the posterior mode of this model under Normal(0, 1/sqrt(lambda)) priors (set `PriorSpec.penalty`).
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.model.core import ValueGradFunction
from pytensor.graph.basic import Constant
from pytensor.graph.traversal import ancestors, graph_inputs
from pytensor.tensor.variable import TensorConstant

from occupancy.compiled import cached, model_key, shape_key
from occupancy.histories import DetectionData
from occupancy.likelihoods import (combine_streams, false_site_factor, hard_stream, occupancy_log_psi, score_stream,
                                  sequence_stream, site_effect_nodes, state_matrix)
from occupancy.transforms import HalfNormalQuantile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PriorSpec:
    """Prior standard deviations (logit scale) and Dirichlet concentrations of the confusion rows."""

    natural_sd: float = 1.5  # first-order natural parameters f_s: logistic(N(0, 1.5)) is near-uniform on (0, 1)
    interaction_sd: float = 1.0  # interaction terms f_ab: shrink towards independence
    detection_sd: float = 1.5  # detection intercepts logit(p)
    slope_sd: float = 1.0  # slopes of standardised covariates
    penalty: float | None = None  # unmarked's penalty lambda: overrides every sd above with 1/sqrt(lambda)
    false_rate: tuple[float, float] = (1.0, 50.0)  # Beta: Pr(a sequence of another class is labelled s), mean 0.02
    count_sd: float = 1.5  # log-scale sd of the own-label (scores: own-sequence) count mean per used occasion (around 3)
    dispersion_sd: float = 1.0  # half-normal sd of the label counts' overdispersion (0 = Poisson)
    site_detection_sd: float = 1.0  # half-normal sd of the sd of logit p between sites; 0 = every site detects alike
    false_site_sd: float = 0.0  # half-normal sd of the sd of log false-label rates between sites; 0 = alike everywhere
    # Beta: Pr(the classifier labels none of a visit's sequences s), a parameter of its own (a hurdle); None = the
    # own-label negative binomial's zero
    missed_visit: tuple[float, float] | None = None

    def __post_init__(self):
        for name in ("natural_sd", "interaction_sd", "detection_sd", "slope_sd", "count_sd", "dispersion_sd"):
            if not getattr(self, name) > 0:
                raise ValueError(f"prior {name} must be > 0, got {getattr(self, name)}")
        object.__setattr__(self, "false_rate", _beta_shapes("false_rate", self.false_rate))
        if self.missed_visit is not None:
            object.__setattr__(self, "missed_visit", _beta_shapes("missed_visit", self.missed_visit, " (or null)"))
        for name in ("site_detection_sd", "false_site_sd"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"prior {name} must be >= 0 (0 = no site effect), got {getattr(self, name)}")
        if self.penalty is not None and not self.penalty > 0:
            raise ValueError(f"prior penalty must be > 0 (or null), got {self.penalty}")

    def sd(self, kind: str) -> float:
        return 1.0 / np.sqrt(self.penalty) if self.penalty is not None else getattr(self, f"{kind}_sd")


def _beta_shapes(name: str, value, alternative: str = "") -> tuple[float, float]:
    """A Beta prior's two shape parameters, or a one-line error naming the prior key."""
    try:
        shapes = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        shapes = ()
    if len(shapes) != 2 or not min(shapes) > 0:
        raise ValueError(f"prior {name} must be two Beta shape parameters > 0{alternative}, got {value!r}")
    return shapes


@dataclass(frozen=True)
class ModelSpec:
    interactions: tuple[tuple[str, ...], ...] = ()  # e.g. (("lynx", "deer"), ("lynx", "chamois")); "all_pairs" allowed
    occupancy_covariates: tuple[str, ...] = ()  # site covariate names, on the first-order terms
    detection_covariates: tuple[str, ...] = ()  # 'effort', 'occasion', site or occasion covariate names
    prior: PriorSpec = field(default_factory=PriorSpec)


@dataclass
class OccupancyModel:
    model: pm.Model
    data: DetectionData
    spec: ModelSpec
    terms: list[str]
    term_design: np.ndarray  # (state, term)
    states: np.ndarray  # (state, species)
    log_psi: pt.TensorVariable  # (site, state), or (1, state) without occupancy covariates
    loglik: pt.TensorVariable  # (site, state)
    eta_detection: pt.TensorVariable  # (species, site, occasion) logit(p) of a site with a median site effect
    site_detection_sd: pt.TensorVariable  # (species,) sd of the site effect on logit(p); zeros without it
    nodes: np.ndarray  # (K,) Gauss-Hermite nodes of the standard normal site effect
    log_weights: np.ndarray  # (K,)
    standardisation: dict = field(default_factory=dict)
    _state_function: Any = field(default=None, init=False, repr=False)

    def compile_state_function(self):
        """f(point) -> (log_psi, loglik, eta_detection, site_detection_sd) as numpy, point = {free variable: value}.

        Compiled once per model: the derived quantities and the predictive check both read it."""
        if self._state_function is None:
            inputs = {rv: rv.type(name=rv.name) for rv in self.model.free_RVs}
            names = [rv.name for rv in inputs]

            def compile():
                outs = pytensor.graph_replace([self.log_psi, self.loglik, self.eta_detection, self.site_detection_sd],
                                              inputs, strict=False)
                return pytensor.function(list(inputs.values()), outs, on_unused_input="ignore")

            fn = cached(self.model.graph_key, "state", compile)
            if [i.variable.name for i in fn.maker.inputs] != names:  # only a hash collision could get here
                log.warning("the cached state function takes other inputs than this model's; compiling")
                fn = compile()
            self._state_function = lambda point: fn(*[point[n] for n in names])
        return self._state_function


class CachedGradientModel(pm.Model):
    """PyMC's Model, whose logp-and-gradient function for NUTS comes from the graph cache (`occupancy.compiled`)
    when the same data, model spec and code were compiled before: PyTensor caches compiled C code but not the
    graph rewrite before it, which took a quarter of a warm lynx fit. `graph_key` None compiles every time.

    `gradient` 'numba' compiles that function with PyTensor's numba back-end instead of C (`sampler.gradient`,
    docs/occupancy.md, Speed), with the data taken out of the graph (`lift_data`) so that numba's compiled code
    serves every data set of the same shapes."""

    graph_key: str | None = None
    gradient: str = "c"

    def logp_dlogp_function(self, grad_vars=None, tempered=False, initial_point=None, ravel_inputs=None, **kwargs):
        def compile():
            if self.gradient == "numba":
                return numba_logp_dlogp_function(self, cost, ravel_inputs)
            return super(CachedGradientModel, self).logp_dlogp_function(grad_vars, tempered, initial_point,
                                                                         ravel_inputs, **kwargs)

        if grad_vars is not None or tempered or initial_point is not None or kwargs:  # not the function NUTS takes
            return super().logp_dlogp_function(grad_vars, tempered, initial_point, ravel_inputs, **kwargs)
        key = self.graph_key
        if self.gradient == "numba":  # before a cached function is unpickled too: numba code for digamma and erfcinv
            import occupancy.numba_ops  # noqa: F401  that numba can cache (PyTensor's own makes it compile again)
            cost = self.logp()  # the data go in at run time: one function for every data set of these shapes
            key = key and shape_key([cost])
        what = f"logp_dlogp(ravel_inputs={ravel_inputs})" + ("" if self.gradient == "c" else f", {self.gradient}")
        function = cached(key, what, compile)
        signature = [(v.name, str(v.type)) for v in self.continuous_value_vars]
        if [(v.name, str(v.type)) for v in function._grad_vars] != signature:  # only a hash collision could do it
            log.warning("the cached logp-and-gradient function takes other variables than this model's; compiling")
            function = compile()
        elif self.gradient == "numba" and not put_data(function, [cost]):
            log.warning("the cached logp-and-gradient function holds other data arrays than this model's; compiling")
            function = compile()
        return function


LIFTED = "lifted_data_"  # name of the shared variable that holds the graph's k-th data array (`lift_data`)


def data_arrays(outputs: list) -> list[TensorConstant]:
    """The array constants (the data) of the graph of `outputs`, in the graph's own order."""
    return list(dict.fromkeys(v for v in ancestors(outputs) if isinstance(v, TensorConstant) and v.data.size > 1))


def lift_data(outputs: list) -> list:
    """`outputs` with every array constant (the data) replaced by a shared variable holding it, in the graph's own
    order of its constants. numba inlines constants into the code it compiles and keys its disk cache on their
    values, so a new data set (one more verified sequence) would compile again, 32-55 s for the lynx model; shared
    variables are passed at run time. The static shapes stay (PyTensor keeps them with SpecifyShape): rebuilt
    with open shapes the graph came out differently in every process. A set's order (object ids) did too."""
    shared = {c: pytensor.shared(c.data, name=f"{LIFTED}{k}", shape=tuple(1 if n == 1 else None for n in c.data.shape))
              for k, c in enumerate(data_arrays(outputs))}
    return pytensor.graph_replace(outputs, shared, strict=False)


def put_data(function: ValueGradFunction, outputs: list) -> bool:
    """Give a logp-and-gradient function compiled on lifted data (`lift_data`), perhaps for another data set of the
    same shapes (`shape_key`), the data of the graph of `outputs`; False where an array does not fit."""
    arrays = data_arrays(outputs)
    for var in function._pytensor_function.get_shared():
        if not (var.name or "").startswith(LIFTED):
            continue
        k = int(var.name[len(LIFTED):])
        current = var.get_value(borrow=True)
        if k >= len(arrays) or arrays[k].data.shape != current.shape or arrays[k].data.dtype != current.dtype:
            return False
        var.set_value(arrays[k].data)
    return True


def numba_logp_dlogp_function(model: pm.Model, cost, ravel_inputs):
    """PyMC's logp-and-gradient function for NUTS (`Model.logp_dlogp_function`), compiled by numba on the model's
    log density `cost` with its data lifted out (`lift_data`)."""
    cost, = lift_data([cost])
    grad_vars = model.continuous_value_vars
    point = model.initial_point(0)
    inputs = {v for v in graph_inputs([cost]) if not isinstance(v, Constant)}
    extra = {v: point[v.name] for v in model.value_vars if v in inputs and v not in grad_vars}
    return ValueGradFunction([cost], grad_vars, extra, model=model, initial_point=point, ravel_inputs=ravel_inputs,
                             mode="NUMBA")


def interaction_terms(species: tuple[str, ...], interactions) -> list[tuple[int, ...]]:
    """Interaction terms as species-index tuples; unknown names fail with the list of known ones."""
    if interactions in ("all_pairs", ["all_pairs"]):
        return list(itertools.combinations(range(len(species)), 2))
    terms = []
    for term in interactions or ():
        names = (term,) if isinstance(term, str) else tuple(term)
        unknown = [n for n in names if n not in species]
        if unknown:
            raise ValueError(f"interaction {list(names)} names unknown species {unknown}; species are {list(species)}")
        if len(set(names)) != len(names) or len(names) < 2:
            raise ValueError(f"an interaction needs at least two distinct species, got {list(names)}")
        idx = tuple(sorted(species.index(n) for n in names))
        if idx in terms:
            raise ValueError(f"interaction {list(names)} given twice")
        terms.append(idx)
    return terms


def term_design_matrix(states: np.ndarray, terms: list[tuple[int, ...]]) -> np.ndarray:
    """(state, term): 1 when the state holds every species of the term (first-order terms first)."""
    n_species = states.shape[1]
    all_terms = [(s,) for s in range(n_species)] + terms
    return np.stack([states[:, list(t)].prod(axis=1) for t in all_terms], axis=1)


def _standardise(values: np.ndarray, name: str, observed: np.ndarray | None = None) -> tuple[np.ndarray, float, float]:
    ref = values if observed is None else values[observed]
    if np.isnan(ref).any():
        raise ValueError(f"covariate {name!r} has missing values where data are observed; impute or drop those sites")
    mean, sd = float(np.mean(ref)), float(np.std(ref))
    if not sd > 0:
        raise ValueError(f"covariate {name!r} is constant; it cannot be estimated")
    return np.nan_to_num((values - mean) / sd), mean, sd


def _site_covariate(data: DetectionData, name: str) -> np.ndarray:
    if data.site_covariates is None or name not in data.site_covariates:
        known = [] if data.site_covariates is None else list(data.site_covariates.columns)
        raise ValueError(f"unknown site covariate {name!r}; known: {known}")
    return pd.to_numeric(data.site_covariates[name], errors="raise").to_numpy(dtype=float)


def detection_covariate(data: DetectionData, name: str) -> np.ndarray:
    """(site, occasion) raw values of a detection covariate."""
    N, J = data.shape[1:]
    if name == "effort":
        if data.effort is None:
            raise ValueError("detection covariate 'effort' needs activity information (activity='records' or deployments)")
        return np.log(np.maximum(data.effort, 0.5))  # log camera-days; inactive occasions are masked anyway
    if name == "occasion":
        return np.broadcast_to(np.arange(J, dtype=float), (N, J)).copy()
    if name in data.occasion_covariates:
        return np.asarray(data.occasion_covariates[name], dtype=float)
    return np.repeat(_site_covariate(data, name)[:, None], J, axis=1)


def build_model(data: DetectionData, spec: ModelSpec = ModelSpec()) -> OccupancyModel:
    """PyMC model with named coords/dims; the likelihood enters as one Potential over sites."""
    data = data.drop_empty_sites()
    S, N, J = data.shape
    states = state_matrix(S)
    terms = interaction_terms(data.species, spec.interactions)
    term_names = list(data.species) + [":".join(data.species[i] for i in t) for t in terms]
    design = term_design_matrix(states, terms)
    observed = data.observed_mask()
    occ_x, det_x, standardisation = [], [], {}
    for name in spec.occupancy_covariates:
        z, mean, sd = _standardise(_site_covariate(data, name), name)
        occ_x.append(z)
        standardisation[f"psi:{name}"] = (mean, sd)
    for name in spec.detection_covariates:
        z, mean, sd = _standardise(detection_covariate(data, name), name, observed)
        det_x.append(z)
        standardisation[f"p:{name}"] = (mean, sd)

    coords = {"species": list(data.species), "term": term_names, "site": list(data.sites), "occasion": list(data.occasions)}
    if occ_x:
        coords["psi_covariate"] = list(spec.occupancy_covariates)
    if det_x:
        coords["p_covariate"] = list(spec.detection_covariates)

    prior = spec.prior
    with CachedGradientModel(coords=coords) as model:
        f_sd = np.array([prior.sd("natural")] * S + [prior.sd("interaction")] * len(terms))
        f = pm.Normal("f", 0.0, f_sd, dims="term")
        eta_terms = f[None, :]  # (1, F): without covariates psi is the same at every site, computed once
        if occ_x:
            beta_psi = pm.Normal("beta_psi", 0.0, prior.sd("slope"), dims=("species", "psi_covariate"))
            first_order = pt.dot(np.stack(occ_x, axis=1), beta_psi.T)  # (N, S)
            eta_terms = eta_terms + pt.concatenate([first_order, pt.zeros((N, len(terms)))], axis=1)
        log_psi = occupancy_log_psi(eta_terms, design)

        alpha = pm.Normal("alpha", 0.0, prior.sd("detection"), dims="species")
        eta = alpha[:, None, None]  # (S, 1, 1): the likelihood then works on per-site sums
        if det_x:
            beta_p = pm.Normal("beta_p", 0.0, prior.sd("slope"), dims=("species", "p_covariate"))
            eta = eta + pt.tensordot(beta_p, np.stack(det_x, axis=0), axes=[[1], [0]])
        eta_full = pt.broadcast_to(eta, (S, N, J))
        # sites differ in how well they detect a species they hold: a site effect on logit p, summed out
        nodes, log_weights = site_effect_nodes(prior.site_detection_sd > 0)
        if prior.site_detection_sd > 0:
            site_sd = half_normal("detection_site_sd", prior.site_detection_sd, "species")
        else:
            site_sd = pt.zeros(S)
        eta_nodes = eta[..., None] + site_sd[:, None, None, None] * nodes  # (S, N|1, J|1, K)

        streams = [hard_stream(data.y, eta_nodes)]
        if data.scores is not None and data.scores.n_units:
            # own sequences per visit, as the classifier-label stream's: the scores say which sequences they are
            visit_mean = pm.LogNormal("visit_sequence_mean", mu=np.log(3.0), sigma=prior.count_sd, dims="species")
            visit_dispersion = half_normal("visit_sequence_dispersion", prior.dispersion_sd, "species")
            streams.append(score_stream(data.scores, eta_nodes, visit_mean, visit_dispersion, N))
        if data.sequences is not None:
            true_mean, true_dispersion, false_rate, false_dispersion, missed_visit = _classifier_parameters(prior)
            ev = data.sequences
            if ev.random_negatives.sum():  # a random verified sample counts false labels directly
                pm.Binomial("random_false_labels", n=ev.random_negatives, p=false_rate, observed=ev.random_false_labels,
                            dims="species")
            unit_false_rate = false_rate
            if prior.false_site_sd > 0 and ev.n_units:
                labelled, unit_index = ev.labelled_sites()
                model.add_coord("labelled_site", [data.sites[i] for i in labelled])
                false_site_sd = half_normal("false_label_site_sd", prior.false_site_sd, "species")
                effect = pm.Normal("false_label_site_effect", 0.0, 1.0, dims=("species", "labelled_site"))
                unit_false_rate = false_rate[:, None] * false_site_factor(false_site_sd, effect, pt.exp)[:, unit_index]
            seq = sequence_stream(ev, eta_nodes, true_mean, true_dispersion, unit_false_rate, false_dispersion, N,
                                  missed_visit)
            if seq is not None:
                streams.append(seq)
        loglik = combine_streams(streams, log_weights, states)
        pm.Potential("occupancy_loglik", pt.sum(pt.logsumexp(log_psi + loglik, axis=1)))
    model.graph_key = model_key(model, data, spec)
    return OccupancyModel(model, data, spec, term_names, design, states, log_psi, loglik, eta_full,
                          pt.as_tensor(site_sd), nodes, log_weights, standardisation)


def half_normal(name: str, sigma: float, dims: str):
    """A half-normal scale parameter, sampled in its prior's quantile coordinates (occupancy.transforms)."""
    return pm.HalfNormal(name, sigma=sigma, dims=dims, default_transform=HalfNormalQuantile(sigma))


def _classifier_parameters(prior: PriorSpec):
    """Per species: own labels per used occasion (mean, overdispersion), false-label rate and overdispersion, and
    (with `prior.missed_visit`) the probability that a visit leaves no own label."""
    true_mean = pm.LogNormal("true_label_mean", mu=np.log(3.0), sigma=prior.count_sd, dims="species")
    true_dispersion = half_normal("true_label_dispersion", prior.dispersion_sd, "species")
    false_rate = pm.Beta("false_rate", alpha=prior.false_rate[0], beta=prior.false_rate[1], dims="species")
    false_dispersion = half_normal("false_label_dispersion", prior.dispersion_sd, "species")
    missed_visit = None
    if prior.missed_visit is not None:
        missed_visit = pm.Beta("missed_visit", alpha=prior.missed_visit[0], beta=prior.missed_visit[1], dims="species")
    return true_mean, true_dispersion, false_rate, false_dispersion, missed_visit
