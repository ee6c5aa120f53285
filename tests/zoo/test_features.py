import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import zoo.features as features
from zoo.features import compute_features

CFG = {"name": "resnet10t", "pretrained": False, "img_size": 32, "resize": "squash", "interpolation": "bilinear"}


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        p = tmp_path / "img" / f"p{i}.jpg"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def counted_forward(monkeypatch):
    """Count images passed through the backbone."""
    seen = []
    real = features.embed

    def embed(model, x):
        seen.append(len(x))
        return real(model, x)

    monkeypatch.setattr(features, "embed", embed)
    return seen


def run(items, cache, **kw):
    torch.manual_seed(0)  # same random-init weights on every call, so the cache key stays the same
    return compute_features(items, CFG, cache, batch_size=2, num_workers=0, progress=False, **kw)


def test_second_call_hits_the_cache_and_only_new_images_are_computed(photos, tmp_path, counted_forward):
    cache = tmp_path / "cache"
    first = run(photos[:3], cache)
    assert sum(counted_forward) == 3 and first.features.shape == (3, 512)
    again = run(photos[:3], cache)
    assert sum(counted_forward) == 3  # no forward pass at all
    np.testing.assert_array_equal(again.features, first.features)
    more = run(photos, cache)
    assert sum(counted_forward) == 5  # only p3 and p4 computed
    assert more.media_ids.tolist() == [str(p) for p in photos]
    np.testing.assert_array_equal(more.features[:3], first.features)


def test_cached_features_equal_a_fresh_computation(photos, tmp_path):
    cached = run(photos[:2], tmp_path / "a")
    run(photos, tmp_path / "b")  # computed in another batch layout
    fresh = run(photos[:2], tmp_path / "b")
    np.testing.assert_allclose(fresh.features, cached.features, rtol=1e-5, atol=1e-5)


def test_other_weights_get_another_cache_entry(photos, tmp_path, counted_forward):
    run(photos[:2], tmp_path)
    torch.manual_seed(1)
    compute_features(photos[:2], CFG, tmp_path, batch_size=2, num_workers=0, progress=False)
    assert sum(counted_forward) == 4
    assert len(list(tmp_path.glob("resnet10t-orig-*"))) == 2


def test_views_records_and_failures(photos, tmp_path, counted_forward):
    (tmp_path / "img" / "bad.jpg").write_bytes(b"\xff\xd8\xff broken")
    records = pd.DataFrame({"media_id": ["a", "b", "bad", "nopath"],
                            "path": [str(photos[0]), str(photos[1]), str(tmp_path / "img" / "bad.jpg"), None]})
    fs = run(records, tmp_path / "cache", views=("orig", "hflip"))
    assert fs.media_ids.tolist() == ["a", "b", "a", "b"] and fs.views.tolist() == ["orig", "orig", "hflip", "hflip"]
    assert sorted(zip(fs.failed["media_id"], fs.failed["view"])) == [
        ("bad", "hflip"), ("bad", "orig"), ("nopath", "hflip"), ("nopath", "orig")]
    assert not np.allclose(fs.select("orig").features, fs.select("hflip").features)
    assert sum(counted_forward) == 4
    run(records, tmp_path / "cache", views=("orig", "hflip"))
    assert sum(counted_forward) == 4  # broken files are retried, but nothing readable is recomputed


def test_killed_run_keeps_finished_parts(photos, tmp_path, monkeypatch):
    real = features.embed
    calls = []

    def dying(model, x):
        calls.append(len(x))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(model, x)

    monkeypatch.setattr(features, "embed", dying)
    with pytest.raises(KeyboardInterrupt):
        run(photos, tmp_path, chunk_size=2)  # parts of 2 images: batches 1 and 2 were written
    monkeypatch.setattr(features, "embed", real)
    counted = []
    monkeypatch.setattr(features, "embed", lambda m, x: counted.append(len(x)) or real(m, x))
    fs = run(photos, tmp_path, chunk_size=2)
    assert sum(counted) == 1 and len(fs) == 5


def test_duplicate_ids_are_rejected(photos, tmp_path):
    with pytest.raises(ValueError, match="duplicated media_id"):
        run(pd.DataFrame({"media_id": ["x", "x"], "path": [str(photos[0]), str(photos[1])]}), tmp_path)


def test_onnx_backend_shares_the_cache(photos, tmp_path):
    pytest.importorskip("onnxruntime")
    torch_fs = run(photos[:3], tmp_path / "t")
    onnx_fs = run(photos[:3], tmp_path / "o", backend="onnx")
    np.testing.assert_allclose(onnx_fs.features, torch_fs.features, atol=1e-4, rtol=1e-4)
    assert [p.name for p in (tmp_path / "t").iterdir()] == [p.name for p in (tmp_path / "o").iterdir()]
