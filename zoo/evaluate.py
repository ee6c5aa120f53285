"""Evaluate frame logits of one split at image and sequence level, and draw the figures."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from heads.calibration import apply_temperature
from heads.pooling import pool
from zoo.metrics import classification_report


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def sequence_table(records: pd.DataFrame, logits: np.ndarray, classes: Sequence[str], pooling: str = "mean_probs",
                   temperature: float = 1.0) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per sequence (sequence_id, site, camera, timestamp, n_frames, label) and its pooled probs.

    The sequence's true label is its frames' most common non-empty label.
    """
    scaled = np.asarray(logits, dtype=np.float64) / temperature  # pool() takes logits
    ids, probs = pool(scaled, records["sequence_id"].to_numpy(), pooling, frame=records["frame"].to_numpy())
    grouped = records.groupby("sequence_id", sort=True)
    meta = pd.DataFrame({
        "area": grouped["area"].first() if "area" in records else "",
        "site": grouped["site"].first(), "camera": grouped["camera"].first(),
        "timestamp": grouped["timestamp"].min(), "n_frames": grouped.size(),
        "label": grouped["label"].agg(lambda s: s[s != ""].mode().iloc[0] if (s != "").any() else ""),
    }).reindex(ids)
    meta.index.name = "sequence_id"
    return meta.reset_index(), probs


def evaluate_split(records: pd.DataFrame, logits: np.ndarray, classes: Sequence[str], *, pooling: str = "mean_probs",
                   temperature: float = 1.0, taxonomy=None) -> dict[str, Any]:
    """Image and sequence metrics of one split (only records whose label is a known class)."""
    index = {c: i for i, c in enumerate(classes)}
    known = records["label"].isin(index).to_numpy()
    records, logits = records[known], logits[known]
    y = records["label"].map(index).to_numpy()
    probs = apply_temperature(logits, temperature)
    seq_meta, seq_probs = sequence_table(records, logits, classes, pooling, temperature)
    seq_y = seq_meta["label"].map(index).to_numpy()
    return {
        "image": classification_report(probs, y, classes, taxonomy),
        "sequence": classification_report(seq_probs, seq_y, classes, taxonomy) | {"pooling": pooling},
        "n_unknown_label": int((~known).sum()),
    }


def prediction_frame(records: pd.DataFrame, probs: np.ndarray, classes: Sequence[str],
                     keep: Sequence[str] = ("media_id", "path", "split", "site", "camera", "timestamp", "sequence_id", "label")) -> pd.DataFrame:
    """Records' identifying columns, then pred, confidence and one `p_<class>` column per class."""
    out = records[[c for c in keep if c in records]].reset_index(drop=True).copy()
    out["pred"] = np.asarray(classes, dtype=object)[probs.argmax(1)]
    out["confidence"] = probs.max(1)
    return pd.concat([out, pd.DataFrame(probs, columns=[f"p_{c}" for c in classes])], axis=1)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(1 + 0.5 * len(classes), 1 + 0.45 * len(classes)))
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_history(history: pd.DataFrame, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(history["epoch"], history["train_loss"], label="train")
    left.plot(history["epoch"], history["valid_loss"], label="valid")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    right.plot(history["epoch"], history["valid_accuracy"])
    right.set_xlabel("epoch")
    right.set_ylabel("valid accuracy (images)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
