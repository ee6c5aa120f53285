"""Model configs (configs/model/*.yaml): validate the keys, build the model, resolve its preprocessing."""
from __future__ import annotations

import difflib
from typing import Any, Mapping

from torch import nn

from zoo.models.data_config import DataConfig, resolve_data_config
from zoo.models.factory import create_model
from zoo.models.sources import DEFAULT_ORDER

MODEL_CFG_KEYS = {
    "name": None,  # timm architecture name, e.g. tf_efficientnet_lite0
    "pretrained": False,
    "checkpoint_path": None,
    "weight_sources": list(DEFAULT_ORDER),
    "img_size": None,  # null: the model's pretrained default
    "mean": None,
    "std": None,
    "interpolation": None,
    "resize": None,
    "crop_pct": None,
    "test_img_size": None,  # null: evaluate and predict at img_size
    "model_kwargs": {},  # passed to timm.create_model, e.g. drop_rate, drop_path_rate
}


def to_dict(cfg: Any) -> dict:
    if cfg is None:
        return {}
    if not isinstance(cfg, Mapping):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True)
    return dict(cfg)


def validate_model_cfg(cfg: Any) -> dict:
    """Model config as a plain dict with defaults filled in; a misspelt key is an error that suggests the right one."""
    cfg = to_dict(cfg)
    for key in cfg:
        if key not in MODEL_CFG_KEYS:
            near = difflib.get_close_matches(key, MODEL_CFG_KEYS, n=1)
            raise ValueError(f"unknown model config key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                             + f"; known keys: {sorted(MODEL_CFG_KEYS)}")
    if not cfg.get("name"):
        raise ValueError("model config needs a `name` (a timm architecture, e.g. tf_efficientnet_lite0)")
    full = {k: (v.copy() if isinstance(v, (list, dict)) else v) for k, v in MODEL_CFG_KEYS.items()}
    full.update(cfg)
    full["model_kwargs"] = dict(full["model_kwargs"] or {})
    return full


def build_model(cfg: Any, num_classes: int | None = None, pretrained: bool | None = None) -> tuple[nn.Module, DataConfig]:
    """Model and its preprocessing from a model config; `pretrained` overrides the config's flag."""
    cfg = validate_model_cfg(cfg)
    model = create_model(cfg["name"], pretrained=cfg["pretrained"] if pretrained is None else pretrained,
                         num_classes=num_classes, checkpoint_path=cfg["checkpoint_path"],
                         weight_sources=tuple(cfg["weight_sources"]), **cfg["model_kwargs"])
    return model, resolve_data_config(model, cfg)


def checkpoint_model_cfg(cfg: Any, data: DataConfig) -> dict:
    """The `model_cfg` a run checkpoint stores: what `zoo.predict` needs to rebuild the model and its input."""
    cfg = validate_model_cfg(cfg)
    return {"name": cfg["name"], "model_kwargs": cfg["model_kwargs"], **data.to_dict()}
