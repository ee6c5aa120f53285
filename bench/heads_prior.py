"""Location/time prior on its own, from the lynx study's records alone (no photos).

Held-out sites (5-fold GroupKFold over traps) and held-out times (fit on 2016-2017, test on 2018-2019),
top-1 accuracy, macro-F1 and NLL against the class-frequency baseline of the training part, for the
time-only prior, the place-only and place+time priors used everywhere (extrapolating to unseen traps), and
the default place+time prior that answers from time alone farther than 0.5 km from any training trap.

    nice -n 10 .venv/bin/python bench/heads_prior.py            # ~8 minutes on one CPU thread of a busy 2-core machine
    nice -n 10 .venv/bin/python bench/heads_prior.py --quick    # 1 seed, 2 folds
Writes bench/results/heads_prior.{json,md} (+ versions).
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold

from heads.prior import GeoTimePrior
from zoo.data import load_data_config, load_records
from core.runs import package_versions, write_json, write_text

RESULTS = Path(__file__).resolve().parent / "results"
log = logging.getLogger("bench.heads_prior")

VARIANTS = {
    "time only": dict(use_location=False),
    "place only (extrapolating)": dict(use_time=False, seen_site_km=None),
    "place+time (extrapolating)": dict(seen_site_km=None),
    "place+time (time only > 0.5 km from training sites)": dict(seen_site_km=0.5),
}


def scores(y: np.ndarray, probs: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    index = {c: i for i, c in enumerate(classes)}
    target = np.array([index.get(c, -1) for c in y])
    seen = target >= 0  # labels absent from the training part cannot be scored by any model
    p_true = np.where(seen, probs[np.arange(len(y)), np.maximum(target, 0)], 0.0)
    pred = classes[probs.argmax(axis=1)]
    return {"top1": float((pred == y).mean()), "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
            "nll": float(-np.log(np.maximum(p_true, 1e-6)).mean()), "n": int(len(y)), "n_unseen_label": int((~seen).sum())}


def evaluate_split(train: pd.DataFrame, test: pd.DataFrame, seed: int, epochs: int) -> dict[str, dict]:
    out = {}
    classes = np.array(sorted(train["label"].unique()), dtype=object)
    freq = train["label"].value_counts(normalize=True).reindex(classes).to_numpy()
    out["class frequency"] = scores(test["label"].to_numpy(), np.tile(freq, (len(test), 1)), classes)
    for name, options in VARIANTS.items():
        prior = GeoTimePrior(epochs=epochs, seed=seed, progress=False, **options).fit(train)
        out[name] = scores(test["label"].to_numpy(), prior.predict_proba(test), prior.classes_)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 folds, 5 epochs")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.folds, args.epochs = 1, 2, 5
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    start = time.time()

    records = load_records(load_data_config("lynx_records"), progress=False)
    records = records[(records["label"] != "")].reset_index(drop=True)
    records["trap"] = records["area"] + "/" + records["site"]
    print(f"{len(records)} labelled records, {records['trap'].nunique()} traps, "
          f"{int(records['lat'].isna().sum())} without coordinates, {records['label'].nunique()} labels")

    rows = []
    folds = list(GroupKFold(n_splits=args.folds).split(records, groups=records["trap"]))
    year = records["timestamp"].dt.year
    time_split = (records.index[year <= 2017], records.index[year >= 2018])
    for seed in range(args.seeds):
        for k, (tr, te) in enumerate(folds):
            for model, s in evaluate_split(records.iloc[tr], records.iloc[te], seed, args.epochs).items():
                rows.append({"split": "held-out sites", "fold": k, "seed": seed, "model": model, **s})
            print(f"seed {seed} site fold {k} done ({time.time() - start:.0f}s)", flush=True)
        for model, s in evaluate_split(records.loc[time_split[0]], records.loc[time_split[1]], seed, args.epochs).items():
            rows.append({"split": "held-out times (2018-19)", "fold": 0, "seed": seed, "model": model, **s})
        print(f"seed {seed} time split done ({time.time() - start:.0f}s)", flush=True)

    table = pd.DataFrame(rows)
    # pool the site folds of a seed (weighted by records), then mean and spread over seeds
    per_seed = table.groupby(["split", "model", "seed"]).apply(
        lambda g: pd.Series({m: np.average(g[m], weights=g["n"]) for m in ("top1", "macro_f1", "nll")}), include_groups=False)
    summary = per_seed.groupby(["split", "model"]).agg(["mean", "std"]).reset_index()
    summary.columns = [" ".join(c).strip() for c in summary.columns]
    order = ["class frequency"] + list(VARIANTS)
    summary["o"] = summary["model"].map(order.index)
    summary = summary.sort_values(["split", "o"]).drop(columns="o")

    command = "nice -n 10 .venv/bin/python bench/heads_prior.py" + (" --quick" if args.quick else "")
    lines = [f"Prior alone on {len(records)} labelled records ({records['trap'].nunique()} traps). "
             f"{args.seeds} seed(s); held-out sites: {args.folds}-fold GroupKFold over traps; "
             f"held-out times: fit 2016-2017, test 2018-2019. Mean ± sd over seeds.", "",
             "| split | model | top-1 | macro-F1 | NLL |", "|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        lines.append(f"| {r['split']} | {r['model']} | {r['top1 mean']:.3f} ± {r['top1 std']:.3f} | "
                     f"{r['macro_f1 mean']:.3f} ± {r['macro_f1 std']:.3f} | {r['nll mean']:.3f} ± {r['nll std']:.3f} |")
    lines += ["", f"Command: `{command}` ({time.time() - start:.0f} s, torch threads {args.threads})."]
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text(RESULTS / "heads_prior.md", "\n".join(lines) + "\n")
    write_json(RESULTS / "heads_prior.json", {"command": command, "args": vars(args), "versions": package_versions(),
                                              "seconds": round(time.time() - start, 1), "summary": summary.to_dict("records"),
                                              "runs": rows})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
