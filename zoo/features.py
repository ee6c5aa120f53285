"""Feature cache: pooled backbone embeddings computed once per image and view, kept on disk.

Heads and linear probes then train in seconds on a CPU. A cache entry is a folder named after a hash of
everything that changes the numbers (architecture, the weights' bytes, input size, normalisation, resize,
view); inside, `part-*.npz` files hold (ids, features) for the images done so far. A new call computes only
images missing from the cache, and a killed run keeps every part it finished.

    fs = compute_features(records, cfg.model, "cache/features", views=("orig", "hflip"))
    fs.features  # float32 [n_images * n_views, D], rows grouped by view in `views` order
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from zoo.images import VIEWS, forward_batches
from zoo.models import DataConfig, build_model, validate_model_cfg
from core.memory import keep_freed_memory
from core.runs import atomic_path, write_json

log = logging.getLogger(__name__)


@dataclass
class FeatureSet:
    media_ids: np.ndarray  # [M] str
    views: np.ndarray  # [M] str, the augmented view of each row
    features: np.ndarray  # [M, D] float32
    failed: pd.DataFrame  # media_id, path, view, error: images that could not be read (not in the rows)

    def __len__(self) -> int:
        return len(self.media_ids)

    def select(self, view: str) -> "FeatureSet":
        keep = self.views == view
        return FeatureSet(self.media_ids[keep], self.views[keep], self.features[keep],
                          self.failed[self.failed["view"] == view].reset_index(drop=True))


def embed(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pooled pre-classifier features of a timm model."""
    return model.forward_head(model.forward_features(x), pre_logits=True)


def state_dict_digest(model: nn.Module) -> str:
    """sha256 of the model's tensors: the cache key follows the actual weights, whatever their source."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_key(name: str, weights_digest: str, data: DataConfig, view: str) -> dict[str, Any]:
    return {"model": name, "weights_sha256": weights_digest, "data": data.to_dict(), "view": view}


def entry_dir(cache_dir: str | os.PathLike, key: dict[str, Any]) -> Path:
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{key['model']}-{key['view']}-{h}"


def read_entry(folder: Path) -> dict[str, np.ndarray]:
    """id -> feature row for everything stored in a cache entry."""
    rows: dict[str, np.ndarray] = {}
    for part in sorted(folder.glob("part-*.npz")):
        with np.load(part, allow_pickle=False) as z:
            rows.update(zip(z["ids"].tolist(), z["features"]))
    return rows


def write_part(folder: Path, ids: list[str], feats: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{time.time_ns()}-{os.getpid()}.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, ids=np.asarray(ids, dtype=str), features=feats.astype(np.float32))
    return path


def as_items(paths_or_records) -> pd.DataFrame:
    """(media_id, path) table from a list of paths or a records table; ids must be unique."""
    if isinstance(paths_or_records, pd.DataFrame):
        missing = {"media_id", "path"} - set(paths_or_records.columns)
        if missing:
            raise ValueError(f"records table lacks column(s) {sorted(missing)}")
        items = paths_or_records[["media_id", "path"]].copy()
        items["media_id"] = items["media_id"].astype(str)
    else:
        paths = [str(p) for p in paths_or_records]
        items = pd.DataFrame({"media_id": paths, "path": paths})
    dup = items["media_id"][items["media_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{len(dup)} duplicated media_id(s), e.g. {dup.iloc[:3].tolist()}")
    return items.reset_index(drop=True)


def compute_features(paths_or_records, model_cfg: Any, cache_dir: str | os.PathLike,
                     views: Sequence[str] = ("orig",), batch_size: int = 32, num_workers: int | None = None,
                     model: nn.Module | None = None, data: DataConfig | None = None,
                     chunk_size: int = 512, progress: bool = True, device: str = "auto",
                     backend: str = "torch") -> FeatureSet:
    """Embeddings of every image and view, read from the cache or computed (only for missing images).

    `model_cfg` is a model config (configs/model/*.yaml); the backbone is built from it with its
    classifier removed, unless `model` (and its `data` config) are passed; it runs on `device` (auto: CUDA
    when available). `backend="onnx"` runs the backbone in ONNX Runtime on the CPU (about twice as fast for
    EfficientNet-Lite; features equal torch's within 1e-5, so they share the cache). Unreadable images are
    logged, listed in `failed` and retried on the next call.
    """
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view(s) {unknown}; known: {VIEWS}")
    items = as_items(paths_or_records)
    cfg = validate_model_cfg(model_cfg)
    if model is None:
        model, data = build_model(cfg, num_classes=0)
    elif data is None:
        raise ValueError("pass `data` (DataConfig) along with a prebuilt `model`")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    keep_freed_memory()  # fewer page faults, same numbers (core.memory)
    digest = state_dict_digest(model)
    forward = _forward(model, data, backend, device)
    out_ids, out_views, out_feats, failures = [], [], [], []
    for view in views:
        key = cache_key(cfg["name"], digest, data, view)
        folder = entry_dir(cache_dir, key)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "meta.json", {**key, "weights": model.pretrained_cfg.get("weights")})
        cached = read_entry(folder)
        has_path = items["path"].notna() & (items["path"].astype(str) != "")
        todo = items[has_path & ~items["media_id"].isin(cached.keys())]
        for _, row in items[~has_path].iterrows():
            failures.append((row.media_id, None, view, "no image path"))
        log.info("features %s/%s: %d cached, %d to compute", cfg["name"], view, len(items) - len(todo), len(todo))
        if len(todo):
            cached.update(_compute_missing(forward, data, todo, view, folder, batch_size, num_workers,
                                           chunk_size, progress, failures, device))
        done = items[items["media_id"].isin(cached.keys())]
        out_ids += done["media_id"].tolist()
        out_views += [view] * len(done)
        out_feats += [cached[m] for m in done["media_id"]]
    failed = pd.DataFrame(failures, columns=["media_id", "path", "view", "error"])
    feats = np.stack(out_feats).astype(np.float32) if out_feats else np.zeros((0, model.num_features), np.float32)
    return FeatureSet(np.asarray(out_ids, dtype=str), np.asarray(out_views, dtype=str), feats, failed)


def _forward(model: nn.Module, data: DataConfig, backend: str, device):
    if backend == "torch":
        return functools.partial(embed, model)  # picklable: loader processes may run it
    if backend != "onnx":
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    if torch.device(device).type != "cpu":
        raise ValueError("backend='onnx' runs on the CPU; use backend='torch' on a GPU")
    from zoo.models.onnx import OnnxForward

    return OnnxForward(model, data.img_size, output="features")


def _compute_missing(forward, data, todo: pd.DataFrame, view, folder, batch_size, num_workers, chunk_size,
                     progress, failures, device) -> dict[str, np.ndarray]:
    ids = todo["media_id"].tolist()
    new: dict[str, np.ndarray] = {}
    pending_ids, pending = [], []
    bar = tqdm(total=len(ids), desc=f"features ({view})", unit="img", disable=not progress)
    for indices, feats, failed in forward_batches(forward, todo["path"].tolist(), data, view, batch_size,
                                                  num_workers=num_workers, device=device):
        for f in failed:
            failures.append((ids[f.index], f.path, view, f.error))
        if feats is not None:
            pending_ids += [ids[i] for i in indices.tolist()]
            pending.append(feats.numpy())
        if len(pending_ids) >= chunk_size:
            new.update(_flush(folder, pending_ids, pending))
            pending_ids, pending = [], []
        bar.update(len(indices) + len(failed))
    if pending_ids:
        new.update(_flush(folder, pending_ids, pending))
    bar.close()
    return new


def _flush(folder: Path, ids: list[str], chunks: list[np.ndarray]) -> dict[str, np.ndarray]:
    feats = np.concatenate(chunks)
    write_part(folder, ids, feats)
    return dict(zip(ids, feats))
