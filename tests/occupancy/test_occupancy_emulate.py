"""Emulated classifier labels: one draw per sequence from the model's confusion rows, reproducible by seed."""
import json

import numpy as np
import pandas as pd
import pytest

from occupancy.emulate import confusion_counts, emulate_labels, read_confusion

CLASSES = ["lynx", "renard", "chevreuil"]


def records(n_seq=200, per_seq=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(CLASSES + ["cavalier"], size=n_seq)
    seq = np.repeat([f"s{i:03d}" for i in range(n_seq)], per_seq)
    return pd.Series(np.repeat(labels, per_seq)), pd.Series(seq)


def test_a_perfect_model_gives_back_the_human_labels_and_unmodelled_ones_are_kept():
    truth, seq = records()
    perfect = pd.DataFrame(np.eye(3) * 1e6, index=CLASSES, columns=CLASSES)
    assert emulate_labels(truth, seq, perfect, seed=1).tolist() == truth.tolist()


def test_mistakes_follow_the_confusion_rows_and_a_burst_shares_its_error():
    truth, seq = records(n_seq=3000)
    counts = pd.DataFrame([[60, 40, 0], [0, 100, 0], [0, 10, 90]], index=CLASSES, columns=CLASSES, dtype=float)
    emulated = emulate_labels(truth, seq, counts, seed=2)
    assert (emulated.groupby(seq).nunique() == 1).all()  # one label per sequence
    lynx_seq = truth.groupby(seq).first() == "lynx"
    called_fox = (emulated.groupby(seq).first()[lynx_seq] == "renard").mean()
    # one Dirichlet(counts + 0.5) row per seed (sd 0.05) and ~750 lynx sequences (sd 0.02): 3 sd
    assert called_fox == pytest.approx(40.5 / 101.5, abs=0.15)
    assert (emulated[truth == "cavalier"] == "cavalier").all()
    assert emulated.tolist() == emulate_labels(truth, seq, counts, seed=2).tolist()
    assert emulated.tolist() != emulate_labels(truth, seq, counts, seed=3).tolist()


def test_confusion_from_a_run_directory_or_a_table(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cm = [[3, 1, 0], [0, 4, 0], [1, 0, 2]]
    (run / "metrics.json").write_text(json.dumps({"classes": CLASSES, "valid": {"image": {"confusion_matrix": cm}}}))
    from_run = read_confusion(run)
    assert from_run.loc["lynx", "renard"] == 1 and list(from_run.index) == CLASSES
    table = confusion_counts(pd.Series(["lynx", "lynx", "renard"]), pd.Series(["lynx", "renard", "renard"]))
    table.to_csv(tmp_path / "c.csv", index=False)
    assert read_confusion(tmp_path / "c.csv").loc["lynx", "renard"] == 1
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        read_confusion(tmp_path)
    pd.DataFrame({"true": ["a"], "label": ["b"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="missing"):
        read_confusion(tmp_path / "bad.csv")
