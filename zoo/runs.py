"""Run directories: every result sits next to the config, versions and seeds that made it.

Torch-free on purpose: `occupancy` uses this module and must not import torch.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import random
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np

log = logging.getLogger(__name__)

TRACKED_PACKAGES = (
    "camtrap-zoo", "torch", "torchvision", "timm", "albumentations", "pandas", "numpy",
    "scikit-learn", "pymc", "pytensor", "arviz", "hydra-core", "omegaconf", "pyarrow", "pillow",
)


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A killed process never leaves a half-written result under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def write_table(path: str | os.PathLike, df) -> Path:
    """Write a DataFrame as CSV or Parquet (chosen by suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and (if already imported) torch."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def default_run_dir(kind: str) -> Path:
    return Path("runs") / kind / datetime.now().strftime("%Y%m%d-%H%M%S")


def prepare_run_dir(run_dir: str | os.PathLike, cfg: Any = None, inputs: dict[str, str] | None = None) -> Path:
    """Create `run_dir` and record what makes the run reproducible.

    Writes `config.yaml` (the resolved config, when given), `versions.json` (package versions)
    and `inputs.json` (sha256 of the named input files).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg is not None:
        from omegaconf import OmegaConf

        write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    write_json(run_dir / "versions.json", package_versions())
    if inputs:
        hashes = {name: {"path": str(p), "sha256": file_sha256(p)} for name, p in inputs.items() if Path(p).is_file()}
        write_json(run_dir / "inputs.json", hashes)
    return run_dir


def add_file_logging(run_dir: str | os.PathLike, name: str = "log.txt") -> logging.Handler:
    """Mirror log records into the run directory so a run's story stays with its results."""
    handler = logging.FileHandler(Path(run_dir) / name, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler
