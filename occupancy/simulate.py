"""Draw camera-trap records with known occupancy, a chosen confusion matrix and calibrated scores.

Two scenarios:
- `simulate` (Poisson): z_i ~ multivariate Bernoulli(f); events of species s at site i, occasion j ~
  Poisson(z_is lambda_s) with lambda_s = -log(1 - p_s); non-focal events ('other': people, cows, ...)
  ~ Poisson(mu_i), mu_i gamma-distributed; every event (one record, its own sequence) gets a
  classifier label from the confusion row of its true class and a calibrated probability vector.
- `simulate_bursty` (field-like): the same occupancy and detection, but sequences per detection,
  photos per sequence and non-focal traffic per site are resampled from real records, errors are
  shared within a sequence and false-label rates differ by site: what the real data look like,
  not what the likelihood assumes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from occupancy.derived import Conditional, conditional_occupancy, marginal_occupancy, state_probabilities
from occupancy.histories import OTHER, OccasionSpec
from occupancy.likelihoods import state_matrix
from occupancy.model import interaction_terms, term_design_matrix
from occupancy.streams import assemble


@dataclass
class SimulatedStudy:
    species: tuple[str, ...]
    records: pd.DataFrame  # one row per event: site, occasion, true_label, predicted_label, classified, verified, p_<class>
    z: np.ndarray  # (site, species) true occupancy
    natural: dict[str, float]
    detection: dict[str, float]
    interactions: tuple[tuple[str, ...], ...]
    confusion: np.ndarray | None
    sites: tuple[str, ...] = ()
    occasions: tuple[str, ...] = ()
    verified_fraction: float = 0.0
    truth: dict[str, float] = field(default_factory=dict)
    score_table: pd.DataFrame | None = None  # one row per classified unit (default: every classified record)
    activity: str = "none"  # how the fit reads occasions without records ('records' when cameras were off)

    def detection_data(self, mode: str, score_prior="empirical", activity: str | None = None):
        """DetectionData for a label mode, built through the same code path as real records (`activity`
        overrides the study's reading of occasions without records)."""
        recs = self.records
        scores = None
        if mode == "scores":
            scores = self.score_table if self.score_table is not None else recs.loc[
                recs["classified"], ["site", "occasion"] + [c for c in recs.columns if c.startswith("p_")]]
        return assemble(
            recs, {s: s for s in self.species}, mode, truth_col="true_label", classifier_col="predicted_label",
            classified=recs["classified"], verified=recs["verified"],
            scores=scores, score_prior=score_prior, occasions=OccasionSpec(kind="column"),
            sites=self.sites, activity=activity or self.activity,
        )


def true_quantities(species: Sequence[str], natural: Mapping[str, float], interactions, conditionals: Sequence[Conditional],
                    detection: Mapping[str, float]) -> dict[str, float]:
    """Marginal and conditional occupancy and detection implied by the parameters, in summary names."""
    species = tuple(species)
    terms = interaction_terms(species, interactions)
    names = list(species) + [":".join(species[i] for i in t) for t in terms]
    states = state_matrix(len(species))
    f = np.array([natural.get(n, 0.0) for n in names])
    psi = state_probabilities(f, term_design_matrix(states, terms))
    out = {f"psi[{s}]": float(v) for s, v in zip(species, marginal_occupancy(psi, states))}
    out.update({c.name: float(conditional_occupancy(psi, states, species, c)) for c in conditionals})
    out.update({f"p[{s}]": float(detection[s]) for s in species})
    return out


def _occupancy_draw(rng, n_sites, species, natural, interactions, detection, confusion):
    """Parameters with their defaults, the sites' true occupancy states, and the checked confusion matrix."""
    species = tuple(species)
    S = len(species)
    natural = dict(natural or {s: 0.0 for s in species})
    detection = {s: float((detection or {}).get(s, 0.5)) for s in species}
    terms = interaction_terms(species, interactions)
    states = state_matrix(S)
    names = list(species) + [":".join(species[i] for i in t) for t in terms]
    unknown = set(natural) - set(names)
    if unknown:
        raise ValueError(f"natural parameters for unknown terms {sorted(unknown)}; terms are {names}")
    psi = state_probabilities(np.array([natural.get(n, 0.0) for n in names]), term_design_matrix(states, terms))
    z = states[rng.choice(len(states), size=n_sites, p=psi)]
    conf = np.eye(S + 1) if confusion is None else np.asarray(confusion, dtype=float)
    if conf.shape != (S + 1, S + 1) or not np.allclose(conf.sum(1), 1):
        raise ValueError(f"confusion must be a ({S + 1}, {S + 1}) row-stochastic matrix (rows: true {list(species) + [OTHER]})")
    return species, natural, detection, z, conf


def simulate(
    n_sites: int = 60,
    n_occasions: int = 9,
    species: Sequence[str] = ("lynx", "deer", "chamois"),
    natural: Mapping[str, float] | None = None,
    interactions: Sequence[Sequence[str]] = (("lynx", "deer"), ("lynx", "chamois")),
    detection: Mapping[str, float] | None = None,
    confusion: np.ndarray | None = None,
    other_rate: float = 0.0,
    other_rate_shape: float = 1.0,
    classified_fraction: float = 1.0,
    verified_fraction: float = 0.1,
    score_separation: float | Mapping[str, float] = 3.0,
    conditionals: Sequence[Conditional] = (),
    seed: int = 0,
) -> SimulatedStudy:
    """Simulate one study.

    natural: natural parameters by term name ('lynx', 'lynx:deer'); missing terms are 0.
    detection: per-occasion detection probability p_s for each species (default 0.5).
    confusion: (S+1, S+1) rows = true class (species then 'other'), Pr(predicted | true); identity if None.
    other_rate: mean number of non-focal events per site-occasion (gamma across sites with `other_rate_shape`).
    classified_fraction: share of sites whose events are labelled by the classifier (the rest manually).
    verified_fraction: share of classified events that also keep a human label.
    score_separation: how far calibrated scores separate classes (per class or one value; 0 = no information).
    """
    rng = np.random.default_rng(seed)
    species, natural, detection, z, conf = _occupancy_draw(rng, n_sites, species, natural, interactions, detection, confusion)
    S = len(species)
    classes = species + (OTHER,)

    lam = np.array([-np.log1p(-detection[s]) for s in species])
    mu = rng.gamma(other_rate_shape, other_rate / other_rate_shape, size=n_sites) if other_rate > 0 else np.zeros(n_sites)
    counts = rng.poisson(np.concatenate([z * lam[None], mu[:, None]], axis=1)[:, None, :], size=(n_sites, n_occasions, S + 1))
    site_idx, occ_idx, cls_idx = np.nonzero(counts)
    reps = counts[site_idx, occ_idx, cls_idx]
    site_idx, occ_idx, true_cls = np.repeat(site_idx, reps), np.repeat(occ_idx, reps), np.repeat(cls_idx, reps)
    pred_cls = np.array([rng.choice(S + 1, p=conf[k]) for k in true_cls], dtype=int) if true_cls.size else np.zeros(0, int)
    sites = tuple(f"s{i:04d}" for i in range(n_sites))
    occasions = tuple(f"{j + 1:02d}" for j in range(n_occasions))
    classified_sites = rng.random(n_sites) < classified_fraction
    classified = classified_sites[site_idx]
    records = pd.DataFrame({
        "site": np.asarray(sites, dtype=object)[site_idx] if site_idx.size else np.array([], dtype=object),
        "occasion": np.asarray(occasions, dtype=object)[occ_idx] if occ_idx.size else np.array([], dtype=object),
        "true_label": np.asarray(classes, dtype=object)[true_cls] if true_cls.size else np.array([], dtype=object),
        "predicted_label": np.asarray(classes, dtype=object)[pred_cls] if pred_cls.size else np.array([], dtype=object),
        "classified": classified,
        "verified": classified & (rng.random(site_idx.size) < verified_fraction),
    })
    scores = calibrated_scores(true_cls, classes, score_separation, rng)
    for k, c in enumerate(classes):
        records[f"p_{c}"] = scores[:, k]
    return SimulatedStudy(
        species=species, records=records, z=z, natural=natural, detection=detection,
        interactions=tuple(tuple(t) for t in interactions), confusion=conf, sites=sites, occasions=occasions,
        verified_fraction=verified_fraction, truth=true_quantities(species, natural, interactions, conditionals, detection),
    )


def calibrated_scores(true_cls: np.ndarray, classes: Sequence[str], separation, rng) -> np.ndarray:
    """Posterior class probabilities of a Gaussian 'image feature' x ~ N(a_k e_k, I), under the empirical class mix.

    They are calibrated by construction: among units scored q for class k, a share q is of class k.
    """
    K = len(classes)
    a = np.array([separation.get(c, 0.0) if isinstance(separation, Mapping) else float(separation) for c in classes])
    if true_cls.size == 0:
        return np.zeros((0, K))
    x = rng.normal(size=(true_cls.size, K))
    x[np.arange(true_cls.size), true_cls] += a[true_cls]
    prior = np.bincount(true_cls, minlength=K) / true_cls.size
    with np.errstate(divide="ignore"):
        logits = np.log(prior)[None] + a[None] * x - 0.5 * a[None] ** 2
    logits -= logits.max(1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(1, keepdims=True)


@dataclass(frozen=True)
class FieldPattern:
    """What real classified records look like, resampled by `simulate_bursty` (see `field_pattern`).

    sequences_per_use: species -> sequences of that species in each occasion where it was seen;
    photos_per_sequence: photos in each sequence; traffic: one array per real site of its non-focal
    sequences in each occasion (a simulated site takes one real site's months, so busy trails stay busy);
    active: one boolean array per real site, aligned with its traffic, False in the occasions when it took
    no photo at all (the camera was off: nothing is photographed there); None = every occasion active.
    """

    sequences_per_use: Mapping[str, np.ndarray]
    photos_per_sequence: np.ndarray
    traffic: Sequence[np.ndarray]
    active: Sequence[np.ndarray] | None = None


def field_pattern(records: pd.DataFrame, species: Mapping[str, Sequence[str]], truth_col: str, sep: str = ";") -> FieldPattern:
    """Empirical distributions from records with site, occasion, sequence_id and a human label column."""
    table = records[records["occasion"].notna()].assign(sequence_id=lambda d: d["sequence_id"].astype(str))
    parts = table[truth_col].astype("object").map(lambda v: {p.strip() for p in v.split(sep)} if isinstance(v, str) else set())
    focal_any = np.zeros(len(table), dtype=bool)
    per_use = {}
    for name, labels in species.items():
        has = parts.map(lambda p, labels=labels: bool(p & set(labels))).to_numpy()
        focal_any |= has
        per_use[name] = table[has].groupby(["site", "occasion"])["sequence_id"].nunique().to_numpy()
    focal_seq = pd.Series(focal_any).groupby(table["sequence_id"].to_numpy()).any()
    other = table[~table["sequence_id"].map(focal_seq).to_numpy()]
    sites, occasions = sorted(table["site"].astype(str).unique()), sorted(table["occasion"].astype(str).unique())
    grid = dict(index=sites, columns=occasions, fill_value=0)
    traffic = other.groupby([other["site"].astype(str), other["occasion"].astype(str)])["sequence_id"].nunique()
    photos = table.groupby([table["site"].astype(str), table["occasion"].astype(str)]).size()
    traffic, photos = traffic.unstack(fill_value=0).reindex(**grid), photos.unstack(fill_value=0).reindex(**grid)
    return FieldPattern(per_use, table.groupby("sequence_id").size().to_numpy(), list(traffic.to_numpy()),
                        list(photos.to_numpy() > 0))


def simulate_bursty(
    pattern: FieldPattern,
    n_sites: int = 60,
    n_occasions: int = 9,
    species: Sequence[str] = ("lynx", "deer", "chamois"),
    natural: Mapping[str, float] | None = None,
    interactions: Sequence[Sequence[str]] = (("lynx", "deer"), ("lynx", "chamois")),
    detection: Mapping[str, float] | None = None,
    confusion: np.ndarray | None = None,
    false_site_sd: float = 1.0,
    detection_site_sd: float = 0.0,
    classified_fraction: float = 0.5,
    verified_fraction: float = 0.1,
    score_separation: float | Mapping[str, float] = 3.0,
    conditionals: Sequence[Conditional] = (),
    seed: int = 0,
) -> SimulatedStudy:
    """A study whose classified records look like real ones, not like the model's assumptions.

    Occupancy and detection as in `simulate` (species s is photographed in an occasion with
    probability p_s where present); then, unlike the model:
    - a detected species leaves a number of sequences resampled from the real ones
      (`pattern.sequences_per_use`), each of a resampled number of photos;
    - every site borrows one real site's non-focal traffic, occasion by occasion;
    - a sequence gets one classifier label for all its photos (errors shared within a burst), drawn
      from the confusion row of its true class; for non-focal sequences the off-diagonal rates are
      scaled by a per-site lognormal factor (sd `false_site_sd`: people read as chamois on one trail,
      cows on another);
    - sites differ in detection: logit p of species s at site i is logit p_s plus a Normal(0,
      `detection_site_sd`) site effect (a camera on the trail a species follows, or beside it);
    - cameras are off in the occasions when the borrowed real site took no photo (`pattern.active`):
      nothing is photographed then, and the fit reads those occasions as missing (`activity` records);
    - verification draws photos at random (`verified_fraction`), and a verified photo's sequence
      counts as verified.
    Records are photos with `sequence_id`; scores are per sequence (calibrated under the sequence mix).
    """
    rng = np.random.default_rng(seed)
    species, natural, detection, z, conf = _occupancy_draw(rng, n_sites, species, natural, interactions, detection, confusion)
    S = len(species)
    classes = species + (OTHER,)
    sites = tuple(f"s{i:04d}" for i in range(n_sites))
    occasions = tuple(f"{j + 1:02d}" for j in range(n_occasions))
    classified_sites = rng.random(n_sites) < classified_fraction
    rows = []  # one per sequence: site, occasion, true class, label
    for i in range(n_sites):
        borrowed = rng.integers(len(pattern.traffic))
        traffic = pattern.traffic[borrowed]
        active = pattern.active[borrowed] if pattern.active is not None else np.ones(max(len(traffic), 1), dtype=bool)
        factor = np.exp(rng.normal(0.0, false_site_sd) - false_site_sd ** 2 / 2)
        other_row = conf[S].copy()
        other_row[:S] *= factor
        other_row[S] = max(1.0 - other_row[:S].sum(), 0.0)
        other_row /= other_row.sum()
        site_p = {s: expit(logit(detection[s]) + rng.normal(0.0, detection_site_sd)) for s in species}
        for j in range(n_occasions):
            if not active[j % len(active)]:  # the camera was off
                continue
            for k, s in enumerate(species):
                if z[i, k] and rng.random() < site_p[s]:
                    n = int(rng.choice(pattern.sequences_per_use[s]))
                    rows += [(i, j, k, rng.choice(S + 1, p=conf[k])) for _ in range(n)]
            n_other = int(traffic[j % len(traffic)]) if len(traffic) else 0
            if n_other:
                labels = rng.choice(S + 1, p=other_row, size=n_other)
                rows += [(i, j, S, lab) for lab in labels]
    seq = pd.DataFrame(rows, columns=["i", "j", "true", "pred"])
    seq["sequence_id"] = [f"q{n:06d}" for n in range(len(seq))]
    seq["n_photos"] = rng.choice(pattern.photos_per_sequence, size=len(seq))
    photos = seq.loc[seq.index.repeat(seq["n_photos"])].reset_index(drop=True)
    classified = classified_sites[photos["i"].to_numpy()]
    checked = classified & (rng.random(len(photos)) < verified_fraction)
    records = pd.DataFrame({
        "site": np.asarray(sites, dtype=object)[photos["i"]], "occasion": np.asarray(occasions, dtype=object)[photos["j"]],
        "sequence_id": photos["sequence_id"], "true_label": np.asarray(classes, dtype=object)[photos["true"]],
        "predicted_label": np.asarray(classes, dtype=object)[photos["pred"]], "classified": classified, "verified": checked,
    })
    scores = calibrated_scores(seq["true"].to_numpy(), classes, score_separation, rng)
    for k, c in enumerate(classes):
        seq[f"p_{c}"] = scores[:, k]
    score_table = seq.assign(site=np.asarray(sites, dtype=object)[seq["i"]], occasion=np.asarray(occasions, dtype=object)[seq["j"]])
    return SimulatedStudy(
        species=species, records=records, z=z, natural=natural, detection=detection,
        interactions=tuple(tuple(t) for t in interactions), confusion=conf, sites=sites, occasions=occasions,
        verified_fraction=verified_fraction, truth=true_quantities(species, natural, interactions, conditionals, detection),
        score_table=score_table[classified_sites[seq["i"].to_numpy()]][["site", "occasion"] + [f"p_{c}" for c in classes]],
        activity="none" if pattern.active is None else "records",
    )
