"""Glue between a study config and `DetectionData`: records in, detection streams out.

A study config (configs/occupancy/study/*.yaml) names the records (a zoo.data config or a ready records
table), the species (config name -> record labels), the interactions, the occasions, which column holds
the human labels (per area if it differs, as in the lynx study), which areas a classifier labelled and
the classifier's column.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from occupancy.histories import DetectionData, OccasionSpec, _natural_key
from occupancy.streams import assemble, verified_mask

log = logging.getLogger(__name__)


def _plain(node: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(node, (DictConfig, ListConfig)):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return node


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"table not found: {path}")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def load_study_records(records_cfg: Mapping) -> pd.DataFrame:
    """Records from `path` (a table in the records contract) or from a zoo.data config named in `data`."""
    records_cfg = _plain(records_cfg)
    if records_cfg.get("path"):
        # times stay as written: occasions read them with zoo.data's parser and study.occasions' time options
        # (a bare pd.to_datetime turned EXIF '2017:05:01' into year 1 and swapped day and month by row order)
        return read_table(records_cfg["path"])
    if not records_cfg.get("data"):
        raise ValueError("study.records needs either `path` (a records table) or `data` (a zoo.data config name)")
    from zoo.data import load_data_config, load_records

    return load_records(load_data_config(records_cfg["data"]), progress=False)


def truth_labels(records: pd.DataFrame, truth_column: str | Mapping[str, str], area_column: str | None) -> pd.Series:
    """The human label of every record: one column, or one column per area (e.g. Jura keywords, Ain manual)."""
    if isinstance(truth_column, str):
        _require_columns(records, [truth_column])
        return records[truth_column]
    _require_columns(records, [area_column, *truth_column.values()])
    areas = records[area_column].astype(str)
    unknown = sorted(set(areas.unique()) - set(truth_column))
    if unknown:
        raise ValueError(f"truth_column has no entry for area(s) {unknown}; it covers {sorted(truth_column)}")
    out = pd.Series(np.nan, index=records.index, dtype="object")
    for area, column in truth_column.items():
        mask = areas == area
        out[mask] = records.loc[mask, column].astype("object")
    return out


ID_COLUMNS = ("media_id", "sequence_id")


def read_reviewed(path: str | Path, records: pd.DataFrame, classified: pd.Series, classifier_column: str,
                  sep: str = ";") -> pd.Series:
    """Human labels from a filled review list: `verified_label` per record, indexed like `records`.

    The list names records by `media_id` or whole sequences by `sequence_id` (what `occupancy.plan`
    writes). Rows left blank are not yet reviewed and are skipped; ids that match no classified record
    and labels the study has never seen are errors that name them.
    """
    review = read_table(path)
    id_col = next((c for c in ID_COLUMNS if c in review), None)
    if id_col is None or "verified_label" not in review:
        raise ValueError(f"review list {path} needs a `verified_label` column and one of {list(ID_COLUMNS)} "
                         f"(columns: {list(review.columns)})")
    if id_col not in records:
        raise ValueError(f"review list {path} names records by {id_col!r}, which the records lack")
    filled = review[review["verified_label"].notna() & (review["verified_label"].astype(str).str.strip() != "")]
    if len(filled) < len(review):
        log.info("review list %s: %d of %d rows not reviewed yet (blank verified_label), skipped",
                 path, len(review) - len(filled), len(review))
    ids = filled[id_col].astype(str)
    record_ids = records.loc[classified, id_col].astype(str)
    unknown = sorted(set(ids) - set(record_ids))
    if unknown:
        raise ValueError(f"review list {path}: {len(unknown)} {id_col}(s) match no classified record: {unknown[:10]}")
    known = set()
    for column in {"_truth", classifier_column} & set(records.columns):
        known |= {p.strip() for v in records[column].dropna().astype(str) for p in v.split(sep) if p.strip()}
    given = {p.strip() for v in filled["verified_label"].astype(str) for p in v.split(sep) if p.strip()}
    if given - known:
        raise ValueError(f"review list {path}: unknown label(s) {sorted(given - known)}; labels in the study: {sorted(known)}")
    label_of = dict(zip(ids, filled["verified_label"].astype(str).str.strip()))
    rows = record_ids[record_ids.isin(label_of)]
    return rows.map(label_of)


def _require_columns(records: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c is None or c not in records]
    if missing:
        raise ValueError(f"records lack column(s) {missing} (columns: {list(records.columns)})")


def occasion_spec(cfg: Mapping) -> OccasionSpec:
    cfg = dict(_plain(cfg))
    if "months" in cfg:
        cfg["months"] = tuple(cfg["months"])
    return OccasionSpec(**cfg)


def labelled_records(records: pd.DataFrame, study: Mapping, labels: Mapping, seed: int = 0
                     ) -> tuple[pd.DataFrame, pd.Series, pd.Series | None]:
    """The records with their human label in `_truth`, which are classified, and which are verified.

    Verified (confusion mode): a seeded random share (`verified_fraction`, by `verified_unit`) and the
    rows of a filled review list (`verified_path`), whose labels replace the human ones.
    """
    study, labels = _plain(study), _plain(labels)
    table = records.copy()
    table["_truth"] = truth_labels(table, study["truth_column"], study.get("area_column"))
    classified = pd.Series(False, index=table.index)
    if study.get("classified_areas"):
        _require_columns(table, [study["area_column"]])
        areas = set(map(str, study["classified_areas"]))
        known = set(table[study["area_column"]].astype(str).unique())
        if not areas <= known:
            raise ValueError(f"classified_areas {sorted(areas - known)} not found in the records (areas: {sorted(known)})")
        classified = table[study["area_column"]].astype(str).isin(areas)
    verified = None
    if labels["mode"] == "confusion":
        sequence_id = table["sequence_id"] if "sequence_id" in table else None
        verified = verified_mask(classified, labels.get("verified_fraction", 0.0), labels.get("verified_seed", seed),
                                 labels.get("verified_unit", "photo"), sequence_id)
        table["_verified_at_random"] = verified
        if labels.get("verified_path"):
            reviewed = read_reviewed(labels["verified_path"], table, classified, study["classifier_column"])
            table.loc[reviewed.index, "_truth"] = reviewed.to_numpy()
            verified |= pd.Series(table.index.isin(reviewed.index), index=table.index)
    return table, classified, verified


def study_sites(records: pd.DataFrame, deployments: Any, sites_table: pd.DataFrame | None,
                area_column: str | None = None) -> list[str]:
    """The study's sites: those with records, plus deployed or listed ones that recorded nothing.

    Dropping a site that recorded nothing would keep only sites where something was seen and bias occupancy
    upwards. A sites table with an area column adds only sites of the areas the records cover.
    """
    found = set(records["site"].astype(str))
    if isinstance(deployments, pd.DataFrame) and "site" in deployments:
        found |= set(deployments["site"].astype(str))
    if sites_table is not None:
        listed = sites_table
        if area_column and area_column in listed and area_column in records:
            listed = listed[listed[area_column].astype(str).isin(set(records[area_column].astype(str)))]
        found |= set(listed["site"].astype(str))
    return sorted(found, key=_natural_key)


def detection_data(records: pd.DataFrame, study: Mapping, labels: Mapping, scores: pd.DataFrame | None = None,
                   seed: int = 0) -> DetectionData:
    """DetectionData for the study and label mode (ground_truth, naive, confusion, scores)."""
    study, labels = _plain(study), _plain(labels)
    mode = labels["mode"]
    table, classified, verified = labelled_records(records, study, labels, seed)
    if mode in ("naive", "confusion"):
        _require_columns(table, [study["classifier_column"]])
        if labels.get("emulate_from"):  # another classifier's mistakes, emulated from its confusion matrix
            from occupancy.emulate import emulate_labels, read_confusion

            _require_columns(table, ["sequence_id"])
            table.loc[classified, study["classifier_column"]] = emulate_labels(
                table.loc[classified, "_truth"], table.loc[classified, "sequence_id"],
                read_confusion(labels["emulate_from"]), int(labels.get("emulate_seed", 0)))
    activity = study.get("activity", "none")
    if study.get("deployments_path"):
        activity = read_table(study["deployments_path"])
    sites_table = None
    if study.get("sites_path"):
        sites_table = read_table(study["sites_path"])
        _require_columns(sites_table, ["site"])
        sites_table = sites_table.assign(site=sites_table["site"].astype(str))
    sites = study_sites(table, activity, sites_table, study.get("area_column"))
    recorded = set(table["site"].astype(str))
    silent = [s for s in sites if s not in recorded]
    if mode == "scores" and scores is not None:  # sites seen only through the classifier's scores
        sites = sorted(set(sites) | set(scores["site"].astype(str)), key=_natural_key)
    data = assemble(
        table, study["species"], mode, truth_col="_truth", classifier_col=study.get("classifier_column"),
        classified=classified, verified=verified, verified_at_random=table.get("_verified_at_random"),
        scores=scores, score_prior=labels.get("score_prior", "empirical"), occasions=occasion_spec(study["occasions"]),
        time_col=study.get("time_column", "timestamp"), activity=activity, sites=sites,
    )
    if silent:
        active = data.observed_mask()[[data.sites.index(s) for s in silent]].sum(axis=1)
        log.info("%d deployed site(s) recorded nothing and are kept as all-zero histories (%d active occasions "
                 "in all): %s", len(silent), int(active.sum()), silent[:20])
    if sites_table is not None:
        data.site_covariates = sites_table.drop_duplicates("site").set_index("site").reindex(list(data.sites))
    data.notes.update({"mode": mode, "n_records": len(table), "n_classified": int(classified.sum()),
                       "n_verified": None if verified is None else int(verified.sum())})
    return data
