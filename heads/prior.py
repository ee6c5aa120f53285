"""Location/time prior p(class | lat, lon, day of year, hour) from presence-only records.

In the spirit of Mac Aodha et al. 2019 (geo priors): sinusoidal encodings of the inputs, a small MLP,
softmax over the classes seen in the records. Differences, each for a reason:
- coordinates are first rescaled to the study's bounding box and encoded at several frequencies
  (a single sin/cos of global lat/lon cannot tell apart traps a few km apart);
- day of year and hour are cyclic (sin/cos, 2 harmonics each);
- each input group has a "known" flag and is randomly hidden during training (`drop_prob`), so one
  network also answers without coordinates (time only: logged) or without a timestamp;
- a place farther than `seen_site_km` from every training record is treated as unknown (time only,
  logged): which species a trap sees depends on the trap (a trail, a forest edge), and the bench shows
  that extrapolating the location part to unseen traps is worse than ignoring it.
Combine with an image classifier by multiplying probabilities (`combine`), or learn how much to trust the
prior with `PriorFusion` (per-class scale and bias, trained with its own learning rate).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("lat", "lon", "timestamp")


class GeoTimePrior:
    """scikit-learn style: `fit(records)` on rows with `lat, lon, timestamp, label`; `predict_proba(records)`.

    lat/lon may be NaN (time-only answer) and timestamp NaT (location-only answer).
    """

    def __init__(self, hidden: int = 64, n_loc_freq: int = 4, n_harmonics: int = 2, epochs: int = 20,
                 batch_size: int = 1024, lr: float = 3e-3, weight_decay: float = 1e-4, drop_prob: float = 0.25,
                 use_location: bool = True, use_time: bool = True, seen_site_km: float | None = 0.5,
                 seed: int = 0, progress: bool = True):
        self.hidden, self.n_loc_freq, self.n_harmonics = hidden, n_loc_freq, n_harmonics
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.drop_prob, self.use_location, self.use_time = drop_prob, use_location, use_time
        self.seen_site_km = seen_site_km
        self.seed, self.progress = seed, progress

    # --- encoding -------------------------------------------------------------------------------------
    def _encode(self, records: pd.DataFrame, warn: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, D) and the (N, 2) known-flags [location, time]."""
        _check_columns(records)
        lat = pd.to_numeric(records["lat"], errors="coerce").to_numpy(dtype=np.float64)
        lon = pd.to_numeric(records["lon"], errors="coerce").to_numpy(dtype=np.float64)
        ts = pd.to_datetime(records["timestamp"], errors="coerce")
        has_loc = np.isfinite(lat) & np.isfinite(lon) & self.use_location
        has_time = ts.notna().to_numpy() & self.use_time
        if warn:
            _log_fallbacks(has_loc, has_time, self.use_location, self.use_time)
        if self.seen_site_km is not None and len(getattr(self, "sites_", ())):
            far = has_loc.copy()
            far[has_loc] = _nearest_km(lat[has_loc], lon[has_loc], self.sites_) > self.seen_site_km
            if far.any() and warn:
                log.info("prior: %d of %d record(s) lie more than %g km from every training site: time-only prior for them",
                         int(far.sum()), len(far), self.seen_site_km)
            has_loc &= ~far
        xy = np.stack([(np.nan_to_num(lon) - self.center_[0]) / self.half_range_,
                       (np.nan_to_num(lat) - self.center_[1]) / self.half_range_], axis=1)
        freqs = np.pi * 2.0 ** np.arange(self.n_loc_freq)
        angles = xy[:, :, None] * freqs  # (N, 2, F)
        loc = np.concatenate([xy, np.sin(angles).reshape(len(xy), -1), np.cos(angles).reshape(len(xy), -1)], axis=1)
        day = ts.dt.dayofyear.fillna(1).to_numpy(dtype=np.float64)
        hour = (ts.dt.hour + ts.dt.minute / 60.0).fillna(0).to_numpy(dtype=np.float64)
        k = np.arange(1, self.n_harmonics + 1)
        theta_day = 2 * np.pi * (day[:, None] - 1) / 365.25 * k
        theta_hour = 2 * np.pi * hour[:, None] / 24.0 * k
        time = np.concatenate([np.sin(theta_day), np.cos(theta_day), np.sin(theta_hour), np.cos(theta_hour)], axis=1)
        features = np.concatenate([loc, time], axis=1).astype(np.float32)
        known = np.stack([has_loc, has_time], axis=1).astype(np.float32)
        self._n_loc = loc.shape[1]
        return torch.as_tensor(features), torch.as_tensor(known)

    def _inputs(self, features: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        loc, time = features[:, : self._n_loc], features[:, self._n_loc:]
        return torch.cat([loc * known[:, :1], time * known[:, 1:], known], dim=1)

    # --- fit / predict --------------------------------------------------------------------------------
    def fit(self, records: pd.DataFrame, y: Sequence[str] | None = None) -> "GeoTimePrior":
        labels = pd.Series(records["label"] if y is None else y, index=records.index).fillna("").astype(str)
        keep = labels != ""
        if (~keep).any():
            log.info("prior: %d of %d record(s) have no label and are left out of training", int((~keep).sum()), len(keep))
        records, labels = records[keep.to_numpy()], labels[keep]
        if len(records) == 0:
            raise ValueError("prior: no labelled records to fit on")
        _check_columns(records)
        lat = pd.to_numeric(records["lat"], errors="coerce")
        lon = pd.to_numeric(records["lon"], errors="coerce")
        if lat.notna().any():
            lo = np.array([lon.min(), lat.min()])
            hi = np.array([lon.max(), lat.max()])
            self.center_ = (lo + hi) / 2
            # 1.5x the study's half-extent, so nearby unseen sites stay inside the encoding's range
            self.half_range_ = float(max((hi - lo).max() / 2 * 1.5, 1e-3))
        else:
            self.center_, self.half_range_ = np.zeros(2), 1.0
        self.sites_ = np.unique(np.stack([lat, lon], axis=1)[lat.notna().to_numpy() & lon.notna().to_numpy()], axis=0)
        self.classes_ = np.array(sorted(labels.unique()), dtype=object)
        target = torch.as_tensor(pd.Categorical(labels, categories=self.classes_).codes.astype(np.int64))
        self.class_freq_ = np.bincount(target.numpy(), minlength=len(self.classes_)) / len(target)

        features, known = self._encode(records, warn=False)
        gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        in_dim = features.shape[1] + 2
        self.model_ = nn.Sequential(nn.Linear(in_dim, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.hidden),
                                    nn.ReLU(), nn.Linear(self.hidden, len(self.classes_)))
        opt = torch.optim.AdamW(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(target)
        self.loss_curve_ = []
        for _ in tqdm(range(self.epochs), desc="prior", disable=not self.progress, leave=False):
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                hide = (torch.rand(len(idx), 2, generator=gen) < self.drop_prob).float()
                batch_known = known[idx] * (1 - hide)
                loss = nn.functional.cross_entropy(self.model_(self._inputs(features[idx], batch_known)), target[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            self.loss_curve_.append(total / n)
        self.model_.eval()
        return self

    def predict_log_proba(self, records: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("GeoTimePrior is not fitted; call fit(records) first")
        features, known = self._encode(records)
        with torch.no_grad():
            return torch.log_softmax(self.model_(self._inputs(features, known)), dim=1).double().numpy()

    def predict_proba(self, records: pd.DataFrame, classes: Sequence[str] | None = None) -> np.ndarray:
        """(N, K) probabilities over `classes_`, or over `classes` (re-normalised, see `align_classes`)."""
        probs = np.exp(self.predict_log_proba(records))
        return probs if classes is None else align_classes(probs, self.classes_, classes)


def align_classes(probs: np.ndarray, from_classes: Sequence[str], to_classes: Sequence[str],
                  floor: float = 1e-3) -> np.ndarray:
    """Re-index prior probabilities to a classifier's classes and renormalise over them.

    A classifier class the prior never saw gets `floor` (before renormalising) and a logged warning,
    so the product with the classifier can never zero it out.
    """
    index = {c: i for i, c in enumerate(from_classes)}
    unseen = [c for c in to_classes if c not in index]
    if unseen:
        log.warning("prior: %d class(es) absent from its training records get probability floor %g: %s",
                    len(unseen), floor, unseen)
    out = np.full((len(probs), len(to_classes)), float(floor))
    for j, c in enumerate(to_classes):
        if c in index:
            out[:, j] = np.maximum(probs[:, index[c]], floor)
    return out / out.sum(axis=1, keepdims=True)


def combine(image_probs: np.ndarray, prior_probs: np.ndarray, class_freq: np.ndarray | None = None,
            weight: float = 1.0) -> np.ndarray:
    """p(y | image, place, time) proportional to p(y | image) * (p(y | place, time) / class_freq(y))**weight.

    Without `class_freq` it is the plain product (Mac Aodha et al.), which counts class frequencies twice:
    once in the classifier, once in the prior. With the prior's own training class frequencies
    (`GeoTimePrior.class_freq_`, aligned to the classifier's classes) the prior enters as the likelihood
    ratio p(y | place, time) / p(y): "how much likelier here and now than usual", and the class
    frequencies come from the classifier alone (right when its training set resembles the test set).
    """
    image_probs = np.asarray(image_probs, dtype=np.float64)
    prior_probs = np.asarray(prior_probs, dtype=np.float64)
    if image_probs.shape != prior_probs.shape:
        raise ValueError(f"image probs {image_probs.shape} and prior probs {prior_probs.shape} differ in shape")
    ratio = prior_probs if class_freq is None else prior_probs / np.maximum(np.asarray(class_freq, dtype=np.float64), 1e-12)
    out = image_probs * np.maximum(ratio, 1e-300) ** weight
    return out / out.sum(axis=1, keepdims=True)


class PriorFusion(nn.Module):
    """Fused logits = image logits + scale * log prior + bias (per class; scale starts at 1, bias at 0).

    Train it jointly with the classifier head but in its own optimizer parameter group
    (`param_groups`): with a shared learning rate the fusion weights swing and training is unstable.
    """

    def __init__(self, num_classes: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(num_classes))
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, image_logits: torch.Tensor, log_prior: torch.Tensor) -> torch.Tensor:
        if image_logits.shape != log_prior.shape:
            raise ValueError(f"image logits {tuple(image_logits.shape)} and log prior {tuple(log_prior.shape)} differ")
        return image_logits + self.scale * log_prior + self.bias

    def param_groups(self, head_params, lr: float, fusion_lr: float) -> list[dict]:
        return [{"params": list(head_params), "lr": lr}, {"params": list(self.parameters()), "lr": fusion_lr}]


def withhold_near(records: pd.DataFrame, photos: pd.DataFrame, days: float) -> pd.DataFrame:
    """`records` minus those within `days` of one of `photos` at the same site (area and site when both have an
    area): the photos being scored, and their bursts, are often among a study's records."""
    if days <= 0 or len(photos) == 0 or len(records) == 0:
        return records
    keys = [k for k in ("area", "site") if k in records and k in photos]
    if "site" not in keys:
        return records
    drop = np.zeros(len(records), dtype=bool)
    rec_keys = records[keys].astype(str).agg("/".join, axis=1).to_numpy()
    rec_times = pd.to_datetime(records["timestamp"], errors="coerce").to_numpy()
    photo_keys = photos[keys].astype(str).agg("/".join, axis=1)
    photo_times = pd.to_datetime(photos["timestamp"], errors="coerce")
    for key, times in photo_times.groupby(photo_keys.to_numpy()):
        times = np.sort(times.dropna().to_numpy())
        at_site = np.flatnonzero(rec_keys == key)
        if not len(times) or not len(at_site):
            continue
        t = rec_times[at_site]
        pos = np.searchsorted(times, t)
        gap = np.full(len(t), np.inf)
        for p in (pos - 1, pos):
            ok = (p >= 0) & (p < len(times)) & ~np.isnat(t)
            gap[ok] = np.minimum(gap[ok], np.abs((t[ok] - times[p[ok]]) / np.timedelta64(1, "D")))
        drop[at_site[gap <= days]] = True
    if drop.any():
        log.info("prior: %d of %d record(s) within %g days of a scored photo at its site left out", int(drop.sum()),
                 len(drop), days)
    return records[~drop]


def _nearest_km(lat: np.ndarray, lon: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) from each point to the nearest of `sites` (rows lat, lon)."""
    la, lo = np.radians(lat)[:, None], np.radians(lon)[:, None]
    sla, slo = np.radians(sites[:, 0])[None, :], np.radians(sites[:, 1])[None, :]
    h = np.sin((la - sla) / 2) ** 2 + np.cos(la) * np.cos(sla) * np.sin((lo - slo) / 2) ** 2
    return (2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))).min(axis=1)


def _check_columns(records: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"prior needs record column(s) {missing}; got {list(records.columns)}")


def _log_fallbacks(has_loc: np.ndarray, has_time: np.ndarray, use_location: bool, use_time: bool) -> None:
    n = len(has_loc)
    time_only = int((~has_loc & has_time).sum())
    place_only = int((has_loc & ~has_time).sum())
    neither = int((~has_loc & ~has_time).sum())
    if time_only and use_location:
        log.info("prior: %d of %d record(s) have no coordinates: time-only prior for them", time_only, n)
    if place_only and use_time:
        log.info("prior: %d of %d record(s) have no timestamp: location-only prior for them", place_only, n)
    if neither:
        log.info("prior: %d of %d record(s) have neither: class-frequency prior for them", neither, n)
