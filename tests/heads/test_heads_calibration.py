import numpy as np
import pytest
import torch

from heads.calibration import (TemperatureScaler, apply_temperature, ece, fit_temperature, nll, plot_reliability,
                               reliability_table)




@pytest.fixture(scope="module")
def overconfident():
    """Labels drawn from softmax(z); the model reports 3 * z, i.e. is 3x overconfident."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 5)) * 1.5
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(5, p=row) for row in p])
    return 3.0 * z, y


def test_temperature_recovers_the_scale_and_lowers_nll(overconfident):
    logits, y = overconfident
    t = fit_temperature(logits, y)
    assert t == pytest.approx(3.0, rel=0.1)
    before, after = apply_temperature(logits, 1.0), apply_temperature(logits, t)
    assert nll(after, y) < nll(before, y) - 0.1
    assert ece(after, y) < 0.03 < ece(before, y)
    scaler = TemperatureScaler().fit(logits, y)
    assert scaler.temperature_ == pytest.approx(t)
    assert scaler.predict_proba(logits) == pytest.approx(after)


def test_ece_by_hand():
    probs = np.array([[0.95, 0.03, 0.02], [0.65, 0.30, 0.05], [0.85, 0.10, 0.05], [0.15, 0.75, 0.10],
                      [0.45, 0.30, 0.25]])
    y = np.array([0, 1, 0, 1, 1])
    # bin (0.5, 1]: confidences .95 .65 .85 .75 (mean .8), 3 of 4 right (.75): gap .05
    # bin (0, 0.5]: confidence .45, wrong: gap .45.   ECE = (4 * .05 + 1 * .45) / 5 = .13
    assert ece(probs, y, n_bins=2) == pytest.approx(0.13)
    table = reliability_table(probs, y, n_bins=2)
    assert table["count"].tolist() == [1, 4]
    assert table["accuracy"].tolist() == pytest.approx([0.0, 0.75])
    assert nll(np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([0, 1])) == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2)


def test_reliability_png(tmp_path, overconfident):
    logits, y = overconfident
    path = plot_reliability({"before": (apply_temperature(logits, 1.0), y), "after": (apply_temperature(logits, 3.0), y)},
                            tmp_path / "reliability.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["reliability.png"]  # no temporary file left behind


def test_bad_inputs():
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError, match="class indices"):
        fit_temperature(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(ValueError, match="one class index per row"):
        ece(np.full((3, 2), 0.5), np.array([0, 1]))
    with pytest.raises(ValueError, match="NaN"):
        fit_temperature(np.array([[0.0, np.nan]]), np.array([0]))
