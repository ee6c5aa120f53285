"""`python -m zoo.data init PATH --out my_study.yaml`: a commented study config from what PATH holds.

It reads PATH as `summarize` would (every image's tags and time, or a table's columns) and writes the keys a
new study needs, each with what was found and what to change; the file loads as it is (`--data FILE`).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

from zoo.data.config import load_data_config, study_name
from zoo.data.sources import COLUMN_ALIASES, detect_source, read_image_folder, read_table_file, resolve_columns
from zoo.data.times import describe_format

_TIME_NOTES = {
    "exif": "EXIF style (2017:05:01 10:00:00), read automatically",
    "iso": "ISO style (2017-05-01 10:00:00), read automatically",
    "day first": "day first (25/05/2017), read automatically; dayfirst: true makes it explicit",
    "month first": "month first (05/25/2017), read automatically; dayfirst: false makes it explicit",
    "day or month first (ambiguous)": "day/month or month/day: no day above 12 tells which; SET dayfirst",
    "mixed or unknown": "mixed or unknown styles: set time_format (a strftime pattern)",
    "none": "no capture times found: sequences are unknown (split kind file_blocks)",
}
# folder depth of the photos -> the path_pattern that reads site/camera from it
_LAYOUTS = {
    0: (None, "photos directly in PATH: all are one site (named after the folder)"),
    1: (None, "PATH/<site>/photo: the parent folder is the site"),
    2: (r"^(?P<site>[^/]+)/(?P<camera>[^/]+)/", "PATH/<site>/<camera>/photo"),
    3: (r"^(?P<area>[^/]+)/(?P<site>[^/]+)/(?P<camera>[^/]+)/", "PATH/<area>/<site>/<camera>/photo"),
}


def write_study_config(path: str | Path, out: str | Path, force: bool = False, progress: bool = True) -> str:
    """Write the config to `out` and return a short account of it."""
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    source = detect_source(path)
    if source == "images":
        text, found = _images_config(Path(path), progress)
    elif source == "records":
        text, found = _records_config(Path(path))
    elif source == "coco":
        text = _header(Path(path), "coco", ["a COCO Camera Traps file: category names are the labels, location the "
                                            "site, seq_id the sequence; image_root: the folder of file_name paths"])
        text, found = text + "image_root: null\n" + _common(times="iso", has_tags=True), "a COCO Camera Traps file"
    elif source == "megadetector":
        text = _header(Path(path), "megadetector", ["MegaDetector batch output: the most confident detection at or above "
                                                    "detection_threshold labels a photo (animal, person, vehicle), "
                                                    "empty when none; image_root: the folder of the `file` paths"])
        text = text + "image_root: null\ndetection_threshold: 0.2\n" + _common(times="exif", has_tags=True)
        found = "a MegaDetector batch output file"
    else:
        text = _header(Path(path), "camtrap_dp", ["a Camtrap DP package: labels are scientific names"])
        text, found = text + _common(times="iso", has_tags=True), "a Camtrap DP package"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    load_data_config(str(out))  # what we wrote must load: a mistake here is ours, not the user's
    return f"wrote {out} ({found}); check it, then: python -m zoo.data summarize {path} --data {out}"


def _images_config(root: Path, progress: bool) -> tuple[str, str]:
    raw, problems = read_image_folder(root, progress=progress)
    depths = Counter(media.count("/") for media in raw["media_id"])
    depth = depths.most_common(1)[0][0]
    pattern, layout = _LAYOUTS.get(depth, (None, f"photos {depth} folders deep: write path_pattern yourself"))
    tags = Counter(t for row in raw["tags"] for t in row)
    times = describe_format(raw["timestamp_raw"])
    n_time = int(raw["timestamp_raw"].notna().sum())
    notes = [f"{len(raw)} images ({int((~raw['readable']).sum())} unreadable, {len(problems)} problems in all), "
             f"{n_time} with an EXIF capture time",
             f"folder layout: {layout}" + (f" (also at other depths: {dict(depths)})" if len(depths) > 1 else ""),
             f"{len(tags)} distinct keyword tags" + ("" if tags else ": photos are unlabelled (tag them in a photo "
                                                     "manager, or use a label CSV with path,label)")]
    text = _header(root, "images", notes)
    text += "# site/camera from the path relative to `path` (named groups area, site, camera)\n"
    text += f"path_pattern: {_yaml(pattern)}\n"
    text += _common(times, bool(tags), tags)
    return text, f"{len(raw)} images, {len(tags)} tags, times: {times}"


def _records_config(table_path: Path) -> tuple[str, str]:
    table = read_table_file(table_path, dtype=str, keep_default_na=False, na_values=[""])
    spec = resolve_columns(list(table.columns), None, source=str(table_path))
    times = describe_format(table[spec["timestamp"]]) if spec["timestamp"] else "none"
    tags = Counter(t.strip() for c in spec["tags"] for cell in table[c].dropna() for t in str(cell).split(";") if t.strip())
    notes = [f"{len(table)} rows, columns {list(table.columns)}"]
    text = _header(table_path, "records", notes)
    text += "# our column: the table's column (found by name; null: the table has none, see the warning of summarize)\n"
    text += "columns:\n"
    for ours in COLUMN_ALIASES:
        value = spec[ours] if ours != "tags" else (spec["tags"] or None)
        text += f"  {ours}: {_yaml(value)}\n"
    text += "  label: null  # a human label column that wins over the tags, if you have both\n"
    text += _common(times, bool(tags), tags)
    return text, f"{len(table)} rows, times: {times}"


def _header(path: Path, source: str, notes: list[str]) -> str:
    lines = [f"# Study config written by `python -m zoo.data init {path}` on {dt.date.today()} from what it found:"]
    lines += [f"#   {n}" for n in notes]
    lines += ["# Check each key, then: python -m zoo.data summarize PATH --data THIS_FILE (docs/own-study.md)",
              f"name: {_yaml(study_name(path))}", f"source: {source}", f"path: {_yaml(str(path.resolve()))}"]
    return "\n".join(lines) + "\n"


def _common(times: str, has_tags: bool, tags: Counter | None = None) -> str:
    kind = "file_blocks" if times == "none" else "stratified"
    top = (tags or Counter()).most_common(30)
    tag_lines = "".join(f"  #   {_yaml(t)}: {n}\n" for t, n in top)
    more = len(tags or ()) - len(top)
    return (
        f"# capture times: {_TIME_NOTES[times]}\n"
        f"time_format: null  # a strftime pattern, e.g. '%d/%m/%Y %H:%M'\n"
        f"dayfirst: {'true' if times == 'day first' else 'false' if times == 'month first' else 'null'}"
        f"  # order of 01/02/2017; null: from the values\n"
        "timezone: null  # e.g. Europe/Paris: converts times written with a UTC offset; null keeps local time\n"
        "sites: null  # a CSV with site, lat, lon (and area): coordinates for each site\n"
        "taxonomy: null  # a CSV with label,class,order,family,genus,species (docs/data.md)\n"
        "labels:\n"
        + (f"  # tags found (count), as typed; labels are their canonical form (lower case, no accents):\n{tag_lines}"
           + (f"  #   ... and {more} more\n" if more > 0 else "") if has_tags else "  # no tags found\n")
        + "  synonyms: {}  # variant: label, e.g. {foxes: fox, red fox: fox}\n"
        "  drop: []  # tags that are not classes, e.g. [blank, unidentified]\n"
        "  drop_patterns: []  # regular expressions, e.g. ['\\d+'] for trap numbers used as tags\n"
        "  priority: []  # a photo with several labels takes the first of these as its label\n"
        "clock:\n"
        "  corrections: []  # e.g. - {name: cam3_an_hour_late, where: {site: cam3}, shift: {hours: -1}}\n"
        "  valid_years: null  # e.g. [2016, 2019]: other years are flagged suspect_year\n"
        "sequences:\n"
        "  gap_seconds: 60  # a new burst starts after this gap between two photos of a camera\n"
        "split:\n"
        f"  kind: {kind}  # stratified (whole sequences on one side) | file_blocks (runs of file names, without "
        "times) | by_site | by_area | none\n"
        "  valid: 0.2\n"
        "  test: 0.0\n"
        "  seed: 0\n"
    )


def _yaml(value) -> str:
    """A scalar or list as YAML flow text (JSON is valid YAML)."""
    if value is None:
        return "null"
    if isinstance(value, str) and value.replace("_", "").replace("-", "").isalnum() and not value.isdigit() \
            and value.lower() not in {"true", "false", "null", "yes", "no", "on", "off"}:
        return value
    return json.dumps(value, ensure_ascii=False)

