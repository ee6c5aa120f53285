"""Side-by-side estimates of several occupancy runs: a markdown table and the paper-style figure.

    python -m occupancy.compare runs/occupancy/gt runs/occupancy/naive runs/occupancy/confusion --out DIR
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from occupancy.plots import plot_occupancy
from core.runs import write_text


def run_label(run_dir: Path) -> str:
    cfg_path = run_dir / "config.yaml"
    if cfg_path.is_file():
        cfg = OmegaConf.load(cfg_path)
        return str(OmegaConf.select(cfg, "labels.mode", default=run_dir.name))
    return run_dir.name


def side_by_side(summaries: dict[str, pd.DataFrame]) -> str:
    """Markdown: one row per reported quantity, one 'mean (q2.5, q97.5)' column per run."""
    params: list[str] = []
    for s in summaries.values():
        params += [p for p in s["parameter"] if p.startswith(("p[", "psi[")) and p not in params]
    header = "| quantity | " + " | ".join(summaries) + " |"
    lines = [header, "|---" * (len(summaries) + 1) + "|"]
    for p in params:
        cells = []
        for s in summaries.values():
            row = s.set_index("parameter").reindex([p]).iloc[0]
            cells.append("" if pd.isna(row["mean"]) else f"{row['mean']:.2f} ({row['q2.5']:.2f}, {row['q97.5']:.2f})")
        name = p.replace("|", "\\|")  # a bare | would split the table row
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for comparison.md and comparison.png")
    args = parser.parse_args(argv)
    summaries = {}
    for run_dir in args.runs:
        path = run_dir / "summary.csv"
        if not path.is_file():
            raise SystemExit(f"{run_dir} has no summary.csv: is it an occupancy run directory?")
        label = run_label(run_dir)
        if label in summaries:  # two runs of one label mode: name them by their folders too
            label = f"{label} ({run_dir.name})"
        summaries[label] = pd.read_csv(path)
    write_text(args.out / "comparison.md", side_by_side(summaries))
    plot_occupancy(summaries, args.out / "comparison.png")
    print((args.out / "comparison.md").read_text())


if __name__ == "__main__":
    main()
