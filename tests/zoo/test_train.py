"""zoo.train on a tiny synthetic study: outputs, determinism and exact resume."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from camtrap_files import make_jpeg
from core.paths import CONFIG_DIR
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
    labelled = pd.read_parquet(run_dir / "records.parquet").query("split != ''")
    assert metrics["inference"]["images"] == len(labelled) and metrics["inference"]["images_per_s"] > 0
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


def test_leaving_the_training_photos_out_of_the_final_predictions_changes_no_metric(photos, tmp_path):
    run_dir = run(tiny_config(photos, tmp_path / "r"))
    everything = pd.read_csv(run_dir / "predictions_images.csv")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(everything["split"]) == {"train", "valid"}
    run(tiny_config(photos, tmp_path / "r", "resume=true", "train.predict_train=false"))  # a free key on resume
    evaluated = pd.read_csv(run_dir / "predictions_images.csv")
    assert set(evaluated["split"]) == {"valid"}
    assert set(pd.read_csv(run_dir / "predictions_sequences.csv")["split"]) == {"valid"}
    valid = everything[everything["split"] == "valid"].reset_index(drop=True)
    assert valid["media_id"].tolist() == evaluated["media_id"].tolist()
    probs = [c for c in valid.columns if c.startswith("p_")]
    # the same photos in other batches: float32 sums in another order, nothing more
    np.testing.assert_allclose(evaluated[probs].to_numpy(), valid[probs].to_numpy(), atol=1e-5)
    top2 = np.sort(valid[probs].to_numpy(), axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4  # a near tie of an untrained model may flip: not a difference
    assert clear.any() and valid["pred"][clear].equals(evaluated["pred"][clear])
    again = json.loads((run_dir / "metrics.json").read_text())
    assert again["inference"]["images"] == len(valid) < metrics["inference"]["images"]
    assert again["valid"]["image"]["nll"] == pytest.approx(metrics["valid"]["image"]["nll"], abs=1e-5)


class Started(Exception):
    """Raised in place of loading the data: the run got past its checks."""


def started(*args, **kwargs):
    raise Started


def test_resume_refuses_a_changed_seed_and_an_unknown_run_dir(photos, tmp_path, monkeypatch):
    kill_in_epoch_two(monkeypatch, tiny_config(photos, tmp_path / "c"))
    saved = (tmp_path / "c" / "config.yaml").read_text()
    with pytest.raises(ValueError, match=r"was trained with seed=0 \(now 1\), train.lr=0.003 \(now 0.01\);"):
        run(tiny_config(photos, tmp_path / "c", "resume=true", "seed=1", "train.lr=0.01"))
    assert (tmp_path / "c" / "config.yaml").read_text() == saved  # still the config of the weights
    with pytest.raises(FileNotFoundError, match="unknown run directory"):
        run(tiny_config(photos, tmp_path / "typo", "resume=true"))
    assert not (tmp_path / "typo").exists()
    # keys that do not change the result may change; resume=auto continues a run or starts one
    resumed = run(tiny_config(photos, tmp_path / "c", "resume=auto", "threads=2", "train.eval_batch_size=8"))
    assert torch.load(resumed / "checkpoints" / "last.pt", weights_only=False)["epoch"] == 2
    monkeypatch.setattr("zoo.train.load_study", started)
    with pytest.raises(Started):
        run(tiny_config(photos, tmp_path / "new", "resume=auto"))
    assert (tmp_path / "new" / "config.yaml").is_file()


@pytest.mark.parametrize("override, message", [
    ("train.epochs=0", "train.epochs=0 is not allowed: expected an integer >= 1"),
    ("train.batch_size=0", "train.batch_size=0 is not allowed: expected an integer >= 1"),
    ("train.frozen_epochs=3", "train.frozen_epochs=3 is not allowed: expected an integer in [0, train.epochs=2]"),
    ("train.lr=0", "train.lr=0.0 is not allowed: expected a number > 0"),
    ("train.max_batches_per_epoch=0", "train.max_batches_per_epoch=0 is not allowed: expected null or an integer >= 1"),
    ("device=cuda", "device=cuda is not allowed: expected one of auto, cpu (torch sees no GPU here)"),
    ("threads=0", "threads=0 is not allowed"),
    ("seed=-1", "seed=-1 is not allowed"),
    ("resume=yes", "resume=yes is not allowed: expected one of false, true, auto"),
    ("model.img_size=0", "model.img_size=0 is not allowed"),
])
def test_impossible_values_fail_before_data_or_model_load(photos, tmp_path, monkeypatch, override, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("zoo.train.load_study", lambda *a, **k: pytest.fail("the data was loaded"))
    monkeypatch.setattr("zoo.train.build_model", lambda *a, **k: pytest.fail("the model was built"))
    with pytest.raises(ValueError) as err:
        run(tiny_config(photos, tmp_path / "r", override))
    assert str(err.value) == message or str(err.value).startswith(message)
    assert not (tmp_path / "r").exists()


def test_the_command_prints_one_line_for_a_user_error(tmp_path, monkeypatch, capsys):
    from hydra.core.global_hydra import GlobalHydra

    from zoo.train import main

    for argv in (["train.epochs=0"], ["train.epochz=1"]):  # a value, then a misspelt key (Hydra's error)
        monkeypatch.setattr(sys, "argv", ["zoo.train", f"run_dir={tmp_path / 'r'}", *argv])
        with pytest.raises(SystemExit) as stop:
            main()
        GlobalHydra.instance().clear()
        err = capsys.readouterr().err.strip()
        assert stop.value.code == 2 and err.count("\n") == 0 and err.startswith("zoo.train: error: "), err
    assert "epochz" in err
    monkeypatch.setattr(sys, "argv", ["zoo.train", f"run_dir={tmp_path / 'r'}", "train.epochs=0", "--debug"])
    with pytest.raises(ValueError, match="train.epochs=0"):
        main()
    GlobalHydra.instance().clear()


def old_learning_rates(recipe, frozen, epoch, i, steps):
    """zoo.train's hand-written warm-up + cosine schedule before timm's scheduler replaced it."""
    import math

    stage_start = 0 if frozen else recipe.frozen_epochs
    stage_epochs = recipe.frozen_epochs if frozen else recipe.epochs - recipe.frozen_epochs
    progress = (epoch - stage_start + i / max(steps, 1)) / max(stage_epochs, 1)
    warm = recipe.warmup_epochs / max(stage_epochs, 1)
    factor = progress / warm if progress < warm else 0.5 * (1 + math.cos(math.pi * (progress - warm) / max(1 - warm, 1e-8)))
    backbone_lr, head_lr = (0.0, recipe.lr) if frozen else (recipe.backbone_lr, recipe.finetune_lr)
    return backbone_lr * factor, head_lr * factor


@pytest.mark.parametrize("epochs, frozen_epochs, warmup", [(8, 1, 0.5), (8, 1, 0.0), (5, 2, 1.5), (3, 0, 4.0)])
def test_timm_schedule_gives_the_old_learning_rates(epochs, frozen_epochs, warmup):
    from types import SimpleNamespace

    from zoo.train import stage_scheduler

    recipe = SimpleNamespace(epochs=epochs, frozen_epochs=frozen_epochs, warmup_epochs=warmup, lr=3e-3,
                             finetune_lr=2e-3, backbone_lr=5e-4)
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.AdamW([{"params": params[:1], "lr": 0.0}, {"params": params[1:], "lr": 3e-3}])
    steps = 7
    for epoch in range(epochs):
        frozen = epoch < frozen_epochs
        stage_start = 0 if frozen else frozen_epochs
        scheduler = stage_scheduler(optimizer, recipe, frozen)
        for i in range(steps):
            scheduler.step_update(num_updates=epoch - stage_start + i / steps)
            got = [g["lr"] for g in optimizer.param_groups]
            np.testing.assert_allclose(got, old_learning_rates(recipe, frozen, epoch, i, steps), rtol=1e-12, atol=1e-18)


@pytest.fixture(scope="module")
def sites_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("sites") / "sites.csv"
    path.write_text("site,lat,lon\n1.1,46.60,5.90\n2.1,46.30,5.70\n")
    return path


def test_prior_is_fitted_by_train_and_applied_by_predict(photos, sites_csv, tmp_path, caplog):
    """`zoo.train head.prior.enabled=true` then `zoo.predict` on that run: both apply the prior and say so."""
    import pandas as pd

    from zoo.predict import predict

    caplog.set_level("INFO")  # what the commands log (Hydra sets INFO)
    tiny_prior = ("head.prior.enabled=true", "head.prior.epochs=3", "head.prior.hidden=8", "head.prior.holdout_days=0")
    with_prior = run(tiny_config(photos, tmp_path / "prior", f"data.sites={sites_csv}", *tiny_prior))
    without = run(tiny_config(photos, tmp_path / "plain", f"data.sites={sites_csv}"))
    metrics = json.loads((with_prior / "metrics.json").read_text())
    assert metrics["head"]["prior"]["ran"] and metrics["head"]["prior"]["sites"] == 2
    assert json.loads((with_prior / "head.json").read_text()) == metrics["head"]
    assert "head (saved in" in (with_prior / "log.txt").read_text() and "prior product" in (with_prior / "log.txt").read_text()
    assert not json.loads((without / "metrics.json").read_text())["head"]["prior"]["ran"]

    outputs = {}
    for name, run_dir in (("prior", with_prior), ("plain", without)):
        out = tmp_path / name / "pred" / "p.csv"
        predict(run_dir, photos, out, num_workers=0, progress=False, batch_size=8)
        outputs[name] = pd.read_csv(out).set_index("media_id")
        provenance = json.loads(out.with_name("p_provenance.json").read_text())
        assert provenance["head"]["prior"]["ran"] == (name == "prior")
        assert (f"head: prior product" in caplog.text) == (name == "prior")
        caplog.clear()
    cols = [c for c in outputs["prior"].columns if c.startswith("p_")]
    # predict's photos (a folder: coordinates from the prior's sites) get what train gave the same photos
    trained = pd.read_csv(with_prior / "predictions_images.csv")
    trained["media_id"] = [str(Path(p).relative_to(photos)) for p in trained["path"]]
    trained = trained.set_index("media_id").loc[outputs["prior"].index]
    np.testing.assert_allclose(outputs["prior"][cols].to_numpy(), trained[cols].to_numpy(), atol=1e-5)
    assert not np.allclose(outputs["prior"][cols].to_numpy(), outputs["plain"][cols].to_numpy(), atol=1e-3)


def test_attention_pooling_runs_end_to_end(photos, tmp_path):
    from zoo.predict import predict

    run_dir = run(tiny_config(photos, tmp_path / "att", "head.pooling.kind=attention"))
    head = json.loads((run_dir / "metrics.json").read_text())["head"]
    assert head["pooling"] == {"ran": True, "kind": "attention", "empty_class": None, "fitted": True}
    _, sequences, _ = predict(run_dir, photos, tmp_path / "p.csv", num_workers=0, progress=False)
    p = sequences[[c for c in sequences.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    assert json.loads((tmp_path / "p_provenance.json").read_text())["pooling"] == "attention"


def test_a_class_only_in_validation_does_not_crash_calibration(photos, tmp_path, monkeypatch):
    """The case `_classes` warns about: a label in valid/test but not in train (was a NaN cast to int at the end)."""
    import zoo.train as train_module

    real = train_module.readable_records

    def one_valid_photo_relabelled(records):
        records = real(records)
        first_valid = records.index[records["split"] == "valid"][0]
        records.loc[first_valid, "label"] = "blaireau"
        return records

    monkeypatch.setattr(train_module, "readable_records", one_valid_photo_relabelled)
    run_dir = run(tiny_config(photos, tmp_path / "odd"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["temperature"] > 0 and metrics["valid"]["n_unknown_label"] == 1
    assert "blaireau" not in json.loads((run_dir / "classes.json").read_text())


def test_a_finished_run_refits_its_head_on_resume_not_its_weights(photos, sites_csv, tmp_path):
    first = run(tiny_config(photos, tmp_path / "r", f"data.sites={sites_csv}"))
    weights = torch.load(first / "checkpoints" / "last.pt", weights_only=False)["model"]
    again = run(tiny_config(photos, tmp_path / "r", f"data.sites={sites_csv}", "resume=true",
                            "head.prior.enabled=true", "head.prior.epochs=2", "head.prior.holdout_days=0",
                            "head.pooling.kind=max_conf"))
    best = torch.load(again / "checkpoints" / "best.pt", weights_only=False)
    assert best["head"].components_["prior"]["ran"] and best["head"].pooling == "max_conf"
    assert all(torch.equal(weights[k], best["model"][k]) for k in weights)
    with pytest.raises(ValueError, match="holdout_days=7 of a valid/test photo"):  # every photo is on one day
        run(tiny_config(photos, tmp_path / "r", f"data.sites={sites_csv}", "resume=true", "head.prior.enabled=true"))
    with pytest.raises(ValueError, match="head.smoothing.kind=none"):
        run(tiny_config(photos, tmp_path / "r", f"data.sites={sites_csv}", "resume=true", "head.smoothing.kind=uniform"))


def test_an_empty_valid_split_fails_before_the_model_loads(photos, tmp_path, monkeypatch):
    """A study too small for a valid split ended after all epochs with 'no such file best.pt'."""
    monkeypatch.setattr("zoo.train.build_model", lambda *a, **k: pytest.fail("the model was built"))
    with pytest.raises(ValueError, match="the valid split holds no labelled photo"):
        run(tiny_config(photos, tmp_path / "r", "data.split.valid=0.01"))


def test_the_default_recipe_yaml_is_the_dataclass_defaults():
    """The Python API (TrainConfig()) and `python -m zoo.train` start from the same recipe."""
    from omegaconf import OmegaConf

    from zoo.train import TrainConfig

    shipped = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "train" / "default.yaml"))
    assert shipped == OmegaConf.to_container(OmegaConf.structured(TrainConfig()))


def test_frozen_groups_keep_their_initial_weights_and_statistics_while_the_rest_learns(photos, tmp_path, monkeypatch):
    initial = {}
    original = Trainer.__init__

    def remembers_the_start(self, model, *args, **kwargs):
        initial.update({k: v.clone() for k, v in model.state_dict().items()})
        original(self, model, *args, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", remembers_the_start)
    run_dir = run(tiny_config(photos, tmp_path / "r", "train.frozen_groups=2"))
    trained = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)["model"]
    # groups 0 and 1 of test_efficientnet: the stem and blocks.0, weights and BatchNorm statistics
    for key in ("conv_stem.weight", "bn1.weight", "bn1.running_mean", "blocks.0.0.conv.weight",
                "blocks.0.0.bn1.running_var"):
        assert torch.equal(trained[key], initial[key]), key
    for key in ("blocks.1.0.conv_exp.weight", "blocks.1.0.bn1.running_mean", "blocks.4.0.conv_pw.weight"):
        assert not torch.equal(trained[key], initial[key]), key


def test_freezing_every_group_before_the_classifier_is_refused_by_name(photos, tmp_path):
    with pytest.raises(ValueError, match=r"train.frozen_groups=6 is too many for EfficientNet: it has 6 layer "
                                         r"groups before the classifier's, at most 5 can stay frozen"):
        run(tiny_config(photos, tmp_path / "r", "train.frozen_groups=6"))


@pytest.mark.parametrize("setting, expected", [("null", 0), ("1", 1)])
def test_training_loads_in_its_own_process_on_the_cpu_unless_told(photos, tmp_path, monkeypatch, setting, expected):
    seen = []
    original = Trainer._train_loader

    def records_workers(self):
        loader = original(self)
        seen.append(loader.num_workers)
        return loader

    monkeypatch.setattr(Trainer, "_train_loader", records_workers)
    run(tiny_config(photos, tmp_path / "r", f"train.num_workers={setting}", "train.epochs=1"))
    assert seen == [expected]
