"""python -m zoo.report [runs=[DIR,...]] [fits=[DIR,...]] [out=DIR] (configs/report.yaml)."""
from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from core.paths import CONFIG_DIR
from core.runs import Interval, Rule, hydra_command, prepare_run_dir, validate
from zoo.report.build import build_report
from zoo.report.inputs import find_runs

log = logging.getLogger("zoo.report")


def check_config(cfg: DictConfig) -> None:
    validate(cfg, {"tolerance": Interval(0.0, 1.0, open_low=True),
                   "out": Rule(lambda v: bool(v), "a folder to write the report into")})
    for path in [*cfg.runs, *cfg.fits]:
        if not Path(path).is_dir():
            raise FileNotFoundError(f"run directory {path} does not exist")


def command_line(runs, fits, cfg) -> str:
    parts = ["python -m zoo.report", f"runs=[{','.join(map(str, runs))}]", f"fits=[{','.join(map(str, fits))}]",
             f"out={cfg.out}", f"tolerance={cfg.tolerance}"]
    if cfg.reference:
        parts.append(f"reference={cfg.reference}")
    if cfg.verification:
        parts.append(f"verification={cfg.verification}")
    if cfg.emulation_check:
        parts.append(f"emulation_check={cfg.emulation_check}")
    return " ".join(parts)


@hydra_command("zoo.report", config_path=str(CONFIG_DIR), config_name="report")
def main(cfg: DictConfig) -> None:
    check_config(cfg)
    runs = [Path(p) for p in cfg.runs] if cfg.runs else None
    fits = [Path(p) for p in cfg.fits] if cfg.fits else None
    if runs is None or fits is None:
        found_runs, found_fits = find_runs(Path(cfg.search))
        runs = found_runs if runs is None else runs
        fits = found_fits if fits is None else fits
    out = Path(cfg.out)
    prepare_run_dir(out, cfg)
    report = build_report(runs, fits, out, reference=cfg.reference, tolerance=float(cfg.tolerance),
                          verification=cfg.verification, emulation_check=cfg.emulation_check,
                          command=command_line(runs, fits, cfg))
    log.info("report with %d runs and %d fits: %s (and %s)", len(runs), len(fits), report, report.with_suffix(".html"))
    print(f"report: {report}\n        {report.with_suffix('.html')}")
