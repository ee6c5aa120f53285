"""Group photos into bursts (sequences): same camera, consecutive shots closer than a time gap."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

CAMERA_KEYS = ("area", "site", "camera")


def assign_sequences(records: pd.DataFrame, gap_seconds: float = 60.0) -> pd.DataFrame:
    """Add `sequence_id` and `frame` (0-based, in time order).

    A new sequence starts when the gap to the previous photo of the same camera exceeds
    `gap_seconds`. Photos without a timestamp cannot be grouped: each becomes its own sequence
    (logged), so no frame is silently attached to the wrong burst.
    """
    if gap_seconds < 0:
        raise ValueError(f"gap_seconds must be >= 0, got {gap_seconds}")
    keys = [k for k in CAMERA_KEYS if k in records.columns]
    out = records.copy()
    ordered = out.assign(_key=_camera_key(out, keys)).sort_values(["_key", "timestamp", "media_id"], kind="stable")
    gaps = ordered.groupby("_key", sort=False)["timestamp"].diff().dt.total_seconds()
    no_time = ordered["timestamp"].isna()
    new_sequence = gaps.isna() | (gaps > gap_seconds) | no_time | no_time.shift(fill_value=False)
    number = new_sequence.groupby(ordered["_key"], sort=False).cumsum()
    ordered["sequence_id"] = ordered["_key"] + "#" + number.astype(int).map("{:05d}".format)
    ordered["frame"] = ordered.groupby("sequence_id", sort=False).cumcount()
    if no_time.any():
        log.warning("%d photos have no usable timestamp: each is its own sequence", int(no_time.sum()))
    out["sequence_id"] = ordered["sequence_id"]
    out["frame"] = ordered["frame"].astype(int)
    return out


def most_common_label(labels: pd.Series, empty_labels=("",)):
    """A sequence's label, the one rule used everywhere (evaluation, heads, occupancy): its photos' most
    frequent label, missing and empty labels left out, ties to the first seen; NaN when none is left."""
    chosen = most_common_labels(labels, np.zeros(len(labels)), empty_labels)
    return chosen.iloc[0] if len(chosen) else np.nan


def most_common_labels(labels, groups, empty_labels=("",), sort: bool = True) -> pd.Series:
    """`most_common_label` of every group at once, like `groupby(groups).agg(most_common_label)` without a
    Python call per group (18k bursts in a study): a Series indexed by group (named after `groups`), sorted, or
    in order of first appearance. `labels` and `groups` are aligned by position; records without a group are
    left out."""
    frame = pd.DataFrame({"group": np.asarray(groups, dtype=object), "label": np.asarray(labels, dtype=object)})
    frame["order"] = np.arange(len(frame))
    frame = frame[frame["group"].notna()]
    keys = pd.Index(pd.unique(frame["group"]), dtype=object)
    if sort:
        keys = keys.sort_values()
    kept = frame[frame["label"].notna() & ~frame["label"].isin(list(empty_labels))]
    tally = kept.groupby(["group", "label"], sort=False)["order"].agg(["size", "min"]).reset_index()
    best = tally.sort_values(["size", "min"], ascending=[False, True], kind="stable").drop_duplicates("group")
    chosen = best.set_index("group")["label"].reindex(keys).astype(object)
    return chosen.rename(None).rename_axis(getattr(groups, "name", None))  # indexed like groupby(groups)


def sequence_labels(labels, sequence_ids, empty_labels=("",)) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique sequence ids, their `most_common_label`; the first empty label where none is left)."""
    frame = pd.DataFrame({"sequence_id": np.asarray(sequence_ids, dtype=object), "label": np.asarray(labels, dtype=object)})
    if len(frame) and frame["sequence_id"].isna().any():
        raise ValueError(f"sequence_ids holds {int(frame['sequence_id'].isna().sum())} missing value(s); give every frame a sequence")
    out = most_common_labels(frame["label"], frame["sequence_id"], empty_labels)
    fill = empty_labels[0] if len(empty_labels) else ""
    return out.index.to_numpy(dtype=object), out.fillna(fill).to_numpy(dtype=object)


def _camera_key(df: pd.DataFrame, keys: list[str]) -> pd.Series:
    if not keys:
        return pd.Series("all", index=df.index)
    parts = [df[k].astype("string").fillna("?") for k in keys]
    key = parts[0]
    for part in parts[1:]:
        key = key + "/" + part
    return key.astype(object)


def gap_profile(records: pd.DataFrame, thresholds=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)) -> pd.DataFrame:
    """Share of consecutive same-camera gaps at or below each threshold, per area: evidence for the gap."""
    keys = [k for k in CAMERA_KEYS if k in records.columns]
    ordered = records.assign(_key=_camera_key(records, keys)).sort_values(["_key", "timestamp"])
    gaps = ordered.groupby("_key")["timestamp"].diff().dt.total_seconds()
    area = ordered["area"] if "area" in ordered else pd.Series("all", index=ordered.index)
    rows = []
    for name, g in gaps.groupby(area):
        g = g.dropna().to_numpy()
        rows.append({"area": name, "n_gaps": len(g), **{f"<={t}s": float(np.mean(g <= t)) for t in thresholds}})
    return pd.DataFrame(rows)
