"""What sits on a backbone: smoothing loss, location/time prior, sequence pooling, calibration, roll-up.

Entry points for `zoo.train` / `zoo.predict` (each module holds one idea):
- `build_loss(head_cfg, classes, taxonomy, class_weights)`   -> torch loss (heads.smoothing)
- `build_prior(head_cfg)`                                      -> unfitted GeoTimePrior (heads.prior)
- `heads.pooling.pool(logits, sequence_ids, kind, ...)`        -> (sequence ids, sequence probs)
- `heads.calibration.fit_temperature(logits, y)`               -> float T; `apply_temperature`, `ece`, `nll`
- `heads.rollup.rollup(probs, classes, taxonomy, kind, ...)`   -> DataFrame prediction / level / score
- `heads.taxonomy.load_taxonomy(path)`, `mistake_severity(y_true, y_pred, taxonomy)`
- `HeadPipeline.from_config(head_cfg, classes, taxonomy).fit(valid_logits, valid_records, prior_records)`
  -> the run's one fitted post-processing object (prior, temperature, pooling, roll-up; heads.pipeline)
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from heads.config import HeadConfig, head_config
from heads.taxonomy import Taxonomy, load_taxonomy, mistake_severity

__all__ = ["build_loss", "build_prior", "head_config", "HeadConfig", "HeadPipeline", "HeadOutput", "Taxonomy",
           "load_taxonomy", "mistake_severity"]


def __getattr__(name: str):  # heads.HeadPipeline without importing torch for `import heads`
    if name in ("HeadPipeline", "HeadOutput"):
        from heads import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'heads' has no attribute {name!r}")


def build_loss(head_cfg: Any, classes: Sequence[str], taxonomy: Taxonomy | str | os.PathLike | None = None,
               class_weights: Sequence[float] | None = None):
    """Training loss from `head.smoothing`: plain CE (`none`), uniform or taxonomic label smoothing."""
    import numpy as np
    import torch
    from torch import nn

    from heads.smoothing import TaxonomicLabelSmoothingLoss

    cfg = head_config(head_cfg).smoothing
    weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
    if cfg.kind == "none" or cfg.eps == 0:
        return nn.CrossEntropyLoss(weight=weight)
    if cfg.kind == "uniform":
        distance = np.full((len(classes), len(classes)), 5) - 5 * np.eye(len(classes), dtype=int)
        return TaxonomicLabelSmoothingLoss(distance, eps=cfg.eps, decay=1.0, weight=weight)
    if taxonomy is None:
        raise ValueError("head.smoothing.kind = 'taxonomic' needs the study taxonomy (a Taxonomy or a CSV path)")
    if not isinstance(taxonomy, Taxonomy):
        taxonomy = Taxonomy.from_csv(taxonomy)
    return TaxonomicLabelSmoothingLoss(taxonomy.distance_matrix(classes), eps=cfg.eps, decay=cfg.decay, weight=weight)


def build_prior(head_cfg: Any):
    """Unfitted GeoTimePrior with the options of `head.prior`."""
    from heads.prior import GeoTimePrior

    cfg = head_config(head_cfg).prior
    return GeoTimePrior(hidden=cfg.hidden, epochs=cfg.epochs, drop_prob=cfg.drop_prob, use_location=cfg.use_location,
                        use_time=cfg.use_time, seen_site_km=cfg.seen_site_km, seed=cfg.seed)
