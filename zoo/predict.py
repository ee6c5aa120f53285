"""`python -m zoo.predict run_dir=RUN input=FOLDER_OR_RECORDS output=FILE`: label every image, then every sequence.

Outputs (CSV or Parquet, by the suffix of `output`):
- FILE: one row per image: media_id, path, site, camera, timestamp, sequence_id, pred, confidence, p_<class>...
- FILE's stem + `_sequences`: one row per sequence (sequence_id, site, camera, timestamp, n_frames, pred,
  confidence, p_<class>...), frames pooled as the run's head config says (mean of probabilities by default);
- FILE's stem + `_failed.csv` beside them: images that could not be read (also logged), never fatal; one list
  per output, so several predictions can share a folder;
- FILE's stem + `_provenance.json` (checkpoint hash, preprocessing, counts, package versions) and `_predict.log`.
Probabilities are the run's fitted head (heads.HeadPipeline in checkpoints/best.pt: location/time prior, temperature,
pooling, roll-up, as configs/head/ set them at training); `_provenance.json` (`head`) and the log say which ran.
With a roll-up, the sequence table also has rollup_prediction, rollup_level (label, genus, ... none), rollup_score.

With `crops.detections=MD.json` (a MegaDetector batch output file) the boxes of `crops.categories` at or above
`crops.threshold` are classified instead of whole frames (zoo.crops): FILE's stem + `_crops` has one row per box,
FILE one row per image (its most confident box; images without a box `empty`, with NaN probabilities) and the
sequences pool the boxes; docs/formats/megadetector.md.

Work is written as it goes into FILE.parts/ (logits of each finished chunk of images); a restarted run reads
them, computes only the rest, and writes the same final files atomically, then removes the parts.
"""
from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from zoo.crops import (CROP_COLUMNS, CropPlan, check_crop_options, count_frames, crop_settings, crops_enabled,
                       image_table, ordered, plan_crops)
from zoo.data.sources import TABLE_SUFFIXES, read_table_file
from zoo.data.times import parse_times
from zoo import ray_engine
from zoo.images import find_images, forward_batches
from zoo.models import create_model, resolve_data_config
from core.memory import keep_freed_memory
from core.paths import CONFIG_DIR
from core.runs import (Device, Interval, Options, Rule, add_file_logging, file_sha256, hydra_command,
                      package_versions, validate, write_json, write_table)

log = logging.getLogger("zoo.predict")


# --- the trained model ----------------------------------------------------------------------------

def load_run(run_dir: str | os.PathLike, checkpoint: str = "best", device: str | torch.device = "cpu"):
    """(model in eval mode, DataConfig, classes, temperature, checkpoint path) of a zoo.train run."""
    run_dir = Path(run_dir)
    path = Path(checkpoint) if checkpoint not in ("best", "last") else run_dir / "checkpoints" / f"{checkpoint}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint {path} (checkpoint={checkpoint!r}); is {run_dir} a zoo.train run?")
    state = torch.load(path, map_location="cpu", weights_only=False)  # our own run file: holds RNG/optimizer state
    missing = {"model", "classes", "model_cfg"} - set(state)
    if missing:
        raise ValueError(f"{path} is not a run checkpoint: lacks {sorted(missing)}")
    classes = list(state["classes"])
    classes_file = run_dir / "classes.json"
    if classes_file.is_file() and json.loads(classes_file.read_text()) != classes:
        raise ValueError(f"{classes_file} and {path} disagree on the classes")
    cfg = dict(state["model_cfg"])
    model = create_model(cfg["name"], pretrained=False, num_classes=len(classes), **(cfg.get("model_kwargs") or {}))
    model.load_state_dict(state["model"])
    temperature = float(state.get("temperature", 1.0) or 1.0)
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    return model, resolve_data_config(model, cfg).for_inference(), classes, temperature, path


def load_head(checkpoint: str | os.PathLike, classes: list[str], run_dir: str | os.PathLike | None = None):
    """The run's fitted heads.HeadPipeline from its checkpoint; a checkpoint written before there was one gives
    its temperature and the run's pooling kind (no prior, no roll-up)."""
    from heads.pipeline import HeadPipeline

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    head = state.get("head")
    if head is not None:
        if list(head.classes) != list(classes):
            raise ValueError(f"{checkpoint}: its head was fitted on classes {list(head.classes)}, the model has {classes}")
        return head
    pooling = run_pooling(Path(run_dir)) if run_dir is not None else "mean_probs"
    return HeadPipeline.from_temperature(classes, float(state.get("temperature", 1.0) or 1.0), pooling)


def load_onnx(path: str | os.PathLike, threads: int | None = None):
    """(forward, DataConfig, classes, head, path) of a self-contained zoo.export file: temperature and pooling
    from its metadata (a prior, attention pooler or roll-up of the run is not in the file)."""
    from heads.pipeline import HeadPipeline
    from zoo.models.data_config import DataConfig
    from zoo.models.onnx import OnnxFile

    forward = OnnxFile(path, threads)
    meta = forward.metadata
    prep = dict(meta["preprocessing"])
    data = DataConfig(**{**prep, "mean": tuple(prep["mean"]), "std": tuple(prep["std"])})
    head = HeadPipeline.from_temperature(meta["classes"], meta["temperature"], meta["pooling"])
    return forward, data, list(meta["classes"]), head, Path(path)


def run_pooling(run_dir: Path) -> str:
    cfg_file = run_dir / "config.yaml"
    if cfg_file.is_file():
        kind = OmegaConf.select(OmegaConf.load(cfg_file), "head.pooling.kind")
        if kind:
            return str(kind)
    return "mean_probs"


# --- what to label --------------------------------------------------------------------------------

def input_records(source: str | os.PathLike, path_pattern: str | None = None, gap_seconds: float = 60.0,
                  progress: bool = True) -> pd.DataFrame:
    """media_id, path, site, camera, timestamp, sequence_id, frame (+ the table's other columns) to label."""
    from zoo.data import assign_sequences

    source = Path(source)
    if source.is_dir():
        records = _folder_records(source, path_pattern, progress)
    elif source.name.lower().endswith(TABLE_SUFFIXES):
        records = _table_records(source)
    else:
        raise ValueError(f"input must be a folder of images or a .csv/.parquet/.xlsx records table, got {source}")
    if records.empty:
        raise ValueError(f"no images to label in {source}")
    dup = records["media_id"][records["media_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{source}: {len(dup)} duplicated media_id(s), e.g. {dup.iloc[:3].tolist()}")
    for col in ("site", "camera"):
        if col not in records:
            records[col] = ""
    if "label" not in records:
        records["label"] = ""
    records["label"] = records["label"].fillna("").astype(str)
    if "sequence_id" not in records or records["sequence_id"].isna().any():
        records = assign_sequences(records.drop(columns=["sequence_id", "frame"], errors="ignore"), gap_seconds)
    elif "frame" not in records:
        records["frame"] = records.groupby("sequence_id").cumcount()
    return records.reset_index(drop=True)


def _folder_records(folder: Path, path_pattern: str | None, progress: bool) -> pd.DataFrame:
    """Every image below `folder`, with capture times and site/camera from zoo.data's folder reader."""
    from zoo.data.clock import parse_timestamps
    from zoo.data.sources import read_image_folder

    files = find_images(folder)
    records = pd.DataFrame({"media_id": [p.relative_to(folder).as_posix() for p in files],
                            "path": [str(p.resolve()) for p in files]})
    if files:
        meta, _ = read_image_folder(folder, path_pattern, progress=progress)
        meta = meta[["media_id", *[c for c in ("area", "site", "camera", "timestamp_raw") if c in meta]]]
        records = records.merge(meta, on="media_id", how="left")  # duplicates zoo.data skipped keep NaN metadata
        records["site"] = records["site"].fillna(pd.Series([p.parent.name for p in files]))
        records["camera"] = records["camera"].fillna(records["site"])
        records["timestamp"] = parse_timestamps(records["timestamp_raw"])
    return records


def _table_records(path: Path) -> pd.DataFrame:
    table = read_table_file(path)  # zoo.data's reader: ';' or ',' CSV, BOM, gzip, Parquet, .xlsx
    if "path" not in table:
        raise ValueError(f"{path} has no `path` column (columns: {list(table.columns)})")
    if "media_id" not in table:
        table.insert(0, "media_id", table["path"].astype(str))
    table["path"] = table["path"].map(lambda p: _resolve(p, path.parent))
    table["media_id"] = table["media_id"].astype(str)
    if "timestamp" in table:
        parsed = parse_times(table["timestamp"], what="timestamp")  # zoo.data's one parser: EXIF, ISO, day/month
        unread = int((parsed.isna() & table["timestamp"].notna() & (table["timestamp"].astype(str).str.strip() != "")).sum())
        if unread:
            log.warning("%d timestamp(s) of %s could not be read: those photos are sequences of their own", unread, path)
        table["timestamp"] = parsed
    else:
        table["timestamp"] = pd.NaT
    return table


def _resolve(image: Any, table_dir: Path) -> Any:
    """A relative image path is taken relative to the working directory, else to the table's folder."""
    if not isinstance(image, str) or not image or Path(image).is_absolute() or Path(image).exists():
        return image
    return str(table_dir / image)


# --- resumable labelling --------------------------------------------------------------------------

class PartStore:
    """FILE.parts/: frame logits (or a failure) per media_id, in chunks written atomically."""

    def __init__(self, output: Path, fingerprint: dict[str, Any]):
        self.folder = output.with_name(output.name + ".parts")
        self.fingerprint = fingerprint
        manifest = self.folder / "manifest.json"
        if manifest.is_file() and json.loads(manifest.read_text()) != fingerprint:
            raise ValueError(f"{self.folder} holds parts of another prediction (other checkpoint or input); "
                             f"delete it or choose another output")
        write_json(manifest, fingerprint)

    def read(self) -> pd.DataFrame:
        parts = sorted(self.folder.glob("part-*.parquet"))
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()

    def next_number(self) -> int:
        numbers = [int(p.stem.split("-")[1]) for p in self.folder.glob("part-*.parquet")]
        return max(numbers, default=-1) + 1

    def write(self, number: int, rows: pd.DataFrame) -> None:
        write_table(self.folder / f"part-{number:06d}.parquet", rows)

    def remove(self) -> None:
        for p in self.folder.iterdir():
            p.unlink()
        self.folder.rmdir()


def part_rows(media_ids: list[str], logits: np.ndarray | None, error: str = "") -> pd.DataFrame:
    n = len(media_ids)
    rows = pd.DataFrame({"media_id": media_ids, "error": [error] * n if isinstance(error, str) else error})
    rows["logits"] = list(logits.astype(np.float32)) if logits is not None else [None] * n
    return rows


def label_images(model, data, records: pd.DataFrame, store: PartStore, batch_size: int, num_workers: int | None,
                 device, flush_every: int, max_batches: int | None, progress: bool,
                 in_workers: bool | None = None, run_batches=forward_batches) -> bool:
    """Label the records not yet in `store`; True when all are done.

    Batches are fixed slices of the input, and a restart skips whole finished batches, so every image is
    computed in the same batch as in an uninterrupted run and the numbers match to the last bit.
    """
    done = set(store.read().get("media_id", pd.Series(dtype=str)))
    has_path = records["path"].notna() & (records["path"].astype(str) != "")
    no_path = records.loc[~has_path, "media_id"]
    if len(no_path) and not no_path.isin(done).all():
        store.write(store.next_number(), part_rows(no_path.tolist(), None, "no image path"))
    ids, paths = records.loc[has_path, "media_id"].tolist(), records.loc[has_path, "path"].astype(str).tolist()
    boxes = records.loc[has_path, "crop_box"].tolist() if "crop_box" in records else None  # zoo.crops' units
    batches = [list(range(i, min(i + batch_size, len(ids)))) for i in range(0, len(ids), batch_size)]
    todo = [b for b in batches if not all(ids[j] in done for j in b)]
    n_todo = sum(map(len, todo))
    log.info("%d images: %d done before, %d to label", len(records), len(records) - n_todo - len(no_path), n_todo)
    pending: list[pd.DataFrame] = []
    bar = tqdm(total=len(records), initial=len(records) - n_todo, desc="labelling", unit="img", disable=not progress)
    batches = run_batches(model, paths, data, batches=todo, num_workers=num_workers, device=device,
                          in_workers=in_workers, boxes=boxes) if todo else []  # run_batches: engine=local or ray
    for i, (indices, logits, failed) in enumerate(batches):
        if failed:
            pending.append(part_rows([ids[f.index] for f in failed], None, [f.error for f in failed]))
        if logits is not None:
            pending.append(part_rows([ids[j] for j in indices.tolist()], logits.numpy()))
        bar.update(len(indices) + len(failed))
        if sum(map(len, pending)) >= flush_every:
            store.write(store.next_number(), pd.concat(pending, ignore_index=True))
            pending = []
        if max_batches is not None and i + 1 >= max_batches:
            break
    if pending:
        store.write(store.next_number(), pd.concat(pending, ignore_index=True))
    bar.close()
    return set(store.read().get("media_id", [])) >= set(records["media_id"])


# --- final tables ---------------------------------------------------------------------------------

def sequences_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}_sequences{output.suffix}")


def failed_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}_failed.csv")


def crops_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}_crops{output.suffix}")


IMAGE_KEEP = ("media_id", "path", "area", "site", "camera", "timestamp", "sequence_id", "frame")


def finish(records: pd.DataFrame, parts: pd.DataFrame, classes: list[str], head, output: Path
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Apply the run's fitted head to the labelled images' logits; write the images, sequences and failures."""
    ok, errors, logits = _labelled(parts, records["media_id"], len(classes))
    failed = records.loc[~ok, ["media_id", "path"]].assign(error=errors[~ok])
    images, sequences = _head_tables(records[ok].reset_index(drop=True), logits, classes, head, IMAGE_KEEP)
    return _write_tables(output, images, sequences, failed)


def finish_crops(records: pd.DataFrame, plan: CropPlan, parts: pd.DataFrame, classes: list[str], head, output: Path
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The head applied to the crops' logits (each crop a frame of its image's sequence); write the crops, the
    images (zoo.crops.image_table), the sequences of the crops and the failures (skipped or unreadable images)."""
    units = plan.units
    ok, errors, logits = _labelled(parts, units["media_id"], len(classes))
    labelled = units[ok].assign(media_id=units["image_id"][ok]).reset_index(drop=True)
    crops, sequences = _head_tables(labelled, logits, classes, head, (*IMAGE_KEEP[:1], *CROP_COLUMNS, *IMAGE_KEEP[1:]))
    unread = ~ok & ~units["image_id"].isin(labelled["media_id"]).to_numpy()  # images none of whose crops loaded
    unread = units[unread].assign(media_id=units["image_id"][unread], error=errors[unread])
    failed = pd.concat([plan.skipped, unread[["media_id", "path", "error"]].drop_duplicates("media_id")],
                       ignore_index=True)
    failed = ordered(failed, records)
    images = ordered(image_table(crops, plan, IMAGE_KEEP, classes), records)
    write_table(crops_path(output), crops)
    return _write_tables(output, images, count_frames(sequences, images), failed)


def _labelled(parts: pd.DataFrame, ids: pd.Series, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask of `ids` with logits, their errors, the logits of those with them) from the part files' rows."""
    parts = parts.drop_duplicates("media_id", keep="last").set_index("media_id").reindex(ids)
    ok = (parts["error"] == "").to_numpy()
    logits = np.stack(parts["logits"].to_numpy()[ok]).astype(np.float64) if ok.any() else np.zeros((0, n_classes))
    return ok, parts["error"].to_numpy(), logits


def _head_tables(labelled: pd.DataFrame, logits: np.ndarray, classes: list[str], head, keep
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per labelled row, one per sequence) of the head's probabilities."""
    from zoo.evaluate import prediction_frame, sequence_meta

    if not len(labelled):
        return (prediction_frame(labelled, np.zeros((0, len(classes))), classes, keep=keep),
                pd.DataFrame(columns=["sequence_id", "site", "camera", "timestamp", "n_frames", "pred",
                                      "confidence", *[f"p_{c}" for c in classes]]))
    out = head.transform(logits, labelled)
    rows = prediction_frame(labelled, out.image_probs, classes, keep=keep)
    meta = sequence_meta(labelled, out.sequence_ids, head.empty_class).drop(columns=["label"])
    sequences = prediction_frame(meta, out.sequence_probs, classes,
                                 keep=("sequence_id", "area", "site", "camera", "timestamp", "n_frames"))
    if out.rollup is not None:
        sequences = pd.concat([sequences, out.rollup.add_prefix("rollup_").reset_index(drop=True)], axis=1)
    return rows, sequences


def _write_tables(output: Path, images: pd.DataFrame, sequences: pd.DataFrame, failed: pd.DataFrame):
    write_table(failed_path(output), failed)
    write_table(sequences_path(output), sequences)
    write_table(output, images)
    return images, sequences, failed


def _pooling_kinds() -> tuple[str, ...]:
    from heads.pooling import KINDS

    return tuple(KINDS)


PREDICT_RULES = {
    "output": Rule(lambda o: Path(o).suffix.lower() in (".csv", ".parquet"), "a .csv or .parquet file"),
    "checkpoint": Rule(lambda c: c in ("best", "last") or Path(c).is_file(), "best, last or an existing .pt file"),
    "batch_size": Interval(1, integer=True),
    "num_workers": Interval(0, integer=True, none=True),
    "device": Device(),
    "backend": Options(("torch", "onnx")),
    "pooling": Rule(lambda k: k is None or k in _pooling_kinds(), "null or a heads.pooling kind"),
    "sequence_gap_s": Interval(0, open_low=True),
    "threads": Interval(1, integer=True, none=True),
    "flush_every": Interval(1, integer=True),
    "max_batches": Interval(1, integer=True, none=True),
    "onnx": Rule(lambda f: f is None or (Path(f).suffix.lower() == ".onnx" and Path(f).is_file()),
                 "null or an existing .onnx file written by zoo.export"),
    "engine": Options(("local", "ray")),
    "ray_address": Rule(lambda a: a is None or (isinstance(a, str) and bool(a.strip())),
                        "null (RAY_ADDRESS or a local cluster), auto, HOST:PORT or ray://HOST:PORT"),
    "ray_workers": Interval(1, integer=True),
    "ray_worker_cpus": Interval(1, integer=True),
    "ray_worker_gpus": Interval(0),
}


def predict_options(options: Any = None, **values) -> DictConfig:
    """The options of one prediction, validated: configs/predict.yaml's keys and defaults (the one place they are
    written), then `options` (a mapping or the command's config), then `values`. An unknown key fails by name."""
    defaults = OmegaConf.load(CONFIG_DIR / "predict.yaml")
    defaults = OmegaConf.masked_copy(defaults, [k for k in defaults if k not in ("defaults", "hydra")])
    given = {**(OmegaConf.to_container(options) if isinstance(options, DictConfig) else dict(options or {})), **values}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown prediction option(s) {', '.join(unknown)}: expected some of {', '.join(defaults)}")
    given = {k: str(v) if isinstance(v, os.PathLike) else v for k, v in given.items()}
    opts = OmegaConf.merge(defaults, given)
    if opts.onnx is not None:  # a self-contained file from zoo.export: no run directory, ONNX Runtime
        opts.run_dir = opts.run_dir if not OmegaConf.is_missing(opts, "run_dir") else None
        opts.backend = "onnx"
    needed = ("input", "output") if opts.onnx is not None else ("run_dir", "input", "output")
    missing = [k for k in needed if OmegaConf.is_missing(opts, k) or opts[k] is None]
    if missing:
        raise ValueError(f"missing prediction option(s) {', '.join(missing)}: give run_dir=RUN (or onnx=FILE.onnx) "
                         "input=... output=FILE")
    validate(opts, PREDICT_RULES)
    ray_engine.require(opts.engine)
    check_crop_options(opts.crops, defaults.crops)
    if not Path(opts.input).exists():
        raise FileNotFoundError(f"input={opts.input} does not exist: give a folder of images or a records table")
    if opts.backend == "onnx" and opts.device not in ("auto", "cpu"):
        raise ValueError(f"backend=onnx runs on the CPU, not device={opts.device}; use backend=torch with "
                         f"device={opts.device}")
    return opts


def predict(run_dir: str | os.PathLike | None = None, input: str | os.PathLike | None = None,
            output: str | os.PathLike | None = None, *, options: Any = None, **values):
    """Label `input` with the run's model and head; returns (images, sequences, failed) or None if stopped early.

    Every option is a key of configs/predict.yaml (`predict(run, folder, "out.csv", batch_size=8)`, or
    `options=` a mapping / the command's config), checked by `predict_options` before the model loads.
    """
    given = {k: v for k, v in (("run_dir", run_dir), ("input", input), ("output", output)) if v is not None}
    opts = predict_options(options, **given, **values)
    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    keep_freed_memory()  # fewer page faults, same numbers (core.memory)
    output = Path(opts.output)
    device = opts.device
    device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() and opts.backend == "torch" else
                          ("cpu" if device == "auto" else device))
    if opts.onnx is not None:
        model, data, classes, head, ckpt = load_onnx(opts.onnx, opts.threads)
        run_dir = Path(model.metadata["run_dir"])
    else:
        run_dir = Path(opts.run_dir)
        model, data, classes, _, ckpt = load_run(run_dir, opts.checkpoint, device)
        head = load_head(ckpt, classes, run_dir)
    if opts.pooling and opts.pooling != head.pooling:
        if opts.pooling == "attention" and getattr(head, "attention_", None) is None:
            raise ValueError("pooling=attention needs a run trained with head.pooling.kind=attention (its pooler is "
                             "fitted then); give another pooling or null")
        head = copy.deepcopy(head).set_params(pooling=opts.pooling)
    records = input_records(opts.input, opts.path_pattern, opts.sequence_gap_s, opts.progress)
    plan = plan_crops(records, opts.crops) if crops_enabled(opts.crops) else None
    units = plan.units if plan is not None else records  # what is classified: whole frames or MegaDetector's boxes
    log.info("%s: %d classes, input %d px; head: %s", ckpt, len(classes), data.img_size, head.summary())
    fingerprint = {"checkpoint_sha256": file_sha256(ckpt), "data": data.to_dict(), "backend": opts.backend,
                   "media_ids_sha256": _digest(units["media_id"].tolist() + units["path"].astype(str).tolist())}
    if plan is not None:
        fingerprint["crops"] = crop_settings(opts.crops)
    store = PartStore(output, fingerprint)
    if opts.backend == "onnx" and opts.onnx is None:
        from zoo.models.onnx import OnnxForward

        model = OnnxForward(model, data.img_size)
    complete = label_images(model, data, units, store, opts.batch_size, opts.num_workers, device, opts.flush_every,
                            opts.max_batches, opts.progress, opts.forward_in_workers,
                            forward_batches if opts.engine == "local" else ray_engine.ray_batches(opts))
    if not complete:
        log.warning("stopped after max_batches=%s; run again to continue from %s", opts.max_batches, store.folder)
        return None
    if plan is None:
        images, sequences, failed = finish(records, store.read(), classes, head, output)
    else:
        images, sequences, failed = finish_crops(records, plan, store.read(), classes, head, output)
    components = {**head.components_, "pooling": {**head.components_["pooling"], "kind": head.pooling}}
    write_json(output.with_name(f"{output.stem}_provenance.json"), {
        "run_dir": str(run_dir.resolve()), "checkpoint": str(ckpt), **fingerprint, "input": str(opts.input),
        "classes": classes, "temperature": head.temperature_, "pooling": head.pooling, "head": components,
        "sequence_gap_s": opts.sequence_gap_s, "path_pattern": opts.path_pattern, "images": len(images),
        "sequences": len(sequences), "failed": len(failed), "versions": package_versions(),
        **({"crop_counts": {"crops": int(images["n_crops"].sum()), "empty_images": int(images["empty"].sum())}}
           if plan is not None else {})})
    store.remove()
    if len(failed):
        log.warning("%d images not labelled (unreadable or skipped) listed in %s: %s", len(failed), failed_path(output),
                    failed["path"].tolist()[:5])
    log.info("%d images, %d sequences -> %s, %s (head: %s)", len(images), len(sequences), output,
             sequences_path(output), head.summary())
    return images, sequences, failed


def _digest(values: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(values).encode()).hexdigest()


@hydra_command("zoo.predict", config_path=str(CONFIG_DIR), config_name="predict")
def main(cfg: DictConfig) -> None:
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    add_file_logging(output.parent, f"{output.stem}_predict.log")
    predict(options=cfg)


if __name__ == "__main__":
    main()
