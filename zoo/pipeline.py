"""`python -m zoo.pipeline`: the whole path on the bundled lynx sample, stage by stage.

Each stage is the same command a user would type, run in its own process and writing its own
run directory under `--out` (default runs/pipeline). Re-running skips stages whose outputs exist
and resumes an interrupted training, so the pipeline can be stopped and restarted at any time.

A stage starts as soon as the stages whose outputs it reads have finished. Trainings use every core:
they run one at a time and print their progress. The other stages (data summaries, prediction, the
occupancy fits, the plan, the report) run `--jobs` at a time beside them at the lowest CPU priority
(`nice`), so they take mostly the cycles a training leaves idle (about a sixth of two cores): beside
them the lynx trainings took 160-192, 522-529 and 175-184 s (two runs, 2026-12-06), against 172 s for the
lite0 one alone and 504 s for lite2 in the pipeline before; 175, 518 and 172 s on 2026-12-07 with
core.memory, and 156-174, 461-475 and 158-164 s (three runs) without predicting the training photos at the
end. Each writes its output to `--out`/logs/<stage>.log. An occupancy fit keeps
about one core busy outside its sampling, so two side by side finish sooner than one after the
other, even on two cores.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("zoo.pipeline")
PYTHON = sys.executable
EMULATION_SEEDS = 3  # the report's ecological column averages them and keeps the worst
# stages beside a training run at this niceness: measured beside the lite0 training (2026-12-06), four
# occupancy fits two at a time left it at 161 s (172 s alone) and were 66 s from done when it ended
BESIDE_NICENESS = 19


@dataclass(frozen=True)
class Stage:
    key: str            # names its log file; other stages name it in `needs`
    name: str           # what the progress lines say
    done: Path | tuple[Path, ...]  # the file(s) that prove the stage finished
    command: list[str]
    needs: tuple[str, ...] = ()  # keys of earlier stages whose outputs it reads
    exclusive: bool = False  # uses every core (a training): one at a time, normal priority, output to the console

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (self.done,) if isinstance(self.done, Path) else self.done

    def finished(self) -> bool:
        return all(path.exists() for path in self.outputs)


def stages(out: Path, quick: bool) -> list[Stage]:
    """Every stage, each after the stages it needs."""
    train_dir, best_dir, grouped_dir, occ = out / "train", out / "train_best", out / "train_grouped", out / "occupancy"
    classifiers = {"train": train_dir, "train_best": best_dir, "train_grouped": grouped_dir}
    train_overrides = ["train.epochs=2", "train.frozen_epochs=1"] if quick else []
    sampler = ["sampler=fast"] if quick else []
    summary = out / "data" / "summary.json"
    # the 65k records cleaned once (labels, clocks, sequences): every fit reads this table instead of cleaning
    # the CSV again, 5 s a fit (the same detection data to the last array, checked for every label mode)
    study_records = out / "data" / "study_records.parquet"

    def fit_command(*overrides: str, multirun: bool = False) -> list[str]:
        flags = ["--multirun"] if multirun else []  # before the overrides: argparse ends their list at a flag
        return [PYTHON, "-m", "occupancy.fit", *flags, "study=lynx", f"study.records.path={study_records}", *overrides,
                *sampler]

    def fit(key: str, name: str, *overrides: str, needs: tuple[str, ...] = ()) -> Stage:
        return Stage(key, name, occ / key / "summary.csv", fit_command(*overrides, f"run_dir={occ / key}"),
                     needs=("records", *needs))

    def emulated(key: str, labels: str) -> Stage:
        # every seed in one process (a Hydra multirun): imports and graph rewrites once, not once a seed
        prefix = f"emulated_{key}_{labels}_seed"
        return Stage(f"emulated_{key}_{labels}",
                     f"occupancy ({labels}, {key}'s mistakes emulated, seeds 0-{EMULATION_SEEDS - 1})",
                     tuple(occ / f"{prefix}{seed}" / "summary.csv" for seed in range(EMULATION_SEEDS)),
                     fit_command(f"labels={labels}", f"labels.emulate_from={classifiers[key]}",
                                 "labels.emulate_seed=" + ",".join(map(str, range(EMULATION_SEEDS))), "plots=false",
                                 f"run_dir={occ / prefix}${{labels.emulate_seed}}",
                                 f"hydra.sweep.dir={occ / 'sweeps' / f'emulated_{key}_{labels}'}", multirun=True),
                     needs=("records", key))

    def train(key: str, name: str, *overrides: str) -> Stage:
        # the report reads the validation photos' predictions only: predicting the 364 training photos again at
        # the end cost the lite2 recipe 27 s on a quiet machine, 37 s beside the fits
        run_dir = classifiers[key]
        return Stage(key, name, run_dir / "metrics.json",
                     [PYTHON, "-m", "zoo.train", *overrides, f"run_dir={run_dir}", "resume=auto",
                      "train.predict_train=false", *train_overrides], exclusive=True)

    # the zoo's models never labelled the Ain photos: their mistakes are emulated from their validation
    # confusion matrices (occupancy.emulate), fitted naive and uncertainty-aware, EMULATION_SEEDS draws of the labels;
    # the report draws its own figures from their summaries
    emulations = {(key, labels): emulated(key, labels) for key in classifiers for labels in ("naive", "confusion")}
    fits = ("ground_truth", "naive", "confusion", "planned")
    emulated_dirs = [str(path.parent) for stage in emulations.values() for path in stage.outputs]
    return [
        Stage("data", "data summary (photos)", summary,
              [PYTHON, "-m", "zoo.data", "summarize", "zoo/sample/lynx/images/jura", "--json", str(summary),
               "--records", str(out / "data" / "records.parquet")]),
        Stage("records", "data summary (65k records)", study_records,  # written after the summary
              [PYTHON, "-m", "zoo.data", "summarize", "zoo/sample/lynx/records.csv.gz", "--data", "lynx_records",
               "--quiet", "--json", str(out / "data" / "summary_records.json"), "--records", str(study_records)]),
        train("train", "train (default recipe: EfficientNet-Lite0 at 224 px)"),
        train("train_best", "train (the best measured recipe: experiment=lite2_best)", "experiment=lite2_best"),
        # the authors' split can put photos of one burst on both sides; the leaderboard shows what that is worth
        train("train_grouped", "train (default recipe, sequence-grouped split: no burst on both sides)",
              "data.split.kind=stratified"),
        # the fits on the study's own labels read no classifier of ours: they run beside the trainings
        *[fit(labels, f"occupancy ({labels})", f"labels={labels}")
          for labels in ("classifier_only", "confusion", "ground_truth", "naive")],
        # the verification loop: plan 2% of the Ain photos from the classifier-only fit; their manual labels
        # stand in for the reviewer's answers; refit with them
        Stage("plan", "plan verification (2% of the Ain photos)", occ / "review.csv",
              [PYTHON, "-m", "occupancy.plan", f"fit_dir={occ / 'classifier_only'}", "budget=0.02",
               "answer_column=label_manual", f"out={occ / 'review.csv'}"], needs=("classifier_only",)),
        fit("planned", "occupancy (planned)", "labels=planned", f"labels.verified_path={occ / 'review.csv'}",
            needs=("plan",)),
        Stage("predict", "predict (Ain photos, a study area the model never saw)", out / "predict" / "ain.csv",
              [PYTHON, "-m", "zoo.predict", f"run_dir={train_dir}", "input=zoo/sample/lynx/images/ain",
               f"output={out / 'predict' / 'ain.csv'}"], needs=("train",)),
        # the uncertainty-aware fits take about three times as long as the naive ones: started first, they leave
        # the short ones to fill the last minutes, so neither slot idles long at the end
        *(emulations[key, labels] for labels in ("confusion", "naive") for key in classifiers),
        Stage("report", "report", out / "report" / "report.md",
              [PYTHON, "-m", "zoo.report", f"runs=[{','.join(map(str, classifiers.values()))}]",
               "fits=[" + ",".join([*(str(occ / key) for key in fits), *emulated_dirs]) + "]", f"out={out / 'report'}",
               "verification=bench/results/occupancy_verification.json"],
              needs=(*classifiers, *fits, *(stage.key for stage in emulations.values()))),
    ]


def run_stage(stage: Stage, number: int, log_file: Path | None, niceness: int = 0) -> int:
    """Run one stage; its output goes to the console, or to `log_file`; `niceness` > 0 lowers its CPU priority."""
    nice = shutil.which("nice") if niceness else None  # POSIX; elsewhere the stage runs at normal priority
    command = [nice, "-n", str(niceness), *stage.command] if nice else stage.command
    log.info("[%d] %s: %s%s", number, stage.name, " ".join(command), f"  (output: {log_file})" if log_file else "")
    started = time.perf_counter()
    if log_file is None:
        code = subprocess.run(command).returncode
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w") as sink:
            code = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-15:]) if log_file else ""
        log.error("[%d] %s failed (exit %d)%s\n%s", number, stage.name, code,
                  f"; its output: {log_file}" if log_file else "", tail)
    else:
        log.info("[%d] %s: %.0f s", number, stage.name, time.perf_counter() - started)
    return code


def _check_order(plan: list[Stage]) -> None:
    """A stage may only need earlier stages: a typo is caught before anything runs, and no cycle can form."""
    seen: set[str] = set()
    for stage in plan:
        missing = [key for key in stage.needs if key not in seen]
        if missing:
            raise ValueError(f"stage {stage.key!r} needs {missing}, which are not earlier stages")
        seen.add(stage.key)


def run(plan: list[Stage], out: Path, jobs: int, force: bool = False) -> int:
    """Run every pending stage once the stages it needs are done: exclusive ones one at a time, the others
    `jobs` at a time beside them at low priority. 0, or the first failure's exit code (then nothing new starts)."""
    _check_order(plan)
    numbers = {stage.key: number for number, stage in enumerate(plan, 1)}
    done, pending = set(), []
    for stage in plan:
        if stage.finished() and not force:
            log.info("[%d] %s: done already (%s)", numbers[stage.key], stage.name, ", ".join(map(str, stage.outputs)))
            done.add(stage.key)
        else:
            pending.append(stage)
    running: dict[Future, Stage] = {}
    failures: list[int] = []
    with ThreadPoolExecutor(max_workers=jobs + 1) as pool:
        while running or (pending and not failures):
            for stage in [] if failures else list(pending):
                slots = 1 if stage.exclusive else jobs
                if set(stage.needs) <= done and sum(s.exclusive == stage.exclusive for s in running.values()) < slots:
                    pending.remove(stage)
                    log_file = None if stage.exclusive else out / "logs" / f"{stage.key}.log"
                    niceness = 0 if stage.exclusive else BESIDE_NICENESS
                    running[pool.submit(run_stage, stage, numbers[stage.key], log_file, niceness)] = stage
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                stage, code = running.pop(future), future.result()
                if code == 0:
                    done.add(stage.key)
                else:
                    failures.append(code)
    if failures:
        log.error("fix the cause and re-run: finished stages are kept")
        return failures[0]
    return 0


def log_format(terminal: bool) -> str:
    """On a terminal a line first clears the line it lands on: a stage beside a training finishes while the
    training's progress bar is half drawn, and the bar is drawn again under the line at its next update."""
    return ("\r\033[K" if terminal else "") + "%(asctime)s %(message)s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/pipeline", help="where the stages write their runs")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and draws (a smoke run)")
    parser.add_argument("--force", action="store_true", help="re-run stages whose outputs exist")
    parser.add_argument("--jobs", type=int, default=max(2, (os.cpu_count() or 2) // 2),
                        help="stages other than trainings run at once, beside a training "
                             "(default: half the CPU cores, at least 2)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    logging.basicConfig(level=logging.INFO, format=log_format(sys.stderr.isatty()), datefmt="%H:%M:%S")
    out = Path(args.out)
    started = time.perf_counter()
    code = run(stages(out, args.quick), out, args.jobs, args.force)
    if code == 0:
        log.info("all stages done in %.1f minutes. The report: %s (and the self-contained %s)",
                 (time.perf_counter() - started) / 60, out / "report" / "report.md", out / "report" / "report.html")
    return code


if __name__ == "__main__":
    sys.exit(main())
