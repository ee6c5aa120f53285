import numpy as np
import pandas as pd
import pytest

from core.paths import sample_dir
from heads.rollup import crm_cost_matrix, rollup, rollup_severity, rollup_summary
from heads.taxonomy import load_taxonomy

TAX = load_taxonomy(sample_dir("lynx") / "taxonomy.csv")
SIX = ["chat", "lynx", "chien", "renard", "chevreuil", "humain"]


def _one(probs, classes=SIX, **kw):
    out = rollup(np.array([probs]), classes, TAX, **kw)
    return out.loc[0, "prediction"], out.loc[0, "level"], out.loc[0, "score"]


def test_speciesnet_keeps_a_confident_class():
    assert _one([0.9, 0.05, 0.05, 0, 0, 0]) == ("chat", "label", pytest.approx(0.9))


def test_speciesnet_rolls_up_to_family_then_order():
    assert _one([0.40, 0.35, 0.10, 0.10, 0.05, 0.0]) == ("Felidae", "family", pytest.approx(0.75))
    assert _one([0.30, 0.20, 0.20, 0.15, 0.10, 0.05]) == ("Carnivora", "order", pytest.approx(0.85))


def test_speciesnet_sums_only_the_top_five():
    classes = ["chevreuil", "chat", "lynx", "chien", "renard", "blaireaux", "humain"]
    # all five carnivores hold 0.70 > 0.65, but only four of them are in the top five (0.56)
    probs = [0.20, 0.14, 0.14, 0.14, 0.14, 0.14, 0.10]
    assert _one(probs, classes) == ("Mammalia", "class", pytest.approx(0.76))


def test_speciesnet_unknown_when_no_level_passes():
    assert _one([0.3, 0.4, 0.3], ["chat", "humain", "oiseaux"]) == ("unknown", "none", pytest.approx(1.0))


def test_crm_cost_matrix_by_hand():
    cost, candidates = crm_cost_matrix(["chat", "lynx", "chien"], TAX, coarse_cost=0.25)
    assert [(t.name, t.level_name) for t in candidates] == [
        ("chat", "label"), ("lynx", "label"), ("chien", "label"),
        ("Felidae", "family"), ("Carnivora", "order"), ("Mammalia", "class")]
    assert cost.tolist() == [[0, 2, 3, 0.5, 0.75, 1.0], [2, 0, 3, 0.5, 0.75, 1.0], [3, 3, 0, 3, 0.75, 1.0]]


@pytest.mark.parametrize("probs, expected", [
    ([0.9, 0.1, 0.0], ("chat", "label")),         # risks: chat 0.2 < Felidae 0.5
    ([0.5, 0.5, 0.0], ("Felidae", "family")),     # chat 1.0, Felidae 0.5
    ([0.4, 0.3, 0.3], ("Carnivora", "order")),    # Felidae 1.25, Carnivora 0.75
])
def test_crm_picks_the_least_risky_answer(probs, expected):
    assert _one(probs, ["chat", "lynx", "chien"], kind="crm", coarse_cost=0.25)[:2] == expected


def test_crm_without_roll_up_is_karthik_leaf_crm():
    # arg-max says chien, but chat's neighbour lynx makes chat the cheaper mistake:
    # risk(chat) = 0.17*2 + 0.43*3 = 1.63 < risk(chien) = (0.40 + 0.17)*3 = 1.71
    probs = [0.40, 0.17, 0.43]
    assert _one(probs, ["chat", "lynx", "chien"], kind="none")[0] == "chien"
    assert _one(probs, ["chat", "lynx", "chien"], kind="crm", coarse_cost=1.0)[:2] == ("chat", "label")


def test_severity_of_rolled_up_answers():
    preds = pd.DataFrame({"prediction": ["Felidae", "Canidae", "lynx", "unknown", "chat"],
                          "level": ["family", "family", "label", "none", "label"], "score": [1.0] * 5})
    truth = ["chat", "chat", "chat", "chat", "chat"]
    assert rollup_severity(truth, preds, ["chat", "lynx", "chien"], TAX).tolist() == [0, 3, 2, 0, 0]
    summary = rollup_summary(truth, preds, ["chat", "lynx", "chien"], TAX)
    assert summary["accuracy_in_taxon"] == pytest.approx(0.6)
    assert summary["exact_accuracy"] == pytest.approx(0.2)
    assert summary["share_family"] == pytest.approx(0.4)
    assert summary["mean_mistake_severity"] == pytest.approx(2.5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        rollup(np.ones((2, 3)), SIX, TAX)
    with pytest.raises(ValueError, match="NaN"):
        rollup(np.full((1, 6), np.nan), SIX, TAX)
    with pytest.raises(ValueError, match="kind"):
        rollup(np.ones((1, 6)) / 6, SIX, TAX, kind="magic")
