"""Read the three kinds of camera-trap collections into raw records (one row per photo).

Raw records have `media_id, path, area, site, camera, timestamp_raw, tags` (a list of raw tags)
and optionally `label_given` (an explicit human label that wins over tags) plus any extra columns.
`zoo.data.study.build_records` then normalises labels, repairs clocks and groups sequences.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import re
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from zoo.data.labels import split_tags
from zoo.data.tags import IMAGE_SUFFIXES, read_image_tags

log = logging.getLogger(__name__)


def detect_source(path: str | Path) -> str:
    """'images', 'records', 'camtrap_dp', 'coco' (COCO Camera Traps JSON) or 'megadetector' (its batch output
    JSON), from what the path looks like."""
    from zoo.data.coco import looks_like_coco
    from zoo.data.megadetector import looks_like_megadetector

    path = Path(path)
    if path.is_file():
        if path.name.lower().endswith(TABLE_SUFFIXES):
            return "records"
        if path.name == "datapackage.json":
            return "camtrap_dp"
        if looks_like_megadetector(path):
            return "megadetector"
        if looks_like_coco(path):
            return "coco"
        raise ValueError(f"{path}: expected a records CSV/Parquet/.xlsx, a Camtrap DP folder, a COCO Camera Traps .json, "
                         "a MegaDetector batch output .json or an image folder")
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist")
    if (path / "datapackage.json").is_file() or (path / "deployments.csv").is_file():
        return "camtrap_dp"
    return "images"


# --- (a) a folder tree of images ------------------------------------------------------------------

def read_image_folder(root: str | Path, path_pattern: str | None = None, workers: int = 4,
                      progress: bool = True) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Scan images below `root`, reading EXIF capture time and keyword tags.

    `path_pattern` is a regular expression matched against the path relative to `root` whose
    named groups (`area`, `site`, `camera`) fill those columns; without a match the site is the
    parent folder's name. Returns the raw records and a list of problems (file, problem).
    """
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) below {root}")
    pattern = re.compile(path_pattern) if path_pattern else None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        scanned = list(tqdm(pool.map(_scan_file, files), total=len(files), desc="reading image tags",
                            disable=not progress, unit="img"))
    rows, problems, first_by_hash = [], [], {}
    for file, (info, digest) in zip(files, scanned):
        relative = file.relative_to(root).as_posix()
        problems += [{"file": relative, "problem": p} for p in info.problems]
        readable = not any(p.startswith("unreadable image") for p in info.problems)
        # two broken files with equal bytes (e.g. two empty ones) are both listed as unreadable, not as copies
        if readable and digest in first_by_hash:
            problems.append({"file": relative, "problem": f"duplicate of {first_by_hash[digest]} (skipped)"})
            continue
        if readable:
            first_by_hash[digest] = relative
        rows.append({"media_id": relative, "path": str(file), **_path_fields(relative, file, pattern),
                     "timestamp_raw": info.datetime_original, "tags": info.tags, "readable": readable})
    for problem in problems:
        log.warning("%s: %s", problem["file"], problem["problem"])
    return pd.DataFrame(rows), problems


def _scan_file(path: Path):
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    return read_image_tags(path), digest


def _path_fields(relative: str, file: Path, pattern: re.Pattern | None) -> dict[str, str]:
    fields = {"area": "", "site": file.parent.name, "camera": ""}
    match = pattern.search(relative) if pattern else None
    if match:
        fields.update({k: v for k, v in match.groupdict().items() if v is not None})
    if not fields["camera"]:
        fields["camera"] = fields["site"]
    return fields


# --- (b) a records table ------------------------------------------------------------------------

# our column -> the file's column names tried (case-insensitive, first found) when data.columns names none
COLUMN_ALIASES = {
    "media_id": ("media_id", "mediaid", "id", "file", "filename", "file_name", "image", "path"),
    "path": ("path", "file_path", "filepath", "file", "filename", "file_name", "image"),
    "area": ("area",),
    "site": ("site", "location", "locationid", "station", "trap"),
    "camera": ("camera", "cameraid"),
    "timestamp": ("timestamp", "datetime", "date_time", "datetimeoriginal", "datetime_original", "time"),
    "tags": ("label", "labels", "species", "tags", "keywords", "class"),
}
# what a records table loses without each optional column (one warning lists them)
OPTIONAL_COLUMNS = {
    "site": "all photos are one site (no by_site split, no occupancy)",
    "camera": "each site is one camera",
    "timestamp": "no sequences (each photo is its own; the split keeps runs of file names together) and no occasions",
}


def resolve_columns(available: Sequence[str], columns: Mapping[str, Any] | None = None,
                    source: str = "records table") -> dict[str, Any]:
    """Our column -> the file's column(s): `columns` as given (each must exist), else the first alias found."""
    given = dict(columns) if columns else {}
    unknown = set(given) - set(COLUMN_ALIASES) - {"label"}
    if unknown:
        raise ValueError(f"data.columns: unknown key(s) {sorted(unknown)}; known: {sorted([*COLUMN_ALIASES, 'label'])}")
    by_lower = {str(c).lower(): c for c in available}
    spec: dict[str, Any] = {"label": given.get("label")}
    for ours, aliases in COLUMN_ALIASES.items():
        if ours in given:
            spec[ours] = given[ours]
        else:
            spec[ours] = next((by_lower[a] for a in aliases if a in by_lower), None)
            if ours == "tags" and spec[ours] is not None and spec[ours] in given.values():
                spec[ours] = None  # e.g. `label` mapped explicitly: not also read as tags
    spec["tags"] = [spec["tags"]] if isinstance(spec["tags"], str) else list(spec["tags"] or [])
    named = [c for k, v in given.items() if v for c in ([v] if isinstance(v, str) else v)]
    missing = [c for c in named if c not in available]
    if missing:
        raise ValueError(f"{source}: column(s) {missing} not found (has {list(available)}); "
                         "map your column names with data.columns.*")
    if spec["media_id"] is None:
        spec["media_id"] = spec["path"]
    if spec["media_id"] is None:
        raise ValueError(f"{source}: no photo id or path column (tried {list(COLUMN_ALIASES['media_id'])}; has "
                         f"{list(available)}); name yours with data.columns.media_id")
    return spec


TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".xlsx")


def read_table_file(path: str | Path, **read_csv) -> pd.DataFrame:
    """A CSV (',' ';' or tab separated, UTF-8 with or without BOM, optionally gzipped), Parquet file or Excel
    workbook (.xlsx: its first sheet; `read_csv`'s dtype/NA/nrows options apply to it too)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".xlsx":
        return read_excel_sheet(path, **read_csv)
    try:
        with (gzip.open(path, "rt", encoding="utf-8-sig") if path.suffix == ".gz"
              else open(path, encoding="utf-8-sig")) as f:
            header = f.readline()
        # spreadsheets set to a European locale write ';' (a decimal comma takes ',')
        sep = max((",", ";", "\t"), key=header.count)
        if sep != ",":
            log.info("%s: columns separated by %r", path, sep)
        # whole-file type inference: a column is one type, not one per chunk of a large table
        return pd.read_csv(path, sep=sep, encoding="utf-8-sig", **{"low_memory": False, **read_csv})
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}): save it as UTF-8 "
                         "(Excel: 'CSV UTF-8'; LibreOffice: character set Unicode (UTF-8))") from None


def read_excel_sheet(path: Path, **options) -> pd.DataFrame:
    """The first sheet of a workbook; other sheets are named in a warning, never read silently as one."""
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            if len(book.sheet_names) > 1:
                log.warning("%s: reading its first sheet %r only (also has %s); save the labels' sheet first or as CSV",
                            path, book.sheet_names[0], ", ".join(map(repr, book.sheet_names[1:])))
            table = book.parse(book.sheet_names[0], **options)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as err:  # what openpyxl raises for a non-workbook
        raise ValueError(f"{path} is not a readable .xlsx workbook ({err}); save it again from the spreadsheet") from None
    return table  # with dtype=str a date cell reads '2021-06-01 10:00:00', which zoo.data.times parses


def resolve_image_path(image: str, table_dir: Path) -> str:
    """A relative path is taken from the working directory if the file is there, else from the table's folder
    if it is there; otherwise it stays as written (tables of records without photos)."""
    if not image or Path(image).is_absolute() or Path(image).exists() or not (table_dir / image).exists():
        return image
    return str(table_dir / image)


def read_records_table(path: str | Path, columns: Mapping[str, Any] | None = None,
                       tag_separator: str = ";") -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Read a records CSV/Parquet whose column names are mapped by `columns` (else found by COLUMN_ALIASES).

    Only a photo id or path is required, and a label for training. `columns.tags` names the columns holding
    tags (several tags joined by `tag_separator`); `columns.label`, when given, names an explicit human label
    that wins over tags. Rows sharing a media id (one photo tagged with two labels on two rows) are merged.
    """
    path = Path(path)
    table = read_table_file(path, dtype=str, keep_default_na=False, na_values=[""])
    table, dropped = _drop_deleted(table, path)
    table, defaults = _timelapse_columns(table, path)
    spec = resolve_columns(list(table.columns), {**defaults, **dict(columns or {})}, source=str(path))
    tag_cols = spec["tags"]
    if not tag_cols and not spec["label"]:
        log.warning("%s: no label column (tried %s): every record is unlabelled; name yours with data.columns.tags",
                    path, list(COLUMN_ALIASES["tags"]))
    lost = {c: why for c, why in OPTIONAL_COLUMNS.items() if not spec[c] and not (c == "camera" and spec["site"])}
    if lost:
        log.warning("%s has no %s column: %s; map them with data.columns.*", path, "/".join(lost),
                    "; ".join(f"without {c}, {why}" for c, why in lost.items()))

    def column(name: str) -> pd.Series | str:
        return table[spec[name]].fillna("").astype(str) if spec[name] else ""

    raw = pd.DataFrame({"media_id": table[spec["media_id"]].astype(str),
                        "path": table[spec["path"] or spec["media_id"]].astype(str).map(
                            lambda p: resolve_image_path(p, path.parent))})
    raw["area"], raw["site"] = column("area"), column("site")
    raw["camera"] = column("camera") if spec["camera"] else raw["site"]
    raw["timestamp_raw"] = table[spec["timestamp"]] if spec["timestamp"] else None
    raw["tags"] = _tags_per_row(table, tag_cols, tag_separator) if tag_cols else [[] for _ in range(len(table))]
    if spec["label"]:
        raw["label_given"] = table[spec["label"]]
    mapped = {c for c in [spec[k] for k in ("media_id", "path", "area", "site", "camera", "timestamp", "label")] if c}
    for extra in table.columns:
        if extra not in mapped and extra not in tag_cols and extra not in raw.columns:
            raw[extra] = table[extra]
    raw, merged = _merge_duplicate_rows(raw)
    return raw, dropped + merged


TRUE_TEXTS = {"true", "1", "yes", "y", "x"}


def _drop_deleted(table: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Rows whose `DeleteFlag` (Timelapse's mark for images to delete) is true are dropped, each listed as a
    problem so the summary counts them."""
    flag = next((c for c in table.columns if str(c).lower() == "deleteflag"), None)
    if flag is None:
        return table, []
    deleted = table[flag].fillna("").astype(str).str.strip().str.lower().isin(TRUE_TEXTS)
    if not deleted.any():
        return table, []
    names = _timelapse_paths(table[deleted]) if _is_timelapse(table) else table[deleted].iloc[:, 0].astype(str)
    log.info("%s: %d rows marked %s (dropped)", path, int(deleted.sum()), flag)
    problems = [{"file": n, "problem": f"{flag} set (dropped)"} for n in names]
    return table[~deleted].reset_index(drop=True), problems


def _is_timelapse(table: pd.DataFrame) -> bool:
    lower = {str(c).lower() for c in table.columns}
    return {"file", "relativepath"} <= lower


def _column(table: pd.DataFrame, name: str) -> str | None:
    return next((c for c in table.columns if str(c).lower() == name), None)


def _timelapse_paths(table: pd.DataFrame) -> pd.Series:
    folder = table[_column(table, "relativepath")].fillna("").astype(str).str.replace("\\", "/", regex=False)
    folder = folder.str.strip("/")
    file = table[_column(table, "file")].fillna("").astype(str)
    return (folder + "/" + file).str.lstrip("/")


def _timelapse_columns(table: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A Timelapse export (File + RelativePath columns): the photo is RelativePath/File (also its media id, since
    file names repeat across folders), the site its last folder when the table has no site column, and the time
    DateTime, else Date + Time (Timelapse's `01-Jun-2021` dates read as day-month-year). Column defaults that a
    user's `data.columns` overrides."""
    if not _is_timelapse(table) or _column(table, "path") is not None:
        return table, {}
    out = table.copy()
    out["path"] = _timelapse_paths(out)
    defaults: dict[str, Any] = {"media_id": "path", "path": "path"}
    if not any(_column(out, a) for a in COLUMN_ALIASES["site"]):
        out["site"] = out["path"].map(lambda p: p.rsplit("/", 2)[-2] if "/" in p else "")
        defaults["site"] = "site"
    date, time = _column(out, "date"), _column(out, "time")
    if _column(out, "datetime") is None and date and time:
        days = out[date].fillna("").astype(str).str.strip()
        parsed = pd.to_datetime(days, format="%d-%b-%Y", errors="coerce")
        if parsed.notna().sum() == (days != "").sum():
            days = parsed.dt.strftime("%Y-%m-%d").fillna("")
        out["DateTime"] = (days + " " + out[time].fillna("").astype(str).str.strip()).str.strip()
        out["DateTime"] = out["DateTime"].where(out["DateTime"] != "", None)
        defaults["timestamp"] = "DateTime"
    log.info("%s: a Timelapse export (photo = RelativePath/File)", path)
    return out, defaults


def _tags_per_row(table: pd.DataFrame, tag_cols: Sequence[str], separator: str) -> list[list[str]]:
    cells = zip(*(table[c].tolist() for c in tag_cols))
    return [[t for cell in row for t in split_tags(cell, separator)] for row in cells]


def _merge_duplicate_rows(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    dup = raw["media_id"].duplicated(keep=False)
    if not dup.any():
        return raw.reset_index(drop=True), []
    problems = [{"file": m, "problem": "several rows for one photo (labels merged)"}
                for m in raw.loc[dup, "media_id"].unique()]
    log.info("%d photos appear on several rows: their labels are merged into one record", len(problems))
    first = raw[~raw["media_id"].duplicated()].set_index("media_id")
    groups = raw[dup].groupby("media_id", sort=False)
    first.loc[groups.size().index, "tags"] = pd.Series(
        {m: list(dict.fromkeys(t for tags in g["tags"] for t in tags)) for m, g in groups})
    if "label_given" in raw:
        merged = groups["label_given"].agg(lambda s: ";".join(dict.fromkeys(s.dropna().astype(str))))
        first.loc[merged.index, "label_given"] = merged
    return first.reset_index(), problems


# --- (c) a Camtrap DP package ---------------------------------------------------------------------

def read_camtrap_dp(folder: str | Path) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Read deployments, media and observations of a Camtrap DP (1.0) package.

    Media-based observations join on `mediaID`; event-based ones (no mediaID) label every photo of
    their deployment between `eventStart` and `eventEnd`. Tags are scientific names, or the
    observation type for non-animal observations ('human', 'vehicle', 'blank', 'unknown').
    """
    folder = Path(folder)
    deployments = _read_required(folder, "deployments.csv", ["deploymentID", "locationID"])
    media = _read_required(folder, "media.csv", ["mediaID", "deploymentID", "timestamp", "filePath"])
    observations = _read_required(folder, "observations.csv", ["deploymentID", "observationType"])
    unknown_dep = set(media["deploymentID"]) - set(deployments["deploymentID"])
    problems = [{"file": m, "problem": "media of an unknown deployment"}
                for m in media.loc[media["deploymentID"].isin(unknown_dep), "mediaID"]]
    media = media.merge(deployments, on="deploymentID", how="left", suffixes=("", "_deployment"))
    observations["tag"] = observations.get("scientificName", pd.Series(index=observations.index, dtype=object))
    observations["tag"] = observations["tag"].where(observations["tag"].notna() & (observations["tag"] != ""),
                                                    observations["observationType"])
    tags = _observation_tags(media, observations)
    paths = media["filePath"].map(lambda p: _media_path(folder, p))
    raw = pd.DataFrame({
        "media_id": media["mediaID"], "path": paths, "area": media.get("locationName", ""),
        "site": media["locationID"].fillna(media["deploymentID"]),
        "camera": media.get("cameraID", media["deploymentID"]).fillna(media["deploymentID"]),
        "timestamp_raw": media["timestamp"], "tags": media["mediaID"].map(tags).apply(lambda t: t if isinstance(t, list) else []),
        "deployment_id": media["deploymentID"],
        "lat": pd.to_numeric(media.get("latitude"), errors="coerce"),
        "lon": pd.to_numeric(media.get("longitude"), errors="coerce"),
    })
    return raw, problems


def _media_path(folder: Path, file_path: str) -> str:
    """A relative filePath is read from the package's folder, a `file://` URI (what zoo.data export writes for
    photos outside the package) as the local path, any other URL kept as it is."""
    text = str(file_path)
    if text.startswith("file://"):
        from urllib.parse import urlparse
        from urllib.request import url2pathname

        return url2pathname(urlparse(text).path)
    return text if re.match(r"^[a-z][a-z0-9+.-]*://", text) else str(folder / text)


def _read_required(folder: Path, name: str, columns: list[str]) -> pd.DataFrame:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"Camtrap DP package {folder} has no {name}")
    table = pd.read_csv(path, dtype=str)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: Camtrap DP column(s) {missing} missing")
    return table


def _observation_tags(media: pd.DataFrame, observations: pd.DataFrame) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    has_media = observations.get("mediaID", pd.Series(index=observations.index, dtype=object)).fillna("") != ""
    for media_id, tag in observations.loc[has_media, ["mediaID", "tag"]].itertuples(index=False):
        tags.setdefault(media_id, []).append(tag)
    events = observations[~has_media]
    if len(events):
        times = pd.to_datetime(media["timestamp"], format="ISO8601", errors="coerce", utc=True)
        for ev in events.itertuples(index=False):
            start = pd.to_datetime(getattr(ev, "eventStart", None), format="ISO8601", errors="coerce", utc=True)
            end = pd.to_datetime(getattr(ev, "eventEnd", None), format="ISO8601", errors="coerce", utc=True)
            inside = (media["deploymentID"] == ev.deploymentID) & (times >= start) & (times <= end)
            for media_id in media.loc[inside, "mediaID"]:
                tags.setdefault(media_id, []).append(ev.tag)
    return {m: list(dict.fromkeys(t)) for m, t in tags.items()}
