"""From a data config to the clean records table: read, normalise labels, repair clocks, join
coordinates, group sequences, split. `load_records(cfg)` is what the other stages call."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zoo.data.clock import repair_timestamps
from zoo.data.coco import apply_given_sequences, read_coco_camera_traps
from zoo.data.config import as_data_config
from zoo.data.labels import LabelNormalizer, split_tags
from zoo.data.megadetector import read_megadetector
from zoo.data.schema import COLUMNS, validate_records
from zoo.data.sequences import assign_sequences
from zoo.data.sources import detect_source, read_camtrap_dp, read_image_folder, read_records_table
from zoo.data.splits import leaking_sequences, split_by_group, split_file_blocks, split_from_file, split_stratified
from zoo.data.times import failure_message

log = logging.getLogger(__name__)


@dataclass
class Study:
    """The records table plus the account of everything that was mapped, dropped or repaired."""

    records: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "problem"]))


def load_records(cfg: Any, progress: bool = True) -> pd.DataFrame:
    """The records table of a data config (a dict, DictConfig or the `data` node of a run config)."""
    return load_study(cfg, progress=progress).records


def load_study(cfg: Any, progress: bool = True) -> Study:
    cfg = as_data_config(cfg)
    source = detect_source(cfg.path) if cfg.source == "auto" else cfg.source
    if source == "images":
        raw, problems = read_image_folder(cfg.path, cfg.path_pattern, workers=cfg.workers, progress=progress)
    elif source == "records":
        raw, problems = read_records_table(cfg.path, cfg.columns, cfg.tag_separator)
    elif source == "coco":
        raw, problems = read_coco_camera_traps(cfg.path, cfg.image_root)
    elif source == "megadetector":
        raw, problems = read_megadetector(cfg.path, cfg.image_root, cfg.detection_threshold, cfg.path_pattern,
                                          cfg.workers)
    else:
        raw, problems = read_camtrap_dp(cfg.path)
    for column, value in cfg.constants.items():
        raw[column] = raw[column].where(raw[column].astype(str) != "", value) if column in raw else value
    return build_study(raw, cfg, problems, source)


def build_study(raw: pd.DataFrame, cfg: Any, problems: list[dict[str, str]] | None = None,
                source: str = "records") -> Study:
    cfg = as_data_config(cfg)
    problems = list(problems or [])
    normalizer = LabelNormalizer(**_label_rules(cfg))
    records = _normalise_labels(raw, normalizer, cfg.labels.normalize_columns)
    records = repair_timestamps(records, _plain(cfg.clock.corrections), _plain(cfg.clock.valid_years),
                                cfg.time_format, cfg.dayfirst, cfg.timezone)
    problems += _time_problems(records)
    records = _join_sites(records, cfg.sites, problems)
    records = apply_given_sequences(assign_sequences(records, cfg.sequences.gap_seconds))  # a COCO seq_id wins
    records["split"], split_kind = _split(records, cfg)
    if cfg.split.labels_from_file and cfg.split.file:
        records = _labels_from_split_file(records, cfg.split.file, normalizer)
    records = _order_columns(records)
    validate_records(records, source=f"{cfg.name} ({source})")
    problems_df = pd.DataFrame(problems, columns=["file", "problem"])
    report = _report(records, normalizer, problems_df, cfg, source)
    report["split_kind"] = split_kind
    return Study(records=records, report=report, problems=problems_df)


def _label_rules(cfg) -> dict[str, Any]:
    rules = _plain(cfg.labels)
    known = None
    if cfg.taxonomy:
        known = pd.read_csv(cfg.taxonomy, dtype=str)["label"].tolist()
    return {"synonyms": rules["synonyms"], "drop": rules["drop"], "drop_patterns": rules["drop_patterns"],
            "priority": rules["priority"], "known_labels": known}


def _normalise_labels(raw: pd.DataFrame, normalizer: LabelNormalizer, extra_columns) -> pd.DataFrame:
    out = raw.copy()
    from_tags = [normalizer.normalize_tags(tags) for tags in out["tags"]]
    if "label_given" in out:
        given = [normalizer.normalize_tags(split_tags(v)) for v in out["label_given"]]
        labels = [g if g else t for g, t in zip(given, from_tags)]
        out["label_manual"] = [";".join(g) for g in given]
        out = out.drop(columns="label_given")
    else:
        labels = from_tags
    out["labels"] = [";".join(lab) for lab in labels]
    out["label"] = [lab[0] if lab else "" for lab in labels]
    out["labels_raw"] = [";".join(tags) for tags in out.pop("tags")]
    for column in extra_columns:
        if column in out:
            out[column] = [";".join(normalizer.normalize_tags(split_tags(v))) for v in out[column]]
    return out


def _join_sites(records: pd.DataFrame, sites_path: str | None, problems: list[dict[str, str]]) -> pd.DataFrame:
    out = records.copy()
    for column in ("lat", "lon"):
        if column not in out:
            out[column] = np.nan
    if not sites_path:
        return out
    sites = pd.read_csv(sites_path, dtype={"site": str, "area": str})
    missing = {"site", "lat", "lon"} - set(sites.columns)
    if missing:
        raise ValueError(f"sites file {sites_path} lacks column(s) {sorted(missing)}")
    keys = ["area", "site"] if "area" in sites and (out["area"].astype(str) != "").all() else ["site"]
    coords = sites.drop_duplicates(keys).set_index(keys)[["lat", "lon"]]
    index = pd.MultiIndex.from_frame(out[keys].astype(str)) if len(keys) > 1 else out["site"].astype(str)
    found = coords.reindex(index)
    out["lat"] = out["lat"].fillna(pd.Series(found["lat"].to_numpy(), index=out.index))
    out["lon"] = out["lon"].fillna(pd.Series(found["lon"].to_numpy(), index=out.index))
    known_sites = set(map(tuple, sites[keys].astype(str).to_numpy()))
    for site_key in out[keys].astype(str).drop_duplicates().itertuples(index=False):
        if tuple(site_key) not in known_sites:
            problems.append({"file": "/".join(site_key), "problem": f"site missing from {Path(sites_path).name}"})
            log.warning("site %s is not in %s: its records have no coordinates", "/".join(site_key), sites_path)
    return out


def _time_problems(records: pd.DataFrame) -> list[dict[str, str]]:
    """Every time that was given but could not be read is a problem (and one warning line), never hidden."""
    invalid = records["timestamp_flag"] == "invalid"
    if invalid.any():
        log.warning("%s", failure_message(records["timestamp_raw"], records["timestamp"].where(~invalid), "capture time"))
    return [{"file": m, "problem": f"unreadable time {raw!r}"}
            for m, raw in records.loc[invalid, ["media_id", "timestamp_raw"]].itertuples(index=False)]


def _split(records: pd.DataFrame, cfg) -> pd.Series:
    rules = cfg.split
    kind = rules.kind
    labelled = records["label"].astype(str) != ""
    no_time = int((labelled & records["timestamp"].isna()).sum())
    if kind == "auto" and not labelled.any():
        kind = "none"
    if kind == "auto" and records.loc[labelled, "sequence_id"].nunique() < 2:
        log.warning("split.kind auto: fewer than two labelled sequences, nothing to split (split none)")
        kind = "none"
    if kind == "auto":
        kind = "file_blocks" if no_time == int(labelled.sum()) else "stratified"
        log.info("split.kind auto: %s (%s)", kind, "no photo has a capture time" if kind == "file_blocks"
                 else "photos have capture times")
    if kind == "stratified" and no_time:
        log.warning("%d labelled photos have no capture time, so their bursts are unknown: a stratified split may "
                    "put frames of one burst on both sides and inflate valid/test accuracy; split.kind=file_blocks "
                    "keeps runs of consecutive file names together", no_time)
    return _split_of_kind(records, rules, kind), kind


def _split_of_kind(records: pd.DataFrame, rules, kind: str) -> pd.Series:
    if kind == "file_blocks":
        return split_file_blocks(records, rules.valid, rules.test, rules.seed, rules.block_files)
    if kind == "none":
        return pd.Series("", index=records.index, dtype=object)
    if kind in ("authors", "file"):
        if not rules.file:
            raise ValueError("data.split.file is required for split.kind=authors/file")
        return split_from_file(records, rules.file)
    if kind in ("by_area", "by_site"):
        column = kind.removeprefix("by_")
        return split_by_group(records, column, rules.train_values, rules.test_values, rules.valid, rules.seed)
    return split_stratified(records, rules.valid, rules.test, rules.seed)


def _labels_from_split_file(records: pd.DataFrame, path: str, normalizer: LabelNormalizer) -> pd.DataFrame:
    file_labels = split_from_file(records, path, column="label").map(lambda v: normalizer.normalize_tag(v) or "")
    use = file_labels != ""
    changed = use & (file_labels != records["label"])
    if changed.any():
        log.info("%d photos take their label from %s instead of their first tag", int(changed.sum()), path)
    out = records.copy()
    out.loc[use, "label"] = file_labels[use]
    return out


def _order_columns(records: pd.DataFrame) -> pd.DataFrame:
    for column, dtype in COLUMNS.items():
        if dtype == "string":
            records[column] = records[column].fillna("").astype(str) if column in records else ""
    extras = [c for c in records.columns if c not in COLUMNS]
    return records[list(COLUMNS) + extras].reset_index(drop=True)


def _report(records: pd.DataFrame, normalizer: LabelNormalizer, problems: pd.DataFrame, cfg, source: str) -> dict[str, Any]:
    labelled = records[records["label"] != ""]
    seq_len = records.groupby("sequence_id").size()
    flags = Counter(f for cell in records["timestamp_flag"] for f in cell.split(";") if f)
    no_coords = records["lat"].isna() | records["lon"].isna()
    report = {
        "study": cfg.name, "source": source, "path": str(cfg.path),
        "n_records": int(len(records)),
        "n_labelled": int(len(labelled)),
        "n_unlabelled": int(len(records) - len(labelled)),
        "labels": {k: int(v) for k, v in labelled["label"].value_counts().items()},
        "labels_any": dict(Counter(lab for cell in records["labels"] for lab in cell.split(";") if lab).most_common()),
        "n_multi_label": int((records["labels"].str.count(";") > 0).sum()),
        **normalizer.report(),
        "sites": {"/".join(k).strip("/"): int(v) for k, v in records.groupby(["area", "site"]).size().items()},
        "n_sequences": int(records["sequence_id"].nunique()),
        "sequence_lengths": {int(k): int(v) for k, v in seq_len.value_counts().sort_index().items()},
        "sequence_gap_seconds": float(cfg.sequences.gap_seconds),
        "timestamp_flags": dict(flags.most_common()),
        "n_records_without_coordinates": int(no_coords.sum()),
        "sites_without_coordinates": sorted(set(records.loc[no_coords, "site"])),
        "splits": {k or "unassigned": int(v) for k, v in records["split"].value_counts().items()},
        "leaking_sequences": leaking_sequences(records),
        "problems": {k: int(v) for k, v in _problem_kinds(problems).value_counts().items()},
    }
    return report


def _problem_kinds(problems: pd.DataFrame) -> pd.Series:
    return problems["problem"].str.replace(r"^(unreadable \w+|duplicate of|site missing).*$", r"\1", regex=True)


def _plain(node):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True) if node is not None and not isinstance(node, (list, dict)) else node
