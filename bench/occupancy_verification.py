"""How much checking is enough: verification policies replayed on the real Ain records.

Every Ain photo has a human and a CNN label, so any verification policy can be replayed exactly: the
verified photos keep their human label, the others are seen through the CNN only (labels=confusion).
For each budget (share of the classified photos looked at by a person) and policy:

- random photos (5 seeds): each classified photo verified with probability = budget;
- random sequences (5 seeds): each sequence (all its photos) with probability = budget;
- planned: `occupancy.plan` on a confusion fit without any verification, replayed with the human labels;

fit the model and compare with the ground-truth fit (human labels everywhere) on the study's 7
occupancy quantities (psi of lynx, deer, chamois and the four psi[lynx | deer, chamois]) and on p:
mean and max |posterior mean - ground-truth posterior mean|, and whether the ground-truth mean lies
inside the 95% interval. Naive (CNN labels as truth) is the reference line.

    .venv/bin/python bench/occupancy_verification.py --out bench/results/occupancy_verification

Writes <out>.json (every fit), <out>.md (tables) and <out>.png (deviation against effort).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from occupancy.derived import conditional_set  # noqa: E402
from occupancy.fit import specs  # noqa: E402
from occupancy.inference import GRADIENTS, fit  # noqa: E402
from occupancy.plan import review_list  # noqa: E402
from occupancy.histories import assign_occasions, normalise_species_map  # noqa: E402
from occupancy.sequences import sequence_table  # noqa: E402
from occupancy.study import detection_data, labelled_records, load_study_records, occasion_spec  # noqa: E402
from core.paths import CONFIG_DIR  # noqa: E402
from core.runs import write_json, write_table, write_text  # noqa: E402
from zoo.report.figures import plot_verification_curve  # noqa: E402
from own_labels import own_label_moments, own_labels_fixed  # noqa: E402

QUANTITIES = ["psi[lynx]", "psi[deer]", "psi[chamois]", "psi[lynx | deer, chamois]", "psi[lynx | deer, -chamois]",
              "psi[lynx | -deer, chamois]", "psi[lynx | -deer, -chamois]"]
DETECTION = ["p[lynx]", "p[deer]", "p[chamois]", "p[fox]", "p[cat]"]
BUDGETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
SAMPLER_DEFAULTS = {"backend": "pymc", "chains": 2, "draws": 500, "tune": 500}  # the bench's, not sampler/default.yaml's
log = logging.getLogger("bench.occupancy_verification")


def config(args):
    root = CONFIG_DIR / "occupancy"
    cfg = OmegaConf.create({
        "study": OmegaConf.load(root / "study" / "lynx.yaml"), "prior": OmegaConf.load(root / "prior" / "default.yaml"),
        "sampler": {**OmegaConf.to_container(OmegaConf.load(root / "sampler" / "default.yaml")),
                    "backend": args.backend, "chains": args.chains, "draws": args.draws, "tune": args.tune},
        "seed": 20220422,
    })
    cfg.sampler.pop("defaults", None)
    if getattr(args, "false_rate", None):
        cfg.prior.false_rate = list(args.false_rate)
    if getattr(args, "site_detection_sd", None) is not None:
        cfg.prior.site_detection_sd = args.site_detection_sd
    if getattr(args, "false_site_sd", None) is not None:
        cfg.prior.false_site_sd = args.false_site_sd
    if getattr(args, "missed_visit", None):
        cfg.prior.missed_visit = list(args.missed_visit)
    if getattr(args, "activity", None):
        cfg.study.activity = args.activity
    if getattr(args, "target_accept", None) is not None:
        cfg.sampler.target_accept = args.target_accept
    if getattr(args, "gradient", None):
        cfg.sampler.gradient = args.gradient
    if getattr(args, "init", None):
        cfg.sampler.init = args.init
    return cfg


def confusion_labels(fraction=0.0, unit="photo", seed=1, path=None):
    return {"mode": "confusion", "verified_fraction": fraction, "verified_unit": unit, "verified_seed": seed, "verified_path": path}


def score(summary: pd.DataFrame, reference: pd.DataFrame) -> dict:
    s, ref = summary.set_index("parameter"), reference.set_index("parameter")
    dev = {q: float(s.loc[q, "mean"] - ref.loc[q, "mean"]) for q in QUANTITIES + DETECTION}
    inside = {q: bool(s.loc[q, "q2.5"] <= ref.loc[q, "mean"] <= s.loc[q, "q97.5"]) for q in QUANTITIES}
    psi = np.abs([dev[q] for q in QUANTITIES])
    p = np.abs([dev[q] for q in DETECTION])
    return {"mean_abs_dev": float(psi.mean()), "max_abs_dev": float(psi.max()), "mean_abs_dev_p": float(p.mean()),
            "max_abs_dev_p": float(p.max()), "covered": float(np.mean(list(inside.values()))), "deviation": dev,
            "inside": inside}


def observed_own_labels(records, study) -> dict[str, tuple[float, float]]:
    """Each species' CNN-labelled sequences per site-month it used at the classified sites, by the human labels."""
    study = OmegaConf.to_container(study, resolve=True)
    table, classified, _ = labelled_records(records, study, {"mode": "ground_truth"})
    table = table[classified].copy()
    table["occasion"], _ = assign_occasions(table, occasion_spec(study["occasions"]), study.get("time_column", "timestamp"))
    seqs = sequence_table(table, study["classifier_column"], "_truth", pd.Series(True, index=table.index),
                          normalise_species_map(study["species"]))
    return own_label_moments(seqs, list(study["species"]))


def run_fit(records, cfg, labels, conds):
    t0 = time.perf_counter()
    data = detection_data(records, cfg.study, labels, seed=int(cfg.seed))
    model_spec, sampler = specs(cfg)
    result = fit(data, model_spec, sampler, conds)
    return result, data, time.perf_counter() - t0


def planned_review(records, cfg, base_result, budget, workdir: Path) -> tuple[Path, int]:
    """Plan from the unverified fit and replay the human labels as the reviewer's answers."""
    review = review_list(records, OmegaConf.to_container(cfg.study, resolve=True), confusion_labels(), int(cfg.seed),
                         base_result.summary, base_result.sites, budget, answer_column="_truth")
    path = workdir / f"review_{budget}.csv"
    write_table(path, review)
    return path, int(review["n_photos"].sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/results/occupancy_verification")
    parser.add_argument("--budgets", type=float, nargs="+", default=list(BUDGETS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--policies", nargs="+", default=["planned", "random_photos", "random_sequences"])
    parser.add_argument("--backend", default=SAMPLER_DEFAULTS["backend"])
    parser.add_argument("--chains", type=int, default=SAMPLER_DEFAULTS["chains"])
    parser.add_argument("--draws", type=int, default=SAMPLER_DEFAULTS["draws"])
    parser.add_argument("--tune", type=int, default=SAMPLER_DEFAULTS["tune"])
    parser.add_argument("--gradient", choices=GRADIENTS, default=None,
                        help="sampler.gradient instead of sampler/default.yaml's: numba compiles the confusion-aware "
                             "model once and every budget's fit loads it (docs/occupancy.md, Sampling back-ends)")
    parser.add_argument("--false-rate", type=float, nargs=2, default=None, metavar=("A", "B"),
                        help="Beta prior of the false-label rates instead of prior/default.yaml's (an ablation)")
    parser.add_argument("--site-detection-sd", type=float, default=None,
                        help="prior scale of the site effect on detection instead of prior/default.yaml's; 0 = none")
    parser.add_argument("--false-site-sd", type=float, default=None,
                        help="prior scale of the site factor on false-label rates instead of prior/default.yaml's")
    parser.add_argument("--missed-visit", type=float, nargs=2, default=None, metavar=("A", "B"),
                        help="prior.missed_visit = Beta(A, B) instead of prior/default.yaml's (the hurdle form)")
    parser.add_argument("--own-labels-observed", action="store_true",
                        help="ablation: every confusion fit holds each species' own-label count per used month at "
                             "what the Ain human labels show, instead of estimating it (bench/own_labels.py)")
    parser.add_argument("--activity", choices=("none", "records"), default=None,
                        help="study.activity instead of the lynx study's (an ablation: none = every month observed)")
    parser.add_argument("--render", action="store_true", help="only redraw <out>.md and <out>.png from <out>.json")
    parser.add_argument("--resume", action="store_true",
                        help="keep the fits already in <out>.json (same sampler and prior) and run only the missing ones")
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads(Path(args.out + ".json").read_text())
        write_text(Path(args.out + ".md"), report(saved["rows"], argparse.Namespace(**saved["args"])))
        figure(saved["rows"], Path(args.out + ".png"))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for name in ("pymc", "pytensor", "arviz", "occupancy.streams", "occupancy.histories"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cfg = config(args)
    records = load_study_records(cfg.study.records)
    if args.own_labels_observed:
        moments = observed_own_labels(records, cfg.study)
        log.info("own-label counts held at the human labels' (mean, dispersion): %s",
                 {s: (round(m, 2), round(d, 2)) for s, (m, d) in moments.items()})
        with own_labels_fixed(moments):
            return run(args, cfg, records)
    return run(args, cfg, records)


def run(args, cfg, records) -> None:
    conds = conditional_set(list(cfg.study.species), OmegaConf.to_container(cfg.study.conditionals))
    n_classified = int((records["area"].astype(str) == "ain").sum())
    done = previous_rows(Path(args.out + ".json"), args) if args.resume else []
    rows = []
    reference, _, secs = run_fit(records, cfg, {"mode": "ground_truth"}, conds)
    log.info("ground truth fitted in %.0f s", secs)
    naive, _, secs = run_fit(records, cfg, {"mode": "naive"}, conds)
    rows.append({"policy": "naive", "budget": 0.0, "seed": None, "photos": 0, "seconds": secs, **score(naive.summary, reference.summary)})
    log.info("naive: mean |dev| %.3f max %.3f", rows[-1]["mean_abs_dev"], rows[-1]["max_abs_dev"])
    base, _, secs = run_fit(records, cfg, confusion_labels(), conds)
    rows.append({"policy": "none", "budget": 0.0, "seed": None, "photos": 0, "seconds": secs, **score(base.summary, reference.summary)})
    workdir = Path(tempfile.mkdtemp(prefix="verification_"))
    rows += [r for r in done if r["policy"] not in ("naive", "none")]
    finished = {(r["policy"], r["budget"], r["seed"]) for r in rows}
    for budget in args.budgets:
        jobs = []
        if "planned" in args.policies and ("planned", budget, None) not in finished:
            path, photos = planned_review(records, cfg, base, budget, workdir)
            jobs.append(("planned", None, confusion_labels(path=str(path)), photos))
        for seed in range(args.seeds):
            for policy, unit in (("random_photos", "photo"), ("random_sequences", "sequence")):
                if policy in args.policies and (policy, budget, seed) not in finished:
                    jobs.append((policy, seed, confusion_labels(budget, unit, seed), None))
        for policy, seed, labels, photos in jobs:
            result, data, secs = run_fit(records, cfg, labels, conds)
            photos = data.notes["n_verified"] if photos is None else photos
            rows.append({"policy": policy, "budget": budget, "seed": seed, "photos": int(photos),
                         "photo_share": photos / n_classified, "seconds": secs, "converged": result.diagnostics["converged"],
                         **score(result.summary, reference.summary)})
            log.info("%s %.3f seed %s: %d photos, mean |dev| %.3f max %.3f (p %.3f), covered %.2f, %.0f s", policy, budget,
                     seed, photos, rows[-1]["mean_abs_dev"], rows[-1]["max_abs_dev"], rows[-1]["mean_abs_dev_p"],
                     rows[-1]["covered"], secs)
            write_json(Path(args.out + ".json"), {"args": vars(args), "reference": reference.summary.to_dict("records"), "rows": rows})
    write_text(Path(args.out + ".md"), report(rows, args))
    figure(rows, Path(args.out + ".png"))


SAMPLER_ARGS = ("backend", "chains", "draws", "tune", "false_rate", "site_detection_sd", "false_site_sd", "activity",
                "missed_visit", "own_labels_observed", "gradient")


def previous_rows(path: Path, args) -> list[dict]:
    """The fits of an earlier run of this bench, if it used the same sampler and prior (else none)."""
    if not path.is_file():
        return []
    saved = json.loads(path.read_text())
    differ = [k for k in SAMPLER_ARGS if saved["args"].get(k) != getattr(args, k)]
    if differ:
        raise SystemExit(f"--resume: {path} was run with other {differ}; use another --out")
    return saved["rows"]


def report(rows, args) -> str:
    table = pd.DataFrame(rows)
    fits = table[table["policy"].isin(["planned", "random_photos", "random_sequences"])]
    agg = fits.groupby(["budget", "policy"]).agg(
        fits=("mean_abs_dev", "size"), photos=("photos", "mean"), mean_dev=("mean_abs_dev", "mean"),
        worst_mean_dev=("mean_abs_dev", "max"), max_dev=("max_abs_dev", "max"), mean_dev_p=("mean_abs_dev_p", "mean"),
        max_dev_p=("max_abs_dev_p", "max"), covered=("covered", "mean"), seconds=("seconds", "mean")).reset_index()
    naive = table[table["policy"] == "naive"].iloc[0]
    none = table[table["policy"] == "none"].iloc[0]
    lines = [
        f"Real Ain records ({int(round((fits['photos'] / fits['photo_share']).median())):,} CNN-labelled photos in the "
        f"study's records; {args.chains} chains x {args.draws} draws per fit, back-end "
        f"{args.backend}). Deviation = |posterior mean - ground-truth posterior mean| over the 7 occupancy quantities "
        "(psi of lynx, deer, chamois and psi[lynx | deer, chamois] in its four patterns) and over p of the 5 species; "
        "covered = share of the 7 quantities whose ground-truth mean is inside the fit's 95% interval (mean over seeds). "
        f"Random policies: mean over {args.seeds} seeds, 'worst' and 'max' over seeds. Model: "
        + ("one p per species (`prior.site_detection_sd=0`)" if getattr(args, "site_detection_sd", None) == 0
           else "the default (a site effect on detection)")
        + (f"; a site factor on false-label rates (`prior.false_site_sd={args.false_site_sd}`)"
           if getattr(args, "false_site_sd", None) else "")
        + (f"; a visit the classifier missed as a parameter of its own (`prior.missed_visit={list(args.missed_visit)}`)"
           if getattr(args, "missed_visit", None) else "")
        + ("; ablation: the own-label counts per used month held at what the human labels show (`--own-labels-observed`)"
           if getattr(args, "own_labels_observed", False) else "")
        + ("; every month observed, camera-off months read as non-detections (`--activity none`)"
           if getattr(args, "activity", None) == "none" else "; months without any photo missing (`activity: records`)")
        + ".",
        "",
        f"Reference lines: naive (CNN labels as truth) mean {naive['mean_abs_dev']:.3f}, max {naive['max_abs_dev']:.3f} "
        f"(p: {naive['mean_abs_dev_p']:.3f}, {naive['max_abs_dev_p']:.3f}); confusion-aware without any verification "
        f"mean {none['mean_abs_dev']:.3f}, max {none['max_abs_dev']:.3f}, covered {none['covered']:.2f}.",
        "",
        "| budget | policy | fits | photos verified | mean dev | worst mean dev | max dev | mean dev p | max dev p | covered | s per fit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in agg.itertuples():
        lines.append(f"| {r.budget:.1%} | {r.policy} | {r.fits} | {r.photos:.0f} | {r.mean_dev:.3f} | {r.worst_mean_dev:.3f} | "
                     f"{r.max_dev:.3f} | {r.mean_dev_p:.3f} | {r.max_dev_p:.3f} | {r.covered:.2f} | {r.seconds:.0f} |")
    options = {k: getattr(args, k, d) for k, d in SAMPLER_DEFAULTS.items() if getattr(args, k, d) != d}
    options |= {"gradient": getattr(args, "gradient", None),
                "policies": getattr(args, "policies", None), "false_rate": getattr(args, "false_rate", None),
               "site_detection_sd": getattr(args, "site_detection_sd", None),
               "false_site_sd": getattr(args, "false_site_sd", None), "activity": getattr(args, "activity", None),
               "missed_visit": getattr(args, "missed_visit", None)}
    if options["policies"] == ["planned", "random_photos", "random_sequences"]:
        options["policies"] = None
    flags = "".join(f" --{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                    for k, v in options.items() if v is not None)
    flags += " --own-labels-observed" if getattr(args, "own_labels_observed", False) else ""
    command = (f"Command: `.venv/bin/python bench/occupancy_verification.py --budgets {' '.join(map(str, args.budgets))} "
               f"--seeds {args.seeds}{flags} --out {args.out}`")
    note = [getattr(args, "note")] if getattr(args, "note", None) else []
    return "\n".join(lines + ["", command] + note) + "\n"


def figure(rows, path: Path) -> None:
    plot_verification_curve(rows, path, len(QUANTITIES),
                            title="Lynx study, Ain photos: how much verification is enough")


if __name__ == "__main__":
    main()
