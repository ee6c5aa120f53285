"""Warm speed of the confusion-aware lynx fit: the same fit twice in one process (the second finds the
compile cache warm), with the sampler config's defaults unless overridden.

    .venv/bin/python bench/occupancy_confusion_speed.py [--backend pymc] [--chains 2] [--draws 1000] [--tune 500] [--target-accept 0.9]
    .venv/bin/python bench/occupancy_confusion_speed.py --gradient numba
    .venv/bin/python bench/occupancy_confusion_speed.py --init jitter+adapt_diag
    .venv/bin/python bench/occupancy_confusion_speed.py --repeat 6 --vary-seed

Prints, per repetition: build / sampling / derived seconds, leapfrog steps per draw, step size, divergences,
minimum bulk ESS of the reported quantities and max R-hat. With --vary-seed each repetition samples with its
own seed (the configured one, then +1, +2, ...) and the median and mean of the warm fits (all but the first)
close the output: one seed's chains can need 40% more leapfrog steps a draw than another's, so a single
seed's timing compares two versions badly. (docs/occupancy.md, Speed.)
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from occupancy.derived import conditional_set  # noqa: E402
from occupancy.fit import specs  # noqa: E402
from occupancy.inference import GRADIENTS, INITS, fit  # noqa: E402
from occupancy.study import detection_data, load_study_records  # noqa: E402
from occupancy_verification import config, confusion_labels  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="pymc")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--target-accept", type=float, default=None, help="default: the sampler config's")
    parser.add_argument("--gradient", choices=GRADIENTS, default=None, help="default: the sampler config's")
    parser.add_argument("--init", choices=INITS, default=None, help="default: the sampler config's")
    parser.add_argument("--verified", type=float, default=0.1, help="share of photos verified at random")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--vary-seed", action="store_true", help="a new sampler seed for each repetition")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = config(args)
    records = load_study_records(cfg.study.records)
    conds = conditional_set(list(cfg.study.species), OmegaConf.to_container(cfg.study.conditionals))
    model_spec, sampler = specs(cfg)
    warm = []
    for rep in range(args.repeat):
        data = detection_data(records, cfg.study, confusion_labels(args.verified), seed=int(cfg.seed))
        seed = sampler.seed + rep if args.vary_seed else sampler.seed
        result = fit(data, model_spec, dataclasses.replace(sampler, seed=seed), conds)
        stats, t, d = result.idata.sample_stats, result.timings, result.diagnostics
        if rep:
            warm.append(t["total_s"])
        print(f"run {rep + 1} (seed {seed}): build {t['build_s']:.2f} s, sampling {t['sample_s']:.1f} s, "
              f"derived {t['derive_s']:.1f} s, fit {t['total_s']:.1f} s ({t['backend']}); "
              f"{float(stats.n_steps.mean()):.1f} steps/draw, step size {float(stats.step_size.mean()):.3f}, "
              f"{d['divergences']} divergences, min bulk ESS (reported) {d['min_ess_bulk_reported']:.0f}, "
              f"max R-hat {d['max_r_hat']:.3f}", flush=True)

    if args.vary_seed and warm:
        print(f"warm fits ({len(warm)} seeds): median {np.median(warm):.1f} s, mean {np.mean(warm):.1f} s, "
              f"range {min(warm):.1f}-{max(warm):.1f} s")


if __name__ == "__main__":
    main()
