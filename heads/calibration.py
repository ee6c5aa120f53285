"""Temperature scaling (Guo et al. 2017), NLL, expected calibration error and reliability diagrams.

Fit T on validation *sequence* logits (log of pooled probabilities works: softmax(log p / T) is p**(1/T)
renormalised), then report ECE before/after. Calibrated probabilities are what the occupancy model reads.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import special
from sklearn.metrics import log_loss

log = logging.getLogger(__name__)


def fit_temperature(logits: np.ndarray, y: np.ndarray, max_iter: int = 100) -> float:
    """Temperature T > 0 minimising the NLL of softmax(logits / T) on (logits, y), by LBFGS on log T."""
    logits, y = _check(logits, y)
    z = torch.as_tensor(logits, dtype=torch.float64)
    target = torch.tensor(np.array(y), dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), target)
        loss.backward()
        return loss

    opt.step(closure)
    temperature = float(log_t.detach().exp())
    if not np.isfinite(temperature):
        raise RuntimeError("temperature fit diverged; are the validation logits finite and labels right?")
    return temperature


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities softmax(logits / T)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return special.softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


class TemperatureScaler:
    """scikit-learn style wrapper: `fit(logits, y)` learns `temperature_`, `predict_proba(logits)` applies it."""

    def __init__(self, max_iter: int = 100):
        self.max_iter = max_iter

    def fit(self, logits: np.ndarray, y: np.ndarray) -> "TemperatureScaler":
        self.temperature_ = fit_temperature(logits, y, self.max_iter)
        log.info("temperature scaling: T = %.3f", self.temperature_)
        return self

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        return apply_temperature(logits, self.temperature_)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (scikit-learn's log loss over all classes)."""
    probs, y = _check(probs, y)
    return float(log_loss(y, probs, labels=np.arange(probs.shape[1])))


def reliability_table(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """Equal-width confidence bins (lo, hi] (Guo et al. 2017): count, mean confidence and accuracy of the
    top-1 answer. The one binning behind every ECE the project reports (metrics.json, plots, heads)."""
    probs, y = _check(probs, y)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = bins == b
        rows.append({"bin": b, "lo": b / n_bins, "hi": (b + 1) / n_bins, "count": int(inside.sum()),
                     "confidence": float(confidence[inside].mean()) if inside.any() else np.nan,
                     "accuracy": float(correct[inside].mean()) if inside.any() else np.nan})
    return pd.DataFrame(rows)


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error: sum over bins of (bin share) * |accuracy - mean confidence|."""
    table = reliability_table(probs, y, n_bins)
    filled = table[table["count"] > 0]
    gaps = (filled["accuracy"] - filled["confidence"]).abs()
    return float((filled["count"] * gaps).sum() / filled["count"].sum())


def plot_reliability(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike,
                     n_bins: int = 15, title: str = "Reliability diagram") -> Path:
    """PNG with one accuracy-vs-confidence curve per entry of `curves` ({name: (probs, y)}), ECE in the legend."""
    from matplotlib.figure import Figure  # object API: a notebook's backend is left alone

    from core.runs import save_figure

    fig = Figure(figsize=(4.5, 4.5), dpi=120)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for name, (probs, y) in curves.items():
        table = reliability_table(probs, y, n_bins).dropna()
        ax.plot(table["confidence"], table["accuracy"], marker="o", label=f"{name} (ECE {ece(probs, y, n_bins):.3f})")
    ax.set(xlabel="confidence of the top answer", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)  # 120 dpi, as the figure


def _check(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    if scores.ndim != 2 or len(scores) == 0:
        raise ValueError(f"scores must have shape (N, classes) with N > 0, got {scores.shape}")
    if y.shape != (len(scores),):
        raise ValueError(f"y must hold one class index per row ({len(scores)}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= scores.shape[1]:
        raise ValueError(f"y must be integer class indices in [0, {scores.shape[1]})")
    if not np.isfinite(scores).all():
        raise ValueError(f"scores hold {int((~np.isfinite(scores)).sum())} NaN/inf value(s)")
    return scores, y
