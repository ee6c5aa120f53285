"""`python -m zoo.pipeline`: the whole path on the bundled lynx sample, one stage after another.

Each stage is the same command a user would type, run in its own process and writing its own
run directory under `--out` (default runs/pipeline). Re-running skips stages whose outputs exist
and resumes an interrupted training, so the pipeline can be stopped and restarted at any time.
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("zoo.pipeline")
PYTHON = sys.executable
EMULATION_SEEDS = 3  # the report's ecological column averages them and keeps the worst


def stages(out: Path, quick: bool) -> list[tuple[str, Path, list[str]]]:
    """(name, file that proves the stage is done, command)."""
    train_dir, best_dir, occ = out / "train", out / "train_best", out / "occupancy"
    train_overrides = ["train.epochs=2", "train.frozen_epochs=1"] if quick else []
    sampler = ["sampler=fast"] if quick else []
    summary = out / "data" / "summary.json"
    # each zoo model's emulated mistakes: naive and uncertainty-aware, EMULATION_SEEDS draws of the labels
    emulated = [(run, labels, seed, f"emulated_{run.name}_{labels}_seed{seed}") for run in (train_dir, best_dir)
                for labels in ("naive", "confusion") for seed in range(EMULATION_SEEDS)]
    return [
        ("data summary (photos)", summary,
         [PYTHON, "-m", "zoo.data", "summarize", "zoo/sample/lynx/images/jura", "--json", str(summary),
          "--records", str(out / "data" / "records.parquet")]),
        ("data summary (65k records)", out / "data" / "summary_records.json",
         [PYTHON, "-m", "zoo.data", "summarize", "zoo/sample/lynx/records.csv.gz", "--quiet",
          "--json", str(out / "data" / "summary_records.json")]),
        ("train (default recipe: EfficientNet-Lite0 at 224 px)", train_dir / "metrics.json",
         [PYTHON, "-m", "zoo.train", f"run_dir={train_dir}", "resume=auto", *train_overrides]),
        ("train (the best measured recipe: experiment=lite2_best)", best_dir / "metrics.json",
         [PYTHON, "-m", "zoo.train", "experiment=lite2_best", f"run_dir={best_dir}", "resume=auto", *train_overrides]),
        ("predict (Ain photos, a study area the model never saw)", out / "predict" / "ain.csv",
         [PYTHON, "-m", "zoo.predict", f"run_dir={train_dir}", "input=zoo/sample/lynx/images/ain",
          f"output={out / 'predict' / 'ain.csv'}"]),
        *[(f"occupancy ({labels})", occ / labels / "summary.csv",
           [PYTHON, "-m", "occupancy.fit", "study=lynx", f"labels={labels}", f"run_dir={occ / labels}", *sampler])
          for labels in ("ground_truth", "naive", "confusion", "classifier_only")],
        # the verification loop: plan 2% of the Ain photos from the classifier-only fit; their manual labels
        # stand in for the reviewer's answers; refit with them
        ("plan verification (2% of the Ain photos)", occ / "review.csv",
         [PYTHON, "-m", "occupancy.plan", f"fit_dir={occ / 'classifier_only'}", "budget=0.02",
          "answer_column=label_manual", f"out={occ / 'review.csv'}"]),
        ("occupancy (planned)", occ / "planned" / "summary.csv",
         [PYTHON, "-m", "occupancy.fit", "study=lynx", "labels=planned", f"labels.verified_path={occ / 'review.csv'}",
          f"run_dir={occ / 'planned'}", *sampler]),
        # the zoo's models never labelled the Ain photos: their mistakes are emulated from their validation
        # confusion matrices (occupancy.emulate), fitted naive and uncertainty-aware
        *[(f"occupancy ({labels}, {run.name}'s mistakes emulated, seed {seed})", occ / name / "summary.csv",
           [PYTHON, "-m", "occupancy.fit", "study=lynx", f"labels={labels}", f"labels.emulate_from={run}",
            f"labels.emulate_seed={seed}", f"run_dir={occ / name}", *sampler])
          for run, labels, seed, name in emulated],
        ("report", out / "report" / "report.md",
         [PYTHON, "-m", "zoo.report", f"runs=[{train_dir},{best_dir}]",
          "fits=[" + ",".join(str(occ / name) for name in ("ground_truth", "naive", "confusion", "planned",
                                                              *[e[-1] for e in emulated])) + "]",
          f"out={out / 'report'}",
          "verification=bench/results/occupancy_verification.json"]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.pipeline", description=__doc__)
    parser.add_argument("--out", default="runs/pipeline", help="where the stages write their runs")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and draws (a smoke run)")
    parser.add_argument("--force", action="store_true", help="re-run stages whose outputs exist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out)
    for number, (name, done, command) in enumerate(stages(out, args.quick), start=1):
        if done.exists() and not args.force:
            log.info("[%d] %s: done already (%s)", number, name, done)
            continue
        log.info("[%d] %s: %s", number, name, " ".join(command))
        started = time.perf_counter()
        result = subprocess.run(command)
        if result.returncode != 0:
            log.error("[%d] %s failed (exit %d); fix the cause and re-run: finished stages are kept",
                      number, name, result.returncode)
            return result.returncode
        log.info("[%d] %s: %.0f s", number, name, time.perf_counter() - started)
    log.info("all stages done. The report: %s (and the self-contained %s)", out / "report" / "report.md",
             out / "report" / "report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
