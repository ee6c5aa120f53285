"""Classifier evidence at the sequence level: what the confusion-aware likelihood reads.

Photos of one burst share their animal and, mostly, their classifier label (on the Ain records 4.5%
of sequences mix human labels, 12% mix CNN labels), so photos are not independent events. The unit
here is the sequence: its classifier label is the most common label of its photos (ties: the first
seen), its human label, where someone verified it, is every label given to its verified photos.

`SequenceEvidence` condenses the sequences of the classified site-occasions ("units") into:

- `label_count` (unit, species): sequences of the unit that carry the species' classifier label;
- `n_sequences` (unit): all its sequences;
- `verified_hit`, `verified_miss` (unit, species): verified sequences with the species' label whose
  human label shows it, or does not;
- `confirmed` (unit, species): a verified sequence shows the species (a certain detection), whatever
  its classifier label;
- `random_negatives`, `random_false_labels` (species): sequences verified at random that do not show
  the species, and how many of them carry its label (a direct, unbiased count of false labels; the
  sequences a planner chose by their label are left out of it).

Equations: docs/occupancy.md ("Misclassification-aware, sequence level").
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from occupancy.histories import OTHER, label_to_class, units_at_sites
from zoo.data.sequences import most_common_labels

log = logging.getLogger(__name__)


@dataclass
class SequenceEvidence:
    unit_site: np.ndarray  # (P,) site index of each classified site-occasion with at least one sequence
    unit_occasion: np.ndarray  # (P,) occasion index
    label_count: np.ndarray  # (P, S) sequences with each focal classifier label
    n_sequences: np.ndarray  # (P,)
    verified_hit: np.ndarray  # (P, S) verified sequences labelled s that show s
    verified_miss: np.ndarray  # (P, S) verified sequences labelled s that do not
    confirmed: np.ndarray  # (P, S) bool
    random_negatives: np.ndarray | None = None  # (S,)
    random_false_labels: np.ndarray | None = None  # (S,)

    def __post_init__(self):
        P = len(self.unit_site)
        S = self.label_count.shape[1] if self.label_count.ndim == 2 else 0
        self.random_negatives = np.zeros(S) if self.random_negatives is None else np.asarray(self.random_negatives, float)
        self.random_false_labels = np.zeros(S) if self.random_false_labels is None else np.asarray(self.random_false_labels, float)
        if (self.random_false_labels > self.random_negatives).any():
            raise ValueError("more random false labels than randomly verified sequences")
        checks = {
            "unit_occasion": (self.unit_occasion.shape, (P,)), "label_count": (self.label_count.shape, (P, S)),
            "n_sequences": (self.n_sequences.shape, (P,)), "verified_hit": (self.verified_hit.shape, (P, S)),
            "verified_miss": (self.verified_miss.shape, (P, S)), "confirmed": (self.confirmed.shape, (P, S)),
        }
        for name, (got, want) in checks.items():
            if got != want:
                raise ValueError(f"sequence evidence {name} has shape {got}, expected {want}")
        if min(a.min(initial=0) for a in (self.label_count, self.verified_hit, self.verified_miss)) < 0:
            raise ValueError("sequence evidence counts must be >= 0")
        if (self.verified_hit + self.verified_miss > self.label_count).any():
            raise ValueError("more verified sequences with a label than sequences with that label")
        if (self.label_count.sum(axis=1) > self.n_sequences).any():
            raise ValueError("more labelled sequences than sequences in a unit")
        if (self.verified_hit > 0).any() and not self.confirmed[self.verified_hit > 0].all():
            raise ValueError("a verified sequence that shows a species must confirm it")

    @property
    def n_units(self) -> int:
        return len(self.unit_site)

    def labelled_sites(self) -> tuple[np.ndarray, np.ndarray]:
        """Sites with classified units, and each unit's position among them: (sites,), (P,)."""
        return np.unique(self.unit_site, return_inverse=True)

    def subset_sites(self, index: Sequence[int]) -> "SequenceEvidence":
        keep, new_site = units_at_sites(self.unit_site, index)
        return SequenceEvidence(
            unit_site=new_site, unit_occasion=self.unit_occasion[keep],
            label_count=self.label_count[keep], n_sequences=self.n_sequences[keep],
            verified_hit=self.verified_hit[keep], verified_miss=self.verified_miss[keep], confirmed=self.confirmed[keep],
            random_negatives=self.random_negatives, random_false_labels=self.random_false_labels,
        )


def sequence_table(records: pd.DataFrame, classifier_col: str, truth_col: str, verified: pd.Series,
                   species_map: Mapping[str, tuple[str, ...]], sep: str = ";", at_random: pd.Series | None = None) -> pd.DataFrame:
    """One row per sequence: site, occasion, n_photos, label (classifier, most common), label_class, truth_classes.

    `records` must hold site, occasion and (optionally) sequence_id; without sequence_id every record
    is its own sequence. truth_classes: the set of classes in the human labels of the verified photos
    (empty for unverified sequences). at_random: the verified records drawn at random (default: all).
    """
    at_random = verified if at_random is None else at_random
    table = records.assign(_verified=verified.reindex(records.index).fillna(False).astype(bool).to_numpy(),
                           _random=at_random.reindex(records.index).fillna(False).astype(bool).to_numpy())
    if "sequence_id" not in table or table["sequence_id"].isna().all():
        log.warning("records have no sequence_id: every photo counts as its own sequence, so photos of one burst "
                    "are treated as independent (set zoo.data's sequence gap or add a sequence_id column)")
        table["sequence_id"] = np.arange(len(table)).astype(str)
    table["sequence_id"] = table["sequence_id"].astype(str)
    table = table[table["occasion"].notna()]
    groups = table.groupby("sequence_id", sort=False)
    first = groups.first()
    out = pd.DataFrame({
        "site": first["site"].astype(str), "occasion": first["occasion"].astype(str),
        "n_photos": groups.size(), "n_verified_photos": groups["_verified"].sum().astype(int),
        "at_random": groups["_random"].any(),
        "label": most_common_labels(table[classifier_col], table["sequence_id"], sort=False),
    })
    out["label_class"] = label_to_class(out["label"], species_map).fillna(OTHER)
    checked = table[table["_verified"]]
    truth = checked.groupby("sequence_id")[truth_col].agg(lambda v: _classes_of(v, species_map, sep))
    out["truth_classes"] = truth.reindex(out.index)
    out["truth_classes"] = out["truth_classes"].map(lambda v: v if isinstance(v, tuple) else ())
    out["verified"] = out["n_verified_photos"] > 0
    return out.reset_index()


def _classes_of(labels: pd.Series, species_map, sep: str) -> tuple[str, ...]:
    """Focal classes named in any of the labels (species order), or ('other',) when none is focal."""
    parts = {p.strip() for v in labels.dropna().astype(str) for p in v.split(sep) if p.strip()}
    if not parts:
        return ()
    lookup = {lab: name for name, labs in species_map.items() for lab in labs}
    focal = [name for name in species_map if name in {lookup.get(p) for p in parts}]
    return tuple(focal) if focal else (OTHER,)


def sequence_evidence(seqs: pd.DataFrame, species: Sequence[str], sites: Sequence[str], occasions: Sequence[str]) -> SequenceEvidence:
    """Condense a `sequence_table` of classified sites into per-unit evidence."""
    species = list(species)
    S, classes = len(species), species + [OTHER]
    site_idx = pd.Index(list(map(str, sites))).get_indexer(seqs["site"].astype(str))
    occ_idx = pd.Index(list(map(str, occasions))).get_indexer(seqs["occasion"].astype(str))
    ok = (site_idx >= 0) & (occ_idx >= 0)
    seqs = seqs[ok].assign(_i=site_idx[ok], _j=occ_idx[ok])
    units = seqs[["_i", "_j"]].drop_duplicates().sort_values(["_i", "_j"]).to_numpy()
    unit_of = {(int(i), int(j)): p for p, (i, j) in enumerate(units)}
    p_idx = np.array([unit_of[(int(i), int(j))] for i, j in zip(seqs["_i"], seqs["_j"])], dtype=int)
    P = len(units)
    label_idx = pd.Index(classes).get_indexer(seqs["label_class"])
    label_count = np.zeros((P, S))
    focal = label_idx < S
    np.add.at(label_count, (p_idx[focal], label_idx[focal]), 1.0)
    n_seq = np.bincount(p_idx, minlength=P).astype(float)
    hit, miss = np.zeros((P, S)), np.zeros((P, S))
    confirmed = np.zeros((P, S), dtype=bool)
    checked = seqs["verified"].to_numpy() & seqs["truth_classes"].map(len).gt(0).to_numpy()
    for p, lab, truth in zip(p_idx[checked], label_idx[checked], seqs.loc[checked, "truth_classes"]):
        if lab < S:
            (hit if species[lab] in truth else miss)[p, lab] += 1
        for name in truth:
            if name != OTHER:
                confirmed[p, species.index(name)] = True
    random = checked & seqs.get("at_random", seqs["verified"]).to_numpy(dtype=bool)
    negatives, false_labels = np.zeros(S), np.zeros(S)
    for lab, truth in zip(label_idx[random], seqs.loc[random, "truth_classes"]):
        for k, name in enumerate(species):
            if name not in truth:
                negatives[k] += 1
                false_labels[k] += lab == k
    return SequenceEvidence(
        unit_site=units[:, 0].astype(int) if P else np.zeros(0, int), unit_occasion=units[:, 1].astype(int) if P else np.zeros(0, int),
        label_count=label_count, n_sequences=n_seq, verified_hit=hit, verified_miss=miss, confirmed=confirmed,
        random_negatives=negatives, random_false_labels=false_labels,
    )
