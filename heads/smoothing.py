"""Label smoothing whose mass goes preferentially to taxonomic relatives.

The true class keeps 1 - eps; eps is shared among the other classes with weight decay**(d - 1),
d = taxonomic distance (1 genus ... 5 unrelated). decay = 1 is plain uniform smoothing over the other
classes, which is torch's `label_smoothing = eps * C / (C - 1)` (torch also gives the true class a share).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def smoothing_matrix(distance: np.ndarray, eps: float, decay: float = 1.0) -> np.ndarray:
    """(C, C) soft targets: row i is the target distribution for true class i."""
    distance = np.asarray(distance)
    if distance.ndim != 2 or distance.shape[0] != distance.shape[1]:
        raise ValueError(f"distance must be a square matrix, got shape {distance.shape}")
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"eps must be in [0, 1), got {eps}")
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must be in (0, 1] (1 = uniform), got {decay}")
    n = distance.shape[0]
    if n == 1:
        return np.ones((1, 1))
    weights = np.where(np.eye(n, dtype=bool), 0.0, decay ** (np.maximum(distance, 1) - 1.0))
    targets = eps * weights / weights.sum(axis=1, keepdims=True)
    targets[np.diag_indices(n)] = 1.0 - eps
    return targets


class TaxonomicLabelSmoothingLoss(nn.Module):
    """Cross-entropy against taxonomy-smoothed targets; drop-in for `nn.CrossEntropyLoss`.

    With class `weight`, follows torch's convention: sum_i sum_c w_c q_ic (-log p_ic) / sum_i w_{y_i}.
    """

    def __init__(self, distance: np.ndarray, eps: float = 0.1, decay: float = 0.5,
                 weight: torch.Tensor | Sequence[float] | None = None):
        super().__init__()
        self.eps, self.decay = float(eps), float(decay)
        self.register_buffer("targets", torch.as_tensor(smoothing_matrix(distance, eps, decay), dtype=torch.float32))
        n = self.targets.shape[0]
        if weight is not None:
            weight = torch.as_tensor(weight, dtype=torch.float32)
            if weight.shape != (n,):
                raise ValueError(f"weight must have shape ({n},), got {tuple(weight.shape)}")
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = self.targets.shape[0]
        if logits.ndim != 2 or logits.shape[1] != n:
            raise ValueError(f"logits must have shape (N, {n}), got {tuple(logits.shape)}")
        if target.min() < 0 or target.max() >= n:
            raise ValueError(f"target labels must be in [0, {n}), got range [{int(target.min())}, {int(target.max())}]")
        soft = self.targets[target]
        log_p = F.log_softmax(logits.float(), dim=1)
        if self.weight is None:
            return -(soft * log_p).sum(dim=1).mean()
        per_item = -(soft * log_p * self.weight).sum(dim=1)
        return per_item.sum() / self.weight[target].sum()

    def extra_repr(self) -> str:
        return f"classes={self.targets.shape[0]}, eps={self.eps}, decay={self.decay}"
