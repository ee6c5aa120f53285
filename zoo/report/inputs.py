"""Reading run directories: classifier runs (metrics.json + checkpoints) and occupancy fits (summary.csv)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf


@dataclass
class Run:
    """A classifier run: `zoo.train`'s outputs."""

    path: Path
    name: str
    metrics: dict
    config: DictConfig
    history: pd.DataFrame | None = None

    @property
    def splits(self) -> list[str]:
        return [s for s in ("valid", "test") if s in self.metrics]


@dataclass
class Fit:
    """An occupancy fit: `occupancy.fit`'s outputs."""

    path: Path
    name: str
    summary: pd.DataFrame
    config: DictConfig
    diagnostics: dict = field(default_factory=dict)

    @property
    def labels(self) -> str:
        return str(OmegaConf.select(self.config, "labels.mode", default="?"))

    @property
    def classifier(self) -> str:
        """Whose labels the fit reads: human labels only, an emulated zoo run, or the study's classifier column."""
        if self.labels == "ground_truth":
            return "human labels"
        if self.emulated_from:
            return f"emulated: {Path(self.emulated_from).name}"
        return f"study column {OmegaConf.select(self.config, 'study.classifier_column', default='?')}"

    @property
    def emulated_from(self) -> str | None:
        """The classifier run (or confusion table) whose mistakes this fit's labels emulate (occupancy.emulate)."""
        source = OmegaConf.select(self.config, "labels.emulate_from", default=None)
        return str(source) if source else None


def find_runs(root: Path) -> tuple[list[Path], list[Path]]:
    """Training runs (metrics.json + checkpoints) and occupancy fits (summary.csv) below `root`."""
    runs = sorted(p.parent for p in root.rglob("metrics.json") if (p.parent / "checkpoints").is_dir())
    fits = sorted(p.parent for p in root.rglob("summary.csv") if (p.parent / "posterior.nc").is_file())
    return runs, fits


def short_names(paths: list[Path]) -> list[str]:
    """Short names for run directories: the folder name, with as many parents as it takes to tell them apart."""
    depth = 1
    while depth < max((len(p.parts) for p in paths), default=1):
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names):
            return names
        depth += 1
    return [str(p) for p in paths]


def _config(path: Path) -> DictConfig:
    return OmegaConf.load(path / "config.yaml") if (path / "config.yaml").is_file() else OmegaConf.create({})


def read_runs(paths: list[Path]) -> list[Run]:
    out = []
    for path, name in zip(paths, short_names(paths)):
        history = pd.read_csv(path / "history.csv") if (path / "history.csv").is_file() else None
        out.append(Run(path, name, json.loads((path / "metrics.json").read_text()), _config(path), history))
    return out


def read_fits(paths: list[Path]) -> list[Fit]:
    out = []
    for path, name in zip(paths, short_names(paths)):
        diag = json.loads((path / "diagnostics.json").read_text()) if (path / "diagnostics.json").is_file() else {}
        out.append(Fit(path, name, pd.read_csv(path / "summary.csv"), _config(path), diag))
    return out


def config_digest(path: Path) -> str:
    """First 12 hex digits of the run's config.yaml (provenance: the same digest, the same settings)."""
    config = path / "config.yaml"
    return hashlib.sha256(config.read_bytes()).hexdigest()[:12] if config.is_file() else "–"
