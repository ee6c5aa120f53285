"""zoo.train on a tiny synthetic study: outputs, determinism and exact resume."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from camtrap_files import make_jpeg
from zoo.paths import CONFIG_DIR
from zoo.predict import load_run
from zoo.train import Trainer, class_weights, run

COLOURS = {"lynx": (200, 120, 40), "renard": (40, 160, 60), "humain": (60, 60, 200)}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """3 classes x 8 photos, in bursts of 2 (so sequences have 2 frames), at two sites."""
    root = tmp_path_factory.mktemp("photos")
    for label, colour in COLOURS.items():
        for i in range(8):  # photos 2k and 2k+1 are one burst, 20 s apart
            site = f"{(i // 2) % 2 + 1}.1"
            minute = 10 * (i // 2) + (0 if label == "lynx" else 3 if label == "renard" else 6)
            shade = tuple(max(0, min(255, c + 7 * i - 20)) for c in colour)
            make_jpeg(root / site / f"{label}_{i}.jpg", subject=[label], size=(40, 40), color=shade,
                      when=f"2017:05:01 10:{minute:02d}:{i % 2 * 20:02d}")
    return root


def tiny_config(photos, run_dir, *overrides):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=[
            f"data.path={photos}", "data.path_pattern=null", "data.sites=null", "data.constants={}",
            "data.split.kind=stratified", "data.split.valid=0.34", "data.split.file=null",
            "data.split.labels_from_file=false", "data.workers=1",
            "model.name=test_efficientnet", "model.pretrained=false", "model.img_size=32",
            "train.epochs=2", "train.frozen_epochs=1", "train.batch_size=4", "train.num_workers=0",
            "threads=1", f"run_dir={run_dir}", *overrides])


def kill_in_epoch_two(monkeypatch, cfg):
    """Run `cfg` until its second epoch starts, as if the process were killed there."""
    original = Trainer._train_epoch

    def dies_in_epoch_two(self, frozen):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return original(self, frozen)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_train_epoch", dies_in_epoch_two)
        with pytest.raises(KeyboardInterrupt):
            run(cfg)


def test_run_writes_everything(photos, tmp_path):
    run_dir = run(tiny_config(photos, tmp_path / "run"))
    for name in ("config.yaml", "versions.json", "classes.json", "metrics.json", "records.parquet", "taxonomy.csv",
                 "predictions_images.csv", "predictions_sequences.csv", "confusion_valid.png", "training_curves.png",
                 "checkpoints/best.pt", "checkpoints/last.pt", "log.txt"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for level in ("image", "sequence"):
        block = metrics["valid"][level]
        assert {"accuracy", "macro_f1", "top3_accuracy", "ece", "nll"} <= set(block)
        assert 0 <= block["accuracy"] <= 1
    assert json.loads((run_dir / "classes.json").read_text()) == ["humain", "lynx", "renard"]
    assert metrics["valid"]["sequence"]["n"] < metrics["valid"]["image"]["n"]
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=False)
    assert best["temperature"] == metrics["temperature"] > 0
    assert best["model_cfg"]["name"] == "test_efficientnet"


def test_same_seed_same_result_and_exact_resume(photos, tmp_path, monkeypatch):
    first = run(tiny_config(photos, tmp_path / "a"))
    second = run(tiny_config(photos, tmp_path / "b"))
    weights = [torch.load(d / "checkpoints" / "last.pt", weights_only=False)["model"] for d in (first, second)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])

    # kill a third run during its second epoch, then resume it
    kill_in_epoch_two(monkeypatch, tiny_config(photos, tmp_path / "c"))
    with pytest.raises(FileExistsError, match="resume=true"):
        run(tiny_config(photos, tmp_path / "c"))
    resumed = run(tiny_config(photos, tmp_path / "c", "resume=true"))
    final = torch.load(resumed / "checkpoints" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(weights[0][k], final[k]) for k in final)
    metrics = [json.loads((d / "metrics.json").read_text())["valid"]["image"] for d in (first, resumed)]
    assert metrics[0] == metrics[1]


def test_config_typo_fails_by_name(photos, tmp_path):
    with pytest.raises(Exception, match="frozen_epoch"):
        run(tiny_config(photos, tmp_path / "t", "+train.frozen_epoch=1"))


def test_weight_average_is_what_is_validated_saved_and_resumed(photos, tmp_path, monkeypatch):
    ema = "train.ema_decay=0.5"
    plain = torch.load(run(tiny_config(photos, tmp_path / "plain")) / "checkpoints" / "last.pt", weights_only=False)
    whole = torch.load(run(tiny_config(photos, tmp_path / "a", ema)) / "checkpoints" / "last.pt", weights_only=False)
    # same training trajectory: the raw weights are the plain run's, the saved inference weights their average
    assert all(torch.equal(plain["model"][k], whole["trained"][k]) for k in plain["model"])
    assert not torch.equal(whole["model"]["conv_stem.weight"], whole["trained"]["conv_stem.weight"])

    kill_in_epoch_two(monkeypatch, tiny_config(photos, tmp_path / "b", ema))
    with pytest.raises(ValueError, match="ema_decay"):
        run(tiny_config(photos, tmp_path / "b", "resume=true"))
    resumed = torch.load(run(tiny_config(photos, tmp_path / "b", ema, "resume=true")) / "checkpoints" / "last.pt",
                         weights_only=False)
    for key in ("model", "trained"):
        assert all(torch.equal(whole[key][k], resumed[key][k]) for k in whole[key])
    with pytest.raises(ValueError, match="ema_decay"):
        run(tiny_config(photos, tmp_path / "c", "train.ema_decay=1.5"))


def test_class_weights_follow_the_balance_power(photos, tmp_path):
    targets = np.repeat([0, 1, 3], [1, 4, 16])  # class 2 has no photo
    inverse = class_weights(targets, 4, power=1.0)
    np.testing.assert_allclose(inverse, np.array([1, 1 / 4, 0, 1 / 16]) * 3 / (1 + 1 / 4 + 1 / 16))
    np.testing.assert_allclose(class_weights(targets, 4, power=0.5),
                               np.array([1, 1 / 2, 0, 1 / 4]) * 3 / (1 + 1 / 2 + 1 / 4))
    with pytest.raises(ValueError, match="balance_power"):
        run(tiny_config(photos, tmp_path / "p", "train.balance=loss", "train.balance_power=0"))


def test_batch_mixing_changes_training_and_resumes_exactly(photos, tmp_path, monkeypatch):
    mixing = ("train.augment.mixup_alpha=0.4", "train.augment.cutmix_alpha=1.0")
    plain = torch.load(run(tiny_config(photos, tmp_path / "plain")) / "checkpoints" / "last.pt", weights_only=False)
    whole = torch.load(run(tiny_config(photos, tmp_path / "a", *mixing)) / "checkpoints" / "last.pt",
                       weights_only=False)
    assert not torch.equal(plain["model"]["conv_stem.weight"], whole["model"]["conv_stem.weight"])
    kill_in_epoch_two(monkeypatch, tiny_config(photos, tmp_path / "b", *mixing))
    resumed = torch.load(run(tiny_config(photos, tmp_path / "b", *mixing, "resume=true")) / "checkpoints" / "last.pt",
                         weights_only=False)
    assert all(torch.equal(whole["model"][k], resumed["model"][k]) for k in whole["model"])
    with pytest.raises(ValueError, match="mix_prob"):
        run(tiny_config(photos, tmp_path / "c", "train.augment.mix_prob=1.5"))


def test_test_img_size_changes_evaluation_not_training(photos, tmp_path):
    plain = run(tiny_config(photos, tmp_path / "plain"))
    sized = run(tiny_config(photos, tmp_path / "sized", "model.test_img_size=48"))
    checkpoints = [torch.load(d / "checkpoints" / "last.pt", weights_only=False) for d in (plain, sized)]
    assert all(torch.equal(checkpoints[0]["model"][k], checkpoints[1]["model"][k]) for k in checkpoints[0]["model"])
    losses = [[(h["train_loss"], h["valid_loss"]) for h in c["history"]] for c in checkpoints]
    assert losses[0] == losses[1]  # epochs are validated, hence selected, at the training size
    metrics = [json.loads((d / "metrics.json").read_text())["valid"]["image"] for d in (plain, sized)]
    assert metrics[0]["nll"] != metrics[1]["nll"]
    assert load_run(plain)[1].img_size == 32
    assert load_run(sized)[1].img_size == 48  # zoo.predict uses the test size

    # a finished run re-evaluated at the test size gives what a run trained with it gives
    again = run(tiny_config(photos, tmp_path / "plain", "model.test_img_size=48", "resume=true"))
    assert json.loads((again / "metrics.json").read_text())["valid"]["image"] == metrics[1]
