"""The preprocessing a model expects (input size, normalisation, interpolation, how to fit the frame)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Optional

from torch import nn

# How a camera-trap frame is fitted into the square model input. 'squash' resizes the whole frame (animals
# at the frame's edges stay in view); 'crop' is timm's eval transform (resize the short side, centre crop).
RESIZE_MODES = ("squash", "crop")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")


@dataclass(frozen=True)
class DataConfig:
    img_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize: str = "squash"
    crop_pct: float = 0.875
    # evaluation and prediction size when it differs from the training size: random resized crops show
    # animals larger in training than whole frames do at test time (Touvron et al. 2019, "FixRes")
    test_img_size: Optional[int] = None

    def __post_init__(self):
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean/std need 3 values each, std > 0; got mean={self.mean}, std={self.std}")
        for name in ("img_size", "test_img_size"):
            size = getattr(self, name)
            if size is not None and not 8 <= int(size) <= 2048:
                raise ValueError(f"{name} out of range [8, 2048]: {size}")

    def for_inference(self) -> "DataConfig":
        """The preprocessing of final evaluation and prediction: `img_size` becomes `test_img_size` if set."""
        return self if self.test_img_size is None else replace(self, img_size=self.test_img_size, test_img_size=None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


def resolve_data_config(model: nn.Module | None = None, cfg: dict | None = None) -> DataConfig:
    """Model's pretrained preprocessing (timm's `resolve_data_config`), overridden by non-null keys of `cfg`.

    `cfg` may be a model config (configs/model/*.yaml) or a checkpoint's `model_cfg`; unrelated keys are ignored.
    """
    from timm.data import resolve_data_config as timm_resolve

    base = DataConfig(img_size=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    if model is not None:
        t = timm_resolve({}, model=model)
        base = replace(base, img_size=int(t["input_size"][-1]), mean=tuple(t["mean"]), std=tuple(t["std"]),
                       interpolation=t["interpolation"] or "bicubic", crop_pct=float(t["crop_pct"]))
    overrides = {k: v for k, v in (cfg or {}).items() if k in DataConfig.__dataclass_fields__ and v is not None}
    for key in ("mean", "std"):
        if key in overrides:
            overrides[key] = tuple(float(v) for v in overrides[key])
    for key in ("img_size", "test_img_size"):
        if key in overrides:
            overrides[key] = int(overrides[key])
    return replace(base, **overrides)
