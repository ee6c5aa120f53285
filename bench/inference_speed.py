"""Inference speed from full-resolution camera-trap JPEGs: naive loop vs zoo's loader vs forward pass only.

    nice -n 10 .venv/bin/python bench/inference_speed.py [--threads 2] [--images 192] [--models lite0 resnet18 resnet50]

Makes camera-size JPEGs (2048x1536 and 2592x1944, upscaled from the bundled 640x480 Jura photos, quality 92)
in --image-dir (not committed), then measures, in one run and with the same torch threads:
- decode: images/s of one core decoding a JPEG fully vs in draft (reduced-size DCT) mode, and resizing;
- forward: images/s of the model alone on a ready batch (batch 32, channels_last, inference_mode), also bf16;
- naive: a single-process loop (PIL full decode, resize, normalise, forward in batches);
- zoo: `zoo.images.forward_batches` (draft decode in DataLoader workers, uint8 batches, channels_last), both
  with the workers only decoding (this process runs the model with --threads) and with the model in every
  worker, one thread each (what `zoo.predict` and the feature cache do on a CPU).
Results go to bench/results/inference_speed.json and .md, with the machine load (`uptime`) before and after.
The process keeps the memory it frees, as zoo.predict does (core.memory); CAMTRAP_KEEP_FREED_MEMORY=0 measures
glibc's defaults.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image

from zoo.images import find_images, forward_batches, load_image, usable_cores
from zoo.models import build_model
from core.memory import keep_freed_memory
from core.paths import CONFIG_DIR, PROJECT_DIR, sample_dir
from core.runs import package_versions, write_json, write_text

SIZES = [(2048, 1536), (2592, 1944)]


def make_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((sample_dir("lynx") / "images" / "jura").glob("*.jpg"))[:n]
    paths = []
    for i, src in enumerate(sources):
        dst = folder / f"{i:04d}.jpg"
        if not dst.exists():
            with Image.open(src) as im:
                im.convert("RGB").resize(SIZES[i % 2], Image.BICUBIC).save(dst, quality=92)
        paths.append(dst)
    return paths


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1)


class CpuClock:
    """CPU seconds of this process and its reaped children (DataLoader workers): a load-independent cost."""

    def __enter__(self):
        self.start = self._now()
        return self

    def __exit__(self, *exc):
        self.seconds = self._now() - self.start

    @staticmethod
    def _now() -> float:
        import resource

        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def cpu_ms(fn, n: int) -> tuple[float, float]:
    """(images/s of wall time, CPU milliseconds per image) of fn()."""
    with CpuClock() as clock:
        wall = fn()
    return wall, round(1000 * clock.seconds / n, 1)


def decode_rates(paths: list[Path], data) -> dict[str, float]:
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.convert("RGB").resize((data.img_size,) * 2, Image.BICUBIC)
    full = time.perf_counter() - t
    t = time.perf_counter()
    for p in paths:
        load_image(p, data)
    draft = time.perf_counter() - t
    return {"full_decode_resize": rate(len(paths), full), "draft_decode_resize": rate(len(paths), draft)}


def forward_rate(model, data, batch: int, repeats: int, dtype=None) -> float:
    x = torch.randn(batch, 3, data.img_size, data.img_size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        model(x)  # warm-up (oneDNN picks its kernels)
        t = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return rate(batch * repeats, time.perf_counter() - t)


def naive_rate(model, data, paths: list[Path], batch: int) -> float:
    mean = torch.tensor(data.mean).view(3, 1, 1)
    std = torch.tensor(data.std).view(3, 1, 1)
    t = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(paths), batch):
            xs = []
            for p in paths[i:i + batch]:
                with Image.open(p) as im:
                    im = im.convert("RGB").resize((data.img_size,) * 2, Image.BICUBIC)
                xs.append((torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255 - mean) / std)
            model(torch.stack(xs))
    return rate(len(paths), time.perf_counter() - t)


def zoo_rate(forward, data, paths: list[Path], batch: int, workers: int, in_workers: bool) -> float:
    t = time.perf_counter()
    n = sum(len(indices) for indices, _, _ in forward_batches(forward, paths, data, batch_size=batch,
                                                             num_workers=workers, in_workers=in_workers))
    assert n == len(paths)
    return rate(n, time.perf_counter() - t)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=192)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", default=["lite0", "resnet18", "resnet50"])
    ap.add_argument("--bf16", action="store_true", help="also time bf16 autocast forward passes")
    ap.add_argument("--onnx", action="store_true", help="also time ONNX Runtime (zoo.predict backend=onnx)")
    ap.add_argument("--image-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "zoo-bench-images")
    ap.add_argument("--out", type=Path, default=PROJECT_DIR / "bench" / "results" / "inference_speed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kept = keep_freed_memory()  # as zoo.predict does (CAMTRAP_KEEP_FREED_MEMORY=0: glibc's defaults)
    paths = find_images(args.image_dir) if args.image_dir.is_dir() else []
    if len(paths) < args.images:
        paths = make_images(args.image_dir, args.images)
    paths = paths[: args.images]
    load_before = uptime()
    print(load_before, flush=True)
    results = {"command": ".venv/bin/python bench/inference_speed.py " + " ".join(
                   f"--{k.replace('_', '-')}" if v is True else
                   f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                   for k, v in vars(args).items() if k not in ("out", "image_dir") and v is not False),
               "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": args.threads,
               "images": len(paths), "image_sizes": [list(s) for s in SIZES], "batch": args.batch,
               "load_before": load_before, "keep_freed_memory": kept, "models": {}, "versions": package_versions()}
    for name in args.models:
        model, data = build_model(OmegaConf.load(CONFIG_DIR / "model" / f"{name}.yaml"), pretrained=False)
        model = model.eval().to(memory_format=torch.channels_last)
        row = {"arch": model.pretrained_cfg["architecture"], "img_size": data.img_size}
        if name == args.models[0]:
            results["decode_one_core"] = decode_rates(paths[:64], data)
            print("decode", results["decode_one_core"], flush=True)
        reps = max(2, 128 // args.batch)
        row["forward_only"], row["forward_cpu_ms"] = cpu_ms(lambda: forward_rate(model, data, args.batch, reps),
                                                            args.batch * (reps + 1))
        if args.bf16:
            row["forward_only_bf16"] = forward_rate(model, data, args.batch, max(2, 128 // args.batch), torch.bfloat16)
        row["naive"] = naive_rate(model, data, paths, args.batch)
        for w in args.workers:  # loader processes decode, this process runs the model with its threads
            row[f"zoo_workers{w}"], row[f"zoo_workers{w}_cpu_ms"] = cpu_ms(
                lambda: zoo_rate(model, data, paths, args.batch, w, in_workers=False), len(paths))
        # zoo.predict's CPU default: every loader process decodes and runs the model, one thread each
        cores = usable_cores()
        row["zoo_in_workers"], row["zoo_in_workers_cpu_ms"] = cpu_ms(
            lambda: zoo_rate(model, data, paths, args.batch, cores, in_workers=True), len(paths))
        ways = [f"zoo_workers{w}" for w in args.workers] + ["zoo_in_workers"]
        # on an idle machine, throughput is bounded by cores / CPU time per image: compare CPU costs
        row["cpu_bound_zoo_vs_forward"] = round(row["forward_cpu_ms"] / min(row[f"{k}_cpu_ms"] for k in ways), 3)
        row["zoo_best_vs_forward"] = round(max(row[k] for k in ways) / row["forward_only"], 3)
        if args.onnx:
            from zoo.models.onnx import OnnxForward

            onnx = OnnxForward(model, data.img_size, threads=args.threads)
            row["onnx_forward_only"] = forward_rate(onnx, data, args.batch, max(2, 128 // args.batch))
            row["onnx_zoo_workers1"] = zoo_rate(onnx, data, paths, args.batch, 1, in_workers=False)
            row["onnx_zoo_in_workers"] = zoo_rate(OnnxForward(model, data.img_size), data, paths, args.batch, cores,
                                                  in_workers=True)  # one ONNX thread per loader process
            row["onnx_zoo_vs_torch_forward"] = round(
                max(row["onnx_zoo_workers1"], row["onnx_zoo_in_workers"]) / row["forward_only"], 3)
            model = model.to(memory_format=torch.channels_last)  # the export left it contiguous
        row["forward_only_again"] = forward_rate(model, data, args.batch, max(2, 128 // args.batch))
        results["models"][name] = row
        print(name, row, flush=True)
    results["load_after"] = uptime()
    write_json(args.out.with_suffix(".json"), results)
    write_text(args.out.with_suffix(".md"), markdown(results))
    print(markdown(results))


def markdown(r: dict) -> str:
    workers = sorted({k for m in r["models"].values() for k in m if k.startswith("zoo_workers") and "cpu" not in k})
    workers.append("zoo_in_workers")
    head = ["model", "input px", "forward only", "naive loop",
            *[f"zoo, {w[11:]} decoding workers" for w in workers[:-1]], "zoo, model in every worker (default)",
            "zoo best / forward", "forward only (again)", "CPU ms/img forward", "CPU ms/img zoo (fewest)",
            "forward / zoo CPU cost"]
    lines = [f"Images/s (wall clock) on {r['cores']} cores ({r['cpu_capability']}), torch threads {r['threads']}, "
             f"{r['images']} JPEGs of {' and '.join('x'.join(map(str, s)) for s in r['image_sizes'])}, "
             f"batch {r['batch']}. CPU ms/img counts this process and its DataLoader workers: on an idle machine "
             f"the end-to-end / forward-only ratio is bounded by the last column.", "", f"`{r['command']}`", "",
             f"Load before: `{r['load_before']}`; after: `{r['load_after']}`", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in r["models"].items():
        zoo_cpu = min(m[f"{w}_cpu_ms"] for w in workers)
        cells = [f"{name} ({m['arch']})", m["img_size"], m["forward_only"], m["naive"], *[m[w] for w in workers],
                 f"{m['zoo_best_vs_forward']:.0%}", m["forward_only_again"], m["forward_cpu_ms"], zoo_cpu,
                 f"{m['cpu_bound_zoo_vs_forward']:.0%}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    d = r.get("decode_one_core", {})
    lines += ["", f"One core, decode + resize to the model input: full decode {d.get('full_decode_resize')} img/s, "
                  f"draft mode {d.get('draft_decode_resize')} img/s."]
    if any("onnx_forward_only" in m for m in r["models"].values()):
        lines += ["", "| model | ONNX Runtime forward only | zoo + ONNX Runtime, 1 decoding worker | "
                      "zoo + ONNX Runtime in every worker | best vs torch forward only |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {m['onnx_forward_only']} | {m['onnx_zoo_workers1']} | {m['onnx_zoo_in_workers']} | "
                  f"{m['onnx_zoo_vs_torch_forward']:.0%} |" for n, m in r["models"].items() if "onnx_forward_only" in m]
    if any("forward_only_bf16" in m for m in r["models"].values()):
        lines += ["", "bf16 autocast forward: " + ", ".join(
            f"{n} {m['forward_only_bf16']}" for n, m in r["models"].items() if "forward_only_bf16" in m) + " img/s."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
