"""The lynx study fitted with ground truth, naive classified, confusion-aware and score-based labels.

    nice -n 10 .venv/bin/python bench/occupancy_lynx.py --runs runs/occupancy --out bench/results/occupancy_lynx

Runs `python -m occupancy.fit study=lynx labels=...` once per label mode (the default sampler: 2 chains x 1000 draws), then
writes <out>.md (estimates side by side, with the commands and wall times), <out>.png (the paper's two
figures, one colour per data set) and <out>.json.

Until zoo.predict provides per-sequence probabilities for Ain, the score-based fit uses stand-in scores
built from the CNN's hard labels: Pr(true class | CNN label of the sequence) estimated on the sequences with
a verified photo (the random 10% of photos of labels=confusion), one row per sequence. They are calibrated for the Ain class mix by construction,
but carry no more information than the hard labels; swap in zoo.predict's file with --scores.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from occupancy.compare import side_by_side  # noqa: E402
from occupancy.plots import plot_occupancy  # noqa: E402
from core.runs import write_json, write_table, write_text  # noqa: E402


def stand_in_scores(path: Path, fraction: float = 0.1, seed: int = 1) -> Path:
    """Per-sequence Pr(true label | CNN label) for the Ain records, from the sequences with a verified photo
    (the same random 10% of photos as labels=confusion). A sequence's labels are its photos' most common ones."""
    from occupancy.streams import verified_mask
    from occupancy.study import load_study_records
    from zoo.data.sequences import most_common_labels

    recs = load_study_records({"data": "lynx_records"})
    ain = recs[recs["area"].astype(str) == "ain"]
    verified = verified_mask(pd.Series(True, index=ain.index), fraction, seed)
    cnn = most_common_labels(ain["label_cnn"].astype(str), ain["sequence_id"])
    checked = most_common_labels(ain["label_manual"].astype(str).where(verified, ""), ain["sequence_id"])
    checked = checked[checked != ""]
    counts = pd.crosstab(cnn[checked.index], checked)  # rows: CNN label of the sequence
    classes = sorted(set(counts.columns) | set(cnn))
    counts = counts.reindex(index=classes, columns=classes, fill_value=0) + 0.5  # Jeffreys-like smoothing
    posterior = counts.div(counts.sum(axis=1), axis=0)  # Pr(true | predicted)
    first = ain.groupby("sequence_id", sort=False).first()
    table = pd.DataFrame({"sequence_id": first.index, "site": first["site"].to_numpy(),
                          "timestamp": first["timestamp"].to_numpy(), "n_frames": ain.groupby("sequence_id", sort=False).size().to_numpy()})
    probs = posterior.reindex(cnn.reindex(first.index).to_numpy()).to_numpy()
    table = pd.concat([table, pd.DataFrame(probs, columns=[f"p_{c}" for c in classes])], axis=1)
    table = table[np.isfinite(probs).all(axis=1) & (cnn.reindex(first.index).to_numpy() != "")]
    write_table(path, table)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/occupancy", type=Path)
    parser.add_argument("--out", default="bench/results/occupancy_lynx")
    parser.add_argument("--modes", default="ground_truth,naive,confusion,scores")
    parser.add_argument("--scores", default=None, help="zoo.predict per-sequence probabilities for Ain")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides, e.g. sampler=nutpie")
    parser.add_argument("--reuse", action="store_true", help="reuse finished run directories")
    args = parser.parse_args()
    results, summaries = {}, {}
    for mode in args.modes.split(","):
        run_dir = args.runs / f"lynx_{mode}"
        cmd = [sys.executable, "-m", "occupancy.fit", "study=lynx", f"labels={mode}", f"run_dir={run_dir}", *args.extra]
        if mode == "scores":
            scores = Path(args.scores) if args.scores else stand_in_scores(args.runs / "lynx_ain_stand_in_scores.parquet")
            cmd.append(f"scores_path={scores}")
        if not (args.reuse and (run_dir / "summary.csv").is_file()):
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), **__import__("os").environ})
            if done.returncode:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
            results[mode] = {"command": " ".join(["python"] + cmd[1:]), "process_wall_s": time.perf_counter() - t0}
        diag = json.loads((run_dir / "diagnostics.json").read_text())
        results.setdefault(mode, {"command": " ".join(["python"] + cmd[1:])}).update(diagnostics=diag)
        summaries[mode] = pd.read_csv(run_dir / "summary.csv")
        print(mode, diag["timings"], flush=True)
    out = Path(args.out)
    plot_occupancy(summaries, out.with_suffix(".png"))
    write_json(out.with_suffix(".json"), results)
    first = next(iter(results.values()))["diagnostics"]
    lines = [f"Posterior mean (95% interval), {first.get('chains', 'default')} chains x {first.get('draws', 'default')} "
             "draws each.", "", side_by_side(summaries),
             "| run | max R-hat | min bulk ESS (reported) | divergences | back-end | sampling (s) | run wall (s) |",
             "|---|---|---|---|---|---|---|"]
    for mode, r in results.items():
        d = r["diagnostics"]
        lines.append(f"| {mode} | {d['max_r_hat']:.3f} | {d['min_ess_bulk_reported']:.0f} | {d['divergences']} | "
                     f"{d['timings']['backend']} | {d['timings']['sample_s']:.1f} | {d['timings'].get('wall_s', float('nan')):.1f} |")
    lines += ["", "Commands:", ""] + [f"    {r['command']}" for r in results.values()]
    if "scores" in results and not args.scores:
        lines += ["", "The scores run uses stand-in per-sequence scores Pr(true | CNN label) from the verified 10% "
                      "(see bench/occupancy_lynx.py), not zoo.predict output."]
    lines += ["", f"Driver: `.venv/bin/python bench/occupancy_lynx.py --runs {args.runs} --out {args.out}`"]
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
