"""The heads ablation through the product path: `zoo.train` fits each head, `zoo.predict` applies it.

bench/heads_ablation.py measures the heads' functions on a linear head over frozen features; this measures what a
user gets. One fine-tuned lite0 run (the default recipe) per `head.smoothing` kind, on a label-stratified,
sequence-grouped split with a test part (60/20/20). On the cross-entropy run's weights the head is refitted for each
post-processing variant (`zoo.train resume=true` on a copy of the run: same weights, new HeadPipeline fitted on the
validation split). Then `zoo.predict` labels the test photos with every run (a records table of the test part, so
sequences and the prior's site and date are the study's), and the test metrics are computed from its output files
with zoo.metrics, beside zoo.train's own test metrics as a check that the two paths agree.

    .venv/bin/python bench/heads_product_ablation.py              # ~30 minutes on a quiet 2-core CPU
Writes bench/results/heads_product_ablation.{json,md}; runs under runs/heads_product/ (resumable: finished runs,
refits and predictions are skipped).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from heads.pipeline import sequence_targets
from heads.rollup import rollup_summary
from heads.taxonomy import load_taxonomy
from zoo.metrics import classification_report
from core.runs import package_versions, write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SPLIT = ["data.split.kind=stratified", "data.split.valid=0.2", "data.split.test=0.2"]
SMOOTHING = {"cross-entropy": "none", "uniform smoothing": "uniform", "taxonomic smoothing": "taxonomic"}
PRIOR = ["head.prior.enabled=true", "head.prior.records=lynx_records"]
# name: head overrides refitted on the cross-entropy run's weights (the run itself is mean_probs + temperature)
VARIANTS = {
    "first frame, no temperature": ["head.calibration.enabled=false", "head.pooling.kind=first"],
    "mean_probs, no temperature": ["head.calibration.enabled=false"],
    "mean_logits + temperature": ["head.pooling.kind=mean_logits"],
    "max_conf + temperature": ["head.pooling.kind=max_conf"],
    "attention + temperature": ["head.pooling.kind=attention"],
    "prior (product) + temperature": PRIOR,
    "prior (bayes) + temperature": PRIOR + ["head.prior.combine=bayes"],
    "time-only prior (bayes) + temperature": PRIOR + ["head.prior.combine=bayes", "head.prior.use_location=false"],
    "roll-up crm": ["head.rollup.kind=crm"],
}
METRICS = [("accuracy", "acc"), ("macro_f1", "F1"), ("nll", "NLL"), ("ece", "ECE")]


def run(cmd: list[str], log: Path) -> float:
    """Run one product command, its output to `log`; seconds taken."""
    start = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed (rc {done.returncode}); see {log}")
    return time.perf_counter() - start


def train(run_dir: Path, overrides: list[str]) -> float:
    """Seconds of training (its epochs' seconds in history.csv when the run exists already)."""
    if (run_dir / "metrics.json").exists():
        return float(pd.read_csv(run_dir / "history.csv")["seconds"].sum())
    return run([sys.executable, "-m", "zoo.train", f"run_dir={run_dir}", "resume=auto", "seed=0", *SPLIT, *overrides],
               run_dir.with_suffix(".train.log"))


def refit(base: Path, run_dir: Path, overrides: list[str]) -> float | None:
    """A copy of `base` with its head refitted under `overrides` (same weights); seconds (None: done before)."""
    if (run_dir / "refit.done").exists():
        return None
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(base, run_dir, ignore=shutil.ignore_patterns("predict_test*", "test_records*"))  # base's outputs
    seconds = run([sys.executable, "-m", "zoo.train", f"run_dir={run_dir}", "resume=true", "seed=0", *SPLIT,
                   "head.smoothing.kind=none", *overrides], run_dir.with_suffix(".refit.log"))
    (run_dir / "refit.done").write_text(" ".join(overrides))
    return seconds


def predict(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """zoo.predict on the run's test photos: (test records, image table, sequence table)."""
    records = pd.read_parquet(run_dir / "records.parquet")
    test = records[records["split"] == "test"].drop(columns=["split"])
    source, output = run_dir / "test_records.parquet", run_dir / "predict_test.csv"
    if not output.exists():
        test.to_parquet(source)
        run([sys.executable, "-m", "zoo.predict", f"run_dir={run_dir}", f"input={source}", f"output={output}",
             "progress=false"], run_dir / "predict_test.log")
    return test, pd.read_csv(output), pd.read_csv(output.with_name("predict_test_sequences.csv"))


def scores(run_dir: Path) -> dict:
    """Test metrics from zoo.predict's files, and their largest difference from zoo.train's own test metrics."""
    classes = json.loads((run_dir / "classes.json").read_text())
    taxonomy = load_taxonomy(run_dir / "taxonomy.csv")
    index = {c: i for i, c in enumerate(classes)}
    test, images, sequences = predict(run_dir)
    columns = [f"p_{c}" for c in classes]
    labels = images["path"].map(test.set_index("path")["label"])
    known = labels.isin(index).to_numpy()
    image = classification_report(images.loc[known, columns].to_numpy(), labels[known].map(index).to_numpy(),
                                  classes, taxonomy)
    ids, seq_labels = sequence_targets(test["label"].to_numpy(), test["sequence_id"].to_numpy())
    truth = pd.Series(seq_labels, index=ids).reindex(sequences["sequence_id"])
    known_seq = truth.isin(index).to_numpy()
    sequence = classification_report(sequences.loc[known_seq, columns].to_numpy(),
                                     truth[known_seq].map(index).to_numpy(), classes, taxonomy)
    if "rollup_prediction" in sequences:
        answers = sequences.loc[known_seq, ["rollup_prediction", "rollup_level"]]
        answers.columns = ["prediction", "level"]
        sequence["rollup"] = rollup_summary(truth[known_seq].to_numpy(), answers.reset_index(drop=True), classes, taxonomy)
    trained = json.loads((run_dir / "metrics.json").read_text())
    pairs = [(trained["test"][level][key], new[key]) for level, new in (("image", image), ("sequence", sequence))
             for key, _ in METRICS]
    if "rollup" in sequence:
        pairs += [(trained["test"]["sequence"]["rollup"][key], value) for key, value in sequence["rollup"].items()]
    agree = max(abs(a - b) for a, b in pairs)
    provenance = json.loads((run_dir / "predict_test_provenance.json").read_text())
    return {"image": image, "sequence": sequence, "train_vs_predict_max_abs_diff": agree,
            "head": provenance.get("head"), "n_test_images": int(known.sum()), "n_test_sequences": int(known_seq.sum())}


def row(name: str, result: dict) -> str:
    cells = [f"{result[level][key]:.3f}" for level in ("image", "sequence") for key, _ in METRICS]
    cells += [f"{result[level]['mistake_severity']['mean_mistake_severity']:.2f}" for level in ("image", "sequence")]
    return f"| {name} | " + " | ".join(cells) + f" | {result['train_vs_predict_max_abs_diff']:.1e} |"


def markdown(results: dict, seconds: dict, n: dict) -> str:
    head = " | ".join(f"{level} {short}" for level in ("img", "seq") for _, short in METRICS)
    lines = [
        f"Product path (zoo.train + zoo.predict), tf_efficientnet_lite0 default recipe, seed 0, stratified "
        f"sequence-grouped split 60/20/20; test: {n['images']} photos, {n['sequences']} sequences. Metrics computed "
        "from zoo.predict's output files; the last column is their largest difference from zoo.train's own test "
        "metrics (the two paths must agree). sev: mean taxonomic level of the mistakes (1 genus ... 5 unrelated).",
        "",
        f"| configuration | {head} | img sev | seq sev | train vs predict |",
        "|---" * (len(METRICS) * 2 + 4) + "|",
    ]
    lines += [row(name, result) for name, result in results.items()]
    lines += ["", "Roll-up of the sequence predictions (zoo.predict's rollup_* columns):", "",
              "| configuration | accuracy in taxon | exact accuracy | answers at label | mean severity |", "|---|---|---|---|---|"]
    for name, result in results.items():
        roll = result["sequence"].get("rollup")
        if roll:
            lines.append(f"| {name} ({result['head']['rollup']['kind'] if result.get('head') else '?'}) | "
                         f"{roll['accuracy_in_taxon']:.3f} | {roll['exact_accuracy']:.3f} | {roll['share_label']:.3f} | "
                         f"{roll['mean_severity']:.3f} |")
    lines += ["", "Minutes: " + ", ".join(f"{k} {v / 60:.1f}" for k, v in seconds.items()), "",
              "Command: `.venv/bin/python bench/heads_product_ablation.py`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "heads_product")
    parser.add_argument("--out", type=Path, default=RESULTS / "heads_product_ablation")
    args = parser.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)
    seconds, runs = {}, {}
    for name, kind in SMOOTHING.items():
        runs[f"{name} + mean_probs + temperature"] = run_dir = args.runs / f"smoothing_{kind}"
        seconds[f"training {kind}"] = train(run_dir, [f"head.smoothing.kind={kind}"])
    base = args.runs / "smoothing_none"
    for i, (name, overrides) in enumerate(VARIANTS.items()):
        runs[f"cross-entropy + {name}"] = run_dir = args.runs / f"variant_{i}"
        refit_s = refit(base, run_dir, overrides)
        if refit_s is not None:
            seconds[f"refit {i}"] = refit_s
    results = {}
    for name, run_dir in runs.items():
        start = time.perf_counter()
        results[name] = scores(run_dir)
        print(f"{name}: sequence accuracy {results[name]['sequence']['accuracy']:.3f}, NLL "
              f"{results[name]['sequence']['nll']:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    first = next(iter(results.values()))
    n = {"images": first["n_test_images"], "sequences": first["n_test_sequences"]}
    write_json(args.out.with_suffix(".json"), {"results": results, "seconds": seconds, "runs": {k: str(v) for k, v in runs.items()},
                                               "versions": package_versions()})
    write_text(args.out.with_suffix(".md"), markdown(results, seconds, n))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
