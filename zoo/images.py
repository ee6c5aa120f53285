"""Fast, robust image loading for inference and feature extraction.

JPEGs are decoded at reduced size (`Image.draft`: libjpeg's DCT scaling decodes a 2048x1536 camera-trap frame
at 1/2, 1/4 or 1/8 scale, several times faster than a full decode), resized to the model input and returned
as uint8 tensors; normalisation happens once per batch (`to_model_input`). A file that cannot be read becomes a
failure record, never a crash: `collate_skip_failed` drops it from the batch and reports it.

`forward_batches` is the inference loop of `zoo.predict` and the feature cache. On a CPU each loader process
decodes a whole batch and runs the model on it with its share of the cores (one thread on a small machine): the
cores never wait for each other, which beats one process whose threads share every forward pass while other
processes decode (bench/inference_speed.py).
On a GPU the loader processes only decode and the main process runs the model.
"""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from zoo.data.tags import IMAGE_SUFFIXES
from zoo.models.data_config import DataConfig

log = logging.getLogger(__name__)

VIEWS = ("orig", "hflip")
_RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST,
             "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}



def find_images(folder: str | os.PathLike) -> list[Path]:
    """Every image under `folder` (IMAGE_SUFFIXES, the list zoo.data reads; recursive, case-insensitive), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def load_image(path: str | os.PathLike, data: DataConfig, view: str = "orig",
               box: Sequence[float] | None = None) -> np.ndarray:
    """Decode, fit to `data.img_size` (see DataConfig.resize) and return an HxWx3 uint8 array.

    `box` (left, top, right, bottom as fractions of the image) crops the full-resolution decode first.
    Raises OSError/ValueError (PIL's) for unreadable files.
    """
    size = data.img_size
    with Image.open(path) as im:
        if box is None:  # a box is a small part of the frame: it needs the full resolution, so no draft
            # draft keeps the decoded size >= the requested one, so quality at the model input is unchanged
            target = size if data.resize == "squash" else round(size / data.crop_pct)
            im.draft("RGB", (target, target))
        im = im.convert("RGB")
        if box is not None:
            im = im.crop(pixel_box(box, im.size))
        resample = _RESAMPLE[data.interpolation]
        if data.resize == "squash":
            im = im.resize((size, size), resample)
        else:
            im = _resize_short_centre_crop(im, size, data.crop_pct, resample)
    arr = np.array(im)  # writable copy: torch.from_numpy refuses read-only buffers
    if view == "hflip":
        arr = arr[:, ::-1]
    elif view != "orig":
        raise ValueError(f"unknown view {view!r}; known: {VIEWS}")
    return np.ascontiguousarray(arr)


def pixel_box(box: Sequence[float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) fractions -> pixels of an image of `size` (width, height), at least 1 px wide."""
    width, height = size
    left, top = min(round(box[0] * width), width - 1), min(round(box[1] * height), height - 1)
    return left, top, max(left + 1, round(box[2] * width)), max(top + 1, round(box[3] * height))


def _resize_short_centre_crop(im: Image.Image, size: int, crop_pct: float, resample) -> Image.Image:
    scale = size / crop_pct / min(im.size)
    w, h = max(size, round(im.width * scale)), max(size, round(im.height * scale))
    im = im.resize((w, h), resample)
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def to_model_input(images: torch.Tensor, data: DataConfig) -> torch.Tensor:
    """uint8 NHWC batch -> normalised float32 NCHW tensor in channels_last memory (no copy of layout).

    On a GPU, move the uint8 batch first (`images.to(device)`): a quarter of the bytes of float32.
    """
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(data.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(data.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std).contiguous(memory_format=torch.channels_last)


@dataclass
class Failure:
    index: int
    path: str
    error: str


class ImageDataset(Dataset):
    """Images at `paths` for one `view` (cropped to `boxes`, one per path, when given); an item is
    (index, uint8 HxWx3 tensor) or (index, Failure)."""

    def __init__(self, paths: Sequence[str | os.PathLike], data: DataConfig, view: str = "orig",
                 boxes: Sequence[Sequence[float]] | None = None):
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; known: {VIEWS}")
        if boxes is not None and len(boxes) != len(paths):
            raise ValueError(f"{len(boxes)} boxes for {len(paths)} images")
        self.paths = [str(p) for p in paths]
        self.data, self.view, self.boxes = data, view, boxes

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        path = self.paths[index]
        try:
            box = self.boxes[index] if self.boxes is not None else None
            return index, torch.from_numpy(load_image(path, self.data, self.view, box))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            return index, Failure(index, path, f"{type(exc).__name__}: {exc}")


@dataclass
class Batch:
    indices: torch.Tensor  # positions in the dataset of the images that loaded
    images: torch.Tensor  # uint8 NHWC
    failed: list[Failure]


def collate_skip_failed(items) -> Batch:
    ok = [(i, x) for i, x in items if not isinstance(x, Failure)]
    failed = [x for _, x in items if isinstance(x, Failure)]
    for f in failed:
        log.warning("unreadable image skipped: %s (%s)", f.path, f.error)
    if ok:
        indices = torch.tensor([i for i, _ in ok], dtype=torch.long)
        images = torch.stack([x for _, x in ok])
    else:
        indices, images = torch.empty(0, dtype=torch.long), torch.empty(0, 0, 0, 3, dtype=torch.uint8)
    return Batch(indices, images, failed)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_num_workers(forward_in_workers: bool = False) -> int:
    """Loader processes: one per core (at most 8) when they also run the model, else a few decoders."""
    return min(8 if forward_in_workers else 4, usable_cores())


def _share_cores(workers: int):
    """worker_init_fn giving each of `workers` loader processes its share of the cores as torch threads."""
    return functools.partial(_set_threads, max(1, usable_cores() // max(1, workers)))


def _set_threads(threads: int, worker_id: int) -> None:
    torch.set_num_threads(threads)


def make_loader(paths: Sequence[str | os.PathLike], data: DataConfig, view: str = "orig", batch_size: int = 32,
                num_workers: int | None = None, batches: Sequence[Sequence[int]] | None = None,
                boxes: Sequence[Sequence[float]] | None = None) -> DataLoader:
    """Batches of `paths` in order; `batches` (lists of positions) fixes their composition instead."""
    num_workers = default_num_workers() if num_workers is None else num_workers
    batching = {"batch_sampler": batches} if batches is not None else {"batch_size": batch_size, "shuffle": False}
    return DataLoader(ImageDataset(paths, data, view, boxes), **batching, num_workers=num_workers,
                      collate_fn=collate_skip_failed, persistent_workers=False,
                      prefetch_factor=4 if num_workers else None)


class ForwardBatches(Dataset):
    """Item k: (indices, forward(images) or None, failures) of the k-th batch, computed where it is loaded."""

    def __init__(self, images: ImageDataset, batches: Sequence[Sequence[int]], forward: Callable):
        self.images, self.batches, self.forward = images, [list(b) for b in batches], forward

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int):
        batch = collate_skip_failed([self.images[i] for i in self.batches[k]])
        if not len(batch.indices):
            return batch.indices, None, batch.failed
        with torch.inference_mode():
            return batch.indices, self.forward(to_model_input(batch.images, self.images.data)), batch.failed


def forward_batches(forward: Callable[[torch.Tensor], torch.Tensor], paths: Sequence[str | os.PathLike],
                    data: DataConfig, view: str = "orig", batch_size: int = 32,
                    batches: Sequence[Sequence[int]] | None = None, num_workers: int | None = None,
                    device: str | torch.device = "cpu", in_workers: bool | None = None,
                    boxes: Sequence[Sequence[float]] | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, list[Failure]]]:
    """(positions, forward(batch) on the CPU or None if all failed, failures) for each batch, in order.

    in_workers (default: on the CPU with 2+ loader processes) runs `forward` inside the loader processes,
    each with its share of the cores as torch threads (one each with the default of one process per core, up
    to 8); `forward` must then be picklable where processes are spawned (macOS, Windows). `boxes`: see ImageDataset.
    """
    device = torch.device(device)
    if in_workers is None:  # a forward with `in_loader_processes = False` (ONNX Runtime) prefers its own threads
        in_workers = (device.type == "cpu" and (num_workers is None or num_workers >= 2)
                      and getattr(forward, "in_loader_processes", True))
    if in_workers and device.type != "cpu":
        raise ValueError("the forward pass runs in the loader processes only on the CPU")
    if batches is None:
        batches = [range(i, min(i + batch_size, len(paths))) for i in range(0, len(paths), batch_size)]
    if not in_workers:
        for batch in make_loader(paths, data, view, num_workers=num_workers, batches=batches, boxes=boxes):
            out = None
            if len(batch.indices):
                with torch.inference_mode():
                    out = forward(to_model_input(batch.images.to(device), data)).float().cpu()
            yield batch.indices, out, batch.failed
        return
    num_workers = default_num_workers(forward_in_workers=True) if num_workers is None else num_workers
    loader = DataLoader(ForwardBatches(ImageDataset(paths, data, view, boxes), batches, forward), batch_size=None,
                        num_workers=num_workers, prefetch_factor=2 if num_workers else None,
                        worker_init_fn=_share_cores(num_workers) if num_workers else None)
    for indices, out, failed in loader:
        yield indices, (out.float() if out is not None else None), failed
