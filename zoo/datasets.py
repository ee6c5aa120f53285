"""Torch datasets over the records table for training and evaluation."""
from __future__ import annotations

import logging
import zlib

import albumentations as A
import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset

from zoo.augment import to_tensor

log = logging.getLogger(__name__)


def load_rgb(path: str, size: int) -> np.ndarray:
    """Decode a photo as RGB at no less than `size` px, using JPEG draft mode: a 2048x1536 trap photo
    is decoded at 1/4 or 1/8 scale straight from the DCT, several times faster than a full decode."""
    with Image.open(path) as im:
        im.draft("RGB", (size, size))
        return np.asarray(im.convert("RGB"))


class RecordsImageDataset(Dataset):
    """(image tensor, class index, row) for each record; augmentation is a pure function of
    (seed, epoch, row), so a resumed run sees exactly the images an uninterrupted run would."""

    def __init__(self, records: pd.DataFrame, class_index: dict[str, int], transform: A.Compose,
                 decode_size: int, seed: int = 0):
        self.paths = records["path"].tolist()
        self.targets = np.array([class_index.get(lab, -1) for lab in records["label"]], dtype=np.int64)
        self.transform = transform
        self.decode_size = decode_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            image = load_rgb(self.paths[i], self.decode_size)
        except OSError as err:  # files were checked at ingestion; a file changed since then
            raise OSError(f"cannot read {self.paths[i]}: {err}; re-run ingestion to skip it") from err
        self.transform.set_random_seed(zlib.crc32(f"{self.seed}/{self.epoch}/{i}".encode()))
        return to_tensor(self.transform(image=image)["image"]), int(self.targets[i]), i


def readable_records(records: pd.DataFrame) -> pd.DataFrame:
    """Drop records whose image could not be read at ingestion, saying how many."""
    if "readable" not in records:
        return records
    bad = ~records["readable"].astype(bool)
    if bad.any():
        log.warning("%d unreadable images are left out: %s", int(bad.sum()), records.loc[bad, "media_id"].tolist()[:5])
    return records[~bad]
