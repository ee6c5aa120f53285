"""Study taxonomy: ancestors of each label, taxonomic distance and mistake severity.

Distance between two labels is the level of their lowest common ancestor:
0 same label (or same species), 1 same genus, 2 same family, 3 same order, 4 same class, 5 unrelated.
An empty cell means "no taxon at that level", so two labels with empty genus never share a genus
(e.g. `humain` and `chasseur` have no genus but share the family `person`: distance 2).
Mistake severity of a (true, predicted) pair is their distance: 0 is a correct answer, 5 the worst mistake.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

LEVELS = ("species", "genus", "family", "order", "class")  # index in this tuple = distance when the LCA is here
UNRELATED = len(LEVELS)  # 5
LEVEL_NAMES = LEVELS + ("unrelated",)


class Taxonomy:
    """Ancestors of every label of a study, read from a table with columns `label` + LEVELS."""

    def __init__(self, table: pd.DataFrame):
        missing = [c for c in ("label",) + LEVELS if c not in table.columns]
        if missing:
            raise ValueError(f"taxonomy table lacks column(s) {missing}; has {list(table.columns)}")
        table = table.fillna("").astype({c: str for c in ("label",) + LEVELS})
        duplicated = table["label"][table["label"].duplicated()].tolist()
        if duplicated:
            raise ValueError(f"taxonomy lists label(s) more than once: {sorted(set(duplicated))}")
        self.table = table.set_index("label", drop=False)
        self._warned: set[str] = set()

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> "Taxonomy":
        return cls(pd.read_csv(path, dtype=str, keep_default_na=False))

    @property
    def labels(self) -> list[str]:
        return self.table["label"].tolist()

    def __contains__(self, label: str) -> bool:
        return label in self.table.index

    def lineage(self, label: str) -> tuple[str, ...]:
        """Ancestor names at LEVELS (species first); all empty for a label missing from the taxonomy."""
        if label not in self.table.index:
            if label not in self._warned:
                log.warning("label %r is not in the taxonomy: treated as unrelated to every other label", label)
                self._warned.add(label)
            return ("",) * len(LEVELS)
        row = self.table.loc[label]
        return tuple(row[level] for level in LEVELS)

    def ancestor(self, label: str, level: str) -> str:
        return self.lineage(label)[LEVELS.index(level)]

    def distance(self, a: str, b: str) -> int:
        if a == b:
            return 0
        return lineage_distance(self.lineage(a), self.lineage(b))

    def distance_matrix(self, classes: Sequence[str]) -> np.ndarray:
        """(C, C) integer matrix of taxonomic distances between `classes`."""
        self.check(classes, strict=False)
        lineages = [self.lineage(c) for c in classes]
        n = len(classes)
        out = np.zeros((n, n), dtype=np.int64)
        for i in range(n):
            for j in range(n):
                out[i, j] = 0 if i == j else lineage_distance(lineages[i], lineages[j])
        return out

    def check(self, classes: Sequence[str], strict: bool = True) -> list[str]:
        """Labels of `classes` missing from the taxonomy; raise if `strict`, else log them once."""
        unknown = [c for c in classes if c not in self.table.index]
        if unknown and strict:
            raise ValueError(f"{len(unknown)} class(es) missing from the taxonomy: {unknown}; known: {self.labels}")
        if unknown:
            for label in unknown:
                self.lineage(label)  # logs once per label
        return unknown


def lineage_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Level of the lowest shared non-empty ancestor of two lineages (species first), UNRELATED if none."""
    for level, (x, y) in enumerate(zip(a, b)):
        if x and x == y:
            return level
    return UNRELATED


def load_taxonomy(path: str | os.PathLike) -> Taxonomy:
    """Read a taxonomy CSV (a study's `data.taxonomy`; no default: one study's tree is not another's)."""
    return Taxonomy.from_csv(path)


def mistake_severity(y_true: Sequence[str], y_pred: Sequence[str], taxonomy: Taxonomy) -> np.ndarray:
    """Per-item severity: 0 when correct, else the taxonomic distance (1 genus ... 5 unrelated)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    return np.array([taxonomy.distance(t, p) for t, p in zip(y_true, y_pred)], dtype=np.int64)


def severity_summary(severity: np.ndarray) -> dict[str, float]:
    """Mean severity over all items and over mistakes only, and the share of mistakes at each level."""
    severity = np.asarray(severity)
    mistakes = severity[severity > 0]
    summary = {
        "mean_severity": float(severity.mean()) if severity.size else float("nan"),
        "mean_mistake_severity": float(mistakes.mean()) if mistakes.size else 0.0,
        "n_mistakes": int(mistakes.size),
    }
    for level in range(1, UNRELATED + 1):
        summary[f"mistakes_at_{LEVEL_NAMES[level]}"] = int((mistakes == level).sum())
    return summary
