"""Calibrated classifier scores at the sequence level: what the score likelihood reads.

A score table has one row per sequence (site, occasion, `p_<label>` probabilities calibrated under
per-sequence class base rates rho_s). For species s each sequence k gives an image likelihood ratio

    L_k = Pr(images_k | sequence shows s) / Pr(images_k | it does not) = odds(pi_k(s)) / odds(rho_s)

(Bayes' theorem on the calibrated probability pi_k(s)). A species that uses an occasion leaves X >= 1
of the unit's n sequences, X overdispersed; which x of the n they are is unknown, every set equally
likely. So, with Lbar_x = the mean of prod_{k in A} L_k over the x-sets A of the unit's sequences,

    Pr(images | s used the occasion) / Pr(images | it did not) = sum_x Pr(X = x | 1 <= X <= n) Lbar_x.

Lbar_x depends on the scores only and is computed here once; Pr(X = x) has fitted parameters and is
applied in the model (`likelihoods.score_stream`). Where one sequence looks like s but a visit of s
usually leaves several, Lbar_x for x >= 2 is small and the evidence is weaker than the lone score
suggests, which is what treating sequences as independent evidence got wrong (docs/occupancy.md).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import gammaln

from occupancy.histories import units_at_sites

log = logging.getLogger(__name__)

# the largest visit size summed over: X = x beyond it has negligible probability for camera-trap visits
# (the most sequences of one species in one Ain site-month is 75) and would only cost time
MAX_VISIT_SEQUENCES = 150
NO_SUBSET = -1e10  # log Lbar_x where x exceeds the unit's sequences: finite, so sums over x stay clean


@dataclass
class ScoreEvidence:
    unit_site: np.ndarray  # (P,) site index of each scored site-occasion (at least one sequence)
    unit_occasion: np.ndarray  # (P,) occasion index
    n_sequences: np.ndarray  # (P,) scored sequences in the unit
    log_mean_products: np.ndarray  # (S, P, X) log Lbar_x for x = 1..X; NO_SUBSET where x > n

    def __post_init__(self):
        P = len(self.unit_site)
        if self.unit_occasion.shape != (P,) or self.n_sequences.shape != (P,):
            raise ValueError("score evidence: unit_site, unit_occasion and n_sequences must have one entry per unit")
        if self.log_mean_products.ndim != 3 or self.log_mean_products.shape[1] != P:
            raise ValueError(f"score evidence: log_mean_products has shape {self.log_mean_products.shape}, "
                             f"expected (species, {P} units, visit size)")
        if P and self.n_sequences.min() < 1:
            raise ValueError("score evidence: every unit needs at least one sequence")
        if not np.isfinite(self.log_mean_products).all():
            raise ValueError("score evidence must be finite (clip probabilities before taking logs)")

    @property
    def n_units(self) -> int:
        return len(self.unit_site)

    @property
    def max_visit(self) -> int:
        return self.log_mean_products.shape[2]

    def take(self, units: np.ndarray) -> "ScoreEvidence":
        """The units at positions (or where a mask is True) `units`."""
        return ScoreEvidence(self.unit_site[units], self.unit_occasion[units], self.n_sequences[units],
                             self.log_mean_products[:, units])

    def subset_sites(self, index: Sequence[int]) -> "ScoreEvidence":
        keep, new_site = units_at_sites(self.unit_site, index)
        kept = self.take(keep)
        kept.unit_site = new_site
        return kept


def log_mean_subset_products(log_l: np.ndarray, max_size: int) -> np.ndarray:
    """(x = 1..max_size, S) log of the mean over the x-subsets of the rows of `log_l` (n, S) of the product
    of their exp(log_l); NO_SUBSET where x > n.

    The elementary symmetric sums e_x are built one sequence at a time in log space
    (e_x <- e_x + L_k e_{x-1}), then divided by the number of subsets C(n, x).
    """
    n, S = log_l.shape
    X = min(n, max_size)
    log_e = np.full((X + 1, S), -np.inf)
    log_e[0] = 0.0
    for k in range(n):
        top = min(k + 1, X)
        log_e[1:top + 1] = np.logaddexp(log_e[1:top + 1], log_e[:top] + log_l[k])
    x = np.arange(1, X + 1)
    log_choose = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    out = np.full((max_size, S), NO_SUBSET)
    out[:X] = log_e[1:] - log_choose[:, None]
    return out


def species_probabilities(scores: pd.DataFrame, species_map: Mapping[str, tuple[str, ...]], clip: float = 1e-6) -> np.ndarray:
    """(sequence, species) calibrated probability of each focal species (its labels' columns summed)."""
    prob_cols = [c for c in scores.columns if c.startswith("p_")]
    if not prob_cols:
        raise ValueError("score table has no probability column named p_<label>")
    known = {c[2:] for c in prob_cols}
    for name, labels in species_map.items():
        if not known & set(labels):
            raise ValueError(f"score table has no column for species {name!r} (labels {list(labels)}); columns: {prob_cols}")
    probs = scores[prob_cols].to_numpy(dtype=float)
    if np.isnan(probs).any():
        raise ValueError("score table has missing probabilities")
    row_sums = probs.sum(1)
    if np.abs(row_sums - 1).max() > 1e-3:
        log.warning("score rows do not sum to 1 (range %.3f..%.3f): renormalising", row_sums.min(), row_sums.max())
        probs = probs / row_sums[:, None]
    species_prob = np.stack([probs[:, [prob_cols.index(f"p_{lab}") for lab in labs if f"p_{lab}" in prob_cols]].sum(1)
                             for labs in species_map.values()], axis=1)
    return np.clip(species_prob, clip, 1 - clip)


def score_prior(prior, species_map, species_prob: np.ndarray, clip: float = 1e-6) -> np.ndarray:
    """Per-sequence base rates rho_s the scores were calibrated under: 'empirical' (their mean) or a mapping."""
    if isinstance(prior, str) and prior == "empirical":
        # for scores calibrated on data like these, the mean predicted probability is the class base rate
        return np.clip(species_prob.mean(0), clip, 1 - clip)
    if isinstance(prior, Mapping):
        missing = set(species_map) - set(prior)
        if missing:
            raise ValueError(f"score prior lacks species {sorted(missing)}")
        return np.clip(np.array([float(prior[s]) for s in species_map]), clip, 1 - clip)
    raise ValueError(f"score prior must be 'empirical' or a mapping species -> base rate, got {prior!r}")


def score_evidence(scores: pd.DataFrame, species_map: Mapping[str, tuple[str, ...]], sites: Sequence[str],
                   occasions: Sequence[str], prior="empirical", max_visit: int = MAX_VISIT_SEQUENCES) -> ScoreEvidence:
    """Condense a score table (one row per sequence: site, occasion, p_<label>) into per-unit evidence.

    Rows outside the given sites and occasions (or without an occasion) are left out.
    """
    species_prob = species_probabilities(scores, species_map)
    rho = score_prior(prior, species_map, species_prob)
    log_l = (np.log(species_prob) - np.log1p(-species_prob)) - (np.log(rho) - np.log1p(-rho))  # (sequence, S)
    i_idx = pd.Index(list(map(str, sites))).get_indexer(scores["site"].astype(str))
    j_idx = pd.Index(list(map(str, occasions))).get_indexer(scores["occasion"].astype(str))
    ok = (i_idx >= 0) & (j_idx >= 0) & scores["occasion"].notna().to_numpy()
    units, unit_of_row = np.unique(np.stack([i_idx[ok], j_idx[ok]], axis=1), axis=0, return_inverse=True)
    unit_of_row = unit_of_row.reshape(-1)
    n_seq = np.bincount(unit_of_row, minlength=len(units))
    size = int(min(n_seq.max(initial=1), max_visit))
    if n_seq.max(initial=0) > max_visit:
        log.info("score evidence: %d unit(s) hold more than %d sequences; visits of more than %d sequences of one "
                 "species are not summed over", int((n_seq > max_visit).sum()), max_visit, max_visit)
    rows = log_l[ok]
    order = np.argsort(unit_of_row, kind="stable")
    starts = np.concatenate([[0], np.cumsum(n_seq)])
    products = np.zeros((0, size, len(species_map)))
    if len(units):
        products = np.stack([log_mean_subset_products(rows[order[starts[p]:starts[p + 1]]], size)
                             for p in range(len(units))])  # (P, X, S)
    units = units.reshape(-1, 2).astype(int)
    return ScoreEvidence(unit_site=units[:, 0], unit_occasion=units[:, 1], n_sequences=n_seq.astype(float),
                         log_mean_products=products.transpose(2, 0, 1))
