"""Sequence pooling: one class distribution per camera-trap burst from its frames' outputs.

Kinds: `mean_probs`, `mean_logits`, `max_conf`, `attention` (learned), and `first` (the first frame only:
the Serengeti benchmark's baseline).

The rule that keeps empty frames from drowning an animal frame (all kinds except `first`):
- each frame f gets an animal weight a_f = 1 - p_f(empty) from the classifier's empty class, or the
  detector confidence passed as `frame_weights` (as animl does); with neither, a_f = 1;
- the sequence's empty probability is the geometric mean of the frames' empty probabilities (the
  Serengeti winners' rule): one confident animal frame pulls it down, two empty frames cannot outvote it;
- the remaining mass 1 - p(empty) is shared among the other classes by a distribution pooled from the
  frames' animal-only distributions, each frame weighted by a_f (for `max_conf`: taken from the frame
  with the most confident non-empty class; for `attention`: weights softmax(score_f + log a_f)).
For `mean_probs` with the classifier's own a_f, the pooled animal distribution is simply the frames'
animal probabilities summed and renormalised, so a frame that is 99% empty adds almost nothing.

Inputs are frame logits (or log-probabilities, which softmax treats the same); outputs are
probabilities, one row per sequence, sequences in sorted order.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

KINDS = ("mean_probs", "mean_logits", "max_conf", "first", "attention")
_TINY = 1e-12


def pool(logits: np.ndarray, sequence_ids: Sequence, kind: str = "mean_probs", *, frame: Sequence | None = None,
         empty_index: int | None = None, frame_weights: Sequence[float] | None = None,
         attention: "AttentionPooling | None" = None) -> tuple[np.ndarray, np.ndarray]:
    """Pool frame logits (N, C) into sequence probabilities (S, C); returns (sorted sequence ids, probs).

    frame: order of frames within a sequence (for `first`); defaults to the input order.
    empty_index: column of the "no animal" class, if the classifier has one.
    frame_weights: animal confidence per frame in [0, 1] (e.g. a detector's), replacing 1 - p(empty).
    attention: a fitted `AttentionPooling`, required for kind="attention".
    """
    if kind not in KINDS:
        raise ValueError(f"unknown pooling kind {kind!r}; expected one of {KINDS}")
    logits = _check_logits(logits)
    codes, ids = group_codes(sequence_ids, len(logits))
    n_seq, n_cls = len(ids), logits.shape[1]
    if empty_index is not None and not 0 <= empty_index < n_cls:
        raise ValueError(f"empty_index {empty_index} outside the {n_cls} classes")
    probs = _softmax(logits)

    if kind == "first":
        order = np.arange(len(logits)) if frame is None else np.asarray(frame)
        if len(order) != len(logits):
            raise ValueError(f"frame has {len(order)} values for {len(logits)} frames")
        firsts = pd.DataFrame({"code": codes, "order": order, "row": np.arange(len(codes))})
        firsts = firsts.sort_values(["code", "order"], kind="stable").groupby("code")["row"].first()
        return ids, probs[firsts.to_numpy()]

    animal = np.ones(n_cls, dtype=bool)
    if empty_index is not None:
        animal[empty_index] = False
    weights = _animal_weights(probs, empty_index, frame_weights)
    animal_logits = np.where(animal, logits, -np.inf)
    animal_probs = _softmax(animal_logits)  # p_f(c | animal)

    if kind == "mean_probs":
        pooled = _segment_sum(weights[:, None] * animal_probs, codes, n_seq)
    elif kind == "mean_logits":
        mean_z = _segment_sum(weights[:, None] * np.where(animal, logits, 0.0), codes, n_seq)
        mean_z /= np.maximum(_segment_sum(weights[:, None], codes, n_seq), _TINY)
        pooled = _softmax(np.where(animal, mean_z, -np.inf))
    elif kind == "max_conf":
        confidence = weights * animal_probs.max(axis=1)
        best = pd.Series(confidence).groupby(codes).idxmax().to_numpy()
        pooled = animal_probs[best]
    else:  # attention
        if attention is None:
            raise ValueError("kind='attention' needs a fitted AttentionPooling (see fit_attention_pooling)")
        with torch.no_grad():
            z = attention(torch.as_tensor(logits, dtype=torch.float32), torch.as_tensor(codes), n_seq,
                          torch.as_tensor(np.log(weights), dtype=torch.float32))
        pooled = _softmax(np.where(animal, z.double().numpy(), -np.inf))
    pooled /= np.maximum(pooled.sum(axis=1, keepdims=True), _TINY)

    if empty_index is not None:
        empty = np.exp(_segment_mean(np.log(np.maximum(probs[:, empty_index], _TINY)), codes, n_seq))
        pooled *= (1.0 - empty)[:, None]
        pooled[:, empty_index] = empty
    return ids, pooled


def group_codes(sequence_ids: Sequence, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per frame and the sorted unique sequence ids."""
    ids = pd.Series(np.asarray(sequence_ids, dtype=object))
    if len(ids) != n:
        raise ValueError(f"sequence_ids has {len(ids)} values for {n} frames")
    if ids.isna().any():
        raise ValueError(f"sequence_ids holds {int(ids.isna().sum())} missing value(s); give every frame a sequence")
    codes, uniques = pd.factorize(ids, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


class AttentionPooling(nn.Module):
    """Learned frame weights: a small MLP scores each frame from its log-probabilities; the sequence
    logits are the softmax(score + log animal weight)-weighted mean of the frames' log-probabilities."""

    def __init__(self, num_classes: int, hidden: int = 16):
        super().__init__()
        self.scorer = nn.Sequential(nn.Linear(num_classes, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, logits: torch.Tensor, codes: torch.Tensor, n_seq: int,
                log_weights: torch.Tensor | None = None) -> torch.Tensor:
        log_p = torch.log_softmax(logits, dim=1)
        score = self.scorer(log_p).squeeze(1)
        if log_weights is not None:
            score = score + log_weights
        alpha = segment_softmax(score, codes, n_seq)
        out = torch.zeros(n_seq, logits.shape[1], dtype=log_p.dtype)
        return out.index_add(0, codes, alpha[:, None] * log_p)


def segment_softmax(score: torch.Tensor, codes: torch.Tensor, n_seq: int) -> torch.Tensor:
    """Softmax of `score` within each group of `codes`."""
    top = torch.full((n_seq,), -torch.inf, dtype=score.dtype).scatter_reduce(0, codes, score, "amax")
    e = torch.exp(score - top[codes])
    total = torch.zeros(n_seq, dtype=score.dtype).index_add(0, codes, e)
    return e / total[codes]


def fit_attention_pooling(logits: np.ndarray, sequence_ids: Sequence, sequence_targets: np.ndarray, *,
                          empty_index: int | None = None, frame_weights: Sequence[float] | None = None,
                          epochs: int = 200, lr: float = 1e-2, weight_decay: float = 1e-4,
                          hidden: int = 16, seed: int = 0) -> AttentionPooling:
    """Fit attention weights on frame logits with known sequence classes (integer targets per sorted sequence).

    Full-batch Adam on the pooled cross-entropy; the backbone's logits stay fixed. Pass the same
    `empty_index` / `frame_weights` as to `pool` so training sees the same animal weighting.
    """
    logits = _check_logits(logits)
    codes, ids = group_codes(sequence_ids, len(logits))
    sequence_targets = np.asarray(sequence_targets)
    if sequence_targets.shape != (len(ids),):
        raise ValueError(f"sequence_targets must hold one class index per sequence ({len(ids)}), got {sequence_targets.shape}")
    torch.manual_seed(seed)
    model = AttentionPooling(logits.shape[1], hidden)
    z, c = torch.as_tensor(logits, dtype=torch.float32), torch.as_tensor(codes)
    log_w = torch.as_tensor(np.log(_animal_weights(_softmax(logits), empty_index, frame_weights)), dtype=torch.float32)
    y = torch.as_tensor(sequence_targets, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(z, c, len(ids), log_w), y)
        loss.backward()
        opt.step()
    return model.eval()


def _animal_weights(probs: np.ndarray, empty_index: int | None, frame_weights) -> np.ndarray:
    if frame_weights is not None:
        w = np.asarray(frame_weights, dtype=np.float64)
        if w.shape != (len(probs),):
            raise ValueError(f"frame_weights must hold one value per frame ({len(probs)}), got shape {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any() or (w > 1).any():
            raise ValueError("frame_weights must be finite animal confidences in [0, 1]")
    elif empty_index is not None:
        w = 1.0 - probs[:, empty_index]
    else:
        w = np.ones(len(probs))
    return np.maximum(w, 1e-6)  # an all-empty sequence still gets an (even) animal distribution


def _check_logits(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"logits must have shape (frames, classes) with at least one frame, got {logits.shape}")
    if not np.isfinite(logits).all():
        raise ValueError(f"logits hold {int((~np.isfinite(logits)).sum())} NaN/inf value(s)")
    return logits


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _segment_sum(x: np.ndarray, codes: np.ndarray, n_seq: int) -> np.ndarray:
    out = np.zeros((n_seq,) + x.shape[1:])
    np.add.at(out, codes, x)
    return out


def _segment_mean(x: np.ndarray, codes: np.ndarray, n_seq: int) -> np.ndarray:
    return _segment_sum(x, codes, n_seq) / np.bincount(codes, minlength=n_seq)
