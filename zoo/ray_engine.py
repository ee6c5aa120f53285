"""Batch prediction on Ray Data (`python -m zoo.predict ... engine=ray`; `pip install -e .[ray]`).

`forward_batches_on_ray` is a drop-in for `zoo.images.forward_batches`: it yields the same (positions, logits or
None, failures) for each batch of the input, but the batches are computed by a pool of Ray Data actors. Each actor
receives the model once, through Ray's object store (a torch module, or an ONNX model's bytes, so workers need the
images but not the run directory), and decodes and classifies a batch with `forward_batches` itself. zoo.predict's
`label_images` consumes it like the local loop, so the part files, their resumption and the final tables are the
local path's own code.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import pickle
import socket
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from zoo.images import forward_batches

INSTALL_HINT = "pip install -e .[ray]"


def installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def require(engine: str) -> None:
    """Fail in one line, before anything loads, when engine=ray is asked for without Ray."""
    if engine == "ray" and not installed():
        raise ValueError(f"engine=ray needs Ray, which is not installed here: {INSTALL_HINT}")


def ray_batches(opts) -> Callable:
    """`forward_batches` run on Ray with zoo.predict's ray_* options (same signature: zoo.predict swaps one for
    the other)."""
    return functools.partial(forward_batches_on_ray, address=opts.ray_address, workers=opts.ray_workers,
                             worker_cpus=opts.ray_worker_cpus, worker_gpus=opts.ray_worker_gpus)


def forward_batches_on_ray(forward: Callable, paths: Sequence[str | os.PathLike], data, view: str = "orig",
                           batch_size: int = 32, batches: Sequence[Sequence[int]] | None = None, num_workers=None,
                           device=None, in_workers=None, boxes: Sequence[Sequence[float]] | None = None, *,
                           address: str | None = None, workers: int = 2, worker_cpus: int = 1,
                           worker_gpus: float = 0) -> Iterator[tuple]:
    """(positions, logits or None, failures) of each batch, in the order the workers finish them.

    The local loader's settings (num_workers, device, in_workers) do not apply: each of `workers` actors decodes
    and classifies whole batches with `worker_cpus` torch threads, on a GPU when `worker_gpus` > 0.
    """
    import ray

    if batches is None:
        batches = [range(i, min(i + batch_size, len(paths))) for i in range(0, len(paths), batch_size)]
    opened = connect(address, workers * worker_cpus)
    try:
        with quiet_progress(ray):  # before the dataset exists: it keeps the settings it was made with
            rows = [batch_row(b, paths, boxes) for b in batches]
            # one block per batch: results reach the driver (and its part files) as each batch finishes
            results = ray.data.from_items(rows, override_num_blocks=max(1, len(rows))).map_batches(
                ClassifyBatches, batch_size=1, batch_format="numpy",
                fn_constructor_kwargs={"model": portable(forward), "data": data, "view": view,
                                       "threads": worker_cpus, "device": "cuda" if worker_gpus else "cpu"},
                compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=worker_cpus, num_gpus=worker_gpus)
            for block in results.iter_batches(batch_size=None, batch_format="numpy"):
                for result in block["result"]:
                    yield pickle.loads(result)  # written by ClassifyBatches below
    finally:
        if opened:
            ray.shutdown()


def batch_row(batch: Sequence[int], paths: Sequence, boxes: Sequence | None) -> dict[str, list]:
    """One batch of the input as a row of the Ray dataset (positions, paths and, for crops, boxes)."""
    row = {"position": [int(i) for i in batch], "path": [str(paths[i]) for i in batch]}
    if boxes is not None:
        row["box"] = [[float(x) for x in boxes[i]] for i in batch]
    return row


def connect(address: str | None, cpus: int) -> bool:
    """Join the cluster at `address` (or $RAY_ADDRESS), else start one on this machine with `cpus` CPUs.

    True when this call opened the connection (and so closes it after); a session already open is used as it is.
    """
    import ray

    if ray.is_initialized():
        return False
    if address is None and not os.environ.get("RAY_ADDRESS"):
        ray.init(num_cpus=cpus, include_dashboard=False)
        return True
    given = address or os.environ["RAY_ADDRESS"]
    check_listening(given)
    try:
        ray.init(address=address)
    except ConnectionError as err:  # e.g. a missing auth token: the user's to fix, in one line
        cause = str(err.__cause__ or "").split(". ")[0]
        raise ValueError(f"engine=ray: cannot join the Ray cluster at {given}: {err}"
                         f"{f' ({cause})' if cause else ''}; see docs/scaling.md") from err
    return True


def check_listening(address: str, timeout_s: float = 5.0) -> None:
    """HOST:PORT or ray://HOST:PORT must answer: Ray itself waits many minutes for a cluster that is not there."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # `auto`, or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise ValueError(f"engine=ray: nothing answers at {address} ({err}); start the cluster with "
                         f"`ray start --head` or give ray_address=null for a local one") from err


@contextlib.contextmanager
def quiet_progress(ray):
    """zoo.predict draws its own progress bar; Ray Data's bars would interleave with it."""
    context = ray.data.DataContext.get_current()
    before, context.enable_progress_bars = context.enable_progress_bars, False
    try:
        yield
    finally:
        context.enable_progress_bars = before


# --- the model on its way to the workers ----------------------------------------------------------

def portable(forward: Any) -> tuple[Any, bytes | None]:
    """The forward pass as a worker can rebuild it: a torch module on the CPU; an ONNX forward (which points at
    a file on this machine) with its file's bytes."""
    if isinstance(forward, torch.nn.Module):
        return forward.to("cpu"), None
    path = getattr(forward, "path", None)
    return forward, (Path(path).read_bytes() if path is not None else None)


def rebuild(shipped: tuple[Any, bytes | None], device: str, folder: str) -> Any:
    """The worker's forward pass; an ONNX model is written into `folder` (the worker's own) and read from there."""
    forward, onnx_bytes = shipped
    if isinstance(forward, torch.nn.Module):
        return forward.to(device).eval()
    if onnx_bytes is not None:
        forward.path = Path(folder) / "model.onnx"
        forward.path.write_bytes(onnx_bytes)
    return forward


class ClassifyBatches:
    """A Ray Data actor: the model, received once; each input row (one batch of the input) -> its result."""

    def __init__(self, model: tuple, data, view: str, threads: int, device: str):
        torch.set_num_threads(threads)
        self.folder = tempfile.TemporaryDirectory(prefix="zoo-ray-")  # removed with the actor
        self.forward = rebuild(model, device, self.folder.name)
        self.data, self.view, self.device = data, view, device

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        boxes = rows["box"] if "box" in rows else [None] * len(rows["path"])
        results = [pickle.dumps(self.classify([int(i) for i in p], [str(f) for f in f], b))
                   for p, f, b in zip(rows["position"], rows["path"], boxes)]
        return {"result": np.array(results, dtype=object)}

    def classify(self, positions: list[int], paths: list[str], boxes) -> tuple:
        """The batch through the local path's loop, in this process; positions mapped back to the whole input."""
        crops = {} if boxes is None else {"boxes": [[float(x) for x in box] for box in boxes]}
        (indices, logits, failed), = forward_batches(self.forward, paths, self.data, self.view,
                                                     batches=[range(len(paths))], num_workers=0, device=self.device,
                                                     in_workers=False, **crops)
        for failure in failed:
            failure.index = positions[failure.index]
        positions = torch.tensor(positions, dtype=torch.long)
        return positions[indices], (logits.float() if logits is not None else None), failed
