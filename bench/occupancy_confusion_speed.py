"""Warm speed of the confusion-aware lynx fit: the same fit twice in one process (the second finds the
compile cache warm), with the sampler config's defaults unless overridden.

    .venv/bin/python bench/occupancy_confusion_speed.py [--backend pymc] [--chains 2] [--draws 1000] [--tune 500] [--target-accept 0.9]

Prints, per repetition: build / sampling / derived seconds, leapfrog steps per draw, step size, divergences,
minimum bulk ESS of the reported quantities and max R-hat. (docs/occupancy.md, Speed.)
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omegaconf import OmegaConf  # noqa: E402

from occupancy.derived import conditional_set  # noqa: E402
from occupancy.fit import specs  # noqa: E402
from occupancy.inference import fit  # noqa: E402
from occupancy.study import detection_data, load_study_records  # noqa: E402
from occupancy_verification import config, confusion_labels  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="pymc")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--target-accept", type=float, default=None, help="default: the sampler config's")
    parser.add_argument("--verified", type=float, default=0.1, help="share of photos verified at random")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = config(args)
    records = load_study_records(cfg.study.records)
    conds = conditional_set(list(cfg.study.species), OmegaConf.to_container(cfg.study.conditionals))
    model_spec, sampler = specs(cfg)
    for rep in range(args.repeat):
        data = detection_data(records, cfg.study, confusion_labels(args.verified), seed=int(cfg.seed))
        result = fit(data, model_spec, sampler, conds)
        stats, t, d = result.idata.sample_stats, result.timings, result.diagnostics
        print(f"run {rep + 1}: build {t['build_s']:.2f} s, sampling {t['sample_s']:.1f} s, derived {t['derive_s']:.1f} s, "
              f"fit {t['total_s']:.1f} s ({t['backend']}); {float(stats.n_steps.mean()):.1f} steps/draw, step size "
              f"{float(stats.step_size.mean()):.3f}, {d['divergences']} divergences, min bulk ESS (reported) "
              f"{d['min_ess_bulk_reported']:.0f}, max R-hat {d['max_r_hat']:.3f}", flush=True)


if __name__ == "__main__":
    main()
