"""Classification metrics from probabilities: plain arrays in, plain dicts out.

`classification_report(probs, y, classes)` gives everything `metrics.json` holds for one level
(images or sequences): accuracy, top-3, macro-F1, per-class precision/recall/F1/support,
confusion matrix, most-confused pairs, expected calibration error, NLL and mistake severity.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, top_k_accuracy_score

from heads import calibration


def _check(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    if probs.ndim != 2 or len(probs) != len(y):
        raise ValueError(f"probs must be (n, classes) with n = len(y); got {probs.shape} and {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= probs.shape[1]):
        raise ValueError(f"labels must be class indices in [0, {probs.shape[1]}), got {y.min()}..{y.max()}")
    return probs, y.astype(int)


def accuracy(probs, y) -> float:
    probs, y = _check(probs, y)
    return float(accuracy_score(y, probs.argmax(1))) if len(y) else float("nan")


def top_k_accuracy(probs, y, k: int = 3) -> float:
    probs, y = _check(probs, y)
    if not len(y):
        return float("nan")
    if k >= probs.shape[1]:
        return 1.0
    if k == 1:  # also scikit-learn's two-class case, which it reads as binary scores
        return accuracy(probs, y)
    return float(top_k_accuracy_score(y, probs, k=k, labels=np.arange(probs.shape[1])))


def nll(probs, y) -> float:
    probs, y = _check(probs, y)
    return calibration.nll(probs, y) if len(y) else float("nan")


def expected_calibration_error(probs, y, n_bins: int = 15) -> float:
    """Top-label ECE, the bins of `heads.calibration.reliability_table` (the reliability plot's too)."""
    probs, y = _check(probs, y)
    return calibration.ece(probs, y, n_bins) if len(y) else float("nan")


def most_confused(cm: np.ndarray, classes: Sequence[str], n: int = 10) -> list[dict[str, Any]]:
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:n]
    pairs = [np.unravel_index(i, off.shape) for i in order]
    return [{"true": classes[i], "predicted": classes[j], "count": int(off[i, j])} for i, j in pairs if off[i, j] > 0]


def classification_report(probs, y, classes: Sequence[str], taxonomy=None, n_bins: int = 15) -> dict[str, Any]:
    """All metrics for one level (images or sequences)."""
    probs, y = _check(probs, y)
    labels = np.arange(len(classes))
    pred = probs.argmax(1)
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    present = support > 0  # macro-F1 over classes present in this split, as scikit-learn's default
    cm = confusion_matrix(y, pred, labels=labels)
    report = {
        "n": int(len(y)),
        "accuracy": accuracy(probs, y),
        "top3_accuracy": top_k_accuracy(probs, y, 3),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "ece": expected_calibration_error(probs, y, n_bins),
        "nll": nll(probs, y),
        "per_class": {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for c, p, r, f, s in zip(classes, precision, recall, f1, support)},
        "confusion_matrix": cm.tolist(),
        "most_confused": most_confused(cm, classes),
    }
    if taxonomy is not None:
        from heads.taxonomy import mistake_severity, severity_summary

        names = np.asarray(classes, dtype=object)
        report["mistake_severity"] = severity_summary(mistake_severity(names[y], names[pred], taxonomy))
    return report
