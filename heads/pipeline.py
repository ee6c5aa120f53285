"""One fitted post-processing object per run: `HeadPipeline` (a scikit-learn style estimator).

    head = HeadPipeline.from_config(cfg.head, classes, taxonomy)
    head.fit(valid_logits, valid_records, prior_records=records_to_learn_the_prior_from)
    out = head.transform(logits, records)   # out.image_probs, out.sequence_ids, out.sequence_probs, out.rollup

The chain, each step switched by `configs/head/default.yaml`:
1. location/time prior (`prior.enabled`): p(class | image) * (p(class | place, time) [/ its class frequencies])**w,
   the prior learnt (in `fit`) from presence-only records and applied to each photo's coordinates and date; a
   photo without coordinates gets them from its site (the sites seen in the prior's records), else the
   time-only prior (logged);
2. temperature scaling (`calibration.enabled`): T fitted on the validation output of step 1, per image or on
   per-sequence mean logits (`calibration.level`), applied to every frame before pooling;
3. sequence pooling (`pooling.kind`, `pooling.empty_class`); `attention` is fitted here on the validation
   sequences (their label: `zoo.data.sequences`' rule, the empty class counted only where nothing else is);
4. taxonomic roll-up of each sequence (`rollup.kind`; needs the study taxonomy, skipped with a warning without).
Fitted state ends in `_` (`temperature_`, `prior_`, `attention_`, `components_`); the object pickles (joblib,
torch.save) and is applied without the training data.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from heads.calibration import apply_temperature, fit_temperature
from heads.pooling import KINDS as POOLING_KINDS
from heads.pooling import fit_attention_pooling, pool
from heads.rollup import rollup as rollup_probs
from zoo.data.sequences import sequence_labels

log = logging.getLogger(__name__)

PRIOR_COMBINE = ("product", "bayes")
ROLLUP_KINDS = ("none", "speciesnet", "crm")


@dataclass
class HeadOutput:
    """What `HeadPipeline.transform` returns: rows of images in input order, sequences sorted by id."""

    image_probs: np.ndarray
    sequence_ids: np.ndarray
    sequence_probs: np.ndarray
    rollup: pd.DataFrame | None = None  # per sequence: prediction, level, score
    components: dict[str, Any] = field(default_factory=dict)


def sequence_targets(labels: Sequence, sequence_ids: Sequence, empty_class: str | None = None):
    """(sorted sequence ids, label per sequence): the most common non-empty frame label, ties to the first seen
    (zoo.data.sequences.sequence_labels); with an empty class, it counts only where a sequence has nothing else."""
    if empty_class is None:
        return sequence_labels(labels, sequence_ids)
    ids, animal = sequence_labels(labels, sequence_ids, empty_labels=("", empty_class))
    _, anything = sequence_labels(labels, sequence_ids)
    return ids, np.where(animal == "", anything, animal)


class HeadPipeline(BaseEstimator):
    """Prior -> temperature -> pooling -> roll-up on frame logits; see the module doc."""

    def __init__(self, classes: Sequence[str] = (), *, calibration: bool = True, calibration_level: str = "sequence",
                 pooling: str = "mean_probs", empty_class: str | None = None, prior: bool = False,
                 prior_combine: str = "product", prior_weight: float = 1.0, prior_params: dict | None = None,
                 rollup: str = "speciesnet", rollup_threshold: float = 0.65, rollup_top_k: int = 5,
                 coarse_cost: float = 0.25, taxonomy: Any = None, attention_epochs: int = 200, seed: int = 0):
        self.classes = classes
        self.calibration = calibration
        self.calibration_level = calibration_level
        self.pooling = pooling
        self.empty_class = empty_class
        self.prior = prior
        self.prior_combine = prior_combine
        self.prior_weight = prior_weight
        self.prior_params = prior_params
        self.rollup = rollup
        self.rollup_threshold = rollup_threshold
        self.rollup_top_k = rollup_top_k
        self.coarse_cost = coarse_cost
        self.taxonomy = taxonomy
        self.attention_epochs = attention_epochs
        self.seed = seed

    @classmethod
    def from_config(cls, head_cfg: Any, classes: Sequence[str], taxonomy: Any = None) -> "HeadPipeline":
        """The pipeline `configs/head/` describes (validated by heads.config.head_config)."""
        from heads.config import head_config

        cfg = head_config(head_cfg)
        p = cfg.prior
        prior_params = dict(hidden=p.hidden, epochs=p.epochs, drop_prob=p.drop_prob, use_location=p.use_location,
                            use_time=p.use_time, seen_site_km=p.seen_site_km, seed=p.seed)
        return cls(list(classes), calibration=cfg.calibration.enabled, calibration_level=cfg.calibration.level,
                   pooling=cfg.pooling.kind, empty_class=cfg.pooling.empty_class, prior=cfg.prior.enabled,
                   prior_combine=p.combine, prior_weight=p.weight, prior_params=prior_params, rollup=cfg.rollup.kind,
                   rollup_threshold=cfg.rollup.threshold, rollup_top_k=cfg.rollup.top_k,
                   coarse_cost=cfg.rollup.coarse_cost, taxonomy=taxonomy, seed=p.seed)

    @classmethod
    def from_temperature(cls, classes: Sequence[str], temperature: float, pooling: str = "mean_probs") -> "HeadPipeline":
        """A fitted pipeline of a run saved before HeadPipeline existed: its temperature and pooling only."""
        head = cls(list(classes), pooling=pooling, rollup="none", calibration=temperature != 1.0)
        head.temperature_ = float(temperature)
        head.empty_index_, head.prior_, head.attention_ = None, None, None
        head.components_ = head._describe()
        return head

    # --- fit ----------------------------------------------------------------------------------------
    def fit(self, logits: np.ndarray, records: pd.DataFrame, prior_records: pd.DataFrame | None = None) -> "HeadPipeline":
        """Fit on validation frame logits and their records (`sequence_id`, `frame`, `label`; for the prior also
        `site`/`lat`/`lon`/`timestamp`). `prior_records`: the labelled records the prior learns from."""
        self._check_params()
        classes = list(self.classes)
        logits = self._check_logits(logits, records)
        self.empty_index_ = classes.index(self.empty_class) if self.empty_class is not None else None
        self.prior_ = None
        if self.prior:
            self._fit_prior(prior_records)
        z = self._with_prior(logits, records)
        index = {c: i for i, c in enumerate(classes)}
        known = records["label"].isin(index).to_numpy() if "label" in records else np.zeros(len(records), bool)
        if (~known).any():
            log.info("head: %d of %d validation record(s) have no label among the classes and are left out of its fit",
                     int((~known).sum()), len(known))
        z_known, rec_known = z[known], records[known]
        self.temperature_ = 1.0
        if self.calibration and len(rec_known):
            if self.calibration_level == "image":
                self.temperature_ = fit_temperature(z_known, np.array(rec_known["label"].map(index), dtype=np.int64))
            else:  # per-sequence mean logits: the evidence the pooled output rests on
                ids, labels = sequence_targets(rec_known["label"].to_numpy(), rec_known["sequence_id"].to_numpy(),
                                               self.empty_class)
                codes = pd.Categorical(rec_known["sequence_id"].to_numpy(dtype=object), categories=ids).codes
                seq_z = np.zeros((len(ids), z.shape[1]))
                np.add.at(seq_z, codes, z_known)
                seq_z /= np.bincount(codes, minlength=len(ids))[:, None]
                self.temperature_ = fit_temperature(seq_z, np.array([index[lab] for lab in labels], dtype=np.int64))
        elif self.calibration:
            log.warning("head: no labelled validation records: temperature left at 1")
        self.attention_ = None
        if self.pooling == "attention":
            if not len(rec_known):
                raise ValueError("head.pooling.kind=attention is fitted on labelled validation sequences; there are none")
            ids, labels = sequence_targets(rec_known["label"].to_numpy(), rec_known["sequence_id"].to_numpy(),
                                           self.empty_class)
            self.attention_ = fit_attention_pooling(z_known / self.temperature_, rec_known["sequence_id"].to_numpy(),
                                                    np.array([index[lab] for lab in labels]),
                                                    empty_index=self.empty_index_, epochs=self.attention_epochs,
                                                    seed=self.seed)
        if self.rollup != "none" and self.taxonomy is None:
            log.warning("head: rollup.kind=%s needs the study taxonomy (data.taxonomy); roll-up skipped", self.rollup)
        self.components_ = self._describe()
        log.info("head fitted: %s", self.summary())
        return self

    def _fit_prior(self, prior_records: pd.DataFrame | None) -> None:
        from heads.prior import GeoTimePrior, align_classes

        if prior_records is None or len(prior_records) == 0:
            raise ValueError("head.prior.enabled=true needs labelled records to learn the prior from "
                             "(head.prior.records, or the run's own training records)")
        self.prior_ = GeoTimePrior(progress=False, **(self.prior_params or {})).fit(prior_records)
        self.prior_class_freq_ = align_classes(self.prior_.class_freq_[None, :], self.prior_.classes_, self.classes)[0]
        self.prior_records_ = int((prior_records["label"].fillna("").astype(str) != "").sum())
        coords = prior_records[[c for c in ("area", "site", "lat", "lon") if c in prior_records]]
        if {"site", "lat", "lon"} <= set(coords.columns):
            coords = coords.dropna(subset=["lat", "lon"])
            keys = [c for c in ("area", "site") if c in coords]
            self.site_coords_ = coords.astype({k: str for k in keys}).drop_duplicates(keys).reset_index(drop=True)
        else:
            self.site_coords_ = pd.DataFrame(columns=["site", "lat", "lon"])

    # --- transform ----------------------------------------------------------------------------------
    def transform(self, logits: np.ndarray, records: pd.DataFrame, calibrate: bool = True) -> HeadOutput:
        """Per-image and per-sequence probabilities (and the sequences' roll-up) of frame logits and their records
        (`sequence_id`, `frame`; for the prior `site` or `lat`/`lon`, and `timestamp`). `calibrate=False`: T = 1."""
        if not hasattr(self, "components_"):
            raise RuntimeError("HeadPipeline is not fitted; call fit(valid_logits, valid_records) first")
        logits = self._check_logits(logits, records)
        temperature = self.temperature_ if calibrate else 1.0
        z = self._with_prior(logits, records)
        image_probs = apply_temperature(z, temperature)
        if self.pooling == "attention" and self.attention_ is None:
            raise ValueError("pooling=attention needs a pooler fitted by zoo.train with head.pooling.kind=attention")
        ids, seq_probs = pool(z / temperature, records["sequence_id"].to_numpy(), self.pooling,
                              frame=records["frame"].to_numpy() if "frame" in records else None,
                              empty_index=self.empty_index_, attention=self.attention_)
        rolled = None
        if self.rollup != "none" and self.taxonomy is not None:
            rolled = rollup_probs(seq_probs, list(self.classes), self.taxonomy, kind=self.rollup,
                                  threshold=self.rollup_threshold, top_k=self.rollup_top_k,
                                  coarse_cost=self.coarse_cost)
        components = dict(self.components_)
        components["pooling"] = dict(components.get("pooling", {}), kind=self.pooling)
        if not calibrate:
            components["temperature"] = {"ran": False, "T": 1.0}
        return HeadOutput(image_probs, ids, seq_probs, rolled, components)

    def _with_prior(self, logits: np.ndarray, records: pd.DataFrame) -> np.ndarray:
        """Log-probabilities after the prior (the logits themselves without one)."""
        if getattr(self, "prior_", None) is None:
            return logits
        from heads.prior import combine

        prior_probs = self.prior_.predict_proba(self.prior_inputs(records), classes=list(self.classes))
        freq = self.prior_class_freq_ if self.prior_combine == "bayes" else None
        combined = combine(apply_temperature(logits, 1.0), prior_probs, class_freq=freq, weight=self.prior_weight)
        return np.log(np.maximum(combined, 1e-300))

    def prior_inputs(self, records: pd.DataFrame) -> pd.DataFrame:
        """lat, lon, timestamp per record: its own coordinates, else its site's (from the prior's records)."""
        out = pd.DataFrame(index=records.index)
        for c in ("lat", "lon"):
            out[c] = pd.to_numeric(records[c], errors="coerce") if c in records else np.nan
        out["timestamp"] = pd.to_datetime(records["timestamp"], errors="coerce") if "timestamp" in records else pd.NaT
        missing = out["lat"].isna() | out["lon"].isna()
        sites = self.site_coords_
        if missing.any() and "site" in records and len(sites):
            keys = ["area", "site"] if "area" in sites and "area" in records and \
                records["area"].fillna("").astype(str).ne("").all() else ["site"]
            table = sites.drop_duplicates(keys, keep=False).set_index(keys)[["lat", "lon"]]
            lookup = pd.MultiIndex.from_frame(records[keys].astype(str)) if len(keys) > 1 else records["site"].astype(str)
            found = table.reindex(lookup)
            for c in ("lat", "lon"):
                out.loc[missing, c] = found[c].to_numpy()[missing.to_numpy()]
            unknown = int((out["lat"].isna() & missing).sum())
            if unknown:
                log.info("prior: %d of %d photo(s) are at sites absent from the prior's records: time-only prior",
                         unknown, len(out))
        return out.reset_index(drop=True)

    # --- description --------------------------------------------------------------------------------
    def _describe(self) -> dict[str, Any]:
        prior = getattr(self, "prior_", None)
        rolled = self.rollup != "none" and self.taxonomy is not None
        return {
            "prior": {"ran": prior is not None, **({"combine": self.prior_combine, "weight": self.prior_weight,
                                                    "records": self.prior_records_, "sites": len(self.site_coords_),
                                                    "classes": len(prior.classes_)} if prior is not None else {})},
            "temperature": {"ran": bool(self.calibration), "level": self.calibration_level,
                            "T": float(self.temperature_)},
            "pooling": {"ran": True, "kind": self.pooling, "empty_class": self.empty_class,
                        "fitted": getattr(self, "attention_", None) is not None},
            "rollup": {"ran": rolled, "kind": self.rollup if rolled else "none",
                       **({"threshold": self.rollup_threshold, "top_k": self.rollup_top_k} if self.rollup == "speciesnet" and rolled else {}),
                       **({"coarse_cost": self.coarse_cost} if self.rollup == "crm" and rolled else {})},
        }

    def summary(self) -> str:
        """One line naming the components that run, e.g. for a log."""
        c = self.components_
        parts = [f"prior {c['prior']['combine']} (weight {c['prior']['weight']:g}, {c['prior']['records']} records)"
                 if c["prior"]["ran"] else "no prior",
                 f"temperature T={c['temperature']['T']:.3f} ({c['temperature']['level']})" if c["temperature"]["ran"]
                 else "no temperature",
                 f"pooling {self.pooling}" + (f" (empty class {self.empty_class})" if self.empty_class else ""),
                 f"roll-up {c['rollup']['kind']}" if c["rollup"]["ran"] else "no roll-up"]
        return ", ".join(parts)

    # --- checks -------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.pooling not in POOLING_KINDS:
            raise ValueError(f"pooling={self.pooling!r}; expected one of {POOLING_KINDS}")
        if self.prior_combine not in PRIOR_COMBINE:
            raise ValueError(f"prior_combine={self.prior_combine!r}; expected one of {PRIOR_COMBINE}")
        if self.rollup not in ROLLUP_KINDS:
            raise ValueError(f"rollup={self.rollup!r}; expected one of {ROLLUP_KINDS}")
        if self.calibration_level not in ("sequence", "image"):
            raise ValueError(f"calibration_level={self.calibration_level!r}; expected sequence or image")
        if self.empty_class is not None and self.empty_class not in list(self.classes):
            raise ValueError(f"head.pooling.empty_class={self.empty_class!r} is not one of the classes {list(self.classes)}")

    def _check_logits(self, logits, records: pd.DataFrame) -> np.ndarray:
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim != 2 or logits.shape[1] != len(self.classes):
            raise ValueError(f"logits must have shape (N, {len(self.classes)}), got {logits.shape}")
        if len(records) != len(logits):
            raise ValueError(f"{len(records)} records for {len(logits)} rows of logits")
        if "sequence_id" not in records:
            raise ValueError("records need a sequence_id column")
        return logits
