"""Example images per class with the model's top-3 answer and a Grad-CAM overlay (captum's LayerGradCam on
the backbone's last convolution): where in the frame the model looked for its answer."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from zoo.images import load_image, to_model_input
from zoo.predict import load_run
from core.runs import save_figure

log = logging.getLogger(__name__)


def last_conv(model: torch.nn.Module) -> torch.nn.Module:
    """The last 2-D convolution: its feature map is the finest one the class score still depends on spatially."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise ValueError("the model has no 2-D convolution to explain with Grad-CAM")
    return convs[-1]


def pick_examples(preds: pd.DataFrame, classes: list[str], split: str, per_class: int = 2) -> pd.DataFrame:
    """Per class, its validation photos, a mistake first when there is one (the informative case), in file order."""
    rows = preds[(preds["split"] == split) & preds["label"].isin(classes)].copy()
    rows["wrong"] = rows["pred"] != rows["label"]
    picked = [g.sort_values(["wrong", "media_id"], ascending=[False, True]).head(per_class)
              for _, g in rows.groupby("label", sort=True)]
    return pd.concat(picked) if picked else rows.head(0)


def plot_examples(run_dir: Path, path: Path, split: str = "valid", per_class: int = 2, max_classes: int = 12) -> Path | None:
    """A grid: one row per class, its examples with true label, top-3 and the Grad-CAM heat map."""
    from captum.attr import LayerAttribution, LayerGradCam

    preds_path = run_dir / "predictions_images.csv"
    if not preds_path.is_file() or not (run_dir / "checkpoints" / "best.pt").is_file():
        return None
    model, data, classes, _, _ = load_run(run_dir)
    model = model.to(memory_format=torch.contiguous_format).float()
    preds = pd.read_csv(preds_path)
    examples = pick_examples(preds, classes, split, per_class)
    examples = examples[examples["label"].isin(sorted(examples["label"].unique())[:max_classes])]
    if examples.empty:
        return None
    cam = LayerGradCam(model, last_conv(model))
    labels = sorted(examples["label"].unique())
    groups = 2  # classes side by side per row of the grid
    n_rows = -(-len(labels) // groups)
    fig = Figure(figsize=(2.7 * per_class * groups, 2.7 * n_rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_rows, per_class * groups, squeeze=False))
    for ax in axes.ravel():
        ax.axis("off")
    prob_cols = [f"p_{c}" for c in classes]
    for k, label in enumerate(labels):
        r, first = divmod(k, groups)
        for c, row in enumerate(examples[examples["label"] == label].to_dict("records")):
            image = load_image(row["path"], data)
            x = to_model_input(torch.from_numpy(image)[None], data).contiguous()
            target = classes.index(row["pred"])
            heat = LayerAttribution.interpolate(cam.attribute(x, target=target, relu_attributions=True), image.shape[:2],
                                                interpolate_mode="bilinear")[0, 0].detach().numpy()
            heat = heat / heat.max() if heat.max() > 0 else heat
            ax = axes[r, first * per_class + c]
            ax.imshow(image)
            ax.imshow(heat, cmap="jet", alpha=0.35, vmin=0, vmax=1)
            top = np.argsort(-np.array([row[p] for p in prob_cols]))[:3]
            answer = ", ".join(f"{classes[k]} {row[prob_cols[k]]:.2f}" for k in top)
            ax.set_title(f"true {label}{' (wrong)' if row['pred'] != label else ''}\n{answer}", fontsize=7,
                         color="tab:red" if row["pred"] != label else "black")
    fig.suptitle(f"{run_dir.name}: {split} examples (a mistake first where there is one), top-3 answer, "
                 "Grad-CAM of the predicted class", fontsize=9)
    # photos: JPEG (the caller's .jpg), a tenth of a PNG's bytes
    return save_figure(fig, path, dpi=90, pil_kwargs={"quality": 82, "optimize": True})
