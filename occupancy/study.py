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

from occupancy.histories import DetectionData, OccasionSpec
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
        table = read_table(records_cfg["path"])
        if "timestamp" in table:
            table["timestamp"] = pd.to_datetime(table["timestamp"], errors="coerce")
        return table
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


def _require_columns(records: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c is None or c not in records]
    if missing:
        raise ValueError(f"records lack column(s) {missing} (columns: {list(records.columns)})")


def occasion_spec(cfg: Mapping) -> OccasionSpec:
    cfg = dict(_plain(cfg))
    if "months" in cfg:
        cfg["months"] = tuple(cfg["months"])
    return OccasionSpec(**cfg)


def detection_data(records: pd.DataFrame, study: Mapping, labels: Mapping, scores: pd.DataFrame | None = None,
                   seed: int = 0) -> DetectionData:
    """DetectionData for the study and label mode (ground_truth, naive, confusion, scores)."""
    study, labels = _plain(study), _plain(labels)
    mode = labels["mode"]
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
    if mode == "confusion":
        verified = verified_mask(classified, labels["verified_fraction"], labels.get("verified_seed", seed))
    if mode in ("naive", "confusion"):
        _require_columns(table, [study["classifier_column"]])
    activity = study.get("activity", "none")
    if study.get("deployments_path"):
        activity = read_table(study["deployments_path"])
    data = assemble(
        table, study["species"], mode, truth_col="_truth", classifier_col=study.get("classifier_column"),
        classified=classified, verified=verified, verified_fraction=labels.get("verified_fraction"),
        scores=scores, score_prior=labels.get("score_prior", "empirical"), occasions=occasion_spec(study["occasions"]),
        time_col=study.get("time_column", "timestamp"), activity=activity,
    )
    if study.get("sites_path"):
        sites = read_table(study["sites_path"])
        _require_columns(sites, ["site"])
        sites = sites.assign(site=sites["site"].astype(str)).drop_duplicates("site").set_index("site")
        data.site_covariates = sites.reindex(list(data.sites))
    data.notes.update({"mode": mode, "n_records": len(table), "n_classified": int(classified.sum()),
                       "n_verified": None if verified is None else int(verified.sum())})
    return data
