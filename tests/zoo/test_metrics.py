"""Metrics against values computed by hand."""
import numpy as np
import pytest

from core.paths import sample_dir
from heads.taxonomy import load_taxonomy
from heads import calibration
from zoo.metrics import classification_report, expected_calibration_error, nll, top_k_accuracy

CLASSES = ["lynx", "chat", "renard", "humain"]
PROBS = np.array([
    [0.7, 0.2, 0.1, 0.0],   # lynx, right
    [0.6, 0.3, 0.1, 0.0],   # chat, predicted lynx (same family: severity 2), chat 2nd
    [0.1, 0.1, 0.2, 0.6],   # renard, predicted humain (unrelated: 5), renard 2nd
    [0.0, 0.1, 0.1, 0.8],   # humain, right
])
Y = np.array([0, 1, 2, 3])


def test_report_matches_hand_computation():
    r = classification_report(PROBS, Y, CLASSES, taxonomy=load_taxonomy(sample_dir("lynx") / "taxonomy.csv"))
    assert r["accuracy"] == 0.5
    assert r["top3_accuracy"] == 1.0
    # F1: lynx P=1/2 R=1 -> 2/3; chat 0; renard 0; humain P=1/2 R=1 -> 2/3
    assert r["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 4)
    assert r["nll"] == pytest.approx(-np.mean(np.log([0.7, 0.3, 0.2, 0.8])))
    assert r["confusion_matrix"][1][0] == 1 and r["confusion_matrix"][2][3] == 1
    assert {(m["true"], m["predicted"]) for m in r["most_confused"]} == {("chat", "lynx"), ("renard", "humain")}
    assert r["per_class"]["lynx"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert r["mistake_severity"]["mistakes_at_family"] == 1 and r["mistake_severity"]["mistakes_at_unrelated"] == 1


def test_ece_by_hand():
    # two bins with 15 bins: conf 0.7 (bin 10) holds rows 0 (right); 0.6 (bin 9) rows 1 (wrong), 2 (wrong); 0.8 (bin 12) row 3 (right)
    expected = 0.25 * abs(1 - 0.7) + 0.5 * abs(0 - 0.6) + 0.25 * abs(1 - 0.8)
    assert expected_calibration_error(PROBS, Y, n_bins=15) == pytest.approx(expected)


def test_top1_equals_accuracy_and_bad_shapes_fail():
    assert top_k_accuracy(PROBS, Y, 1) == 0.5
    with pytest.raises(ValueError, match="class indices"):
        nll(PROBS, np.array([0, 1, 2, 7]))
    with pytest.raises(ValueError, match="probs must be"):
        nll(PROBS[:3], Y)


def test_one_ece_for_metrics_and_reliability_plot():
    # the case where the two old binnings disagreed (0.34 vs 0.30): (lo, hi] bins, Guo et al. 2017
    p1 = np.array([0.6, 0.6, 0.8, 0.8, 0.7])
    probs, y = np.stack([1 - p1, p1], axis=1), np.array([0, 1, 0, 0, 1])
    by_hand = 0.4 * abs(0.5 - 0.6) + 0.6 * abs(1 / 3 - (0.8 + 0.8 + 0.7) / 3)
    assert expected_calibration_error(probs, y, n_bins=5) == pytest.approx(by_hand) == pytest.approx(0.30)
    assert classification_report(probs, y, ["a", "b"], n_bins=5)["ece"] == calibration.ece(probs, y, n_bins=5)
    table = calibration.reliability_table(probs, y, n_bins=5)
    filled = table[table["count"] > 0]
    assert (filled["count"] * (filled["accuracy"] - filled["confidence"]).abs()).sum() / 5 == pytest.approx(by_hand)


def test_metrics_agree_with_scikit_learn():
    from sklearn.metrics import log_loss, top_k_accuracy_score

    assert nll(PROBS + 1e-9, Y) == pytest.approx(log_loss(Y, PROBS + 1e-9, labels=range(4)))
    assert top_k_accuracy(PROBS, Y, 2) == top_k_accuracy_score(Y, PROBS, k=2, labels=range(4))
