import numpy as np
import pytest
import torch
from PIL import Image

from zoo.images import (Failure, ImageDataset, collate_skip_failed, find_images, forward_batches, load_image,
                        make_loader, to_model_input)
from zoo.models import DataConfig

DATA = DataConfig(img_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bilinear", resize="squash")


def gradient_image(w: int, h: int) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                          np.full((h, w, 1), 128, np.float32)], axis=2)
    return Image.fromarray(rgb.astype(np.uint8))


@pytest.fixture
def mixed_folder(tmp_path):
    """2 good JPEGs (one upper-case suffix, in a subfolder), 1 good PNG, 3 broken JPEGs, 1 non-image."""
    (tmp_path / "sub").mkdir()
    gradient_image(64, 48).save(tmp_path / "a_good.jpg", quality=95)
    gradient_image(48, 64).save(tmp_path / "sub" / "b_good.JPG", quality=95)
    gradient_image(40, 30).save(tmp_path / "c_good.png")
    full = (tmp_path / "a_good.jpg").read_bytes()
    (tmp_path / "d_truncated.jpg").write_bytes(full[: len(full) // 2])
    (tmp_path / "e_random.jpeg").write_bytes(np.random.default_rng(0).integers(0, 256, 3000, np.uint8).tobytes())
    (tmp_path / "f_empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_find_images_is_recursive_case_insensitive_and_sorted(mixed_folder):
    names = [p.relative_to(mixed_folder).as_posix() for p in find_images(mixed_folder)]
    assert names == ["a_good.jpg", "c_good.png", "d_truncated.jpg", "e_random.jpeg", "f_empty.jpg", "sub/b_good.JPG"]


def test_find_images_rejects_a_missing_folder(tmp_path):
    with pytest.raises(NotADirectoryError, match="nope"):
        find_images(tmp_path / "nope")


def test_broken_files_become_failures_and_collate_drops_them(mixed_folder):
    paths = find_images(mixed_folder)
    ds = ImageDataset(paths, DATA)
    items = [ds[i] for i in range(len(ds))]
    broken = {p.name for (_, x), p in zip(items, paths) if isinstance(x, Failure)}
    assert broken == {"d_truncated.jpg", "e_random.jpeg", "f_empty.jpg"}
    assert "truncated" in items[2][1].error.lower()
    batch = collate_skip_failed(items)
    assert batch.indices.tolist() == [0, 1, 5]
    assert batch.images.shape == (3, 32, 32, 3) and batch.images.dtype == torch.uint8
    assert [f.index for f in batch.failed] == [2, 3, 4]


def test_loader_with_workers_reports_every_image_once(mixed_folder):
    paths = find_images(mixed_folder)
    seen, failed = [], []
    for batch in make_loader(paths, DATA, batch_size=4, num_workers=2):
        seen += batch.indices.tolist()
        failed += [f.index for f in batch.failed]
    assert sorted(seen) == [0, 1, 5] and sorted(failed) == [2, 3, 4]


def test_an_all_broken_batch_is_empty_not_an_error(mixed_folder):
    ds = ImageDataset([mixed_folder / "f_empty.jpg"], DATA)
    batch = collate_skip_failed([ds[0]])
    assert batch.indices.numel() == 0 and len(batch.failed) == 1


def test_resize_modes_and_hflip(mixed_folder):
    path = mixed_folder / "a_good.jpg"  # 64x48 horizontal gradient in red
    squash = load_image(path, DATA)
    assert squash.shape == (32, 32, 3)
    assert squash[16, 0, 0] < 20 and squash[16, -1, 0] > 235  # whole width kept
    crop = load_image(path, DataConfig(**{**DATA.to_dict(), "resize": "crop", "crop_pct": 1.0}))
    assert crop.shape == (32, 32, 3)
    # sides cut: short side 48 -> 32 makes the frame 43 wide; the crop starts 5 columns in, i.e. original x ~7.7
    # of 63, red ~31/255
    assert 25 < crop[16, 0, 0] < 40
    flipped = load_image(path, DATA, view="hflip")
    np.testing.assert_array_equal(flipped, squash[:, ::-1])
    with pytest.raises(ValueError, match="unknown view"):
        load_image(path, DATA, view="rot90")


def test_reduced_size_decoding_matches_a_full_decode(tmp_path):
    path = tmp_path / "big.jpg"
    gradient_image(2048, 1536).save(path, quality=90)
    fast = load_image(path, DATA).astype(np.float32)
    with Image.open(path) as im:  # reference: full decode, then the same resize
        slow = np.asarray(im.convert("RGB").resize((32, 32), Image.BILINEAR)).astype(np.float32)
    assert np.abs(fast - slow).mean() < 2.0


def test_to_model_input_normalises_into_channels_last():
    images = torch.zeros(2, 4, 4, 3, dtype=torch.uint8)
    images[1] = 255
    x = to_model_input(images, DATA)
    assert x.shape == (2, 3, 4, 4) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert x[0].unique().tolist() == [-1.0] and x[1].unique().tolist() == [1.0]


def test_data_config_rejects_bad_values():
    with pytest.raises(ValueError, match="resize"):
        DataConfig(img_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, resize="stretch")
    with pytest.raises(ValueError, match="std"):
        DataConfig(img_size=32, mean=(0.5,) * 3, std=(0.0, 0.5, 0.5))


def test_forward_in_loader_processes_equals_forward_here(mixed_folder):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    paths = find_images(mixed_folder)
    runs = {}
    for name, workers, in_workers in (("here", 0, False), ("decoders", 2, False), ("in_workers", 2, True)):
        outs, failed = [], []
        for indices, out, fails in forward_batches(model, paths, DATA, batch_size=2, num_workers=workers,
                                                   in_workers=in_workers):
            assert out is None or out.shape == (len(indices), 4)
            outs += list(zip(indices.tolist(), out.numpy() if out is not None else []))
            failed += [f.index for f in fails]
        runs[name] = (outs, failed)
    here_outs, here_failed = runs["here"]
    assert [i for i, _ in here_outs] == [0, 1, 5] and here_failed == [2, 3, 4]  # in order, every image once
    for name in ("decoders", "in_workers"):
        outs, failed = runs[name]
        assert failed == here_failed and [i for i, _ in outs] == [0, 1, 5]
        np.testing.assert_allclose(np.stack([o for _, o in outs]), np.stack([o for _, o in here_outs]), atol=1e-5)


def test_forward_in_loader_processes_is_cpu_only(mixed_folder):
    with pytest.raises(ValueError, match="only on the CPU"):
        next(forward_batches(torch.nn.Identity(), find_images(mixed_folder), DATA, device="meta", in_workers=True))
