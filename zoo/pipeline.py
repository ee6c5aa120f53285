"""`python -m zoo.pipeline`: the whole path on the bundled lynx sample, stage by stage.

Each stage is the same command a user would type, run in its own process and writing its own
run directory under `--out` (default runs/pipeline). Re-running skips stages whose outputs exist
and resumes an interrupted training, so the pipeline can be stopped and restarted at any time.

Stages come in groups that run in order; the stages of one group do not read each other's outputs
and run `--jobs` at a time. An occupancy fit keeps about one core busy outside its sampling, so two
side by side finish sooner than one after the other, even on two cores. A stage that runs beside
others writes its output to `--out`/logs/<stage>.log instead of the console.
"""
from __future__ import annotations

import argparse
import itertools
import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("zoo.pipeline")
PYTHON = sys.executable
EMULATION_SEEDS = 3  # the report's ecological column averages them and keeps the worst


@dataclass(frozen=True)
class Stage:
    key: str            # names its log file
    name: str           # what the progress lines say
    done: Path          # the file that proves the stage finished
    command: list[str]


def stages(out: Path, quick: bool) -> list[list[Stage]]:
    """Groups of independent stages, in the order they must run."""
    train_dir, best_dir, grouped_dir, occ = out / "train", out / "train_best", out / "train_grouped", out / "occupancy"
    classifiers = (train_dir, best_dir, grouped_dir)
    train_overrides = ["train.epochs=2", "train.frozen_epochs=1"] if quick else []
    sampler = ["sampler=fast"] if quick else []
    summary = out / "data" / "summary.json"

    def fit(key: str, name: str, *overrides: str) -> Stage:
        return Stage(key, name, occ / key / "summary.csv",
                     [PYTHON, "-m", "occupancy.fit", "study=lynx", *overrides, f"run_dir={occ / key}", *sampler])

    # each zoo model's emulated mistakes: naive and uncertainty-aware, EMULATION_SEEDS draws of the labels
    emulated = [fit(f"emulated_{run.name}_{labels}_seed{seed}",
                    f"occupancy ({labels}, {run.name}'s mistakes emulated, seed {seed})",
                    f"labels={labels}", f"labels.emulate_from={run}", f"labels.emulate_seed={seed}")
                for run in classifiers for labels in ("naive", "confusion") for seed in range(EMULATION_SEEDS)]
    return [
        [Stage("data", "data summary (photos)", summary,
               [PYTHON, "-m", "zoo.data", "summarize", "zoo/sample/lynx/images/jura", "--json", str(summary),
                "--records", str(out / "data" / "records.parquet")]),
         Stage("records", "data summary (65k records)", out / "data" / "summary_records.json",
               [PYTHON, "-m", "zoo.data", "summarize", "zoo/sample/lynx/records.csv.gz", "--quiet",
                "--json", str(out / "data" / "summary_records.json")])],
        [Stage("train", "train (default recipe: EfficientNet-Lite0 at 224 px)", train_dir / "metrics.json",
               [PYTHON, "-m", "zoo.train", f"run_dir={train_dir}", "resume=auto", *train_overrides])],
        [Stage("train_best", "train (the best measured recipe: experiment=lite2_best)", best_dir / "metrics.json",
               [PYTHON, "-m", "zoo.train", "experiment=lite2_best", f"run_dir={best_dir}", "resume=auto",
                *train_overrides])],
        # the authors' split can put photos of one burst on both sides; the leaderboard shows what that is worth
        [Stage("train_grouped", "train (default recipe, sequence-grouped split: no burst on both sides)",
               grouped_dir / "metrics.json",
               [PYTHON, "-m", "zoo.train", "data.split.kind=stratified", f"run_dir={grouped_dir}", "resume=auto",
                *train_overrides])],
        [Stage("predict", "predict (Ain photos, a study area the model never saw)", out / "predict" / "ain.csv",
               [PYTHON, "-m", "zoo.predict", f"run_dir={train_dir}", "input=zoo/sample/lynx/images/ain",
                f"output={out / 'predict' / 'ain.csv'}"]),
         *[fit(labels, f"occupancy ({labels})", f"labels={labels}")
           for labels in ("classifier_only", "confusion", "ground_truth", "naive")]],
        # the verification loop: plan 2% of the Ain photos from the classifier-only fit; their manual labels
        # stand in for the reviewer's answers; refit with them
        [Stage("plan", "plan verification (2% of the Ain photos)", occ / "review.csv",
               [PYTHON, "-m", "occupancy.plan", f"fit_dir={occ / 'classifier_only'}", "budget=0.02",
                "answer_column=label_manual", f"out={occ / 'review.csv'}"])],
        # the zoo's models never labelled the Ain photos: their mistakes are emulated from their validation
        # confusion matrices (occupancy.emulate), fitted naive and uncertainty-aware
        [fit("planned", "occupancy (planned)", "labels=planned", f"labels.verified_path={occ / 'review.csv'}"),
         *emulated],
        [Stage("report", "report", out / "report" / "report.md",
               [PYTHON, "-m", "zoo.report", f"runs=[{','.join(map(str, classifiers))}]",
                "fits=[" + ",".join(str(occ / key) for key in ("ground_truth", "naive", "confusion", "planned",
                                                                 *[e.key for e in emulated])) + "]",
                f"out={out / 'report'}",
                "verification=bench/results/occupancy_verification.json"])],
    ]


def run_stage(stage: Stage, number: int, log_file: Path | None) -> int:
    """Run one stage; its output goes to the console, or to `log_file` when it runs beside others."""
    log.info("[%d] %s: %s%s", number, stage.name, " ".join(stage.command),
             f"  (output: {log_file})" if log_file else "")
    started = time.perf_counter()
    if log_file is None:
        code = subprocess.run(stage.command).returncode
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w") as sink:
            code = subprocess.run(stage.command, stdout=sink, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-15:]) if log_file else ""
        log.error("[%d] %s failed (exit %d)%s\n%s", number, stage.name, code,
                  f"; its output: {log_file}" if log_file else "", tail)
    else:
        log.info("[%d] %s: %.0f s", number, stage.name, time.perf_counter() - started)
    return code


def run(groups: list[list[Stage]], out: Path, jobs: int, force: bool = False) -> int:
    """Run the groups in order, each group's pending stages `jobs` at a time; 0, or the first failure's exit code."""
    numbers = itertools.count(1)
    for group in groups:
        pending, pending_numbers = [], []
        for stage, number in zip(group, numbers):  # group first: its end must not use up a number
            if stage.done.exists() and not force:
                log.info("[%d] %s: done already (%s)", number, stage.name, stage.done)
            else:
                pending.append(stage)
                pending_numbers.append(number)
        beside = jobs > 1 and len(pending) > 1
        log_files = [out / "logs" / f"{stage.key}.log" if beside else None for stage in pending]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            codes = list(pool.map(run_stage, pending, pending_numbers, log_files))
        failed = [code for code in codes if code != 0]
        if failed:
            log.error("fix the cause and re-run: finished stages are kept")
            return failed[0]
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/pipeline", help="where the stages write their runs")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and draws (a smoke run)")
    parser.add_argument("--force", action="store_true", help="re-run stages whose outputs exist")
    parser.add_argument("--jobs", type=int, default=max(2, (os.cpu_count() or 2) // 2),
                        help="independent stages run at once (default: half the CPU cores, at least 2)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out)
    started = time.perf_counter()
    code = run(stages(out, args.quick), out, args.jobs, args.force)
    if code == 0:
        log.info("all stages done in %.1f minutes. The report: %s (and the self-contained %s)",
                 (time.perf_counter() - started) / 60, out / "report" / "report.md", out / "report" / "report.html")
    return code


if __name__ == "__main__":
    sys.exit(main())
