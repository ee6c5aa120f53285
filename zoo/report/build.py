"""Assemble the report: verdict first, then the ecological figures, verification, leaderboard, per model,
estimates, provenance. Every number is read from a run directory named in the provenance table."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from core.runs import write_table, write_text
from heads.calibration import plot_reliability
from occupancy.plots import plot_occupancy
from zoo.evaluate import plot_confusion
from zoo.report import tables
from zoo.report.examples import plot_examples
from zoo.report.figures import plot_deviation, plot_verification_curve
from zoo.report.inputs import Run, config_digest, read_fits, read_runs
from zoo.report.render import Heading, Image, Table, Text, to_html, to_markdown

log = logging.getLogger("zoo.report")
TITLE = "Classifiers judged by the ecological answer"
ECE_BINS = 15  # the bins of metrics.json's ECE (zoo.metrics.classification_report), so plot and table agree


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "run"


def build_report(runs: list[Path], fits: list[Path], out: Path, *, reference: str | None = None,
                 tolerance: float = 0.05, verification: str | Path | None = None,
                 emulation_check: str | Path | None = None, command: str | None = None) -> Path:
    """Write report.md (+ PNGs and CSVs) and report.html into `out`; returns report.md's path."""
    out.mkdir(parents=True, exist_ok=True)
    run_list, fit_list = read_runs(runs), read_fits(fits)
    blocks = [Heading(TITLE, 1),
              Text("A classifier is good enough when its mistakes leave the ecological estimates intact. Each "
                   "occupancy fit below is compared with the fit on human labels (ground truth); then the "
                   "classifiers' own metrics. Every number is read from the run directories listed under "
                   "Provenance.")]
    verdict_blocks, verdict, emulated_dev = _verdict(fit_list, out, reference, tolerance)
    ecological = tables.ecological_consequence(verdict, fit_list, run_list) if verdict is not None else pd.DataFrame()
    blocks += verdict_blocks
    blocks += _ecological(ecological, emulated_dev, out, tolerance)
    if not ecological.empty:
        blocks += _emulation_check(emulation_check, out)
    blocks += _verification(verification, out)
    blocks += _classifiers(run_list, out, ecological)
    blocks += _estimates(fit_list)
    blocks += _provenance(run_list, fit_list, command)
    write_text(out / "report.html", to_html(blocks, TITLE))
    return write_text(out / "report.md", to_markdown(blocks))


def _verdict(fits, out: Path, reference: str | None, tolerance: float) -> tuple[list, pd.DataFrame | None]:
    blocks = [Heading("Verdict")]
    ref = tables.reference_fit(fits, reference)
    if ref is None or len(fits) < 2:
        return blocks + [Text("No ground-truth fit (labels=ground_truth) with other fits to compare: no verdict. "
                              "Fit the study with human labels and give both fits to the report.")], None, None
    quantities = tables.study_quantities(ref)
    dev = tables.deviations(fits, ref, quantities)
    verdict = tables.verdict(dev, tolerance)
    write_table(out / "deviations.csv", dev)
    write_table(out / "verdict.csv", verdict)
    blocks.append(Text(f"Against the ground-truth fit `{ref.name}`, on the {len(quantities)} quantities the study "
                       f"asks about ({', '.join(quantities)}); a fit is good enough when no quantity is off by more "
                       f"than {tolerance:.2f} (report option `tolerance`)."))
    own = [f for f in fits if not f.emulated_from]  # the study's own labels; emulated fits have their section
    own_verdict = verdict[verdict["fit"].isin([f.name for f in own])]
    blocks += [Text("- " + tables.verdict_sentence(row, tolerance)) for row in own_verdict.to_dict("records")]
    if len(own_verdict) < len(verdict):
        blocks.append(Text(f"- {len(verdict) - len(own_verdict)} fits of emulated zoo-model labels: next section "
                           "(every fit's row is in `verdict.csv`)."))
    blocks.append(Table(own_verdict))
    summaries = {f"{f.name} ({f.labels})": f.summary for f in own}
    blocks += [Heading("Occupancy estimates side by side", 3),
               Text("Marginal and conditional occupancy (posterior mean and 95% interval), the layout of the seed "
                    "paper's Figures 4 and 5, for the fits of the study's own labels."),
               Image(plot_occupancy(summaries, out / "occupancy.png"), "marginal and conditional occupancy per fit")]
    own_dev = dev[dev["fit"].isin([f.name for f in own])]
    if len(own_dev):
        blocks += [Heading("Deviation from the ground truth", 3),
                   Image(plot_deviation(own_dev, out / "deviation.png"), "estimate minus ground truth per quantity")]
    return blocks, verdict, dev[~dev["fit"].isin([f.name for f in own])]


def _ecological(ecological: pd.DataFrame, emulated_dev: pd.DataFrame, out: Path, tolerance: float) -> list:
    blocks = [Heading("Ecological consequence of each zoo model (emulated)")]
    if ecological.empty:
        return blocks + [Text("No emulated fits given (occupancy.fit with `labels.emulate_from=RUN`).")]
    write_table(out / "ecological.csv", ecological)
    return blocks + [
        Text("The zoo's models never labelled the study's classified photos, so their mistakes are emulated: the "
             "human labels are passed through each model's validation confusion matrix, one draw per sequence "
             "(a burst shares its error), and fitted naive (labels as truth) and uncertainty-aware (labels=confusion, "
             "10% of the photos verified at random). Emulated errors are burst- but not site-correlated; the check "
             "below measures on the authors' CNN how far this understates the damage of real labels. Good enough: "
             f"every seed within {tolerance:.2f} on every study quantity."),
        Table(ecological),
        Image(plot_deviation(emulated_dev.assign(model=emulated_dev["classifier"] + ", " + emulated_dev["labels"]),
                             out / "deviation_emulated.png", "Deviation of the emulated fits from the ground truth",
                             group="model"), "deviation of the emulated fits")]


def _emulation_check(path, out: Path) -> list:
    """The emulation checked once against a classifier whose real labels exist (bench/occupancy_emulation_check.py)."""
    if not path or not Path(path).is_file():
        return [Text("The emulation has not been checked against real classifier labels here (report option "
                     "`emulation_check`: the JSON written by `bench/occupancy_emulation_check.py`).")]
    rows = json.loads(Path(path).read_text())["rows"]
    real = next(r for r in rows if r["seed"] is None)
    emulated = [r for r in rows if r["seed"] is not None]
    table = pd.DataFrame([{"quantity": q, "real_labels_deviation": real["deviation"][q],
                           "emulated_mean_deviation": float(np.mean([r["deviation"][q] for r in emulated])),
                           "emulated_min": min(r["deviation"][q] for r in emulated),
                           "emulated_max": max(r["deviation"][q] for r in emulated)} for q in real["deviation"]])
    write_table(out / "emulation_check.csv", table)
    mean_abs = float(np.mean([r["mean_abs_dev"] for r in emulated]))
    max_abs = float(np.mean([r["max_abs_dev"] for r in emulated]))
    return [Heading("Is the emulation faithful? Checked on the authors' CNN", 3),
            Text(f"The authors' CNN labelled every Ain photo, so its real labels and labels emulated from its own Ain "
                 f"confusion matrix (the same sequence-level emulation, {len(emulated)} seeds) can be fitted naive and "
                 f"compared (`{Path(path).name}`, `bench/occupancy_emulation_check.py`). Mean |deviation| from the "
                 f"ground truth over the study's quantities: real labels {real['mean_abs_dev']:.3f}, emulated "
                 f"{mean_abs:.3f}; largest: real {real['max_abs_dev']:.3f}, emulated {max_abs:.3f}. Deviations "
                 "(estimate minus ground truth) per quantity:"),
            Table(table.round(3))]


def _verification(path, out: Path) -> list:
    blocks = [Heading("How much verification is enough")]
    if not path or not Path(path).is_file():
        return blocks + [Text("No verification benchmark given (report option `verification`: the JSON written by "
                              "`bench/occupancy_verification.py`).")]
    saved = json.loads(Path(path).read_text())
    rows = saved["rows"]
    table = pd.DataFrame(rows)
    fitted = table[table["policy"].isin(list(_POLICIES))]
    summary = (fitted.groupby(["policy", "budget"]).agg(photos=("photos", "median"), mean_abs_dev=("mean_abs_dev", "mean"),
                                                      max_abs_dev=("max_abs_dev", "max"), covered=("covered", "mean"))
               .reset_index())
    summary["budget"] = summary["budget"].map(lambda b: f"{b:.1%}")
    summary["photos"] = summary["photos"].round().astype(int)
    summary["policy"] = summary["policy"].map(_POLICIES)
    naive = table.loc[table["policy"] == "naive"].iloc[0]
    return blocks + [
        Text(f"Verification policies replayed on real records where every photo has a human and a classifier label "
             f"(`{Path(path).name}`): for each share of checked photos, the deviation of the uncertainty-aware fit "
             f"from the ground truth; naive (classifier labels as truth) is off by {naive['mean_abs_dev']:.3f} on "
             f"average and {naive['max_abs_dev']:.3f} at most."),
        Image(plot_verification_curve(rows, out / "verification.png"), "deviation against verification effort"),
        Table(summary)]


_POLICIES = {"planned": "planned", "random_photos": "random photos", "random_sequences": "random sequences"}


def _classifiers(runs: list[Run], out: Path, ecological: pd.DataFrame) -> list:
    blocks = [Heading("Classifier leaderboard")]
    if not runs:
        return blocks + [Text("No classifier runs given.")]
    board = tables.leaderboard(runs, {r.name: _parameters_millions(r.path) for r in runs}, ecological)
    write_table(out / "leaderboard.csv", board)
    blocks += [Text("Image- and sequence-level metrics of every run and evaluation split; eco_max_dev: the largest "
                    "deviation of an emulated occupancy fit from the ground truth (naive / uncertainty-aware; ECE: expected "
                    "calibration error, 15 bins; NLL: negative log-likelihood; mistake severity: mean taxonomic "
                    "distance of the mistakes, 1 genus ... 5 unrelated; infer_img_s: images per second of the run's final "
                    "prediction of its labelled photos, decoding included, on the device it trained on). split_kind: how the run "
                    "split its labelled photos (authors, file: a split file that came with the data, which may put photos of one burst "
                    "on both sides; stratified: whole sequences on one side, by label; file_blocks, by_site, by_area: "
                    "whole blocks, sites or areas); runs on different splits are scored on different photos, so compare "
                    "them to see what a split is worth, not which model is better."), Table(board)]
    for run in runs:
        blocks += _per_model(run, out)
    return blocks


def _per_model(run: Run, out: Path) -> list:
    split = "test" if "test" in run.metrics else "valid"
    blocks = [Heading(f"Model `{run.name}` ({split} split)", 3), Table(tables.per_class(run, split))]
    classes = run.metrics.get("classes") or list(run.metrics[split]["image"]["per_class"])
    cm = run.metrics[split]["image"].get("confusion_matrix")
    if cm:
        path = plot_confusion(np.asarray(cm), classes, out / f"confusion_{slug(run.name)}.png",
                              f"{run.name}: {split} images (colour: share of the true class)")
        blocks.append(Image(path, f"confusion matrix of {run.name}"))
    confused = tables.most_confused(run, split)
    if len(confused):
        blocks += [Text("Most confused pairs:"), Table(confused)]
    reliability = _reliability(run, split, out)
    if reliability is not None:
        blocks.append(Image(reliability, f"reliability of {run.name} before and after temperature scaling"))
    examples = plot_examples(run.path, out / f"examples_{slug(run.name)}.jpg", split)
    if examples is not None:
        blocks.append(Image(examples, f"{run.name}: example photos per class, top-3 answer and Grad-CAM"))
    return blocks


def _reliability(run: Run, split: str, out: Path) -> Path | None:
    """Before/after temperature scaling from the run's saved calibrated probabilities (softmax(T log p) undoes T)."""
    path = run.path / "predictions_images.csv"
    temperature = run.metrics.get("temperature")
    if not path.is_file() or not temperature:
        return None
    preds = pd.read_csv(path)
    classes = [c[2:] for c in preds.columns if c.startswith("p_")]
    preds = preds[(preds["split"] == split) & preds["label"].isin(classes)]
    if preds.empty:
        return None
    probs = preds[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
    y = preds["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    raw = special.softmax(temperature * np.log(np.maximum(probs, 1e-300)), axis=1)
    return plot_reliability({"before": (raw, y), f"after (T = {temperature:.2f})": (probs, y)},
                            out / f"reliability_{slug(run.name)}.png", n_bins=ECE_BINS, title=f"{run.name}: {split} images")


def _parameters_millions(run_dir: Path) -> float:
    checkpoint = run_dir / "checkpoints" / "best.pt"
    if not checkpoint.is_file():
        return float("nan")
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False).get("model", {})
    return round(sum(v.numel() for v in state.values() if hasattr(v, "numel") and v.dtype.is_floating_point) / 1e6, 2)


def _estimates(fits) -> list:
    if not fits:
        return []
    return [Heading("All estimates (posterior mean [2.5%, 97.5%])"), Table(tables.estimates(fits)),
            Heading("Sampler diagnostics", 3), Table(tables.diagnostics(fits))]


def _provenance(runs, fits, command) -> list:
    rows = [{"kind": "classifier run", "name": r.name, "directory": str(r.path), "config sha256": config_digest(r.path)}
            for r in runs]
    rows += [{"kind": f"occupancy fit ({f.labels})", "name": f.name, "directory": str(f.path),
              "config sha256": config_digest(f.path)} for f in fits]
    blocks = [Heading("Provenance"), Table(pd.DataFrame(rows))]
    if command:
        blocks.append(Text(f"Regenerate: `{command}`"))
    return blocks
