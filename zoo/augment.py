"""Image transforms for camera-trap photos (albumentations): what a trap sees changes by night,
weather and where the animal stands, so augment those and nothing exotic."""
from __future__ import annotations

from dataclasses import dataclass, field

import albumentations as A
import numpy as np
import torch


@dataclass
class AugmentConfig:
    hflip: bool = True               # animals walk both ways
    crop_scale: list[float] = field(default_factory=lambda: [0.7, 1.0])  # partly framed animals
    crop_ratio: list[float] = field(default_factory=lambda: [0.75, 1.333])
    brightness_contrast: float = 0.25  # dawn, dusk, flash falloff
    hue_saturation: int = 10
    grayscale_p: float = 0.1         # night infrared frames are grey
    blur_p: float = 0.0              # motion blur of fast animals
    test_flip: bool = False          # average predictions over the image and its mirror


def train_transform(cfg: AugmentConfig, size: int, mean, std) -> A.Compose:
    return A.Compose([
        A.RandomResizedCrop(size=(size, size), scale=tuple(cfg.crop_scale), ratio=tuple(cfg.crop_ratio)),
        A.HorizontalFlip(p=0.5 if cfg.hflip else 0.0),
        A.RandomBrightnessContrast(brightness_limit=cfg.brightness_contrast, contrast_limit=cfg.brightness_contrast, p=0.8),
        A.HueSaturationValue(hue_shift_limit=cfg.hue_saturation, sat_shift_limit=2 * cfg.hue_saturation,
                             val_shift_limit=0, p=0.5),
        A.ToGray(num_output_channels=3, p=cfg.grayscale_p),
        A.MotionBlur(blur_limit=(3, 7), p=cfg.blur_p),
        A.Normalize(mean=mean, std=std),
    ])


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HWC float array -> CHW tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
