"""Taxonomic roll-up: report a coarser taxon when no class is confident enough.

Two rules, one output (a DataFrame with `prediction`, `level`, `score`):

- `speciesnet`: SpeciesNet's rule. Going up from the label to genus, family, order and class, sum the
  scores of the top-5 classes under each ancestor and accept the first level whose best sum is above
  `threshold` (0.65). If none passes, the prediction is `unknown` at level `none`.
- `crm`: conditional risk minimisation (Karthik et al. 2021, "No cost likelihood manipulation at test time
  for making better mistakes"), extended to coarse answers. Candidates are every class and every taxon
  holding two or more classes; the cost of answering `a` when the truth is `j` is the mistake severity
  (taxonomic distance of j to a, 1..5) when `a` does not contain j, and `coarse_cost * level(a)` when it
  does (the price of vagueness). The answer minimises the expected cost under the predicted probabilities.
  `coarse_cost >= 1` never prefers a taxon over a class, and is then Karthik et al.'s leaf-level CRM.
- `none`: the arg-max class.

Levels in the output: `label` (a class itself), `genus`, `family`, `order`, `class`, `none`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from heads.taxonomy import LEVELS, UNRELATED, Taxonomy, lineage_distance

OUTPUT_LEVELS = ("label",) + LEVELS[1:] + ("none",)
UNKNOWN = "unknown"
KINDS = ("speciesnet", "crm", "none")


@dataclass(frozen=True)
class Taxon:
    name: str
    level: int  # 0 = a class itself, 1 genus ... 4 class, 5 root
    members: tuple[int, ...]  # class indices under this taxon
    lineage: tuple[str, ...]  # ancestor names at LEVELS, '' below `level`

    @property
    def level_name(self) -> str:
        return OUTPUT_LEVELS[self.level]


def taxa(classes: Sequence[str], taxonomy: Taxonomy, min_members: int = 1) -> list[Taxon]:
    """Every class (level 0) and every ancestor taxon of the classes with at least `min_members` classes."""
    lineages = [taxonomy.lineage(c) for c in classes]
    out = [Taxon(c, 0, (i,), lineages[i]) for i, c in enumerate(classes)]
    for level in range(1, len(LEVELS)):
        groups: dict[str, list[int]] = {}
        for i, lineage in enumerate(lineages):
            if lineage[level]:
                groups.setdefault(lineage[level], []).append(i)
        for name, members in groups.items():
            if len(members) >= min_members:
                lineage = ("",) * level + lineages[members[0]][level:]
                out.append(Taxon(name, level, tuple(members), lineage))
    return out


def rollup(probs: np.ndarray, classes: Sequence[str], taxonomy: Taxonomy, kind: str = "speciesnet",
           threshold: float = 0.65, top_k: int = 5, coarse_cost: float = 0.25) -> pd.DataFrame:
    """Predict a class or a coarser taxon for each row of `probs` (N, C); see the module doc for the rules."""
    probs = _check_probs(probs, classes)
    if kind == "speciesnet":
        return speciesnet_rollup(probs, classes, taxonomy, threshold=threshold, top_k=top_k)
    if kind == "crm":
        return crm_rollup(probs, classes, taxonomy, coarse_cost=coarse_cost)
    if kind == "none":
        best = probs.argmax(axis=1)
        return _frame([classes[i] for i in best], ["label"] * len(best), probs[np.arange(len(best)), best])
    raise ValueError(f"unknown rollup kind {kind!r}; expected one of {KINDS}")


def speciesnet_rollup(probs: np.ndarray, classes: Sequence[str], taxonomy: Taxonomy,
                      threshold: float = 0.65, top_k: int = 5) -> pd.DataFrame:
    probs = _check_probs(probs, classes)
    n = len(probs)
    keep = np.zeros_like(probs, dtype=bool)
    top = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    np.put_along_axis(keep, top, True, axis=1)
    top_scores = np.where(keep, probs, 0.0)
    prediction = np.full(n, UNKNOWN, dtype=object)
    level = np.full(n, "none", dtype=object)
    score = np.zeros(n)
    undecided = np.ones(n, dtype=bool)
    all_taxa = taxa(classes, taxonomy)
    for lvl in range(len(LEVELS)):
        level_taxa = [t for t in all_taxa if t.level == lvl]
        if not level_taxa or not undecided.any():
            continue
        membership = np.zeros((len(classes), len(level_taxa)))
        for g, t in enumerate(level_taxa):
            membership[list(t.members), g] = 1.0
        sums = top_scores @ membership
        best = sums.argmax(axis=1)  # exact ties go to the taxon listed first (order of `classes`)
        best_sum = sums[np.arange(n), best]
        accept = undecided & (best_sum > threshold)
        prediction[accept] = [level_taxa[g].name for g in best[accept]]
        level[accept] = OUTPUT_LEVELS[lvl]
        score[accept] = best_sum[accept]
        undecided &= ~accept
    score[undecided] = top_scores[undecided].sum(axis=1)
    return _frame(prediction, level, score)


def crm_cost_matrix(classes: Sequence[str], taxonomy: Taxonomy, coarse_cost: float = 0.25) -> tuple[np.ndarray, list[Taxon]]:
    """(C, M) cost of answering candidate m when class j is true, and the M candidates (classes first)."""
    if coarse_cost < 0:
        raise ValueError(f"coarse_cost must be >= 0, got {coarse_cost}")
    lineages = [taxonomy.lineage(c) for c in classes]
    candidates = taxa(classes, taxonomy, min_members=1)
    candidates = [t for t in candidates if t.level == 0 or len(t.members) >= 2]
    cost = np.zeros((len(classes), len(candidates)))
    for m, t in enumerate(candidates):
        for j in range(len(classes)):
            if j in t.members:
                cost[j, m] = coarse_cost * t.level
            else:
                cost[j, m] = lineage_distance(lineages[j], t.lineage)
    return cost, candidates


def crm_rollup(probs: np.ndarray, classes: Sequence[str], taxonomy: Taxonomy, coarse_cost: float = 0.25) -> pd.DataFrame:
    probs = _check_probs(probs, classes)
    cost, candidates = crm_cost_matrix(classes, taxonomy, coarse_cost)
    risk = probs @ cost
    best = risk.argmin(axis=1)  # ties go to the earlier candidate: classes before taxa, finer before coarser
    names = [candidates[m].name for m in best]
    levels = [candidates[m].level_name for m in best]
    scores = np.array([probs[i, list(candidates[m].members)].sum() for i, m in enumerate(best)])
    return _frame(names, levels, scores)


def rollup_severity(y_true: Sequence[str], predictions: pd.DataFrame, classes: Sequence[str],
                    taxonomy: Taxonomy) -> np.ndarray:
    """Severity of rolled-up answers: 0 when the true label lies under the answer, else the distance (1..5)."""
    if len(y_true) != len(predictions):
        raise ValueError(f"y_true has {len(y_true)} items but predictions has {len(predictions)}")
    lookup = {(t.name, t.level_name): t for t in taxa(classes, taxonomy)}
    out = np.zeros(len(y_true), dtype=np.int64)
    for i, (truth, name, level) in enumerate(zip(y_true, predictions["prediction"], predictions["level"])):
        if level == "none":
            continue  # "unknown" contains everything: not a mistake, just no answer
        t = lookup.get((name, level))
        if t is None:
            raise ValueError(f"prediction {name!r} at level {level!r} is not a taxon of the given classes")
        if level == "label":
            out[i] = taxonomy.distance(truth, name)
        else:
            true_lineage = taxonomy.lineage(truth)
            out[i] = 0 if true_lineage[t.level] == name else lineage_distance(true_lineage, t.lineage)
    return out


def rollup_summary(y_true: Sequence[str], predictions: pd.DataFrame, classes: Sequence[str],
                   taxonomy: Taxonomy) -> dict[str, float]:
    """Share of answers at each level, accuracy (truth under the answer), exact accuracy, mean severity."""
    severity = rollup_severity(y_true, predictions, classes, taxonomy)
    at_label = (predictions["level"] == "label").to_numpy()
    exact = at_label & (predictions["prediction"].to_numpy() == np.asarray(y_true, dtype=object))
    summary = {
        "accuracy_in_taxon": float((severity == 0).mean()),
        "exact_accuracy": float(exact.mean()),
        "mean_severity": float(severity.mean()),
        "mean_mistake_severity": float(severity[severity > 0].mean()) if (severity > 0).any() else 0.0,
    }
    for level in OUTPUT_LEVELS:
        summary[f"share_{level}"] = float((predictions["level"] == level).mean())
    return summary


def _check_probs(probs: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probs must have shape (N, {len(classes)}) to match classes, got {probs.shape}")
    if not np.isfinite(probs).all():
        raise ValueError(f"probs holds {int((~np.isfinite(probs)).sum())} NaN/inf value(s)")
    return probs


def _frame(prediction, level, score) -> pd.DataFrame:
    return pd.DataFrame({"prediction": list(prediction), "level": list(level), "score": np.asarray(score, dtype=float)})


__all__ = ["rollup", "speciesnet_rollup", "crm_rollup", "crm_cost_matrix", "rollup_severity", "rollup_summary",
           "taxa", "Taxon", "UNKNOWN", "UNRELATED"]
