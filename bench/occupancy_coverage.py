"""Bias and 95% interval coverage of marginal and conditional occupancy: naive vs confusion-aware vs scores.

Simulated studies with Ain-like misclassification: the confusion matrix is the one of the lynx study's
Ain records (human label vs CNN label, 10% verified), pooled to lynx / deer / chamois / other: chamois
precision about 8% (people and cows called chamois). Half the sites are labelled by hand (Jura-like),
half by the classifier (Ain-like).

    nice -n 10 .venv/bin/python bench/occupancy_coverage.py --replicates 20 --out bench/results/occupancy_coverage

Writes <out>.json (per-replicate estimates and the aggregate) and <out>.md (the table docs include).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from occupancy.derived import conditional_set  # noqa: E402
from occupancy.inference import SamplerSpec, fit  # noqa: E402
from occupancy.model import ModelSpec, PriorSpec  # noqa: E402
from occupancy.histories import OccasionSpec, assign_occasions, normalise_species_map  # noqa: E402
from occupancy.sequences import sequence_table  # noqa: E402
from occupancy.simulate import field_pattern, simulate, simulate_bursty  # noqa: E402
from occupancy.streams import MODES as LABEL_MODES  # noqa: E402
from occupancy.summary import parameter_labels  # noqa: E402
from core.runs import write_json, write_text  # noqa: E402
from own_labels import false_label_rates, own_label_moments, own_labels_fixed  # noqa: E402

SPECIES = ("lynx", "deer", "chamois")
INTERACTIONS = (("lynx", "deer"), ("lynx", "chamois"))
NATURAL = {"lynx": -0.6, "deer": 0.8, "chamois": -0.4, "lynx:deer": 1.2, "lynx:chamois": 0.6}
DETECTION = {"lynx": 0.35, "deer": 0.55, "chamois": 0.45}
MODES = ("naive", "confusion", "scores")


LABELS = {"lynx": ["lynx"], "deer": ["chevreuil"], "chamois": ["chamois"]}


def ain_records() -> pd.DataFrame:
    from zoo.data import load_data_config, load_records

    recs = load_records(load_data_config("lynx_records"), progress=False)
    ain = recs[recs["area"].astype(str) == "ain"].copy()
    ain["occasion"], _ = assign_occasions(ain, OccasionSpec())
    return ain


def ain_confusion(ain: pd.DataFrame, per_sequence: bool = False) -> np.ndarray:
    """Pr(CNN label | human label) of the Ain photos (or sequences), pooled to lynx, deer, chamois, other."""
    names = {lab: name for name, labs in LABELS.items() for lab in labs}
    if per_sequence:
        seqs = sequence_table(ain, "label_cnn", "label_manual", pd.Series(True, index=ain.index), normalise_species_map(LABELS))
        true, pred = seqs["truth_classes"].map(lambda t: t[0] if t else "other"), seqs["label_class"]
    else:
        true = ain["label_manual"].map(lambda v: names.get(v, "other"))
        pred = ain["label_cnn"].map(lambda v: names.get(v, "other"))
    table = pd.crosstab(true, pred).reindex(index=list(SPECIES) + ["other"], columns=list(SPECIES) + ["other"], fill_value=0)
    return table.to_numpy() / table.to_numpy().sum(axis=1, keepdims=True)


def false_sources_alike(confusion: np.ndarray) -> np.ndarray:
    """The confusion with every source of a species' false labels at one rate: a focal species' sequences are
    read as another focal species at the rate of non-focal traffic (the difference goes to 'other'), so the
    model's one false-label rate per species is right whatever the traffic is made of."""
    conf, other = confusion.copy(), len(confusion) - 1
    for c in range(other):
        for s in range(other):
            if s != c:
                conf[c, other] += conf[c, s] - conf[other, s]
                conf[c, s] = conf[other, s]
    if (conf < 0).any():
        raise ValueError("false_sources_alike: a row has too little 'other' mass to move")
    return conf


def one_replicate(seed: int, confusion: np.ndarray, args, pattern=None) -> list[dict]:
    conds = conditional_set(SPECIES, [{"species": "lynx", "given": ["deer", "chamois"]}])
    common = dict(n_sites=args.sites, n_occasions=9, species=SPECIES, natural=NATURAL, interactions=INTERACTIONS,
                  detection=DETECTION, confusion=confusion, classified_fraction=0.5, verified_fraction=0.1,
                  score_separation=args.score_separation, conditionals=conds, seed=seed)
    if args.scenario == "bursty":
        sim = simulate_bursty(pattern, false_site_sd=args.false_site_sd, detection_site_sd=args.detection_site_sd, **common)
    else:
        sim = simulate(other_rate=args.other_rate, **common)
    sampler = SamplerSpec(backend=args.backend, chains=2, draws=args.draws, tune=args.draws, cores=1, seed=seed)
    overrides = {"false_site_sd": args.false_site_prior, "interaction_sd": args.interaction_prior,
                 "missed_visit": args.missed_visit_prior}
    prior = PriorSpec(**{k: v for k, v in overrides.items() if v is not None})
    rows = []
    for mode in args.modes:
        t0 = time.perf_counter()
        truth = own_labels_at_truth(sim, args) if args.own_labels_at_truth else None
        with own_labels_fixed(*truth) if truth else nullcontext():
            result = fit(sim.detection_data(mode, activity=args.activity), ModelSpec(interactions=INTERACTIONS, prior=prior),
                         sampler, conds)
        s = result.summary.set_index("parameter")
        medians = posterior_medians(result.idata.posterior)
        for name, truth in sim.truth.items():
            if not name.startswith("psi"):
                continue
            rows.append({"seed": seed, "mode": mode, "parameter": name, "truth": truth, "mean": s.loc[name, "mean"],
                         "median": medians[name],
                         "q2.5": s.loc[name, "q2.5"], "q97.5": s.loc[name, "q97.5"], "r_hat": s.loc[name, "r_hat"],
                         "seconds": time.perf_counter() - t0})
    return rows


def own_labels_at_truth(sim, args) -> tuple[dict, dict | None]:
    """The simulated study's own-label counts per used occasion at its classified sites (one row per sequence),
    and with `--false-rate-at-truth` its false-label rates there."""
    seqs = sim.records[sim.records["classified"]].drop_duplicates("sequence_id")
    seqs = seqs.assign(label_class=seqs["predicted_label"], truth_classes=seqs["true_label"].map(lambda t: (t,)))
    rates = false_label_rates(seqs, sim.species) if args.false_rate_at_truth else None
    return own_label_moments(seqs, sim.species), rates


def posterior_medians(posterior) -> dict[str, float]:
    """Posterior median of every occupancy quantity, named as in the fit's summary."""
    names = [v for v in ("psi", "psi_conditional") if v in posterior]
    table = az.summary(posterior, var_names=names, kind="stats", stat_funcs={"median": np.median}, extend=False,
                       round_to="none")
    return dict(zip(parameter_labels(table.index), table["median"]))


def scored(df: pd.DataFrame) -> pd.DataFrame:
    """Each interval's error, whether it covers the truth, and whether it is a marginal or a conditional."""
    median = df["median"] if "median" in df else np.nan  # runs before the median was recorded lack it
    return df.assign(error=df["mean"] - df["truth"], error_median=median - df["truth"],
                     covered=(df["q2.5"] <= df["truth"]) & (df["truth"] <= df["q97.5"]),
                     kind=np.where(df["parameter"].str.contains(r"\|"), "conditional", "marginal"))


def excess_over_ground_truth(df: pd.DataFrame) -> pd.DataFrame | None:
    """Per quantity: the ground-truth fit's bias, and each label mode's mean error minus the ground-truth fit's
    on the same simulated study (the bias the labels add to what perfect labels would give)."""
    err = scored(df).pivot_table(index=["seed", "parameter"], columns="mode", values="error")
    if "ground_truth" not in err or err.shape[1] < 2:
        return None
    err = err.dropna()  # a run paired with a longer one: only the studies fitted in every mode
    excess = err.drop(columns="ground_truth").sub(err["ground_truth"], axis=0)
    table = excess.groupby("parameter").mean().assign(ground_truth=err["ground_truth"].groupby("parameter").mean())
    overall = excess.mean().to_frame().T.assign(ground_truth=err["ground_truth"].mean()).set_axis(["all"])
    return pd.concat([table, overall])[["ground_truth"] + list(excess.columns)]


def paired_rows(path: str, df: pd.DataFrame) -> pd.DataFrame:
    """An earlier run's rows of the label modes this run did not fit: a mode in both would be averaged over the
    two runs in `excess_over_ground_truth`."""
    earlier = pd.DataFrame(json.loads(Path(path).read_text())["rows"])
    return earlier[~earlier["mode"].isin(df["mode"].unique())]


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    df = scored(df)
    stats = dict(n=("covered", "size"), bias=("error", "mean"), rmse=("error", lambda e: float(np.sqrt(np.mean(e ** 2)))),
                 coverage=("covered", "mean"), median_bias=("error_median", "mean"))
    by = df.groupby(["mode", "kind"]).agg(**stats).reset_index()
    overall = df.groupby("mode").agg(**stats).reset_index().assign(kind="all")
    return pd.concat([by, overall]).sort_values(["mode", "kind"]).reset_index(drop=True)


def report(df: pd.DataFrame, args, confusion: np.ndarray, seconds: float, command: str) -> str:
    """The markdown table docs include: bias, RMSE and coverage per label mode, per species, and beyond perfect labels."""
    n = df["seed"].nunique()
    if args.scenario == "bursty":
        setting = ("field-like records (sequences per detection, photos per sequence and non-focal traffic per site "
                   "resampled from the Ain records; one label per sequence from the Ain sequence-level confusion; "
                   f"false-label rates scaled per site by a lognormal factor, sd {args.false_site_sd}; a site effect on "
                   f"logit p, sd {args.detection_site_sd}; cameras off in the months when the borrowed Ain site took "
                   "no photo, read by the fits "
                   + ("as non-detections (`--activity none`)" if args.activity == "none" else "as missing")
                   + "); 10% of the classified photos verified at random"
                   + ("; a species' false labels at one rate whatever their source (`--false-sources-alike`)"
                      if getattr(args, "false_sources_alike", False) else ""))
    else:
        setting = (f"Poisson events (the model's old assumption), the Ain photo-level confusion, {args.other_rate} "
                   "non-focal events per site-occasion on average, 10% verified")
    lines = [
        f"Simulated studies: {n} replicates x {args.sites} sites x 9 occasions, half the sites classifier-labelled; "
        f"{setting}; 2 chains x {args.draws} draws per fit"
        + ("; ablation: each fit holds the own-label counts per used occasion at the simulated truth "
           "(`--own-labels-at-truth`)" if getattr(args, "own_labels_at_truth", False) else "")
        + (" and the false-label rates too (`--false-rate-at-truth`)" if getattr(args, "false_rate_at_truth", False)
           else "")
        + ". Marginal = psi[lynx], psi[deer], psi[chamois]; conditional = the four psi[lynx | deer, chamois] patterns.",
        "",
        "| labels | quantities | n intervals | bias | RMSE | 95% coverage | bias of the posterior median |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in aggregate(df).itertuples():
        lines.append(f"| {r.mode} | {r.kind} | {r.n} | {r.bias:+.3f} | {r.rmse:.3f} | {r.coverage:.2f} | {r.median_bias:+.3f} |")
    intervals = scored(df)
    per_species = (intervals[intervals["kind"] == "marginal"].groupby(["parameter", "mode"])
                   .agg(bias=("error", "mean"), coverage=("covered", "mean")))
    lines += ["", "Marginal occupancy per species:", "", "| quantity | labels | bias | 95% coverage |", "|---|---|---|---|"]
    lines += [f"| {q} | {m} | {r.bias:+.3f} | {r.coverage:.2f} |" for (q, m), r in per_species.iterrows()]
    earlier = paired_rows(args.paired_with, df) if args.paired_with else None
    excess = excess_over_ground_truth(df if earlier is None else pd.concat([earlier, df], ignore_index=True))
    if excess is not None:
        modes = [m for m in excess.columns if m != "ground_truth"]
        lines += ["", "Bias beyond perfect labels: the ground-truth fit's bias (every site's true labels, same simulated "
                  "studies), and each label mode's mean error minus the ground-truth fit's on the same study:", "",
                  "| quantity | ground_truth bias | " + " | ".join(f"{m} - ground_truth" for m in modes) + " |",
                  "|---|---|" + "---|" * len(modes)]
        lines += [f"| {q} | {r['ground_truth']:+.3f} | " + " | ".join(f"{r[m]:+.3f}" for m in modes) + " |"
                  for q, r in excess.iterrows()]
    lines += ["", "Confusion matrix used (rows: true lynx, deer, chamois, other; columns: predicted):", "",
              "```", np.array2string(confusion, precision=3), "```",
              "", f"Command: `{command}` ({seconds:.0f} s)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--sites", type=int, default=80)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--other-rate", type=float, default=4.0)
    parser.add_argument("--activity", choices=("none", "records"), default=None,
                        help="how the fits read occasions without records (default: the simulated study's: records "
                             "where cameras were off, as on the Ain records; none = as non-detections, an ablation)")
    parser.add_argument("--score-separation", type=float, default=3.0)
    parser.add_argument("--backend", default="pymc")
    parser.add_argument("--scenario", choices=["poisson", "bursty"], default="poisson",
                        help="poisson: the model's own assumptions; bursty: resampled from the real Ain records")
    parser.add_argument("--false-site-sd", type=float, default=1.0, help="bursty: sd of the per-site false-label factor")
    parser.add_argument("--detection-site-sd", type=float, default=0.0,
                        help="bursty: sd of a site effect on logit p (the real lynx ground truth fits 0.7-1.8)")
    parser.add_argument("--false-site-prior", type=float, default=None,
                        help="the fits' prior.false_site_sd (default: the model's; 0 = one false-label rate everywhere)")
    parser.add_argument("--missed-visit-prior", type=float, nargs=2, default=None, metavar=("A", "B"),
                        help="fit with prior.missed_visit = Beta(A, B): a visit the classifier missed is a parameter")
    parser.add_argument("--own-labels-at-truth", action="store_true",
                        help="ablation: the fits hold each species' own-label count per used occasion (mean, dispersion) "
                             "at the simulated study's truth instead of estimating it (bench/own_labels.py)")
    parser.add_argument("--false-rate-at-truth", action="store_true",
                        help="with --own-labels-at-truth: the fits also hold each species' false-label rate at the "
                             "simulated study's share of sequences not showing it that carry its label")
    parser.add_argument("--false-sources-alike", action="store_true",
                        help="simulate a species' false labels at one rate whatever their source (focal species read "
                             "as another at non-focal traffic's rate), as the model assumes")
    parser.add_argument("--interaction-prior", type=float, default=None,
                        help="the fits' prior.interaction_sd (default: the model's)")
    parser.add_argument("--modes", nargs="+", choices=LABEL_MODES, default=list(MODES),
                        help="label modes to fit (ground_truth: every site's true labels, the best any labelling can do)")
    parser.add_argument("--first-seed", type=int, default=1000, help="replicate r is simulated with seed first-seed + r")
    parser.add_argument("--paired-with", default=None,
                        help="JSON of an earlier run of the same studies (same seeds): its rows join this run's, e.g. a "
                             "ground_truth run beside a run of the label modes")
    parser.add_argument("--out", default="bench/results/occupancy_coverage")
    parser.add_argument("--render", action="store_true", help="only rewrite <out>.md from <out>.json")
    args = parser.parse_args()
    if args.false_rate_at_truth and not args.own_labels_at_truth:
        parser.error("--false-rate-at-truth goes with --own-labels-at-truth")
    out = Path(args.out)
    command = ".venv/bin/python bench/occupancy_coverage.py " + " ".join(a for a in sys.argv[1:] if a != "--render")
    if args.render:
        saved = json.loads(out.with_suffix(".json").read_text())
        write_text(out.with_suffix(".md"), report(pd.DataFrame(saved["rows"]), argparse.Namespace(**saved["args"]),
                                                  np.array(saved["confusion"]), saved["elapsed_s"],
                                                  saved.get("command", command)))
        return
    logging.basicConfig(level=logging.WARNING)
    ain = ain_records()
    confusion = ain_confusion(ain, per_sequence=args.scenario == "bursty")
    if args.false_sources_alike:
        confusion = false_sources_alike(confusion)
    pattern = field_pattern(ain, LABELS, "label_manual") if args.scenario == "bursty" else None
    rows, started = [], time.perf_counter()
    for rep in range(args.replicates):
        rows += one_replicate(args.first_seed + rep, confusion, args, pattern)
        df = pd.DataFrame(rows)
        agg = aggregate(df)
        write_json(out.with_suffix(".json"), {"args": vars(args), "command": command, "confusion": confusion,
                                              "replicates_done": rep + 1,
                                              "elapsed_s": time.perf_counter() - started,
                                              "aggregate": agg.to_dict(orient="records"), "rows": df.to_dict(orient="records")})
        print(f"replicate {rep + 1}/{args.replicates} done ({time.perf_counter() - started:.0f} s)", flush=True)
    write_text(out.with_suffix(".md"), report(df, args, confusion, time.perf_counter() - started, command))


if __name__ == "__main__":
    main()
