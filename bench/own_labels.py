"""Ablation for the benches: the own-label counts per used occasion held at known values, not estimated.

The sequence likelihood's X (a species' own sequences labelled as it in an occasion it used; negative binomial,
mean `true_label_mean`, overdispersion `true_label_dispersion`) is learnt jointly with occupancy. At busy
classified sites the labels identify mainly psi x E[X], so how well the split is made is a question for an
ablation: fit with X's mean and dispersion set to the values the human labels show (a simulation's truth, or the
Ain records' own counts) and compare. Not a model option: on the real records the known values move psi[chamois]
away from the ground-truth fit (docs/occupancy.md, "Where the chamois excess comes from").
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

import occupancy.inference
import occupancy.model
from occupancy.checks import CHECK_COLUMNS


def own_label_moments(sequences: pd.DataFrame, species: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Mean and negative-binomial overdispersion (variance = mean + d mean^2, floored at 1e-3) of each species'
    sequences labelled as it per site-occasion it used. `sequences`: one row per sequence with site, occasion,
    `label_class` (the classifier's) and `truth_classes` (the human labels' classes, a tuple), as
    `occupancy.sequences.sequence_table` writes them with every sequence verified."""
    moments = {}
    for s in species:
        own = (sequences[_shows(sequences, s)].assign(hit=lambda d, s=s: d["label_class"] == s)
               .groupby(["site", "occasion"])["hit"].sum())
        mean, var = float(own.mean()), float(own.var())
        moments[s] = (mean, max((var - mean) / mean ** 2, 1e-3))
    return moments


def false_label_rates(sequences: pd.DataFrame, species: Sequence[str]) -> dict[str, float]:
    """Each species' share of the sequences that do not show it that carry its classifier label: the model's
    `false_rate` as the labels of every sequence (same frame as `own_label_moments`) show it."""
    return {s: float((sequences.loc[~_shows(sequences, s), "label_class"] == s).mean()) for s in species}


def _shows(sequences: pd.DataFrame, species: str) -> pd.Series:
    """Whether each sequence's human labels show the species."""
    return sequences["truth_classes"].map(lambda t: species in t)


@contextmanager
def own_labels_fixed(moments: Mapping[str, tuple[float, float]], false_rates: Mapping[str, float] | None = None):
    """Inside the block, every model built holds true_label_mean / _dispersion at `moments` (and, if given,
    false_rate at `false_rates`), recorded as Deterministics so summaries and the planner read them; fits skip
    the predictive check (it draws the free parameters only)."""
    build, check = occupancy.model._classifier_parameters, occupancy.inference.detection_frequency_check

    def fixed(prior):
        model = pm.modelcontext(None)
        species = list(model.coords["species"])
        missing = sorted(set(species) - (set(moments) & set(false_rates or moments)))
        if missing:
            raise ValueError(f"own-label moments or false-label rates missing for {missing}")
        mean = pm.Deterministic("true_label_mean", pt.as_tensor(np.array([moments[s][0] for s in species])),
                                dims="species")
        disp = pm.Deterministic("true_label_dispersion", pt.as_tensor(np.array([moments[s][1] for s in species])),
                                dims="species")
        if false_rates is None:
            false_rate = pm.Beta("false_rate", alpha=prior.false_rate[0], beta=prior.false_rate[1], dims="species")
        else:
            false_rate = pm.Deterministic("false_rate", pt.as_tensor(np.array([false_rates[s] for s in species])),
                                          dims="species")
        false_dispersion = occupancy.model.half_normal("false_label_dispersion", prior.dispersion_sd, "species")
        return mean, disp, false_rate, false_dispersion, None

    occupancy.model._classifier_parameters = fixed
    occupancy.inference.detection_frequency_check = lambda *a, **k: (pd.DataFrame(columns=CHECK_COLUMNS), {})
    try:
        yield
    finally:
        occupancy.model._classifier_parameters, occupancy.inference.detection_frequency_check = build, check
