"""Accuracy of zoo configurations on the bundled Jura sample, several seeds, two splits.

    .venv/bin/python bench/zoo_accuracy.py --name lite0_flip -- train.augment.test_flip=true
    .venv/bin/python bench/zoo_accuracy.py --name lite2 --splits authors -- model=lite2   # `--` before overrides

Splits: the authors' split (364 train / 96 valid, like-for-like with the seed workflow) and a
sequence-grouped stratified split of the same photos (no burst on both sides). Each (split, seed)
is one `zoo.train` run under runs/bench/NAME/; results go to bench/results/zoo_accuracy_NAME.json
and a line per configuration in bench/results/zoo_accuracy.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
HEADER = ("Valid accuracy and macro-F1, mean ± sd over seeds (one line per configuration and split; "
          "`python bench/zoo_accuracy.py --name NAME [--splits ...] -- OVERRIDES`).\n\n"
          "| name | overrides | split | seeds | image accuracy | image macro-F1 | sequence accuracy | "
          "sequence macro-F1 | minutes per run |\n|---|---|---|---|---|---|---|---|---|\n")
SPLITS = {
    "authors": [],
    "sequence_grouped": ["data.split.kind=stratified", "data.split.valid=0.2", "data.split.labels_from_file=false"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument("overrides", nargs="*", help="zoo.train overrides, e.g. model=lite1 train.epochs=8")
    args = parser.parse_args()
    results = {"name": args.name, "overrides": args.overrides, "runs": []}
    for split in args.splits:
        for seed in args.seeds:
            run_dir = Path("runs/bench") / args.name / f"{split}_seed{seed}"
            started = time.perf_counter()
            command = [sys.executable, "-m", "zoo.train", f"seed={seed}", f"data.split.seed={seed}",
                       f"run_dir={run_dir}", "resume=auto", *SPLITS[split], *args.overrides]
            print(" ".join(command), flush=True)
            subprocess.run(command, check=True)
            metrics = json.loads((run_dir / "metrics.json").read_text())["valid"]
            results["runs"].append({"split": split, "seed": seed, "seconds": round(time.perf_counter() - started),
                                    **{f"{level}_{k}": metrics[level][k] for level in ("image", "sequence")
                                       for k in ("accuracy", "macro_f1", "nll", "ece")}})
    results["summary"] = summarise(results["runs"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"zoo_accuracy_{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    table_path = RESULTS / "zoo_accuracy.md"
    if not table_path.exists():
        table_path.write_text(HEADER)
    with open(table_path, "a") as table:
        for split, s in results["summary"].items():
            table.write(f"| {args.name} | {' '.join(args.overrides)} | {split} | {s['n']} | "
                        f"{s['image_accuracy']} | {s['image_macro_f1']} | {s['sequence_accuracy']} | "
                        f"{s['sequence_macro_f1']} | {s['minutes_per_run']} |\n")
    print(json.dumps(results["summary"], indent=2))


def summarise(runs: list[dict]) -> dict:
    out = {}
    for split in sorted({r["split"] for r in runs}):
        rows = [r for r in runs if r["split"] == split]
        out[split] = {"n": len(rows), "minutes_per_run": round(statistics.mean(r["seconds"] for r in rows) / 60, 1)}
        for key in ("image_accuracy", "image_macro_f1", "sequence_accuracy", "sequence_macro_f1"):
            values = [r[key] for r in rows]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            out[split][key] = f"{statistics.mean(values):.3f} ± {spread:.3f}"
    return out


if __name__ == "__main__":
    main()
