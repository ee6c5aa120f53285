"""Does emulating a classifier from its confusion matrix reproduce what its real labels do to occupancy?

The report judges the zoo's models by emulated labels (occupancy.emulate): human labels passed through
the model's confusion matrix, one draw per sequence. Checked here once against the authors' real CNN,
whose labels exist for every Ain photo: emulate the CNN from its own Ain confusion (sequence level:
the most common manual label of a sequence against its most common CNN label), fit naive, and compare
with the naive fit on the real CNN labels. Real errors are site- and burst-correlated (a busy trail),
emulated ones only burst-correlated, so the emulation can understate the damage: this measures by how much.

    .venv/bin/python bench/occupancy_emulation_check.py --out bench/results/occupancy_emulation_check

Writes <out>.json, <out>.md and <out>_confusion.csv (the CNN's Ain confusion).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.runs import write_json, write_table, write_text  # noqa: E402
from occupancy.derived import conditional_set  # noqa: E402
from occupancy.emulate import confusion_counts  # noqa: E402
from occupancy.study import load_study_records  # noqa: E402
from occupancy_verification import QUANTITIES, config, run_fit, score  # noqa: E402
from zoo.data.sequences import most_common_labels  # noqa: E402

log = logging.getLogger("bench.occupancy_emulation_check")


def cnn_confusion(records: pd.DataFrame) -> pd.DataFrame:
    ain = records[records["area"].astype(str) == "ain"]
    first_tag = ain["label_manual"].astype(str).str.split(";").str[0]
    by_seq = pd.DataFrame({"true": most_common_labels(first_tag, ain["sequence_id"]),
                           "predicted": most_common_labels(ain["label_cnn"], ain["sequence_id"])}).dropna()
    return confusion_counts(by_seq["true"], by_seq["predicted"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/results/occupancy_emulation_check")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--backend", default="pymc")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for name in ("pymc", "pytensor", "arviz", "occupancy.streams", "occupancy.histories", "occupancy.emulate"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cfg = config(args)
    records = load_study_records(cfg.study.records)
    conds = conditional_set(list(cfg.study.species), OmegaConf.to_container(cfg.study.conditionals))
    confusion_path = Path(args.out + "_confusion.csv")
    write_table(confusion_path, cnn_confusion(records))
    reference, _, _ = run_fit(records, cfg, {"mode": "ground_truth"}, conds)
    real, _, _ = run_fit(records, cfg, {"mode": "naive"}, conds)
    rows = [{"labels": "real CNN labels", "seed": None, **score(real.summary, reference.summary)}]
    for seed in range(args.seeds):
        emulated, _, _ = run_fit(records, cfg, {"mode": "naive", "emulate_from": str(confusion_path),
                                                "emulate_seed": seed}, conds)
        rows.append({"labels": "emulated from the CNN's confusion", "seed": seed, **score(emulated.summary, reference.summary)})
        log.info("seed %d: mean |dev| %.3f (real %.3f)", seed, rows[-1]["mean_abs_dev"], rows[0]["mean_abs_dev"])
    write_json(Path(args.out + ".json"), {"args": vars(args), "rows": rows})
    write_text(Path(args.out + ".md"), report(rows))


def report(rows) -> str:
    real, emulated = rows[0], rows[1:]
    lines = ["Naive occupancy fits (CNN labels as truth) against the ground-truth fit, real Ain CNN labels vs labels "
             "emulated from the CNN's own Ain confusion matrix (sequence level, one draw per sequence, "
             f"{len(emulated)} seeds). Command: `.venv/bin/python bench/occupancy_emulation_check.py`.\n",
             "| quantity | real CNN: deviation | emulated: mean deviation (range over seeds) |", "|---|---|---|"]
    for q in QUANTITIES:
        devs = np.array([r["deviation"][q] for r in emulated])
        lines.append(f"| {q.replace('|', chr(92) + '|')} | {real['deviation'][q]:+.3f} | {devs.mean():+.3f} ({devs.min():+.3f} to {devs.max():+.3f}) |")
    mean = np.mean([r["mean_abs_dev"] for r in emulated])
    top = np.mean([r["max_abs_dev"] for r in emulated])
    lines += ["", f"Mean |deviation| over the 7 quantities: real {real['mean_abs_dev']:.3f}, emulated {mean:.3f}; "
              f"max |deviation|: real {real['max_abs_dev']:.3f}, emulated {top:.3f}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
