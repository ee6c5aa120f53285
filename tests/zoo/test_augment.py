"""Batch mixing (mixup / cutmix): what the loss is told matches what the images hold."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.augment import AugmentConfig, mix_batch


@pytest.fixture
def batch():
    # image i is constant i + 1, so every pixel says which image it came from
    x = torch.arange(1, 5, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 16, 16).contiguous()
    return x, torch.tensor([0, 1, 2, 3])


def test_mixup_blends_each_image_with_its_partner(batch):
    x, y = batch
    np.random.seed(1)
    mixed, partner, lam = mix_batch(x, y, AugmentConfig(mixup_alpha=0.4))
    assert 0 < lam < 1
    assert torch.equal(partner, torch.tensor([3, 2, 1, 0]))
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x.flip(0))


def test_cutmix_lam_is_the_share_of_own_pixels(batch):
    x, y = batch
    for seed in range(5):
        np.random.seed(seed)
        mixed, partner, lam = mix_batch(x, y, AugmentConfig(cutmix_alpha=1.0))
        own = (mixed[0] == x[0]).float().mean().item()
        assert (mixed[0] == x[3]).float().mean().item() == pytest.approx(1 - own)
        assert lam == pytest.approx(own)
        assert torch.equal(partner, y.flip(0))


def test_no_mixing_when_off_or_not_drawn(batch):
    x, y = batch
    for cfg in (AugmentConfig(), AugmentConfig(mixup_alpha=0.4, cutmix_alpha=1.0, mix_prob=0.0)):
        mixed, partner, lam = mix_batch(x, y, cfg)
        assert lam == 1.0 and mixed is x and partner is y


def test_same_numpy_seed_same_mix(batch):
    x, y = batch
    cfg = AugmentConfig(mixup_alpha=0.4, cutmix_alpha=1.0, mix_prob=0.7)
    draws = []
    for _ in range(2):
        np.random.seed(7)
        draws.append([mix_batch(x, y, cfg) for _ in range(6)])
    for (a, _, lam_a), (b, _, lam_b) in zip(*draws):
        assert lam_a == lam_b and torch.equal(a, b)
    assert len({lam for _, _, lam in draws[0]}) > 1
