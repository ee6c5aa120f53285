"""The data config schema: a typo in a key fails at load time, naming the key and where it belongs."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from omegaconf import DictConfig, OmegaConf

import core.paths  # noqa: F401  (registers ${sample:...})
from core.runs import Interval, Options, validate
from zoo.data.times import TIME_OPTIONS


@dataclass
class LabelRules:
    synonyms: dict[str, str] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    drop_patterns: list[str] = field(default_factory=list)
    # order used to pick the one `label` of a photo that shows several classes
    priority: list[str] = field(default_factory=list)
    # extra label columns normalised with the same rules (e.g. a classifier's labels)
    normalize_columns: list[str] = field(default_factory=list)


@dataclass
class ClockRule:
    name: str = ""
    where: dict[str, Any] = field(default_factory=dict)
    shift: dict[str, int] = field(default_factory=dict)  # empty: flag only


@dataclass
class ClockRules:
    corrections: list[ClockRule] = field(default_factory=list)
    valid_years: Optional[list[int]] = None


@dataclass
class SequenceRules:
    gap_seconds: float = 60.0


@dataclass
class SplitRules:
    # auto: stratified when photos have times, else file_blocks | stratified | file_blocks (runs of consecutive
    # file names kept together) | authors (a split file) | by_area | by_site | none
    kind: str = "auto"
    valid: float = 0.2
    test: float = 0.0
    seed: int = 0
    file: Optional[str] = None
    # with a split file that has a `label` column: use its labels (like-for-like with its authors)
    labels_from_file: bool = False
    train_values: Optional[list[str]] = None
    test_values: Optional[list[str]] = None
    # file_blocks: at most this many consecutive files of one folder and label form one block
    block_files: int = 20


@dataclass
class DataConfig:
    name: str = "custom"
    # auto | images | records | camtrap_dp | coco (COCO Camera Traps JSON) | megadetector (its batch output JSON)
    source: str = "auto"
    path: str = "???"
    # coco / megadetector: the folder the images' file_name / file paths are relative to (null: the JSON's folder)
    image_root: Optional[str] = None
    # megadetector: a photo's label is the category of its most confident detection at or above this (else empty)
    detection_threshold: float = 0.2
    # images / megadetector: regex on the path relative to `path`, named groups area/site/camera
    path_pattern: Optional[str] = None
    # records: our column -> the file's column (tags may list several columns)
    columns: dict[str, Any] = field(default_factory=dict)
    tag_separator: str = ";"
    # capture times (zoo.data.times): a strftime pattern, else EXIF/ISO/day-month read automatically;
    # dayfirst: order of 01/02/2017 (null: from the values); timezone: convert times with a UTC offset to it
    time_format: Optional[str] = None
    dayfirst: Optional[bool] = None
    timezone: Optional[str] = None
    # fixed values for columns the source does not hold (e.g. area: jura)
    constants: dict[str, str] = field(default_factory=dict)
    sites: Optional[str] = None
    taxonomy: Optional[str] = None
    workers: int = 4
    labels: LabelRules = field(default_factory=LabelRules)
    clock: ClockRules = field(default_factory=ClockRules)
    sequences: SequenceRules = field(default_factory=SequenceRules)
    split: SplitRules = field(default_factory=SplitRules)


SOURCES = ("auto", "images", "records", "camtrap_dp", "coco", "megadetector")
SPLITS = ("auto", "stratified", "file_blocks", "authors", "file", "by_area", "by_site", "none")
# what each value allows, checked once when a config is loaded (core.runs.validate: one line naming key and rule)
CONSTRAINTS = {
    "": {"source": Options(SOURCES), "detection_threshold": Interval(0, 1), "workers": Interval(1, integer=True),
         **TIME_OPTIONS},
    "sequences": {"gap_seconds": Interval(0)},
    "split": {"kind": Options(SPLITS), "block_files": Interval(1, integer=True),
              "seed": Interval(0, 2**32 - 1, integer=True), "valid": Interval(0, 1, open_high=True),
              "test": Interval(0, 1, open_high=True)},  # shares of the photos (their sum: zoo.data.splits)
}


def as_data_config(cfg: Any) -> DictConfig:
    """Merge a user's dict/DictConfig onto the schema; unknown keys and bad values raise here."""
    schema = OmegaConf.structured(DataConfig)
    merged = OmegaConf.merge(schema, cfg if cfg is not None else {})
    for section, constraints in CONSTRAINTS.items():
        validate(merged[section] if section else merged, constraints, f"data.{section}." if section else "data.")
    return merged


def load_data_config(name_or_path: str = "lynx", overrides: list[str] | None = None) -> DictConfig:
    """A named data config from configs/data (e.g. 'lynx'), or a YAML file, with dotted overrides."""
    from hydra import compose

    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} and path.is_file():
        cfg = OmegaConf.load(path)
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides or []))
        return as_data_config(cfg)
    overrides = [f"data={name_or_path}", *[f"data.{o}" for o in overrides or []]]
    with _config_root():
        cfg = compose(config_name="data_only", overrides=overrides)
    return as_data_config(cfg.data)


# bundled studies: a path inside one gets its rules; name -> config per kind of source
KNOWN_STUDIES = {"lynx": {"images": "lynx", "records": "lynx_records"}}


def study_name(path: str | Path) -> str:
    """A study's default name: the folder's name, or the table's file name without suffixes."""
    path = Path(path).resolve()
    name = path.name.split(".")[0] if path.is_file() else path.name
    return name or "study"


def default_data_config(path: str | Path, source: str,
                        overrides: list[str] | None = None) -> tuple[DictConfig, str]:
    """The config for a path given without one, and a line saying which it is.

    A path inside a bundled study gets that study's rules; anything else a generic config: named after the
    folder, no label or clock rules, split `auto` (stratified by sequence, or file blocks without times).
    """
    resolved = Path(path).resolve()
    for study, by_source in KNOWN_STUDIES.items():
        try:
            inside = resolved.is_relative_to(core.paths.sample_dir(study).resolve())
        except FileNotFoundError:
            continue
        if inside and source in by_source:
            name = by_source[source]
            return load_data_config(name, overrides), f"{name} (configs/data/{name}.yaml: the bundled {study} study)"
    if source == "camtrap_dp":
        return load_data_config("camtrap_dp", overrides), "camtrap_dp (configs/data/camtrap_dp.yaml: Camtrap DP defaults)"
    cfg = OmegaConf.merge({"name": study_name(path)}, OmegaConf.from_dotlist(overrides or []))
    return as_data_config(cfg), (f"generic (not a known study: no label or clock rules; "
                                 f"`python -m zoo.data init {path} --out my_study.yaml` writes a config to edit)")


@contextmanager
def _config_root() -> Iterator[None]:
    """Hydra's global instance, initialised on the config root for the compose inside the block.

    Every command of this project composes from the one root (configs/), so inside one (occupancy.fit reads its
    study's data config while it runs) the running instance serves as it is. Outside any, a temporary one is set
    up and cleared. Only a program composing from another root (a user's own Hydra app, or a notebook that called
    hydra.initialize) is stepped aside for and restored afterwards: Hydra allows one global instance, and this one
    cannot see configs/.
    """
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    running = GlobalHydra.instance()
    if running.is_initialized() and _composes_from_root(running):
        yield
        return
    saved = running.hydra if running.is_initialized() else None
    running.clear()
    try:
        with initialize_config_dir(config_dir=str(core.paths.CONFIG_DIR), version_base="1.3"):
            yield
    finally:
        if saved is not None:
            GlobalHydra.instance().clear()
            GlobalHydra.instance().initialize(saved)


def _composes_from_root(running) -> bool:
    root = core.paths.CONFIG_DIR.resolve()
    return any(source.scheme() == "file" and Path(source.path).resolve() == root
               for source in running.config_loader().get_sources())
