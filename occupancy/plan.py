"""`python -m occupancy.plan fit_dir=RUN budget=0.02 out=review.csv`: which sequences a person should verify.

Reads a confusion-aware fit (its config.yaml, summary.csv and sites.csv) and the records it used, and
writes a review list of classifier-labelled sequences ranked by the expected value of a human label
for the study's quantities, per photo to look at. A reviewer fills the `verified_label` column;
`occupancy.fit labels=confusion labels.verified_path=review.csv` reads it back. The loop
fit -> plan -> verify -> refit can be repeated: a new list keeps the rows already reviewed.

Value of verifying one more sequence labelled s at site i, occasion j (unit p), given the fit:
u = Pr(s photographed at p), q = Pr(s occupies i), rho = Pr(a sequence labelled s there shows s | s
was photographed there) = E[true labels] / (E[true labels] + E[false labels]). It confirms s with
probability h = u rho, which resolves both u and q; otherwise u and q fall by Bayes' rule. The value
is the expected drop in u(1 - u) plus `site_weight` times the expected drop in q(1 - q), times the
species' weight (1 for species in the study's interactions and conditionals), divided by the
sequence's photos. Before that, every study species gets one check at every site where only the
classifier claims it (the sequence from its most label-dense occasion): a fit without verified
labels cannot tell such detections from false labels, so its q there is not to be trusted. Selection depends only on classifier labels, sites, occasions and earlier human
labels, so the fit stays unbiased (docs/occupancy.md).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

import zoo  # noqa: F401  (registers the ${sample:...} resolver)
from core.runs import hydra_command, write_table

from occupancy.histories import assign_occasions, normalise_species_map
from occupancy.likelihoods import false_label_exposure, unit_loglik
from occupancy.sequences import sequence_table
from occupancy.study import labelled_records, load_study_records, occasion_spec, read_table

log = logging.getLogger("occupancy.plan")
REVIEW_COLUMNS = ["rank", "sequence_id", "site", "occasion", "n_photos", "classifier_label", "species", "value",
                  "reason", "media_ids", "paths", "verified_label"]
PARAMETERS = ("true_label_mean", "true_label_dispersion", "false_rate", "false_label_dispersion", "p")
PLAN_KEYS = {"fit_dir", "budget", "budget_photos", "out", "answer_column", "site_weight", "other_species_weight"}


def study_species_weights(study: dict, other_weight: float) -> dict[str, float]:
    """Weight 1 for species the study's interactions and conditionals name, `other_weight` for the rest."""
    named = {s for term in study.get("interactions") or () for s in ([term] if isinstance(term, str) else term)}
    for cond in study.get("conditionals") or ():
        named |= {cond["species"], *cond.get("given", ())}
    if not named or named == {"all_pairs"}:
        named = set(study["species"])
    return {s: 1.0 if s in named else other_weight for s in study["species"]}


def unit_use_probability(counts: pd.DataFrame, params: dict[str, dict[str, float]]) -> np.ndarray:
    """Pr(species photographed at the unit | present at the site, its labels), from posterior-mean parameters.

    counts: one row per (unit, species) with m (sequences labelled s), exposure
    (`likelihoods.false_label_exposure`), hit, miss, confirmed.
    """
    get = lambda key: counts["species"].map(params[key]).to_numpy(dtype=float)  # noqa: E731
    true_mean, true_disp, false_rate, false_disp, p = (get(k) for k in PARAMETERS)
    m, exposure, hit, miss = (counts[c].to_numpy(dtype=float) for c in ("m", "exposure", "hit", "miss"))
    confirmed = counts["confirmed"].to_numpy(dtype=bool)
    missed = counts["species"].map(params["missed_visit"]).to_numpy(dtype=float) if "missed_visit" in params else None
    used, unused = (t.eval() for t in unit_loglik(m, exposure, hit, miss, confirmed, true_mean, true_disp, false_rate,
                                                  false_disp, missed))
    log_odds = np.log(p) - np.log1p(-p) + used - unused
    return np.where(confirmed, 1.0, 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700))))


def fitted_parameters(summary: pd.DataFrame, species: list[str]) -> dict[str, dict[str, float]]:
    means = summary.set_index("parameter")["mean"]
    out = {}
    for key in PARAMETERS:
        names = {s: f"{key}[{s}]" for s in species}
        missing = [n for n in names.values() if n not in means]
        if missing:
            raise ValueError(f"the fit's summary lacks {missing[:3]}: plan from a labels=confusion fit")
        out[key] = {s: float(means[n]) for s, n in names.items()}
    if f"missed_visit[{species[0]}]" in means:  # a fit with prior.missed_visit (the hurdle form)
        out["missed_visit"] = {s: float(means[f"missed_visit[{s}]"]) for s in species}
    return out


def plan(seqs: pd.DataFrame, sites: pd.DataFrame, params: dict, weights: dict[str, float], budget_photos: float,
         site_weight: float = 2.0) -> pd.DataFrame:
    """Greedy review list: the sequence with the highest expected value per photo, until the budget is spent.

    seqs: `sequence_table` rows of the classified sites (with `verified`); sites: the fit's sites.csv.
    """
    species = list(weights)
    seqs = seqs.assign(species=seqs["label_class"].where(seqs["label_class"].isin(species)))
    units = seqs.groupby(["site", "occasion"])
    cells = []
    for s in species:
        lab = seqs["species"] == s
        checked = seqs["verified"] & lab
        shows = seqs["truth_classes"].map(lambda t, s=s: s in t)
        frame = pd.DataFrame({
            "m": lab.groupby([seqs["site"], seqs["occasion"]]).sum(),
            "n": units.size(),
            "hit": (checked & shows).groupby([seqs["site"], seqs["occasion"]]).sum(),
            "miss": (checked & ~shows).groupby([seqs["site"], seqs["occasion"]]).sum(),
            "confirmed": (seqs["verified"] & shows).groupby([seqs["site"], seqs["occasion"]]).any(),
        }).reset_index().assign(species=s)
        cells.append(frame)
    cells = pd.concat(cells, ignore_index=True)
    site_confirmed = set(cells.loc[cells["confirmed"], ["site", "species"]].itertuples(index=False, name=None))
    left = cells["m"] > cells["hit"] + cells["miss"]  # sequences with the label left to verify
    cells = cells[left & ~cells["confirmed"]].reset_index(drop=True)
    cells["exposure"] = false_label_exposure(cells["n"], cells["m"], cells["miss"])
    if cells.empty:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    site_q = sites.assign(site=sites["site"].astype(str)).set_index(["site", "species"])["mean"]
    q_key = list(zip(cells["site"], cells["species"]))
    q0 = np.array([float(site_q.get(k, 0.5)) for k in q_key])
    u = q0 * unit_use_probability(cells, params)
    true_mean = cells["species"].map(params["true_label_mean"]).to_numpy()
    if "missed_visit" in params:  # the hurdle: a visit the classifier saw leaves 1 + NB(true_label_mean) own labels
        true_mean = (1 - cells["species"].map(params["missed_visit"]).to_numpy()) * (1 + true_mean)
    false_mean = cells["species"].map(params["false_rate"]).to_numpy() * cells["exposure"].to_numpy()
    rho = true_mean / (true_mean + false_mean)
    weight = cells["species"].map(weights).to_numpy()
    site_state = {k: q for k, q in zip(q_key, q0)}
    candidates = {}
    pending = seqs[~seqs["verified"] & seqs["species"].notna()].sort_values(["n_photos", "sequence_id"])
    for key, group in pending.groupby(["site", "occasion", "species"], sort=False):
        candidates[key] = list(group.index)
    cell_keys = list(zip(cells["site"], cells["occasion"], cells["species"]))
    picks, spent = [], 0.0

    def take(best: int, value: float, reason: str) -> None:
        nonlocal spent
        key = cell_keys[best]
        row = candidates[key].pop(0)
        spent += float(seqs.at[row, "n_photos"])
        site, occasion, s = key
        picks.append({"sequence_id": seqs.at[row, "sequence_id"], "site": site, "occasion": occasion,
                      "n_photos": int(seqs.at[row, "n_photos"]), "classifier_label": seqs.at[row, "label"], "species": s,
                      "value": value, "reason": reason})
        # plan on as if the sequence did not show the species (a hit ends the need for more in this cell)
        h = u[best] * rho[best]
        site_state[(site, s)] = (site_state[(site, s)] - h) / max(1 - h, 1e-12)
        u[best] = u[best] * (1 - rho[best]) / max(1 - h, 1e-12)

    def cost_of(k: int) -> float:
        pending_rows = candidates.get(cell_keys[k])
        return float(seqs.at[pending_rows[0], "n_photos"]) if pending_rows else np.inf

    # first, one check of every study species at every site where only the classifier claims it: the
    # detections that alone make a species present there (the fit cannot tell them from false labels)
    share = cells["m"] / cells["n"]
    order = cells.assign(share=share, weight=weight).sort_values(["weight", "share", "m"], ascending=False)
    for (site, s), group in order.groupby(["site", "species"], sort=False):
        best = int(group.index[0])
        if (site, s) in site_confirmed or weight[best] < 1 or spent + cost_of(best) > budget_photos:
            continue
        take(best, np.nan, f"first check of {s} at site {site}: no verified sequence shows it yet; "
                           f"{int(cells.at[best, 'm'])} of {int(cells.at[best, 'n'])} sequences labelled {s} in occasion "
                           f"{cells.at[best, 'occasion']}")
    while True:
        q = np.array([site_state[k] for k in q_key])
        h = u * rho
        u_miss = np.where(h < 1, u * (1 - rho) / np.maximum(1 - h, 1e-12), 0.0)
        gain = (u * (1 - u) - (1 - h) * u_miss * (1 - u_miss)) + site_weight * h * q * (1 - q)
        cost = np.array([cost_of(k) for k in range(len(cell_keys))])
        value = weight * gain / cost
        value[~(cost + spent <= budget_photos)] = -np.inf
        best = int(np.argmax(value))
        if not np.isfinite(value[best]) or value[best] <= 0:
            break
        site, occasion, s = cell_keys[best]
        take(best, float(value[best]),
             f"{s} at site {site}: Pr(present) {q[best]:.2f}; {int(cells.at[best, 'm'])} of {int(cells.at[best, 'n'])} "
             f"sequences labelled {s} in occasion {occasion}, Pr(photographed) {u[best]:.2f}")
    log.info("planned %d sequences (%d photos of a budget of %.0f)", len(picks), int(spent), budget_photos)
    out = pd.DataFrame(picks)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def attach_records(review: pd.DataFrame, table: pd.DataFrame, answer_column: str | None) -> pd.DataFrame:
    """media ids and paths of each sequence; `verified_label` blank, or filled from `answer_column` (replays)."""
    ids = table.assign(sequence_id=table["sequence_id"].astype(str))
    ids = ids[ids["sequence_id"].isin(set(review["sequence_id"]))]
    group = ids.groupby("sequence_id")
    joined = lambda col: group[col].agg(lambda v: ";".join(map(str, v)))  # noqa: E731
    review = review.assign(media_ids=review["sequence_id"].map(joined("media_id")) if "media_id" in ids else "",
                           paths=review["sequence_id"].map(joined("path")) if "path" in ids else "")
    if answer_column:
        if answer_column not in table:
            raise ValueError(f"answer_column {answer_column!r} is not a column of the records")
        labels = group[answer_column].agg(lambda v: ";".join(dict.fromkeys(p.strip() for x in v.dropna().astype(str)
                                                                           for p in x.split(";") if p.strip())))
        review["verified_label"] = review["sequence_id"].map(labels).fillna("")
    else:
        review["verified_label"] = ""
    return review[REVIEW_COLUMNS]


def review_list(records: pd.DataFrame, study: dict, labels: dict, seed: int, summary: pd.DataFrame, sites: pd.DataFrame,
                budget: float | None, budget_photos: float | None = None, answer_column: str | None = None,
                site_weight: float = 2.0, other_species_weight: float = 0.25) -> pd.DataFrame:
    """The review list for a fit (its summary and sites tables) of `records` under the study and label config."""
    table, classified, verified = labelled_records(records, study, labels, seed)
    species_map = normalise_species_map(study["species"])
    table["occasion"], _ = assign_occasions(table, occasion_spec(study["occasions"]), study.get("time_column", "timestamp"))
    seqs = sequence_table(table[classified], study["classifier_column"], "_truth", verified, species_map)
    photos = budget_photos if budget_photos is not None else budget * int(classified.sum())
    weights = study_species_weights(study, other_species_weight)
    picked = plan(seqs, sites, fitted_parameters(summary, list(species_map)), weights, photos, site_weight)
    return attach_records(picked, table[classified], answer_column)


def run(cfg: DictConfig) -> Path:
    unknown = sorted(set(cfg.keys()) - PLAN_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in the plan config; known: {sorted(PLAN_KEYS)}")
    fit_dir = Path(cfg.fit_dir)
    for name in ("config.yaml", "summary.csv", "sites.csv"):
        if not (fit_dir / name).is_file():
            raise FileNotFoundError(f"{fit_dir / name} not found: fit_dir must be an occupancy.fit run directory")
    if (cfg.budget is None) == (cfg.budget_photos is None):
        raise ValueError("give exactly one of budget (a share of the classified photos) and budget_photos")
    if cfg.budget is not None and not 0 < cfg.budget <= 1:
        raise ValueError(f"budget is a share of the classified photos in (0, 1], got {cfg.budget}")
    fit_cfg = OmegaConf.load(fit_dir / "config.yaml")
    study, labels = OmegaConf.to_container(fit_cfg.study, resolve=True), OmegaConf.to_container(fit_cfg.labels, resolve=True)
    if labels["mode"] != "confusion":
        raise ValueError(f"plan from a labels=confusion fit (this one is {labels['mode']!r})")
    records = load_study_records(study["records"])
    review = review_list(records, study, labels, int(fit_cfg.seed), read_table(fit_dir / "summary.csv"),
                         read_table(fit_dir / "sites.csv"), cfg.budget, cfg.budget_photos, cfg.answer_column,
                         float(cfg.site_weight), float(cfg.other_species_weight))
    if labels.get("verified_path"):
        previous = read_table(labels["verified_path"])
        review = review[~review["sequence_id"].isin(previous.get("sequence_id", []))]
        # this round's ranks continue after the last round's, so `rank` stays the order of review
        last = int(pd.to_numeric(previous.get("rank"), errors="coerce").max()) if len(previous) and "rank" in previous else 0
        review = pd.concat([previous, review.assign(rank=np.arange(last + 1, last + 1 + len(review)))], ignore_index=True)
    out = Path(cfg.out) if cfg.out else fit_dir / "review.csv"
    write_table(out, review)
    log.info("wrote %s: %d sequences, %d photos to review; fill verified_label, then refit with "
             "labels.verified_path=%s", out, len(review), int(review["n_photos"].sum()), out)
    return out


@hydra_command("occupancy.plan", config_name="occupancy/plan")
def main(cfg: DictConfig) -> Any:
    return run(cfg)


if __name__ == "__main__":
    main()
