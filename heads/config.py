"""Head options (configs/head/*.yaml) as typed defaults: a typo or a bad value fails at load, by name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf


@dataclass
class SmoothingConfig:
    kind: str = "none"  # none | uniform | taxonomic (docs/heads.md: none + temperature had the best NLL)
    eps: float = 0.1  # mass taken from the true class
    decay: float = 0.5  # taxonomic: weight ratio per level up the tree (1.0 = uniform)


@dataclass
class PriorConfig:
    enabled: bool = False
    # records the prior learns from: null = the run's own training records, or a data config (name such as
    # lynx_records, or a YAML path) read by zoo.data; records within holdout_days of a valid/test photo at
    # the same site are left out (a burst of the photos being scored would otherwise leak into the prior)
    records: Optional[str] = None
    holdout_days: float = 7.0
    combine: str = "product"  # product | bayes (prior / its own class frequencies: likelihood ratio)
    weight: float = 1.0  # exponent on the prior
    hidden: int = 64
    epochs: int = 20
    drop_prob: float = 0.25  # chance of hiding location / time per record in training
    use_location: bool = True
    use_time: bool = True
    seen_site_km: Optional[float] = 0.5  # farther than this from every training site: time-only prior
    seed: int = 0


@dataclass
class PoolingConfig:
    kind: str = "mean_probs"  # mean_probs | mean_logits | max_conf | first | attention
    empty_class: Optional[str] = None  # label of the classifier's "no animal" class, if it has one


@dataclass
class CalibrationConfig:
    enabled: bool = True
    level: str = "sequence"  # sequence | image: which validation logits the temperature is fitted on
    n_bins: int = 15  # equal-width confidence bins of the ECE in metrics.json and the reliability plot


@dataclass
class RollupConfig:
    kind: str = "speciesnet"  # none | speciesnet | crm
    threshold: float = 0.65
    top_k: int = 5
    coarse_cost: float = 0.25


@dataclass
class HeadConfig:
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    pooling: PoolingConfig = field(default_factory=PoolingConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    rollup: RollupConfig = field(default_factory=RollupConfig)


CHOICES = {
    ("smoothing", "kind"): ("none", "uniform", "taxonomic"),
    ("prior", "combine"): ("product", "bayes"),
    ("pooling", "kind"): ("mean_probs", "mean_logits", "max_conf", "first", "attention"),
    ("calibration", "level"): ("sequence", "image"),
    ("rollup", "kind"): ("none", "speciesnet", "crm"),
}


def head_config(cfg: Any = None) -> DictConfig:
    """Merge `cfg` (dict, DictConfig or None) onto the defaults; unknown keys and bad values raise."""
    merged = OmegaConf.merge(OmegaConf.structured(HeadConfig), cfg if cfg is not None else {})
    for (group, key), allowed in CHOICES.items():
        value = merged[group][key]
        if value not in allowed:
            raise ValueError(f"head.{group}.{key} = {value!r}; expected one of {allowed}")
    if not 0.0 <= merged.smoothing.eps < 1.0:
        raise ValueError(f"head.smoothing.eps = {merged.smoothing.eps}; expected 0 <= eps < 1")
    if not 0.0 < merged.smoothing.decay <= 1.0:
        raise ValueError(f"head.smoothing.decay = {merged.smoothing.decay}; expected 0 < decay <= 1")
    checks = {("prior", "holdout_days"): (lambda v: v >= 0, ">= 0"), ("prior", "weight"): (lambda v: v >= 0, ">= 0"),
              ("prior", "epochs"): (lambda v: v >= 1, ">= 1"), ("prior", "hidden"): (lambda v: v >= 1, ">= 1"),
              ("prior", "drop_prob"): (lambda v: 0 <= v < 1, "in [0, 1)"),
              ("calibration", "n_bins"): (lambda v: v >= 1, ">= 1"),
              ("rollup", "threshold"): (lambda v: 0 <= v <= 1, "in [0, 1]"), ("rollup", "top_k"): (lambda v: v >= 1, ">= 1"),
              ("rollup", "coarse_cost"): (lambda v: v >= 0, ">= 0")}
    for (group, key), (ok, allowed) in checks.items():
        if not ok(merged[group][key]):
            raise ValueError(f"head.{group}.{key} = {merged[group][key]}; expected {allowed}")
    return merged
