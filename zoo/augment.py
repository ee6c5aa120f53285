"""Image transforms for camera-trap photos (albumentations): what a trap sees changes by night,
weather and where the animal stands, so augment those and nothing exotic."""
from __future__ import annotations

from dataclasses import dataclass, field

import albumentations as A
import numpy as np
import torch
from timm.data.mixup import cutmix_bbox_and_lam


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
    # batch mixing with the batch reversed, the loss split lam : 1 - lam between both labels:
    # mixup blends whole frames (Zhang et al. 2018), cutmix pastes a box (Yun et al. 2019); 0 = off
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0            # share of batches mixed; with both on, each batch picks one at random


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


def mix_batch(x: torch.Tensor, y: torch.Tensor, cfg: AugmentConfig) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(images, partner labels, lam): loss = lam * loss(y) + (1 - lam) * loss(partner labels).

    Draws from numpy's global generator, which training seeds per run and checkpoints, so resuming
    is exact. lam = 1 (batch unchanged) when mixing is off or this batch is not drawn.
    """
    if not (cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0) or np.random.rand() >= cfg.mix_prob:
        return x, y, 1.0
    use_cutmix = cfg.cutmix_alpha > 0 and (cfg.mixup_alpha <= 0 or np.random.rand() < 0.5)
    alpha = cfg.cutmix_alpha if use_cutmix else cfg.mixup_alpha
    lam = float(np.random.beta(alpha, alpha))
    partner_x, partner_y = x.flip(0), y.flip(0)
    if use_cutmix:  # lam is corrected to the box's actual share after clipping at the borders
        (top, bottom, left, right), lam = cutmix_bbox_and_lam(x.shape, lam)
        x = x.clone()
        x[:, :, top:bottom, left:right] = partner_x[:, :, top:bottom, left:right]
    else:
        x = lam * x + (1 - lam) * partner_x
    return x, partner_y, lam
