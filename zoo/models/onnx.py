"""Optional ONNX Runtime backend for CPU inference (`pip install onnxruntime onnx`).

On a 2-core laptop CPU, ONNX Runtime runs EfficientNet-Lite's depthwise convolutions about twice as fast as
PyTorch eager (bench/inference_speed.py). `OnnxForward(model, img_size)` exports the model once (dynamic batch)
and is then called like it: float NCHW tensor in, logits (or pooled features) tensor out.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn


class _Features(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


class OnnxForward:
    """The model's forward pass (`output="logits"`) or pooled features (`"features"`) in ONNX Runtime."""

    # its threads scale well: by default zoo.images.forward_batches runs it here, beside decoding workers
    # (faster than one session in every loader process, bench/inference_speed.py)
    in_loader_processes = False

    def __init__(self, model: nn.Module, img_size: int, output: str = "logits", threads: int | None = None,
                 path: str | Path | None = None):
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise ImportError("backend=onnx needs `pip install onnxruntime onnx`") from exc
        if output not in ("logits", "features"):
            raise ValueError(f"output must be 'logits' or 'features', got {output!r}")
        module = (model if output == "logits" else _Features(model)).eval()
        self._tmp = None
        if path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="zoo-onnx-")
            path = Path(self._tmp.name) / "model.onnx"
        self.path, self.threads = export_onnx(module, img_size, path), threads
        self._session, self._pid = None, None

    @property
    def session(self):
        """This process's session (opened on first use: a loader process opens its own, with its one thread)."""
        if self._session is None or self._pid != os.getpid():
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads or torch.get_num_threads()
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            self._pid = os.getpid()
        return self._session

    def __getstate__(self):  # sent to spawned loader processes: the file, not the session
        return {**self.__dict__, "_session": None, "_pid": None, "_tmp": None}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {"x": x})[0])


def export_onnx(module: nn.Module, img_size: int, path: str | Path) -> Path:
    """Export with a dynamic batch axis (TorchScript exporter: no onnxscript needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, 3, img_size, img_size)
    module = module.to("cpu", memory_format=torch.contiguous_format)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False)
    return path


METADATA_KEY = "camtrap_zoo"  # one metadata_props entry: JSON with classes, preprocessing, temperature, pooling


def write_metadata(path: str | Path, metadata: dict) -> Path:
    """Store the model's metadata (JSON) in the ONNX file's metadata_props, so the file alone can predict."""
    import json

    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata, sort_keys=True)
    onnx.save(proto, str(path))
    return Path(path)


def read_metadata(path: str | Path) -> dict:
    """The metadata `zoo.export` wrote; a clear error for an ONNX file that is not one of ours."""
    import json

    import onnxruntime as ort

    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise ValueError(f"{path} has no {METADATA_KEY!r} metadata: export it with python -m zoo.export run_dir=RUN out=FILE.onnx")
    return json.loads(meta[METADATA_KEY])


class OnnxFile(OnnxForward):
    """A self-contained model file from `zoo.export`: its forward pass, read without torch weights or a run."""

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path, self.threads, self._tmp = Path(path), threads, None
        self._session, self._pid = None, None
        self.metadata = read_metadata(self.path)
