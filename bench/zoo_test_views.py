"""Test-time views of trained runs: does averaging flips or input sizes help on the valid photos?

    .venv/bin/python bench/zoo_test_views.py --name lite2_320 runs/bench/lite2_320/authors_seed{0,1,2}

For each run, the valid photos of its `predictions_images.csv` are classified by its best checkpoint at
its own size (`zoo.predict`'s: `model.test_img_size` if the run set it), at `--sizes`, and mirrored;
views are combined by averaging softmax probabilities. A size alone ("instead") tests the train-test
resolution discrepancy of Touvron et al. (2019, FixRes): random resized crops show objects larger in
training than a whole test frame does. One line per run and a mean ± sd line go to
bench/results/zoo_test_views.md. List the runs before `--sizes`.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from zoo.images import forward_batches
from zoo.predict import load_run

RESULTS = Path(__file__).parent / "results"


def view_probs(run: Path, sizes: list[int]) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Softmax probabilities of the valid photos per view ('<size>' and '<size>_flip'), labels, own size."""
    model, data, classes, _, _ = load_run(run)
    table = pd.read_csv(run / "predictions_images.csv")
    valid = table[table["split"] == "valid"].reset_index(drop=True)
    y = valid["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    def plain_and_flipped(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([model(x).softmax(1), model(torch.flip(x, dims=[3])).softmax(1)], dim=1)

    probs = {}
    for size in dict.fromkeys([data.img_size, *sizes]):
        view = dataclasses.replace(data, img_size=size)
        both = np.full((len(valid), 2, len(classes)), np.nan, dtype=np.float32)
        for indices, out, failed in forward_batches(plain_and_flipped, valid["path"].tolist(), view,
                                                    num_workers=1, in_workers=False):
            if failed:
                raise OSError(f"unreadable photos: {[f.path for f in failed]}")
            both[indices.numpy()] = out.numpy()
        probs[str(size)], probs[f"{size}_flip"] = both[:, 0], both[:, 1]
    return probs, y, data.img_size


def combinations(own: int, sizes: list[int]) -> dict[str, list[str]]:
    combos = {"own size": [str(own)], "+ flip": [str(own), f"{own}_flip"]}
    for size in sizes:
        if size != own:
            combos[f"{size} px instead"] = [str(size)]  # FixRes: crops enlarge training objects
            combos[f"{size} px instead + flip"] = [str(size), f"{size}_flip"]
            combos[f"+ {size} px"] = [str(own), str(size)]
            combos[f"+ flip + {size} px + flip"] = [str(own), f"{own}_flip", str(size), f"{size}_flip"]
    return combos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[384])
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    accuracy: dict[str, list[float]] = {}
    for run in args.runs:
        probs, y, own = view_probs(run, args.sizes)
        for label, views in combinations(own, args.sizes).items():
            mean = np.mean([probs[v] for v in views], axis=0)
            accuracy.setdefault(label, []).append(float(np.mean(mean.argmax(1) == y)))
        print(run, {k: round(v[-1], 3) for k, v in accuracy.items()}, flush=True)
    path = RESULTS / "zoo_test_views.md"
    if not path.exists():
        path.write_text("Valid image accuracy of trained runs under test-time views (softmax averages; "
                        "`python bench/zoo_test_views.py --name NAME RUN...`).\n\n"
                        "| name | views | runs | per run | mean ± sd |\n|---|---|---|---|---|\n")
    with open(path, "a") as table:
        for label, values in accuracy.items():
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            table.write(f"| {args.name} | {label} | {len(values)} | {', '.join(f'{v:.3f}' for v in values)} | "
                        f"{statistics.mean(values):.3f} ± {sd:.3f} |\n")


if __name__ == "__main__":
    main()
