"""MegaDetector batch output JSON (what the `megadetector` package's run_detector_batch writes) -> raw records.

One JSON with `images` (file, detections [{category, conf, bbox}], failure), `detection_categories` (id -> name:
animal, person, vehicle) and `info`: each image is a photo, labelled with the category of its most confident
detection at or above `detection_threshold`, or `empty` when it has none. Every detection is kept, as JSON text,
in a `detections` column so a later step can crop. See docs/formats/megadetector.md.
"""
from __future__ import annotations

import json
import logging
import math
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.data.coco import HEAD_BYTES, SUFFIXES, _open, load_json

log = logging.getLogger(__name__)

EMPTY = "empty"
TAIL_BYTES = 1 << 16


def looks_like_megadetector(path: str | Path) -> bool:
    """A .json(.gz) with an `images` list whose entries have `file` and `detections` (or `failure`) keys, and a
    `detection_categories` map. run_detector_batch writes `images` first, so for a plain .json the categories are
    looked for in the first MiB and the last 64 KiB; a .json.gz is judged on its first MiB."""
    path = Path(path)
    if not path.is_file() or not path.name.lower().endswith(SUFFIXES) or path.name == "datapackage.json":
        return False
    with _open(path) as f:
        head = f.read(HEAD_BYTES)
    if not (re.search(r'"images"\s*:', head) and re.search(r'"file"\s*:', head)
            and re.search(r'"(detections|failure)"\s*:', head)):
        return False
    if re.search(r'"detection_categories"\s*:', head):
        return True
    if path.name.lower().endswith(".gz"):
        return False
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - TAIL_BYTES))
        tail = f.read().decode("utf-8", "replace")
    return bool(re.search(r'"detection_categories"\s*:', tail))


def read_megadetector(path: str | Path, image_root: str | None = None, threshold: float = 0.2,
                      path_pattern: str | None = None, workers: int = 4) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Raw records of a MegaDetector batch output file.

    `file` is relative to `image_root` (default: the JSON's folder; an absolute path is kept). Site and camera
    come from `file` like an image folder's (`path_pattern`, else the parent folder). The capture time is an
    image's `datetime` key when it has one, else the EXIF DateTimeOriginal of the file when it is there (its
    header only: pixels are not decoded). Images with `failure` are kept unlabelled, `readable = False`, and
    listed as problems.
    """
    from zoo.data.sources import _path_fields

    path = Path(path)
    data = load_json(path)
    missing = [k for k in ("images", "detection_categories") if not isinstance(data, dict) or k not in data]
    if missing:
        raise ValueError(f"{path}: a MegaDetector batch output file needs `images` and `detection_categories` "
                         f"(missing {missing})")
    categories = {str(k): str(v) for k, v in data["detection_categories"].items()}
    root = Path(image_root) if image_root else path.parent
    pattern = re.compile(path_pattern) if path_pattern else None
    problems: list[dict[str, str]] = []
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in data["images"]:
        name = str(entry.get("file", "")).replace("\\", "/")
        if not name:
            problems.append({"file": "", "problem": "image without `file` (skipped)"})
            continue
        if name in seen:
            problems.append({"file": name, "problem": "listed twice (the later entry skipped)"})
            continue
        seen.add(name)
        failure = entry.get("failure")
        detections = []
        for det in entry.get("detections") or []:
            category = str(det.get("category"))
            if category not in categories:
                problems.append({"file": name, "problem": f"detection of unknown category {category!r} (skipped)"})
                continue
            detections.append({**det, "category": categories[category]})
        kept = [d for d in detections if _conf(d) >= threshold]
        best = max(kept, key=_conf) if kept else None  # max keeps the first of equal confidences
        if failure:
            problems.append({"file": name, "problem": f"detector failure: {failure}"})
        tags = [] if failure else [best["category"] if best else EMPTY]
        file = Path(name) if Path(name).is_absolute() else root / name
        relative = name.lstrip("/")
        rows.append({"media_id": name, "path": str(file), **_path_fields(relative, file, pattern),
                     "timestamp_raw": entry.get("datetime") or None, "tags": tags, "readable": not failure,
                     "detection_conf": _conf(best) if best else math.nan,
                     "n_detections": len(kept), "detections": json.dumps(detections)})
    if not rows:
        raise ValueError(f"{path}: no images")
    raw = pd.DataFrame(rows)
    need = [i for i, (when, ok) in enumerate(zip(raw["timestamp_raw"], raw["readable"])) if not when and ok]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        times = list(pool.map(_exif_time, raw["path"].iloc[need]))
    raw.loc[raw.index[need], "timestamp_raw"] = times
    for problem in problems[:20]:
        log.warning("%s: %s", problem["file"], problem["problem"])
    if len(problems) > 20:
        log.warning("... and %d more problems (--problems FILE lists them)", len(problems) - 20)
    return raw, problems


def _conf(detection: dict[str, Any]) -> float:
    try:
        return float(detection.get("conf", 0.0))
    except (TypeError, ValueError):
        return 0.0


def _exif_time(path: str) -> str | None:
    """EXIF DateTimeOriginal (or DateTime) from the file's header, or None (no file, no EXIF, not an image)."""
    from PIL import Image

    from zoo.data.tags import DATETIME, DATETIME_ORIGINAL, EXIF_IFD

    try:
        with Image.open(path) as im:
            exif = im.getexif()
            value = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) or exif.get(DATETIME)
    except Exception:  # a missing or broken file: no time here; zoo.train / zoo.predict list unreadable images
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    value = value.strip("\x00 ") if value else None
    return value or None
