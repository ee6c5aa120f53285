"""zoo.report reads run directories and puts classifiers and occupancy fits side by side."""
import json

import pandas as pd

from zoo.report import build_report, find_runs


def _fake_train_run(folder, accuracy):
    (folder / "checkpoints").mkdir(parents=True)
    block = {"n": 10, "accuracy": accuracy, "macro_f1": 0.5, "top3_accuracy": 1.0, "ece": 0.1, "nll": 0.7,
             "mistake_severity": {"mean_mistake_severity": 3.0}}
    (folder / "metrics.json").write_text(json.dumps({"valid": {"image": block, "sequence": block}}))
    (folder / "config.yaml").write_text("model:\n  name: tf_efficientnet_lite0\n  img_size: 224\ndata:\n  split:\n    kind: authors\n")


def _fake_fit(folder, psi):
    folder.mkdir(parents=True)
    pd.DataFrame({"parameter": ["psi[lynx]", "p[lynx]"], "mean": [psi, 0.3], "sd": [0.1, 0.05],
                  "q2.5": [psi - 0.2, 0.2], "q97.5": [psi + 0.2, 0.4], "r_hat": [1.001, 1.0],
                  "ess_bulk": [1500, 2000]}).to_csv(folder / "summary.csv", index=False)
    (folder / "posterior.nc").write_bytes(b"")


def test_report_tables(tmp_path):
    _fake_train_run(tmp_path / "runs" / "a", 0.9)
    _fake_fit(tmp_path / "runs" / "gt", 0.6)
    _fake_fit(tmp_path / "runs" / "naive", 0.4)
    runs, fits = find_runs(tmp_path / "runs")
    assert [r.name for r in runs] == ["a"] and [f.name for f in fits] == ["gt", "naive"]
    report = build_report(runs, fits, tmp_path / "out").read_text()
    assert "| a | tf_efficientnet_lite0 | 224 | authors | valid | image | 10 | 0.900 |" in report
    assert "| psi[lynx] | 0.60 [0.40, 0.80] | 0.40 [0.20, 0.60] |" in report
    assert (tmp_path / "out" / "occupancy.png").is_file()
    assert pd.read_csv(tmp_path / "out" / "ml_metrics.csv")["accuracy"].tolist() == [0.9, 0.9]


def test_runs_and_fits_with_the_same_folder_name_are_told_apart(tmp_path):
    _fake_train_run(tmp_path / "lite0" / "seed0", 0.9)
    _fake_train_run(tmp_path / "lite2" / "seed0", 0.8)
    _fake_fit(tmp_path / "study_a" / "fit", 0.6)
    _fake_fit(tmp_path / "study_b" / "fit", 0.4)
    runs, fits = find_runs(tmp_path)
    report = build_report(runs, fits, tmp_path / "out").read_text()
    assert "| lite0/seed0 |" in report and "| lite2/seed0 |" in report
    assert "| psi[lynx] | 0.60 [0.40, 0.80] | 0.40 [0.20, 0.60] |" in report  # both fits kept, none overwritten
    assert pd.read_csv(tmp_path / "out" / "occupancy_estimates.csv").columns.tolist() == ["parameter", "study_a/fit", "study_b/fit"]
