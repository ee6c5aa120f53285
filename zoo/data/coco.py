"""COCO Camera Traps JSON (the format LILA publishes its data sets in) -> raw records.

One JSON with `images` (id, file_name, location, datetime, seq_id, frame_num, ...), `categories` (id, name) and
`annotations` (image_id, category_id, optionally bbox): each image is a photo, the names of its annotations'
categories are its tags, `location` its site, `seq_id` its sequence. See docs/formats/coco-camera-traps.md.
"""
from __future__ import annotations

import gzip
import json
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

SUFFIXES = (".json", ".json.gz")
HEAD_BYTES = 1 << 20


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8-sig") if path.name.lower().endswith(".gz") else \
        open(path, encoding="utf-8-sig")


def load_json(path: Path) -> Any:
    """A (gzipped) JSON file; a broken one fails naming the file, the reason and the line."""
    with _open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None


def looks_like_coco(path: str | Path) -> bool:
    """A .json(.gz) whose first MiB holds an `images` list with `file_name` keys (MegaDetector's batch output has
    `file`, Camtrap DP's descriptor is datapackage.json): no need to parse a LILA file of a million images twice."""
    path = Path(path)
    if not path.is_file() or not path.name.lower().endswith(SUFFIXES) or path.name == "datapackage.json":
        return False
    with _open(path) as f:
        head = f.read(HEAD_BYTES)
    return bool(re.search(r'"images"\s*:', head) and re.search(r'"file_name"\s*:', head))


def read_coco_camera_traps(path: str | Path, image_root: str | None = None) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Raw records of a COCO Camera Traps file.

    `file_name` is relative to `image_root` (default: the JSON's folder; a path that exists from the working
    directory is kept). Raw records get `sequence_given` (seq_id) and `frame_given` (frame_num) for
    `apply_given_sequences`, and `width`/`height` when the file has them.
    """
    path = Path(path)
    data = load_json(path)
    missing = [k for k in ("images", "categories", "annotations") if k not in data]
    if not isinstance(data, dict) or missing:
        raise ValueError(f"{path}: a COCO Camera Traps file needs `images`, `categories` and `annotations` "
                         f"(missing {missing})")
    problems: list[dict[str, str]] = []
    categories = {c["id"]: str(c["name"]) for c in data["categories"]}
    images = pd.DataFrame(data["images"])
    for key in ("id", "file_name"):
        if key not in images:
            raise ValueError(f"{path}: images need `{key}` (has {list(images.columns)})")
    images["id"] = images["id"].astype(str)
    dup = images["id"][images["id"].duplicated()]
    if len(dup):
        raise ValueError(f"{path}: image ids must be unique; repeated e.g. {dup.iloc[:3].tolist()}")
    tags: dict[str, list[str]] = {}
    known = set(images["id"])
    for ann in data["annotations"]:
        image_id, category = str(ann.get("image_id")), ann.get("category_id")
        if image_id not in known:
            problems.append({"file": image_id, "problem": "annotation of an unknown image (skipped)"})
            continue
        if category not in categories:
            problems.append({"file": image_id, "problem": f"annotation of unknown category {category!r} (skipped)"})
            continue
        names = tags.setdefault(image_id, [])
        if categories[category] not in names:
            names.append(categories[category])
    root = Path(image_root) if image_root else path.parent

    def image_path(name: Any) -> str:
        name = str(name)
        if Path(name).is_absolute() or (not image_root and Path(name).exists()):
            return name
        return str(root / name)

    def column(name: str) -> pd.Series:
        if name not in images:
            return pd.Series("", index=images.index, dtype=object)
        return images[name].map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v))

    site = column("location")
    if (site == "").all():
        log.warning("%s: no image has a `location`: all photos are one site (no by_site split, no occupancy)", path)
    raw = pd.DataFrame({
        "media_id": images["id"], "path": images["file_name"].map(image_path), "area": "", "site": site,
        "camera": site, "timestamp_raw": column("datetime").where(column("datetime") != "", None),
        "tags": images["id"].map(lambda i: tags.get(i, [])),
        "sequence_given": column("seq_id"), "frame_given": pd.to_numeric(column("frame_num"), errors="coerce"),
    })
    for extra in ("width", "height"):
        if extra in images:
            raw[extra] = images[extra]
    for problem in problems[:20]:
        log.warning("%s: %s", problem["file"], problem["problem"])
    return raw, problems


def apply_given_sequences(records: pd.DataFrame) -> pd.DataFrame:
    """Sequences a source names (COCO `seq_id`) replace the time-gap bursts of their photos; `frame` is the
    0-based position in (time, frame_num, media_id) order. Photos without one keep their burst."""
    if "sequence_given" not in records:
        return records
    out = records.copy()
    given = out["sequence_given"].fillna("").astype(str)
    use = given != ""
    if use.any():
        out.loc[use, "sequence_id"] = given[use]
        ordered = out[use].assign(_frame=out.loc[use, "frame_given"] if "frame_given" in out else 0).sort_values(
            ["sequence_id", "timestamp", "_frame", "media_id"], kind="stable", na_position="last")
        out.loc[ordered.index, "frame"] = ordered.groupby("sequence_id", sort=False).cumcount().to_numpy()
        out["frame"] = out["frame"].astype(int)
        cameras = out[use].groupby("sequence_id")["camera"].nunique()
        if (cameras > 1).any():
            log.warning("%d seq_id values span several locations: kept as given", int((cameras > 1).sum()))
    return out.drop(columns=[c for c in ("sequence_given", "frame_given") if c in out])
