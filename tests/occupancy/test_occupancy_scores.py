"""Score evidence at the sequence level: subset products against enumeration, limits, assembly into streams."""
import itertools
import logging

import numpy as np
import pandas as pd
import pytest

from occupancy.histories import OccasionSpec, normalise_species_map
from occupancy.scores import NO_SUBSET, log_mean_subset_products, score_evidence
from occupancy.streams import assemble

SPECIES = {"lynx": "lynx", "deer": "chevreuil"}


def test_subset_products_match_enumeration():
    log_l = np.random.default_rng(3).normal(0, 2, size=(6, 2))
    out = log_mean_subset_products(log_l, max_size=8)
    for x in range(1, 7):
        sets = list(itertools.combinations(range(6), x))
        expected = np.log(np.mean([np.exp(log_l[list(a)].sum(0)) for a in sets], axis=0))
        np.testing.assert_allclose(out[x - 1], expected, rtol=1e-10)
    assert (out[6:] == NO_SUBSET).all()  # no set of 7 or 8 among 6 sequences
    # truncated to 3: the same first rows, the sums do not need the larger sets
    np.testing.assert_allclose(log_mean_subset_products(log_l, max_size=3), out[:3], rtol=1e-12)


def test_score_evidence_limits_and_units():
    scores = pd.DataFrame({
        "site": ["A", "A", "B", "B", "C"], "occasion": ["1", "1", "1", "2", "1"],
        "p_lynx": [0.999999, 0.2, 0.2, 0.2, 0.2], "p_chevreuil": [0.0, 0.2, 0.2, 0.2, 0.2],
        "p_humain": [0.000001, 0.6, 0.6, 0.6, 0.6],
    })
    ev = score_evidence(scores, normalise_species_map(SPECIES), ["A", "B", "C"], ["1", "2"],
                        prior={"lynx": 0.2, "deer": 0.2})
    assert ev.unit_site.tolist() == [0, 1, 1, 2] and ev.unit_occasion.tolist() == [0, 0, 1, 0]
    assert ev.n_sequences.tolist() == [2, 1, 1, 1] and ev.log_mean_products.shape == (2, 4, 2)
    assert ev.log_mean_products[0, 0, 0] > 10  # a near-certain lynx sequence: strong evidence for one of two
    np.testing.assert_allclose(ev.log_mean_products[:, 1:, 0], 0.0, atol=1e-9)  # scores at the base rate: none
    assert (ev.log_mean_products[:, 1:, 1] == NO_SUBSET).all()  # one sequence cannot be two of the species'
    with pytest.raises(ValueError, match="no column for species 'deer'"):
        score_evidence(scores.drop(columns="p_chevreuil"), normalise_species_map(SPECIES), ["A"], ["1"])
    with pytest.raises(ValueError, match="missing probabilities"):
        score_evidence(scores.assign(p_lynx=[np.nan, 0.2, 0.2, 0.2, 0.2]), normalise_species_map(SPECIES), ["A"], ["1"])


def test_scores_stream_reads_units_and_certain_zeros(caplog):
    manual = pd.DataFrame({"site": ["J", "J"], "occasion": ["1", "2"], "label": ["lynx", "chevreuil"]})
    scores = pd.DataFrame({"site": ["A", "A", "J"], "occasion": ["1", "1", "1"],
                           "p_lynx": [0.9, 0.1, 0.5], "p_chevreuil": [0.05, 0.1, 0.2], "p_humain": [0.05, 0.8, 0.3]})
    with caplog.at_level(logging.WARNING):
        data = assemble(manual, SPECIES, "scores", truth_col="label", scores=scores, occasions=OccasionSpec(kind="column"))
    assert data.sites == ("A", "J")
    # A's first occasion is read from its two scored sequences; its second, active but without any, is a certain zero
    assert data.scores.unit_site.tolist() == [0] and data.scores.n_sequences.tolist() == [2]
    assert np.isnan(data.y[:, 0, 0]).all() and data.y[:, 0, 1].tolist() == [0, 0]
    # J keeps its human labels; the score row there is left out, with a warning
    assert data.y[:, 1].tolist() == [[1, 0], [0, 1]] and "human labels are used there" in caplog.text


def test_overwhelming_evidence_keeps_the_gradient_finite():
    """A site-month with 120 sequences that all look like lynx: LR about e^900, beyond float range; the
    model's terms are scaled by a constant of the data, so the log density and its gradient stay finite."""
    from occupancy.histories import DetectionData
    from occupancy.model import ModelSpec, build_model
    from occupancy.scores import ScoreEvidence

    log_l = np.column_stack([np.full(120, 8.0), np.full(120, -3.0)])
    ev = ScoreEvidence(np.array([0]), np.array([0]), np.array([120.0]), log_mean_subset_products(log_l, 150).T[:, None, :])
    y = np.array([[[np.nan, 0.0], [1.0, 0.0]], [[np.nan, 1.0], [0.0, 0.0]]])
    model = build_model(DetectionData(("lynx", "deer"), ("A", "B"), ("1", "2"), y, scores=ev), ModelSpec()).model
    point = model.initial_point()
    assert np.isfinite(model.compile_logp()(point))
    assert np.isfinite(model.compile_dlogp()(point)).all()
