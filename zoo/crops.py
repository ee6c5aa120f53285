"""Classify the boxes MegaDetector drew instead of whole frames (zoo.predict's `crops` option).

A MegaDetector batch output file (read by zoo.data.megadetector, the one reader of the format) gives each image
its detections; those of the chosen categories with `conf >= threshold` become crops (`bbox` = [x, y, width,
height] as fractions of the image, top-left origin, grown by `padding` and clamped to the image). Each crop is a
unit that zoo.predict classifies and pools like a frame. An image without such a box is `empty`; an image the file
does not list, or that the detector failed on, is skipped and listed with its reason. See
docs/formats/megadetector.md.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from core.runs import Interval, Rule, validate
from zoo.data.megadetector import EMPTY, _conf, looks_like_megadetector, read_megadetector

log = logging.getLogger(__name__)

MEGADETECTOR_CATEGORIES = ("animal", "person", "vehicle")
CROP_COLUMNS = ("box", "category", "detection_conf", "bbox_x", "bbox_y", "bbox_w", "bbox_h")

CROP_RULES = {
    "detections": Rule(lambda f: f is None or looks_like_megadetector(f),
                       "null or an existing MegaDetector batch output file (.json with images and "
                       "detection_categories)"),
    "threshold": Interval(0.0, 1.0),
    "categories": Rule(lambda c: isinstance(c, Sequence) and not isinstance(c, str) and len(c) > 0
                       and all(isinstance(x, str) and x for x in c), "a non-empty list of category names, e.g. [animal]"),
    "padding": Interval(0.0),
    "image_root": Rule(lambda r: r is None or Path(r).is_dir(), "null or an existing folder"),
}


def check_crop_options(crops: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> None:
    """Raise ValueError naming an unknown `crops.` key or an impossible value (before any model or data loads)."""
    if crops is None:
        return
    if not isinstance(crops, Mapping):
        raise ValueError(f"crops={crops} is not allowed: expected a mapping of {', '.join(defaults)}")
    unknown = sorted(set(crops) - set(defaults))
    if unknown:
        raise ValueError(f"unknown crop option(s) {', '.join('crops.' + k for k in unknown)}: expected some of "
                         f"{', '.join(defaults)}")
    validate(crops, CROP_RULES, "crops.")


def crops_enabled(crops: Mapping[str, Any] | None) -> bool:
    return crops is not None and crops.get("detections") is not None


def crop_settings(crops: Mapping[str, Any]) -> dict[str, Any]:
    """What decides the crops, for the part files' fingerprint and the provenance (the file by its hash too)."""
    file = Path(crops["detections"])
    return {"detections": str(file.resolve()), "detections_sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
            "threshold": float(crops["threshold"]), "categories": list(crops["categories"]),
            "padding": float(crops["padding"]), "image_root": crops.get("image_root")}


# --- which boxes to classify ----------------------------------------------------------------------

@dataclass
class CropPlan:
    units: pd.DataFrame  # one row per crop: media_id (a unit id), image_id, path, crop_box, CROP_COLUMNS, the record's
    empty: pd.DataFrame  # records with no box of the categories at or above the threshold
    skipped: pd.DataFrame  # media_id, path, error: not in the file, a detector failure, no usable box


def plan_crops(records: pd.DataFrame, crops: Mapping[str, Any]) -> CropPlan:
    """The crops of `records` (zoo.predict's input) that MegaDetector's file `crops.detections` boxes."""
    raw, problems = read_megadetector(crops["detections"], crops.get("image_root"), float(crops["threshold"]))
    entries = _match(records, raw)
    categories = set(crops["categories"])
    _check_categories(categories, raw, crops["detections"])
    failures = {p["file"]: p["problem"] for p in problems if p["problem"].startswith("detector failure")}
    units, empty, skipped = [], [], []
    for position, (record, entry) in enumerate(zip(records.to_dict("records"), entries)):
        if entry is None:
            skipped.append(_skip(record, f"not in {Path(crops['detections']).name}"))
        elif not entry["readable"]:
            skipped.append(_skip(record, failures.get(entry["media_id"], "detector failure")))
        else:
            boxes = _boxes(record, json.loads(entry["detections"]), categories, crops)
            if boxes is None:
                skipped.append(_skip(record, "no usable box (bbox not 4 numbers inside the image)"))
            elif boxes:
                units.extend(boxes)
            else:
                empty.append(position)
    unmatched = len(raw) - sum(e is not None for e in entries)
    if unmatched:
        log.info("%d image(s) of %s are not in the input (ignored)", unmatched, crops["detections"])
    plan = CropPlan(pd.DataFrame(units, columns=[*records.columns, "image_id", "crop_box", *CROP_COLUMNS]),
                    records.iloc[empty].reset_index(drop=True),
                    pd.DataFrame(skipped, columns=["media_id", "path", "error"]))
    log.info("crops: %d box(es) in %d image(s), %d empty, %d skipped (threshold %s, categories %s, padding %s)",
             len(plan.units), plan.units["image_id"].nunique(), len(plan.empty), len(plan.skipped),
             crops["threshold"], list(crops["categories"]), crops["padding"])
    return plan


def _match(records: pd.DataFrame, raw: pd.DataFrame) -> list[dict[str, Any] | None]:
    """The file's entry of each record: same file on disk, else same name (media_id)."""
    by_path = {os.path.realpath(p): i for i, p in enumerate(raw["path"])}
    by_name = {m: i for i, m in enumerate(raw["media_id"])}
    rows = raw.to_dict("records")
    found = []
    for media_id, path in zip(records["media_id"], records["path"]):
        i = by_path.get(os.path.realpath(str(path))) if isinstance(path, str) and path else None
        i = by_name.get(str(media_id)) if i is None else i
        found.append(rows[i] if i is not None else None)
    return found


def _check_categories(categories: set[str], raw: pd.DataFrame, file) -> None:
    """A category no detection has is a typo unless it is one of MegaDetector's own (then just absent here)."""
    seen = {d["category"] for text in raw["detections"] for d in json.loads(text)}
    unknown = sorted(categories - seen - set(MEGADETECTOR_CATEGORIES))
    if unknown:
        raise ValueError(f"crops.categories {unknown}: no detection of {file} has them (its categories: "
                         f"{sorted(seen) or 'none'})")
    for name in sorted(categories - seen):
        log.warning("crops.categories: no detection of %s is %r", file, name)


def _boxes(record: dict[str, Any], detections: list[dict], categories: set[str], crops) -> list[dict] | None:
    """One unit per qualifying detection; None when some qualify but none has a usable box."""
    threshold, padding = float(crops["threshold"]), float(crops["padding"])
    chosen = [(k, d) for k, d in enumerate(detections) if d.get("category") in categories and _conf(d) >= threshold]
    units = []
    for k, det in chosen:
        box = crop_box(det.get("bbox"), padding)
        if box is None:
            log.warning("%s: detection %d has an unusable bbox %s (skipped)", record["media_id"], k, det.get("bbox"))
            continue
        units.append({**record, "media_id": f"{record['media_id']}#{k}", "image_id": record["media_id"],
                      "crop_box": box, "box": k, "category": det["category"], "detection_conf": _conf(det),
                      **dict(zip(("bbox_x", "bbox_y", "bbox_w", "bbox_h"), map(float, det["bbox"])))})
    return None if chosen and not units else units


def crop_box(bbox: Any, padding: float = 0.0) -> tuple[float, float, float, float] | None:
    """MegaDetector's [x, y, width, height] (fractions, top-left origin) -> (left, top, right, bottom), grown by
    `padding` times the width/height on each side and clamped to the image; None if not a box with area inside."""
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        return None
    left, top = max(0.0, x - padding * w), max(0.0, y - padding * h)
    right, bottom = min(1.0, x + w + padding * w), min(1.0, y + h + padding * h)
    return (left, top, right, bottom) if right > left and bottom > top else None


def _skip(record: dict[str, Any], error: str) -> dict[str, Any]:
    log.warning("%s skipped: %s", record["media_id"], error)
    return {"media_id": record["media_id"], "path": record["path"], "error": error}


# --- from crops back to images --------------------------------------------------------------------

def image_table(crops: pd.DataFrame, plan: CropPlan, keep: Sequence[str], classes: Sequence[str]) -> pd.DataFrame:
    """One row per image: its most confident detection's crop (ties: the first listed), with `empty` False and
    `n_crops`; then the empty images with pred `empty`, NaN confidence and probabilities and `empty` True.

    The most confident box, not an average of the boxes: a frame may hold two species, and MegaDetector's own
    label of a frame (zoo.data) is its most confident detection too.
    """
    probs = [f"p_{c}" for c in classes]
    n_crops = crops.groupby("media_id").size()
    best = crops.sort_values(["detection_conf", "box"], ascending=[False, True], kind="stable")
    best = best.drop_duplicates("media_id").set_index("media_id")
    boxed = best.assign(n_crops=n_crops, empty=False).reset_index()
    empty = plan.empty[[c for c in keep if c in plan.empty]].assign(pred=EMPTY, confidence=np.nan, empty=True,
                                                                    n_crops=0, **{p: np.nan for p in probs})
    columns = [*[c for c in keep if c in crops or c in empty], "pred", "confidence", "empty", "n_crops",
               *CROP_COLUMNS[:3], *probs]
    images = pd.concat([boxed, empty], ignore_index=True).reindex(columns=columns)
    images["box"] = images["box"].astype("Int64")
    return images


def ordered(images: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """`images` in the input's order."""
    rank = pd.Series(np.arange(len(records)), index=records["media_id"].to_numpy())
    return images.iloc[np.argsort(rank.reindex(images["media_id"]).to_numpy(), kind="stable")].reset_index(drop=True)


def count_frames(sequences: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """A crop run's sequences: `n_frames` its labelled images (the empty ones too), `n_crops` the boxes pooled."""
    sequences = sequences.copy()
    sequences.insert(sequences.columns.get_loc("n_frames") + 1, "n_crops", sequences["n_frames"])
    sequences["n_frames"] = sequences["sequence_id"].map(images.groupby("sequence_id").size())
    return sequences
