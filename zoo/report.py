"""`python -m zoo.report`: compare training runs (ML metrics) and occupancy fits (ecological
estimates) side by side, as Markdown tables, CSV and figures. Reads run directories; never retrains.

    python -m zoo.report                                  # every run found under runs/
    python -m zoo.report runs=[runs/a,runs/b] fits=[runs/occ/gt,runs/occ/naive] out=docs/report
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from zoo.paths import CONFIG_DIR
from zoo.runs import prepare_run_dir, write_table, write_text

log = logging.getLogger("zoo.report")

ML_COLUMNS = ("accuracy", "macro_f1", "top3_accuracy", "ece", "nll")


def find_runs(root: Path) -> tuple[list[Path], list[Path]]:
    """Training runs (metrics.json + checkpoints) and occupancy fits (summary.csv) below `root`."""
    runs = sorted(p.parent for p in root.rglob("metrics.json") if (p.parent / "checkpoints").is_dir())
    fits = sorted(p.parent for p in root.rglob("summary.csv") if (p.parent / "posterior.nc").is_file())
    return runs, fits


def labels(paths: list[Path]) -> list[str]:
    """Short names for run directories: the folder name, with as many parents as it takes to tell them apart."""
    depth = 1
    while depth < max((len(p.parts) for p in paths), default=1):
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names):
            return names
        depth += 1
    return [str(p) for p in paths]


def ml_table(runs: list[Path]) -> pd.DataFrame:
    rows = []
    for run_dir, name in zip(runs, labels(runs)):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        cfg = OmegaConf.load(run_dir / "config.yaml") if (run_dir / "config.yaml").is_file() else {}
        for split in ("valid", "test"):
            if split not in metrics:
                continue
            for level in ("image", "sequence"):
                block = metrics[split][level]
                severity = block.get("mistake_severity", {})
                rows.append({"run": name, "model": OmegaConf.select(cfg, "model.name", default="?"),
                             "img_size": OmegaConf.select(cfg, "model.img_size", default=None),
                             "split_kind": OmegaConf.select(cfg, "data.split.kind", default="?"),
                             "eval_split": split, "level": level, "n": block["n"],
                             **{k: block[k] for k in ML_COLUMNS},
                             "mean_mistake_severity": severity.get("mean_mistake_severity")})
    return pd.DataFrame(rows)


def occupancy_table(fits: list[Path]) -> pd.DataFrame:
    """Parameters as rows, one `mean [q2.5, q97.5]` column per fit."""
    columns = {}
    for fit, name in zip(fits, labels(fits)):
        summary = pd.read_csv(fit / "summary.csv").set_index("parameter")
        columns[name] = summary.apply(lambda r: f"{r['mean']:.2f} [{r['q2.5']:.2f}, {r['q97.5']:.2f}]", axis=1)
    return pd.DataFrame(columns)


def diagnostics_table(fits: list[Path]) -> pd.DataFrame:
    rows = []
    for fit, name in zip(fits, labels(fits)):
        summary = pd.read_csv(fit / "summary.csv")
        rows.append({"fit": name, "max_r_hat": summary["r_hat"].max(), "min_ess_bulk": summary["ess_bulk"].min()})
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    if df.empty:
        return "_none found_\n"
    cells = df.astype(object).map(lambda v: "–" if pd.isna(v) else floatfmt.format(v) if isinstance(v, float) else str(v))
    header = "| " + " | ".join(map(str, cells.columns)) + " |\n|" + "---|" * len(cells.columns) + "\n"
    return header + "".join("| " + " | ".join(row) + " |\n" for row in cells.itertuples(index=False))


def plot_occupancy(fits: list[Path], path: Path, pattern: str = r"^psi\[") -> Path | None:
    """Posterior means and 95% intervals of every psi parameter, one colour per fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = {name: pd.read_csv(f / "summary.csv") for f, name in zip(fits, labels(fits))}
    params = sorted({p for t in tables.values() for p in t["parameter"] if pd.Series([p]).str.contains(pattern).iloc[0]})
    if not params:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(params) + 1.2))
    offsets = {name: (i - (len(tables) - 1) / 2) * 0.22 for i, name in enumerate(tables)}
    for name, table in tables.items():
        t = table.set_index("parameter").reindex(params)
        y = [i + offsets[name] for i in range(len(params))]
        ax.errorbar(t["mean"], y, xerr=[t["mean"] - t["q2.5"], t["q97.5"] - t["mean"]], fmt="o", ms=3,
                    capsize=2, label=name)
    ax.set_yticks(range(len(params)), params, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("occupancy probability (posterior mean, 95% interval)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def build_report(runs: list[Path], fits: list[Path], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    ml, occ, diag = ml_table(runs), occupancy_table(fits), diagnostics_table(fits)
    write_table(out / "ml_metrics.csv", ml)
    write_table(out / "occupancy_estimates.csv", occ.reset_index(names="parameter") if not occ.empty else occ)
    figure = plot_occupancy(fits, out / "occupancy.png") if fits else None
    parts = ["# Model and occupancy report\n",
             "Generated by `python -m zoo.report` from the run directories listed below; numbers are read from "
             "each run's `metrics.json` / `summary.csv`.\n",
             "## Classifiers\n", "Runs: " + (", ".join(f"`{r}`" for r in runs) or "none") + "\n",
             markdown(ml),
             "## Occupancy estimates (posterior mean [2.5%, 97.5%])\n",
             "Fits: " + (", ".join(f"`{f}`" for f in fits) or "none") + "\n",
             markdown(occ.reset_index(names="parameter") if not occ.empty else occ),
             "### Sampler diagnostics\n", markdown(diag)]
    if figure:
        parts.append(f"![occupancy]({figure.name})\n")
    return write_text(out / "report.md", "\n".join(parts))


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="report")
def main(cfg: DictConfig) -> None:
    runs = [Path(p) for p in cfg.runs] if cfg.runs else None
    fits = [Path(p) for p in cfg.fits] if cfg.fits else None
    if runs is None or fits is None:
        found_runs, found_fits = find_runs(Path(cfg.search))
        runs = found_runs if runs is None else runs
        fits = found_fits if fits is None else fits
    for path in [*runs, *fits]:
        if not path.is_dir():
            raise FileNotFoundError(f"run directory {path} does not exist")
    out = Path(cfg.out)
    prepare_run_dir(out, cfg)
    report = build_report(runs, fits, out)
    log.info("report with %d runs and %d fits: %s", len(runs), len(fits), report)
    print(report.read_text())


if __name__ == "__main__":
    main()
