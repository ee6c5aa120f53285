"""Assemble `DetectionData` for one of the four label modes from a record table.

Records of 'classified' sites are the ones a classifier labelled (e.g. the Ain area); the others carry
human labels that are taken as truth in every mode.

- ground_truth: human labels everywhere.
- naive: classifier labels at classified sites, taken as truth.
- confusion: classified sites are seen through the classifier labels of their sequences, with the
  classifier's true- and false-label rates learnt jointly with occupancy; a `verified` subset of records (random, or chosen
  by `occupancy.plan`) adds its human labels (`occupancy.sequences`).
- scores: classified sites are seen through calibrated per-sequence probabilities (a score table),
  read at the sequence level (`occupancy.scores`).
"""
from __future__ import annotations

import logging
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from occupancy.histories import (
    DetectionData,
    OccasionSpec,
    _activity,
    _natural_key,
    assign_occasions,
    detection_array,
    normalise_species_map,
)
from occupancy.scores import score_evidence
from occupancy.sequences import sequence_evidence, sequence_table

log = logging.getLogger(__name__)
MODES = ("ground_truth", "naive", "confusion", "scores")


VERIFIED_UNITS = ("photo", "sequence")


def verified_mask(classified: pd.Series, fraction: float, seed: int, unit: str = "photo",
                  sequence_id: pd.Series | None = None) -> pd.Series:
    """Seeded random subset of the classified records: each photo (or each sequence, all its photos) with
    probability `fraction`; 0 verifies nothing."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"verified_fraction must be in [0, 1], got {fraction}")
    if unit not in VERIFIED_UNITS:
        raise ValueError(f"verified_unit must be one of {VERIFIED_UNITS}, got {unit!r}")
    rng = np.random.default_rng(seed)
    if unit == "photo" or sequence_id is None:
        return classified & pd.Series(rng.random(len(classified)) < fraction, index=classified.index)
    ids = sequence_id.astype(str)
    chosen = pd.Series(rng.random(ids.nunique()) < fraction, index=pd.unique(ids))
    return classified & ids.map(chosen).astype(bool)


def assemble(
    records: pd.DataFrame,
    species: Mapping[str, str | Iterable[str]],
    mode: str,
    truth_col: str = "label",
    classifier_col: str | None = None,
    classified: pd.Series | None = None,
    verified: pd.Series | None = None,
    verified_at_random: pd.Series | None = None,
    scores: pd.DataFrame | None = None,
    score_prior="empirical",
    occasions: OccasionSpec = OccasionSpec(),
    time_col: str = "timestamp",
    sites: Sequence[str] | None = None,
    activity="none",
    sep: str = ";",
) -> DetectionData:
    """DetectionData for `mode` from records with columns site, time (or occasion), truth_col[, classifier_col].

    classified: boolean Series (aligned with records), True for records labelled by the classifier.
    verified: boolean Series, True for classified records whose human label `truth_col` was checked
    (confusion mode); records carry a `sequence_id` where photos come in bursts. verified_at_random:
    the part of `verified` drawn at random (default: all of it), whose sequences also estimate the
    false-label rates directly.
    """
    if mode not in MODES:
        raise ValueError(f"label mode must be one of {MODES}, got {mode!r}")
    species_map = normalise_species_map(species)
    table = records.copy()
    table["site"] = table["site"].astype(str)
    table["occasion"], occasion_list = assign_occasions(table, occasions, time_col)
    classified = pd.Series(False, index=table.index) if classified is None else classified.reindex(table.index).fillna(False).astype(bool)
    if mode != "ground_truth" and not classified.any() and mode != "scores":
        raise ValueError(f"label mode {mode!r} needs classified records, but none is marked as classified")
    if sites is None:
        found = set(table["site"]) | (set(scores["site"].astype(str)) if mode == "scores" and scores is not None else set())
        sites = sorted(found, key=_natural_key)
    sites = list(map(str, sites))
    _warn_unseen_species(table, species_map, [c for c in (truth_col, classifier_col) if c in table], sep)
    observed, effort = _activity(table, sites, occasions, occasion_list, activity, time_col)
    classified_sites = _classified_sites(table, classified, sites)
    base = dict(species=tuple(species_map), sites=tuple(sites), occasions=tuple(occasion_list), effort=effort)

    if mode == "ground_truth":
        y = detection_array(table, species_map, sites, occasion_list, truth_col, observed, sep)
        return DetectionData(y=y, **base)
    if mode != "scores":  # scores mode reads the score table, not a classifier label column
        _require(table, classifier_col, "classifier_col")
    if mode == "naive":
        labels = table[truth_col].where(~classified, table[classifier_col])
        y = detection_array(table.assign(_naive=labels), species_map, sites, occasion_list, "_naive", observed, sep)
        return DetectionData(y=y, **base)

    manual_rows = table[~classified]
    if mode == "scores":
        if scores is None:
            raise ValueError("label mode 'scores' needs a score table (scores_path)")
        manual_sites = np.isin(np.asarray(sites), manual_rows["site"].unique())
        classified_sites = classified_sites | ~manual_sites
        score_table = scores.copy()
        score_table["site"] = score_table["site"].astype(str)
        if "occasion" not in score_table or occasions.kind != "column":
            score_table["occasion"], _ = assign_occasions(score_table, occasions, time_col)
        scored_sites = np.isin(np.asarray(sites), score_table["site"].unique())
        evidence = score_evidence(score_table, species_map, sites, occasion_list, score_prior)
        active = observed[evidence.unit_site, evidence.unit_occasion]
        if not active.all():
            log.info("scores mode: %d scored site-occasion(s) fall in months the cameras were off; left out",
                     int((~active).sum()))
        on_manual = ~classified_sites[evidence.unit_site]
        if on_manual.any():
            log.warning("score table covers %d site(s) with manual labels; their human labels are used there, not the "
                        "scores", len(set(evidence.unit_site[on_manual])))
        evidence = evidence.take(active & ~on_manual)
        y = detection_array(manual_rows, species_map, sites, occasion_list, truth_col, observed, sep)
        # scored sites: occasions with sequences are read from their scores; active ones without any are certain zeros
        y[:, classified_sites, :] = np.where(observed[classified_sites], 0.0, np.nan)[None]
        y[:, evidence.unit_site, evidence.unit_occasion] = np.nan
        log.info("scores mode: %d scored sequences in %d site-occasions at %d sites", int(evidence.n_sequences.sum()),
                 evidence.n_units, int(scored_sites.sum()))
        return DetectionData(y=y, scores=evidence, **base)

    # confusion
    verified = pd.Series(False, index=table.index) if verified is None else verified.reindex(table.index).fillna(False).astype(bool)
    verified &= classified
    y = detection_array(manual_rows, species_map, sites, occasion_list, truth_col, observed, sep)
    at_random = verified if verified_at_random is None else verified_at_random.reindex(table.index).fillna(False).astype(bool) & verified
    seqs = sequence_table(table[classified], classifier_col, truth_col, verified, species_map, sep, at_random)
    evidence = sequence_evidence(seqs, list(species_map), sites, occasion_list)
    # classified sites: occasions with sequences are read from them; active ones without any are certain zeros
    y[:, classified_sites, :] = np.where(observed[classified_sites], 0.0, np.nan)[None]
    y[:, evidence.unit_site, evidence.unit_occasion] = np.nan
    n_seq, n_checked = len(seqs), int(seqs["verified"].sum())
    log.info("confusion mode: %d classified photos in %d sequences at %d sites, %d sequences verified (%d photos)",
             int(classified.sum()), n_seq, int(classified_sites.sum()), n_checked, int(verified.sum()))
    if n_checked == 0:
        log.warning("no verified sequence: the false-label rates rest on their prior and the label counts alone")
    return DetectionData(y=y, sequences=evidence, **base)


def _warn_unseen_species(table: pd.DataFrame, species_map, columns, sep: str) -> None:
    """A species whose labels never occur is usually a misspelt label: say so, with the labels that do occur."""
    seen: set[str] = set()
    for col in columns:
        seen |= {p.strip() for v in table[col].dropna().astype(str).unique() for p in v.split(sep) if p.strip()}
    for name, labels in species_map.items():
        if not seen & set(labels):
            log.warning("species %r: label(s) %s never occur in %s; labels present: %s", name, list(labels), columns,
                        sorted(seen)[:30])


def _require(table: pd.DataFrame, column: str | None, what: str) -> None:
    if column is None or column not in table:
        raise ValueError(f"{what} {column!r} is not a column of the records (columns: {list(table.columns)})")


def _classified_sites(table: pd.DataFrame, classified: pd.Series, sites: Sequence[str]) -> np.ndarray:
    by_site = classified.groupby(table["site"]).agg(["any", "all"])
    mixed = by_site.index[by_site["any"] & ~by_site["all"]].tolist()
    if mixed:
        raise ValueError(f"sites {mixed[:10]} mix classified and manually labelled records; a site must be one or the other")
    return np.asarray([bool(by_site["any"].get(s, False)) for s in sites])
