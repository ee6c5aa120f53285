import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import heads
from heads.smoothing import TaxonomicLabelSmoothingLoss, smoothing_matrix
from heads.taxonomy import Taxonomy

# class a and one relative at each distance: b same genus, c same family, d same order, e same class, f unrelated
LADDER = Taxonomy(pd.DataFrame({
    "label":   ["a",  "b",  "c",  "d",  "e",  "f"],
    "species": ["a",  "b",  "c",  "d",  "e",  "f"],
    "genus":   ["G1", "G1", "G2", "G3", "G4", ""],
    "family":  ["F1", "F1", "F1", "F2", "F3", ""],
    "order":   ["O1", "O1", "O1", "O1", "O2", ""],
    "class":   ["C1", "C1", "C1", "C1", "C1", "C9"],
}))
CLASSES = ["a", "b", "c", "d", "e", "f"]


def test_taxonomic_targets_by_hand():
    targets = smoothing_matrix(LADDER.distance_matrix(CLASSES), eps=0.31, decay=0.5)
    # weights 1, 1/2, 1/4, 1/8, 1/16 sum to 1.9375 and 0.31 / 1.9375 = 0.16
    assert targets[0] == pytest.approx([0.69, 0.16, 0.08, 0.04, 0.02, 0.01])
    assert targets.sum(axis=1) == pytest.approx(np.ones(6))
    assert np.diag(targets) == pytest.approx(np.full(6, 0.69))


@pytest.mark.parametrize("decay", [0.2, 0.5, 0.9])
def test_mass_decreases_with_taxonomic_distance(decay):
    row = smoothing_matrix(LADDER.distance_matrix(CLASSES), eps=0.2, decay=decay)[0]
    assert row[1] > row[2] > row[3] > row[4] > row[5] > 0


def test_uniform_case_is_torch_label_smoothing():
    torch.manual_seed(0)
    logits, y = torch.randn(7, 6), torch.tensor([0, 1, 2, 3, 4, 5, 1])
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    eps, n = 0.2, 6
    distance = LADDER.distance_matrix(CLASSES)
    for w in (None, weight):
        ours = TaxonomicLabelSmoothingLoss(distance, eps=eps, decay=1.0, weight=w)(logits, y)
        theirs = F.cross_entropy(logits, y, weight=w, label_smoothing=eps * n / (n - 1))
        assert float(ours) == pytest.approx(float(theirs), rel=1e-6)


def test_loss_of_uniform_logits_is_log_c_and_gradients_flow():
    loss_fn = TaxonomicLabelSmoothingLoss(LADDER.distance_matrix(CLASSES), eps=0.1, decay=0.5)
    logits = torch.zeros(4, 6, requires_grad=True)
    loss = loss_fn(logits, torch.tensor([0, 2, 4, 5]))
    assert float(loss.detach()) == pytest.approx(np.log(6))
    loss.backward()
    # gradient of CE wrt logits is p - q: 1/6 - 0.9 for the true class
    assert float(logits.grad[0, 0]) == pytest.approx((1 / 6 - 0.9) / 4)


def test_bad_inputs_raise_clear_errors():
    d = LADDER.distance_matrix(CLASSES)
    with pytest.raises(ValueError, match="eps"):
        smoothing_matrix(d, eps=1.0)
    with pytest.raises(ValueError, match="decay"):
        smoothing_matrix(d, eps=0.1, decay=0.0)
    loss_fn = TaxonomicLabelSmoothingLoss(d, eps=0.1)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        loss_fn(torch.zeros(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="target labels"):
        loss_fn(torch.zeros(2, 6), torch.tensor([0, 6]))
    with pytest.raises(ValueError, match="weight"):
        TaxonomicLabelSmoothingLoss(d, weight=[1.0, 2.0])


def test_build_loss_from_config():
    assert isinstance(heads.build_loss({"smoothing": {"kind": "none"}}, CLASSES), torch.nn.CrossEntropyLoss)
    loss = heads.build_loss({"smoothing": {"kind": "taxonomic", "eps": 0.31, "decay": 0.5}}, CLASSES, LADDER)
    assert loss.targets[0].tolist() == pytest.approx([0.69, 0.16, 0.08, 0.04, 0.02, 0.01])
    uniform = heads.build_loss({"smoothing": {"kind": "uniform", "eps": 0.25}}, CLASSES)
    assert uniform.targets[0].tolist() == pytest.approx([0.75] + [0.05] * 5)
    with pytest.raises(ValueError, match="taxonomy"):
        heads.build_loss({"smoothing": {"kind": "taxonomic"}}, CLASSES)
