"""Evaluate frame logits of one split at image and sequence level, and draw the figures."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay

from heads.pipeline import HeadPipeline, sequence_targets
from heads.rollup import rollup_summary
from zoo.metrics import classification_report
from core.runs import save_figure


def sequence_meta(records: pd.DataFrame, sequence_ids: Sequence | None = None, empty_class: str | None = None) -> pd.DataFrame:
    """One row per sequence (sequence_id, area, site, camera, timestamp, n_frames, label), sorted by id or in
    the order of `sequence_ids`. The true label is `heads.pipeline.sequence_targets` (zoo.data's rule)."""
    grouped = records.groupby("sequence_id", sort=True)
    ids, labels = sequence_targets(records["label"].to_numpy(), records["sequence_id"].to_numpy(), empty_class)
    meta = pd.DataFrame({
        "area": grouped["area"].first() if "area" in records else "",
        "site": grouped["site"].first(), "camera": grouped["camera"].first(),
        "timestamp": grouped["timestamp"].min(), "n_frames": grouped.size(),
    })
    meta["label"] = pd.Series(labels, index=ids)
    meta = meta.reindex(ids if sequence_ids is None else sequence_ids)
    meta.index.name = "sequence_id"
    return meta.reset_index()


def sequence_table(records: pd.DataFrame, logits: np.ndarray, classes: Sequence[str], pooling: str = "mean_probs",
                   temperature: float = 1.0) -> tuple[pd.DataFrame, np.ndarray]:
    """`sequence_meta` and pooled probabilities of softmax(logits / T) (a head without prior or roll-up)."""
    head = HeadPipeline.from_temperature(classes, temperature, pooling)
    out = head.transform(logits, records)
    return sequence_meta(records, out.sequence_ids), out.sequence_probs


def evaluate_split(records: pd.DataFrame, logits: np.ndarray, classes: Sequence[str], *, head: HeadPipeline | None = None,
                   pooling: str = "mean_probs", temperature: float = 1.0, calibrate: bool = True, taxonomy=None,
                   n_bins: int = 15) -> dict[str, Any]:
    """Image and sequence metrics of one split (only records whose label is a known class) through a fitted
    `head` (else temperature and pooling alone); `calibrate=False`: the head with T = 1."""
    head = head if head is not None else HeadPipeline.from_temperature(classes, temperature, pooling)
    index = {c: i for i, c in enumerate(classes)}
    known = records["label"].isin(index).to_numpy()
    records, logits = records[known], logits[known]
    y = records["label"].map(index).to_numpy()
    out = head.transform(logits, records, calibrate=calibrate)
    seq_meta = sequence_meta(records, out.sequence_ids, head.empty_class)
    seq_y = seq_meta["label"].map(index).to_numpy()
    sequence = classification_report(out.sequence_probs, seq_y, classes, taxonomy, n_bins) | {"pooling": head.pooling}
    if out.rollup is not None and len(seq_y):
        sequence["rollup"] = rollup_summary(seq_meta["label"].to_numpy(), out.rollup, classes, head.taxonomy)
    return {
        "image": classification_report(out.image_probs, y, classes, taxonomy, n_bins),
        "sequence": sequence,
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
    """Counts, coloured by their share of the true class's row (recall), scikit-learn's display."""
    cm = np.asarray(cm)
    n = len(classes)
    fig = Figure(figsize=(1.5 + 0.5 * n, 1.2 + 0.45 * n))
    ax = fig.subplots()
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    ConfusionMatrixDisplay(rates, display_labels=list(classes)).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=60, include_values=False, im_kw={"vmin": 0, "vmax": 1})
    for i, j in zip(*np.nonzero(cm)):
        ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7, color="white" if rates[i, j] > 0.5 else "black")
    ax.tick_params(labelsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_history(history: pd.DataFrame, path: str | Path) -> Path:
    fig = Figure(figsize=(9, 3.2))
    left, right = fig.subplots(1, 2)
    left.plot(history["epoch"], history["train_loss"], label="train")
    left.plot(history["epoch"], history["valid_loss"], label="valid")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    right.plot(history["epoch"], history["valid_accuracy"])
    right.set_xlabel("epoch")
    right.set_ylabel("valid accuracy (images)")
    fig.tight_layout()
    return save_figure(fig, path)
