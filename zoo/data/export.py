"""Camtrap DP 1.0.2 export: `python -m zoo.data export PATH --to camtrap-dp --out DIR`.

PATH is anything `summarize` reads (human labels: `classificationMethod = human`) or a `zoo.predict` output
(`preds.csv` with `pred`, `confidence`, `p_<class>` columns, read with its `<stem>_sequences` and
`<stem>_provenance.json` beside it: `classificationMethod = machine`, `classifiedBy` the model and run,
`classificationProbability` the probability of the class written). DIR gets `datapackage.json`,
`deployments.csv`, `media.csv` and `observations.csv`; see docs/formats/camtrap-dp.md for what is
written, what is dropped and why. `validate_camtrap_dp(DIR, STANDARDS)` checks a package against the
Camtrap DP 1.0.2 profile and table schemas kept on disk (no network).
"""
from __future__ import annotations

import json
import logging
import mimetypes
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone as dt_timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zoo.data.labels import canonical, split_tags
from zoo.data.sequences import most_common_labels

log = logging.getLogger(__name__)

VERSION = "1.0.2"
SPEC = f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{VERSION}"
PROFILE_URL = f"{SPEC}/camtrap-dp-profile.json"
TABLES = ("deployments", "media", "observations")
# every field of the 1.0.2 table schemas, in their order (a CSV must hold them all, empty where unknown)
FIELDS = {
    "deployments": ("deploymentID", "locationID", "locationName", "latitude", "longitude", "coordinateUncertainty",
        "deploymentStart", "deploymentEnd", "setupBy", "cameraID", "cameraModel", "cameraDelay", "cameraHeight",
        "cameraDepth", "cameraTilt", "cameraHeading", "detectionDistance", "timestampIssues", "baitUse",
        "featureType", "habitat", "deploymentGroups", "deploymentTags", "deploymentComments"),
    "media": ("mediaID", "deploymentID", "captureMethod", "timestamp", "filePath", "filePublic", "fileName",
        "fileMediatype", "exifData", "favorite", "mediaComments"),
    "observations": ("observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd",
        "observationLevel", "observationType", "cameraSetupType", "scientificName", "count", "lifeStage", "sex",
        "behavior", "individualID", "individualPositionRadius", "individualPositionAngle", "individualSpeed", "bboxX",
        "bboxY", "bboxWidth", "bboxHeight", "classificationMethod", "classifiedBy", "classificationTimestamp",
        "classificationProbability", "observationTags", "observationComments"),
}
LEVELS = ("auto", "media", "event", "both")
# labels that are Camtrap DP observation types rather than taxa (canonical forms)
BLANK = {"blank", "empty", "vide", "none", "nothing", "no animal"}
TYPE_WORDS = {"human": "human", "humain": "human", "person": "human", "people": "human", "vehicle": "vehicle",
              "vehicule": "vehicle", "car": "vehicle", "unknown": "unknown", "unclassified": "unclassified"}
# taxonomy common_<xx> columns -> ISO 639-3 codes Camtrap DP's vernacularNames want
LANGUAGES = {"en": "eng", "fr": "fra", "de": "deu", "es": "spa", "it": "ita", "nl": "nld", "pt": "por", "pl": "pol"}
RANKS = ("species", "genus", "family", "order", "class")
DEFAULT_METADATA = {
    # Camtrap DP requires these; a records table does not say them: overwrite with --metadata FILE
    "contributors": [{"title": "unknown (give --metadata with contributors)", "role": "contact"}],
    "project": {"samplingDesign": "opportunistic", "captureMethod": ["activityDetection"],
                "individualAnimals": False},
}


@dataclass
class Export:
    """What an export wrote and what it left out (the command prints it)."""

    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    method: str = "human"

    def summary(self) -> str:
        lines = [f"Camtrap DP {VERSION} ({self.method} classifications) -> {self.out}"]
        lines += [f"  {name}: {n} rows" for name, n in self.counts.items()]
        lines += [f"  dropped: {n} {why}" for why, n in self.dropped.items() if n]
        return "\n".join(lines)


# --- reading what to export -----------------------------------------------------------------------

def is_prediction_table(path: str | Path) -> bool:
    """A zoo.predict output: a table with `pred`, `confidence` and `p_<class>` columns."""
    path = Path(path)
    if not path.is_file() or not path.name.lower().endswith((".csv", ".csv.gz", ".parquet")):
        return False
    from zoo.data.sources import read_table_file

    columns = list(read_table_file(path, nrows=0).columns) if path.suffix != ".parquet" else \
        list(pd.read_parquet(path).columns)
    return {"pred", "confidence"} <= set(columns) and any(str(c).startswith("p_") for c in columns)


def prediction_files(path: str | Path) -> tuple[Path, Path, Path]:
    """zoo.predict's naming: FILE, FILE's stem + `_sequences` + suffix, FILE's stem + `_provenance.json`."""
    path = Path(path)
    return path, path.with_name(f"{path.stem}_sequences{path.suffix}"), path.with_name(f"{path.stem}_provenance.json")


def export_camtrap_dp(path: str | Path, out: str | Path, *, data: str | None = None, overrides: list[str] | None = None,
                      taxonomy: str | None = None, sites: str | None = None, timezone: str | None = None,
                      level: str = "auto", metadata: str | dict | None = None, force: bool = False,
                      progress: bool = True) -> Export:
    """Write a Camtrap DP package of PATH (records or a zoo.predict output) into `out`."""
    if level not in LEVELS:
        raise ValueError(f"--level must be one of {LEVELS}, got {level!r}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty: give another --out or --force to overwrite its files")
    if is_prediction_table(path):
        media, observations, context = _from_predictions(Path(path), taxonomy, sites, level)
        method = "machine"
    else:
        media, observations, context = _from_records(path, data, overrides, taxonomy, sites, level, progress)
        method = "human"
    timezone = timezone or context.pop("timezone", None)
    if not timezone:
        log.warning("no time zone (--timezone or the data config's `timezone`): the cameras' local times are written "
                    "with offset Z (UTC), as Camtrap DP needs an offset")
    result = Export(out=out, method=method)
    tables, dropped = _tables(media, observations, context["taxonomy"], timezone)
    result.dropped.update(dropped)
    descriptor = _descriptor(tables, context, metadata)
    out.mkdir(parents=True, exist_ok=True)
    from core.runs import write_json, write_table

    for name in TABLES:
        tables[name] = tables[name].reindex(columns=list(FIELDS[name]))
        write_table(out / f"{name}.csv", tables[name])
        result.counts[name] = len(tables[name])
    write_json(out / "datapackage.json", descriptor)
    for why, n in result.dropped.items():
        if n:
            log.warning("not exported: %d %s", n, why)
    return result


def _from_records(path, data, overrides, taxonomy, sites, level, progress):
    from zoo.data.config import default_data_config, load_data_config
    from zoo.data.sources import detect_source
    from zoo.data.study import load_study

    source = detect_source(path)
    overrides = [f"path={path}", f"source={source}", *([f"sites={sites}"] if sites else []), *(overrides or [])]
    cfg = load_data_config(data, overrides) if data else default_data_config(path, source, overrides)[0]
    records = load_study(cfg, progress=progress).records
    taxonomy_table = _read_taxonomy(taxonomy or cfg.taxonomy)
    media = records.copy()
    # a package read back keeps its deploymentIDs; anything else gets one deployment per camera
    given = media["deployment_id"].fillna("").astype(str) if "deployment_id" in media else ""
    media["deployment_id"] = _deployment_ids(media).where(given == "", given) if "deployment_id" in media \
        else _deployment_ids(media)
    rows = []
    for rec in media.itertuples(index=False):
        raw = split_tags(rec.labels_raw) if rec.labels_raw else []
        labels = [lab for lab in str(rec.labels).split(";") if lab]
        for label in labels:
            rows.append({"media_id": rec.media_id, "label": label, "raw": _raw_for(label, raw)})
        if not labels:  # a photo someone looked at and marked blank/unknown keeps that observation
            kinds = [TYPE_WORDS.get(canonical(t), "blank" if canonical(t) in BLANK else None) for t in raw]
            for kind in dict.fromkeys(k for k in kinds if k in ("blank", "unknown", "unclassified")):
                rows.append({"media_id": rec.media_id, "label": kind, "raw": kind})
    per_media = pd.DataFrame(rows, columns=["media_id", "label", "raw"]).assign(
        level="media", method="human", probability=np.nan, classified_by="")
    chosen = "media" if level == "auto" else level
    parts = []
    if chosen in ("media", "both"):
        parts.append(per_media)
    if chosen in ("event", "both"):
        labels = most_common_labels(media["label"], media["sequence_id"], sort=False).dropna()
        parts.append(pd.DataFrame({"sequence_id": labels.index, "label": labels.to_numpy(), "raw": labels.to_numpy(),
                                   "level": "event", "method": "human", "probability": np.nan, "classified_by": ""}))
    observations = pd.concat(parts, ignore_index=True) if parts else per_media.iloc[:0]
    context = {"name": cfg.name, "taxonomy": taxonomy_table, "timezone": cfg.timezone,
               "title": f"{cfg.name}: human labels", "level": chosen}
    return media, observations, context


def _from_predictions(path: Path, taxonomy, sites, level):
    from omegaconf import OmegaConf

    from zoo.data.sources import read_table_file
    from zoo.data.study import _join_sites
    from zoo.data.times import parse_times

    images_path, sequences_file, provenance_file = prediction_files(path)
    images = read_table_file(images_path, dtype={"media_id": str, "site": str, "camera": str, "area": str,
                                                  "sequence_id": str}, keep_default_na=False, na_values=[""]) \
        if images_path.suffix != ".parquet" else pd.read_parquet(images_path)
    missing = [c for c in ("media_id", "path", "site", "camera", "timestamp", "sequence_id") if c not in images]
    if missing:
        raise ValueError(f"{images_path}: zoo.predict column(s) {missing} missing")
    provenance = json.loads(provenance_file.read_text()) if provenance_file.is_file() else {}
    if not provenance:
        log.warning("%s not found: classifiedBy names no model or run", provenance_file.name)
    run_cfg: Any = {}
    run_dir = Path(provenance["run_dir"]) if provenance.get("run_dir") else None
    if run_dir is not None and (run_dir / "config.yaml").is_file():
        run_cfg = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=False)
    data_cfg = run_cfg.get("data", {}) if isinstance(run_cfg, dict) else {}
    taxonomy = taxonomy or _existing(data_cfg.get("taxonomy"))
    sites = sites or _existing(data_cfg.get("sites"))
    media = images.copy()
    for column in ("area", "site", "camera"):
        media[column] = media[column].fillna("").astype(str) if column in media else ""
    media["timestamp"] = parse_times(media["timestamp"], what="capture time")
    problems: list[dict[str, str]] = []
    media = _join_sites(media, sites, problems)
    media["deployment_id"] = _deployment_ids(media)
    model = (run_cfg.get("model") or {}).get("name") if isinstance(run_cfg, dict) else None
    by = f"camtrap-zoo {model or 'model'}" + (f" (run {run_dir.name}" if run_dir else "") + (
        f", checkpoint sha256 {provenance['checkpoint_sha256'][:12]})" if provenance.get("checkpoint_sha256") else
        (")" if run_dir else ""))
    per_media = pd.DataFrame({"media_id": media["media_id"], "label": images["pred"].astype(str),
                              "raw": images["pred"].astype(str), "level": "media", "method": "machine",
                              "probability": pd.to_numeric(images["confidence"]), "classified_by": by})
    sequences = None
    if sequences_file.is_file():
        sequences = read_table_file(sequences_file, dtype={"sequence_id": str}, keep_default_na=False,
                                    na_values=[""]) if sequences_file.suffix != ".parquet" else \
            pd.read_parquet(sequences_file)
    chosen = ("event" if sequences is not None else "media") if level == "auto" else level
    if chosen in ("event", "both") and sequences is None:
        raise FileNotFoundError(f"--level {chosen} needs {sequences_file} (zoo.predict's per-sequence table)")
    parts = []
    if chosen in ("media", "both"):
        parts.append(per_media)
    if chosen in ("event", "both"):
        parts.append(pd.DataFrame({"sequence_id": sequences["sequence_id"], "label": sequences["pred"].astype(str),
                                   "raw": sequences["pred"].astype(str), "level": "event", "method": "machine",
                                   "probability": pd.to_numeric(sequences["confidence"]), "classified_by": by}))
    observations = pd.concat(parts, ignore_index=True)
    name = Path(provenance.get("input", path.stem)).name or path.stem
    context = {"name": name, "taxonomy": _read_taxonomy(taxonomy), "level": chosen,
               "title": f"{name}: predictions of {by}",
               "timezone": data_cfg.get("timezone") if isinstance(data_cfg.get("timezone"), str) else None}
    return media, observations, context


def _existing(path: Any) -> str | None:
    return str(path) if isinstance(path, str) and "${" not in path and Path(path).is_file() else None


def _deployment_ids(media: pd.DataFrame) -> pd.Series:
    """One deployment per camera: `area/site/camera` (the prefix of zoo.data's sequence ids)."""
    parts = [media[c].fillna("").astype(str) if c in media else pd.Series("", index=media.index)
             for c in ("area", "site", "camera")]
    return (parts[0] + "/" + parts[1] + "/" + parts[2]).str.strip("/").replace("", "camera")


def _raw_for(label: str, raw_tags: list[str]) -> str:
    """The tag as typed whose canonical form is the label (e.g. 'Lynx lynx' for 'lynx lynx'), else the label."""
    return next((t for t in raw_tags if canonical(t) == label), label)


# --- taxonomy ------------------------------------------------------------------------------------

def _read_taxonomy(path: str | None) -> pd.DataFrame | None:
    if not path:
        return None
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "label" not in table:
        raise ValueError(f"taxonomy {path} has no `label` column (has {list(table.columns)})")
    return table.drop_duplicates("label").set_index("label", drop=False)


def classify_label(label: str, raw: str, taxonomy: pd.DataFrame | None) -> tuple[str, str, str]:
    """(observationType, scientificName, taxonRank) of one of our labels."""
    key = canonical(label)
    if key in BLANK:
        return "blank", "", ""
    if taxonomy is not None and label in taxonomy.index:
        row = taxonomy.loc[label]
        if str(row.get("class", "")).lower() == "non-animal":
            return ("vehicle" if "vehicle" in str(row.get("family", "")).lower() else "human"), "", ""
        for rank in RANKS:
            name = str(row.get(rank, "") or "")
            if name:
                return "animal", name, rank
    if key in TYPE_WORDS:
        return TYPE_WORDS[key], "", ""
    name = raw if raw and canonical(raw) == key else label
    return "animal", name[:1].upper() + name[1:], ""


# --- the four files -------------------------------------------------------------------------------

def _iso(times: pd.Series, timezone: str | None) -> pd.Series:
    """Camtrap DP's `%Y-%m-%dT%H:%M:%S%z`: local times with the zone's offset (DST-aware), else marked UTC."""
    times = pd.to_datetime(times).dt.floor("s")
    if timezone:
        local = times.dt.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward")
        text = local.dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        return text.str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
    return times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _file_path(path: str) -> str:
    """A relative path or URL, as Camtrap DP wants: URLs as they are, local files as `file://` URIs."""
    text = str(path)
    if re.match(r"^[a-z][a-z0-9+.-]*://", text):
        return text
    return Path(text).resolve().as_uri()


def _tables(media: pd.DataFrame, observations: pd.DataFrame, taxonomy, timezone) -> tuple[dict, dict]:
    dropped = {}
    media = media.reset_index(drop=True).copy()
    no_time = media["timestamp"].isna()
    dropped["photos without a capture time (Camtrap DP requires media.timestamp)"] = int(no_time.sum())
    no_coords = media["lat"].isna() | media["lon"].isna()
    lost = sorted(set(media.loc[no_coords & ~no_time, "deployment_id"]))
    if lost:
        log.warning("deployments without coordinates (not exported; give --sites FILE with site,lat,lon): %s",
                    ", ".join(lost[:10]) + (" ..." if len(lost) > 10 else ""))
    dropped["photos of deployments without coordinates (Camtrap DP requires latitude/longitude; give --sites)"] = \
        int((no_coords & ~no_time).sum())
    media = media[~no_time & ~no_coords].reset_index(drop=True)
    if media.empty:
        raise ValueError("nothing to export: no photo has both a capture time and coordinates (give --sites FILE "
                         "with site,lat,lon columns, or a data config whose `sites` covers the traps)")
    media["iso"] = _iso(media["timestamp"], timezone)
    deployments = media.groupby("deployment_id", sort=False).agg(
        locationID=("site", "first"), locationName=("area", "first"), latitude=("lat", "first"),
        longitude=("lon", "first"), start=("timestamp", "min"), end=("timestamp", "max"),
        cameraID=("camera", "first")).reset_index()
    deployments_out = pd.DataFrame({
        "deploymentID": deployments["deployment_id"], "locationID": deployments["locationID"],
        "locationName": deployments["locationName"], "latitude": deployments["latitude"],
        "longitude": deployments["longitude"],
        "deploymentStart": _iso(deployments["start"], timezone), "deploymentEnd": _iso(deployments["end"], timezone),
        "cameraID": deployments["cameraID"],
        "deploymentComments": "start and end are the first and last photo's times (the setup and retrieval times "
                              "are not in the source)"})
    media_out = pd.DataFrame({
        "mediaID": media["media_id"].astype(str), "deploymentID": media["deployment_id"],
        "timestamp": media["iso"], "filePath": media["path"].map(_file_path), "filePublic": "false",
        "fileName": media["path"].map(lambda p: Path(str(p)).name),
        "fileMediatype": media["path"].map(lambda p: mimetypes.guess_type(str(p))[0] or "image/jpeg")})
    media_out.loc[~media_out["fileMediatype"].str.match(r"^(image|video|audio)/"), "fileMediatype"] = "image/jpeg"
    # observations: media-level join on mediaID, event-level on the sequence's frames
    by_media = media.set_index("media_id")
    seq = media.groupby("sequence_id", sort=False).agg(deployment_id=("deployment_id", "first"),
                                                       start=("timestamp", "min"), end=("timestamp", "max"))
    seq["start_iso"], seq["end_iso"] = _iso(seq["start"], timezone), _iso(seq["end"], timezone)
    obs_rows, unknown = [], Counter()
    n_without_media = 0
    for number, ob in enumerate(observations.itertuples(index=False)):
        if ob.level == "media":
            if ob.media_id not in by_media.index:
                n_without_media += 1
                continue
            m = by_media.loc[ob.media_id]
            where = {"deploymentID": m["deployment_id"], "mediaID": ob.media_id, "eventID": m["sequence_id"],
                     "eventStart": m["iso"], "eventEnd": m["iso"], "observationLevel": "media"}
            ident = f"{ob.media_id}:{number}"
        else:
            if ob.sequence_id not in seq.index:
                n_without_media += 1
                continue
            s = seq.loc[ob.sequence_id]
            where = {"deploymentID": s["deployment_id"], "mediaID": "", "eventID": ob.sequence_id,
                     "eventStart": s["start_iso"], "eventEnd": s["end_iso"], "observationLevel": "event"}
            ident = f"{ob.sequence_id}:{number}"
        kind, name, _ = classify_label(ob.label, ob.raw, taxonomy)
        if taxonomy is not None and kind == "animal" and ob.label not in taxonomy.index:
            unknown[ob.label] += 1
        obs_rows.append({"observationID": ident, **where, "observationType": kind, "scientificName": name,
                         "classificationMethod": ob.method, "classifiedBy": ob.classified_by,
                         "classificationProbability": ob.probability,
                         "observationTags": f"label:{ob.label}"})
    dropped["observations of photos not exported"] = n_without_media
    if unknown:
        log.warning("labels not in the taxonomy, written as their own scientificName: %s", dict(unknown))
    columns = ["observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd", "observationLevel",
               "observationType", "scientificName", "classificationMethod", "classifiedBy",
               "classificationProbability", "observationTags"]
    observations_out = pd.DataFrame(obs_rows, columns=columns)
    return {"deployments": deployments_out, "media": media_out, "observations": observations_out,
            "_media": media}, dropped


def _descriptor(tables: dict, context: dict, metadata: str | dict | None) -> dict:
    deployments, media, observations = tables["deployments"], tables["media"], tables["observations"]
    lat, lon = deployments["latitude"].astype(float), deployments["longitude"].astype(float)
    if lat.nunique() == 1 and lon.nunique() == 1:
        spatial = {"type": "Point", "coordinates": [float(lon.iloc[0]), float(lat.iloc[0])]}
    else:
        w, e, s, n = float(lon.min()), float(lon.max()), float(lat.min()), float(lat.max())
        spatial = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    times = tables["_media"]["timestamp"]
    taxa = _taxonomic(observations, context["taxonomy"])
    levels = sorted(set(observations["observationLevel"])) or ["media"]
    name = re.sub(r"[^a-z0-9._-]+", "-", canonical(str(context["name"]))).strip("-") or "camtrap-zoo-export"
    descriptor = {
        "profile": PROFILE_URL, "name": name,
        "created": datetime.now(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "title": context["title"], **json.loads(json.dumps(DEFAULT_METADATA)),
        "sources": [{"title": "camtrap-zoo (python -m zoo.data export)", "version": _version()}],
        "spatial": spatial,
        "temporal": {"start": times.min().strftime("%Y-%m-%d"), "end": times.max().strftime("%Y-%m-%d")},
        "taxonomic": taxa,
        "resources": [{"name": t, "path": f"{t}.csv", "profile": "tabular-data-resource", "format": "csv",
                       "mediatype": "text/csv", "encoding": "utf-8", "schema": f"{SPEC}/{t}-table-schema.json"}
                      for t in TABLES],
    }
    descriptor["project"] = {"title": context["title"], **descriptor["project"], "observationLevel": levels}
    if metadata:
        given = metadata if isinstance(metadata, dict) else _load_metadata(metadata)
        descriptor = _merge(descriptor, given)
    return descriptor


def _taxonomic(observations: pd.DataFrame, taxonomy: pd.DataFrame | None) -> list[dict]:
    out = []
    names = observations.loc[observations["scientificName"] != "", ["scientificName", "observationTags"]]
    for name, tags in names.drop_duplicates("scientificName").itertuples(index=False):
        entry: dict[str, Any] = {"scientificName": name}
        label = tags.removeprefix("label:")
        if taxonomy is not None and label in taxonomy.index:
            row = taxonomy.loc[label]
            rank = next((r for r in RANKS if row.get(r, "")), None)
            if rank:
                entry["taxonRank"] = rank
            entry.update({r: row[r] for r in ("class", "order", "family", "genus") if row.get(r, "")})
            vernacular = {LANGUAGES[c[7:]]: row[c] for c in taxonomy.columns
                          if c.startswith("common_") and c[7:] in LANGUAGES and row[c]}
            if vernacular:
                entry["vernacularNames"] = vernacular
        out.append(entry)
    return out


def _load_metadata(path: str) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(OmegaConf.create(text))
    return json.loads(text)


def _merge(base: dict, given: dict) -> dict:
    out = dict(base)
    for key, value in given.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("camtrap-zoo")
    except PackageNotFoundError:
        return "unknown"


# --- validation against the offline 1.0.2 schemas -------------------------------------------------

def validate_camtrap_dp(folder: str | Path, standards: str | Path) -> list[str]:
    """Errors of a package against Camtrap DP 1.0.2 kept in `standards` (an empty list: it validates).

    1. datapackage.json against `camtrap-dp-profile.json` with jsonschema (draft 4, formats checked). The profile's
       two remote `$ref`s are resolved locally: GeoJSON by the GeoJSON schema frictionless ships
       (frictionless/assets/profiles/geojson.json), the Frictionless Data Package schema by a stand-in that only
       asks for a `resources` array; step 2 checks the Data Package rules.
    2. The package with each resource's schema URL replaced by the local table schema, through frictionless:
       Data Package metadata, every row's types, formats, constraints (required, unique, enum, pattern, ranges),
       primary and foreign keys between the three tables.
    """
    import frictionless
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    folder, standards = Path(folder), Path(standards)
    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    profile = json.loads((standards / "camtrap-dp-profile.json").read_text(encoding="utf-8"))
    geojson = json.loads((Path(frictionless.__file__).parent / "assets" / "profiles" / "geojson.json").read_text())
    data_package = {"type": "object", "required": ["resources"], "properties": {"resources": {"type": "array"}}}
    registry = Registry().with_resources([
        ("https://specs.frictionlessdata.io/schemas/data-package.json",
         Resource.from_contents(data_package, default_specification=DRAFT4)),
        ("http://json.schemastore.org/geojson.json", Resource.from_contents(geojson, default_specification=DRAFT4)),
    ])
    validator = jsonschema.Draft4Validator(profile, registry=registry,
                                           format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = [f"datapackage.json {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
              for e in validator.iter_errors(descriptor)]
    local = json.loads(json.dumps(descriptor))
    local.pop("profile", None)  # the remote profile URL: checked in step 1
    for resource in local["resources"]:
        if resource.get("name") in TABLES:
            resource["schema"] = json.loads((standards / f"{resource['name']}-table-schema.json").read_text())
    package = frictionless.Package(local, basepath=str(folder))
    report = package.validate()
    for task in report.tasks:
        errors += [f"{task.name}: {e.message}" for e in task.errors]
    errors += [f"datapackage.json: {e.message}" for e in report.errors]
    return errors
