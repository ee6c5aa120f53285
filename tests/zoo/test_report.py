"""zoo.report on tiny fake runs: the tables hold the inputs' numbers, the verdict judges each fit against the
ground truth, the HTML is self-contained, and a second render gives the same bytes."""
import json

import numpy as np
import pandas as pd
import pytest

from zoo.report import build_report, find_runs

CLASSES = ["lynx", "renard", "chevreuil"]
QUANTITIES = ["psi[lynx]", "psi[deer]", "psi[lynx | deer]", "psi[lynx | -deer]"]


def _fake_train_run(folder, accuracy):
    (folder / "checkpoints").mkdir(parents=True)
    cm = [[3, 1, 0], [0, 4, 0], [1, 0, 2]]
    block = {"n": 11, "accuracy": accuracy, "macro_f1": 0.5, "top3_accuracy": 1.0, "ece": 0.1, "nll": 0.7,
             "mistake_severity": {"mean_mistake_severity": 3.0}, "confusion_matrix": cm,
             "most_confused": [{"true": "lynx", "predicted": "renard", "count": 1}],
             "per_class": {c: {"precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 4} for c in CLASSES}}
    (folder / "metrics.json").write_text(json.dumps({"temperature": 1.5, "classes": CLASSES,
                                                     "inference": {"images": 40, "seconds": 8.0, "images_per_s": 5.0},
                                                     "valid": {"image": block, "sequence": block}}))
    (folder / "config.yaml").write_text("model:\n  name: tf_efficientnet_lite0\n  img_size: 224\ndata:\n  split:\n"
                                        "    kind: authors\nhead:\n  pooling:\n    kind: mean_probs\n  calibration:\n"
                                        "    enabled: true\n")
    pd.DataFrame({"epoch": [1, 2], "seconds": [30.0, 90.0]}).to_csv(folder / "history.csv", index=False)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=20)
    frame = pd.DataFrame(probs, columns=[f"p_{c}" for c in CLASSES])
    frame.insert(0, "label", rng.choice(CLASSES, size=20))
    frame.insert(0, "split", "valid")
    frame.to_csv(folder / "predictions_images.csv", index=False)


def _fake_fit(folder, psi, labels):
    folder.mkdir(parents=True)
    params = QUANTITIES + ["p[lynx]"]
    means = np.array([psi, psi + 0.1, psi + 0.05, psi - 0.1, 0.3])
    pd.DataFrame({"parameter": params, "mean": means, "sd": 0.1, "q2.5": means - 0.2, "q97.5": means + 0.2,
                  "r_hat": 1.001, "ess_bulk": 1500.0}).to_csv(folder / "summary.csv", index=False)
    (folder / "posterior.nc").write_bytes(b"")
    (folder / "config.yaml").write_text(f"labels:\n  mode: {labels}\nstudy:\n  conditionals:\n"
                                        "  - species: lynx\n    given: [deer]\n")
    (folder / "diagnostics.json").write_text(json.dumps({"divergences": 0}))


@pytest.fixture()
def study(tmp_path):
    _fake_train_run(tmp_path / "runs" / "a", 0.9)
    _fake_fit(tmp_path / "runs" / "gt", 0.6, "ground_truth")
    _fake_fit(tmp_path / "runs" / "naive", 0.5, "naive")  # every quantity 0.10 below the truth
    _fake_fit(tmp_path / "runs" / "aware", 0.62, "confusion")  # 0.02 above
    return tmp_path, *find_runs(tmp_path / "runs")


def test_verdict_judges_each_fit_against_the_ground_truth(study):
    tmp_path, runs, fits = study
    assert [f.name for f in fits] == ["aware", "gt", "naive"]
    report = build_report(runs, fits, tmp_path / "out", tolerance=0.05).read_text()
    verdict = pd.read_csv(tmp_path / "out" / "verdict.csv").set_index("fit")
    assert verdict.loc["naive", "max_abs_deviation"] == pytest.approx(0.10)
    assert verdict.loc["aware", "mean_abs_deviation"] == pytest.approx(0.02)
    assert not verdict.loc["naive", "good_enough"] and verdict.loc["aware", "good_enough"]
    dev = pd.read_csv(tmp_path / "out" / "deviations.csv")
    assert sorted(dev["parameter"].unique()) == sorted(QUANTITIES)  # the study's quantities, not p
    assert "not good enough for this question (tolerance 0.05)" in report
    assert "off by 0.100 (mean over" in report  # as many decimals as the table: 0.053 is not "off by 0.05"
    assert report.index("## Verdict") < report.index("## Classifier leaderboard")  # verdict first


def test_leaderboard_and_per_model_tables_hold_the_runs_numbers(study):
    tmp_path, runs, fits = study
    report = build_report(runs, fits, tmp_path / "out").read_text()
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert board["accuracy"].tolist() == [0.9, 0.9] and board["level"].tolist() == ["image", "sequence"]
    assert board["train_min"].iloc[0] == pytest.approx(2.0)  # 30 s + 90 s
    assert board["infer_img_s"].iloc[0] == pytest.approx(5.0)
    assert board["head"].iloc[0] == "pool mean_probs, temperature"
    assert "| lynx | 0.800 | 0.700 | 0.750 | 4 |" in report
    assert "| psi[lynx] | 0.62 [0.42, 0.82] | 0.60 [0.40, 0.80] | 0.50 [0.30, 0.70] |" in report  # aware, gt, naive
    for png in ("occupancy.png", "deviation.png", "confusion_a.png", "reliability_a.png"):
        assert (tmp_path / "out" / png).is_file() and f"]({png})" in report


def test_html_is_self_contained_and_a_second_render_is_byte_identical(study):
    tmp_path, runs, fits = study
    first = build_report(runs, fits, tmp_path / "one")
    second = build_report(runs, fits, tmp_path / "two")
    html = (tmp_path / "one" / "report.html").read_text()
    assert html.count("src='data:image/") == first.read_text().count("![")
    assert "src='http" not in html and ".png'" not in html
    for name in ("report.md", "report.html", "verdict.csv", "leaderboard.csv", "occupancy.png", "deviation.png"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert second.read_text() == first.read_text()


def test_without_a_ground_truth_fit_the_report_says_so(tmp_path):
    _fake_fit(tmp_path / "runs" / "naive", 0.5, "naive")
    runs, fits = find_runs(tmp_path / "runs")
    report = build_report(runs, fits, tmp_path / "out").read_text()
    assert "No ground-truth fit" in report and not (tmp_path / "out" / "verdict.csv").exists()


def test_runs_and_fits_with_the_same_folder_name_are_told_apart(tmp_path):
    _fake_train_run(tmp_path / "lite0" / "seed0", 0.9)
    _fake_train_run(tmp_path / "lite2" / "seed0", 0.8)
    _fake_fit(tmp_path / "study_a" / "fit", 0.6, "ground_truth")
    _fake_fit(tmp_path / "study_b" / "fit", 0.4, "naive")
    runs, fits = find_runs(tmp_path)
    report = build_report(runs, fits, tmp_path / "out").read_text()
    assert "| lite0/seed0 |" in report and "| lite2/seed0 |" in report
    assert "**study_b/fit** (naive, study column ?)" in report


def _fake_emulated_fit(folder, psi, emulated_from, seed):
    _fake_fit(folder, psi, "naive")
    config = (folder / "config.yaml").read_text()
    (folder / "config.yaml").write_text(config.replace(
        "mode: naive\n", f"mode: naive\n  emulate_from: {emulated_from}\n  emulate_seed: {seed}\n"))


def test_the_emulation_check_is_reported_with_its_numbers(study):
    tmp_path, runs, fits = study
    bare = build_report(runs, fits, tmp_path / "bare").read_text()
    assert "Checked on the authors' CNN" not in bare and "has not been checked" not in bare  # no emulated fit
    _fake_emulated_fit(tmp_path / "runs" / "emulated_a_naive_seed0", 0.55, tmp_path / "runs" / "a", 0)
    runs, fits = find_runs(tmp_path / "runs")
    deviation = {"real": {"psi[lynx]": 0.06, "psi[deer]": 0.0}, 0: {"psi[lynx]": 0.05, "psi[deer]": 0.01},
                 1: {"psi[lynx]": 0.07, "psi[deer]": 0.03}}
    rows = [{"labels": "real" if seed == "real" else "emulated", "seed": None if seed == "real" else seed,
             "deviation": dev, "mean_abs_dev": float(np.mean(np.abs(list(dev.values())))),
             "max_abs_dev": max(map(abs, dev.values()))} for seed, dev in deviation.items()]
    check = tmp_path / "emulation_check.json"
    check.write_text(json.dumps({"rows": rows}))
    report = build_report(runs, fits, tmp_path / "out", emulation_check=check).read_text()
    table = pd.read_csv(tmp_path / "out" / "emulation_check.csv").set_index("quantity")
    assert table.loc["psi[lynx]"].tolist() == pytest.approx([0.06, 0.06, 0.05, 0.07])
    assert table.loc["psi[deer]", "emulated_mean_deviation"] == pytest.approx(0.02)
    assert "real labels 0.030, emulated 0.040; largest: real 0.060, emulated 0.060" in report
    without = build_report(runs, fits, tmp_path / "unchecked").read_text()
    assert "has not been checked against real classifier labels" in without


def test_emulated_seeds_are_one_row_of_the_ecological_table_not_verdict_bullets(study):
    tmp_path, runs, fits = study
    for seed, psi in ((0, 0.55), (1, 0.50)):  # 0.05 and 0.10 below the truth on every quantity
        _fake_emulated_fit(tmp_path / "runs" / f"emulated_a_naive_seed{seed}", psi, tmp_path / "runs" / "a", seed)
    runs, fits = find_runs(tmp_path / "runs")
    report = build_report(runs, fits, tmp_path / "out").read_text()
    ecological = pd.read_csv(tmp_path / "out" / "ecological.csv")
    assert ecological[["classifier", "labels", "seeds"]].values.tolist() == [["a", "naive", 2]]
    assert ecological["mean_abs_deviation"].iloc[0] == pytest.approx(0.075)
    assert ecological["max_abs_deviation"].iloc[0] == pytest.approx(0.10)
    assert len(pd.read_csv(tmp_path / "out" / "verdict.csv")) == 4  # every fit but the reference
    verdict_section = report[report.index("## Verdict"):report.index("## Ecological")]
    assert "emulated_a_naive_seed" not in verdict_section and "- 2 fits of emulated zoo-model labels" in verdict_section
