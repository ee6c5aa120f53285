"""`python -m zoo.train`: the experiment runner.

A Hydra config (configs/train.yaml) picks data, model, head and recipe. The run trains in two
stages (frozen backbone, then full fine-tuning at a lower backbone learning rate), checkpoints
every epoch, evaluates per image and per sequence, calibrates, and writes everything into its run
directory. `resume=true` continues an interrupted run to the same result.
"""
from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from timm.models import group_modules
from timm.scheduler import CosineLRScheduler
from timm.utils import ModelEmaV3
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, WeightedRandomSampler
from tqdm.auto import tqdm

import heads
from heads.calibration import apply_temperature, nll, plot_reliability
from heads.pipeline import HeadPipeline
from heads.prior import withhold_near
from zoo.augment import AugmentConfig, mix_batch, train_transform
from zoo.data import load_data_config, load_study
from zoo.datasets import RecordsImageDataset, readable_records
from zoo.evaluate import evaluate_split, plot_confusion, plot_history, prediction_frame, sequence_meta
from zoo.images import default_num_workers, make_loader, to_model_input
from zoo.metrics import accuracy
from zoo.models import build_model, checkpoint_model_cfg
from core.memory import keep_freed_memory
from core.paths import CONFIG_DIR
from core.runs import (Device, Interval, Options, add_file_logging, hydra_command, prepare_run_dir,
                      seed_everything, show, validate, write_json, write_table)

log = logging.getLogger("zoo.train")


@dataclass
class TrainConfig:
    epochs: int = 8               # total, both stages
    frozen_epochs: int = 1        # stage 1: only the classifier learns
    # stage 2 leaves the first N of timm's coarse layer groups (the stem, then one per stage) frozen, BatchNorm
    # statistics included: no gradient flows through the high-resolution early layers, which hold most of a
    # step's cost (3 on EfficientNet-Lite2 at 320 px, the stem and two stages: a step of 32 photos 3.4 s instead
    # of 7.2 s, but 1.4 points less accuracy on the lynx sample, docs/training.md); 0: all learn
    frozen_groups: int = 0
    batch_size: int = 32
    eval_batch_size: int = 64
    optimizer: str = "adamw"      # adamw | sgd
    lr: float = 3e-3              # classifier, stage 1
    finetune_lr: float = 2e-3     # classifier, stage 2
    backbone_lr: float = 5e-4     # backbone, stage 2
    momentum: float = 0.9         # sgd
    weight_decay: float = 0.01
    warmup_epochs: float = 0.5    # linear warm-up at the start of each stage, then cosine decay (timm's scheduler)
    balance: str = "none"         # none | sampler (class-balanced batches) | loss (class weights)
    # class weights are count ** -balance_power: 1 = inverse frequency (a class of 3 photos weighs 38x one
    # of 114), 0.5 = inverse square root (6x), softer on the common classes
    balance_power: float = 1.0
    early_stopping_patience: int = 3  # epochs without a lower validation loss (stage 2)
    # exponential moving average of the weights (timm's ModelEmaV3, decay warmed up from 0 over the
    # first steps): validation, checkpoints' inference weights and predictions use the average; null: off
    ema_decay: Optional[float] = None
    # loader processes; null: none on the CPU, where decoding and augmenting in the training process costs about
    # 2 s an epoch while loader processes beside torch's threads made each lite0 fine-tuning epoch 35-38 s instead
    # of 21-22 s (docs/training.md); on a GPU one per core, at most 4
    num_workers: Optional[int] = None
    max_batches_per_epoch: Optional[int] = None  # for smoke tests
    # the end of training predicts every labelled photo with the best weights; false leaves out the training
    # photos (their predictions help find mislabelled ones, but no metric reads them): one pass fewer over the
    # training set (the lite2 recipe's final inference on a 2-core CPU: 6.8 s against 34.2 s, docs/training.md)
    predict_train: bool = True
    # timm's EfficientNet init draws a new 12-class head with logits of std ~3 (an initial loss of ~5):
    # start the new classifier at zero, i.e. from uniform predictions
    zero_init_head: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)


OPTIMIZERS = ("adamw", "sgd")
BALANCING = ("none", "sampler", "loss")
POSITIVE, NON_NEGATIVE = Interval(0, open_low=True), Interval(0)
COUNT = Interval(1, integer=True)  # a whole number of things, at least one
RECIPE_RULES = {
    "epochs": COUNT,
    "frozen_epochs": Interval(0, "epochs", integer=True),
    "frozen_groups": Interval(0, integer=True),  # at most the model's groups before the classifier's (Trainer)
    "batch_size": COUNT,
    "eval_batch_size": COUNT,
    "optimizer": Options(OPTIMIZERS),
    "lr": POSITIVE,
    "finetune_lr": POSITIVE,
    "backbone_lr": NON_NEGATIVE,  # 0: the backbone stays frozen throughout
    "momentum": Interval(0, 1, open_high=True),
    "weight_decay": NON_NEGATIVE,
    "warmup_epochs": NON_NEGATIVE,
    "balance": Options(BALANCING),
    "balance_power": Interval(0, 1, open_low=True),
    "early_stopping_patience": COUNT,
    "ema_decay": Interval(0, 1, open_low=True, open_high=True, none=True),
    "num_workers": Interval(0, integer=True, none=True),
    "max_batches_per_epoch": Interval(1, integer=True, none=True),
}
AUGMENT_RULES = {"mixup_alpha": NON_NEGATIVE, "cutmix_alpha": NON_NEGATIVE, "mix_prob": Interval(0, 1)}
RUN_RULES = {
    "seed": Interval(0, 2**32 - 1, integer=True),  # numpy's seed range
    "resume": Options((False, True, "auto")),
    "threads": Interval(1, integer=True, none=True),
    "device": Device(),
}
MODEL_RULES = {"img_size": COUNT, "test_img_size": Interval(1, integer=True, none=True)}
# keys a resumed run may change: they do not change the weights or the metrics (model.test_img_size changes
# only the final evaluation, which a resume redoes; see docs/training.md)
RESUME_FREE_KEYS = {"run_dir", "resume", "device", "threads", "train.num_workers", "train.eval_batch_size",
                    "train.predict_train", "data.workers", "model.test_img_size"}
# the head after the classifier (prior, calibration, pooling, roll-up) is fitted at the end, which a resume of a
# finished run redoes: `resume=true head.prior.enabled=true` refits it on the same weights (head.smoothing is the
# training loss: not free)
RESUME_FREE_PREFIXES = ("head.prior.", "head.pooling.", "head.calibration.", "head.rollup.")


def train_config(cfg: Any) -> DictConfig:
    merged = OmegaConf.merge(OmegaConf.structured(TrainConfig), cfg if cfg is not None else {})
    validate(merged, RECIPE_RULES, "train.")
    validate(merged.augment, AUGMENT_RULES, "train.augment.")
    return merged


def check_config(cfg: DictConfig) -> DictConfig:
    """Every value of a run that can be checked without data or model, checked; returns the recipe."""
    recipe = train_config(cfg.train)
    validate(cfg, RUN_RULES)
    validate(cfg.model, MODEL_RULES, "model.")
    head = heads.head_config(cfg.head)
    source = head.prior.records
    if head.prior.enabled and source is not None and not (CONFIG_DIR / "data" / f"{source}.yaml").is_file() \
            and not Path(source).is_file():
        known = sorted(p.stem for p in (CONFIG_DIR / "data").glob("*.yaml"))
        raise ValueError(f"head.prior.records={source} is not allowed: expected null (the run's training records), "
                         f"a data config ({', '.join(known)}) or an existing YAML file")
    return recipe


def check_resume(cfg: DictConfig, run_dir: Path) -> bool:
    """Whether this run continues one in `run_dir` (True) or starts (False); refuses what would mix two runs."""
    saved, last = run_dir / "config.yaml", run_dir / "checkpoints" / "last.pt"
    if cfg.resume is True and not saved.is_file():
        raise FileNotFoundError(f"resume=true: unknown run directory {run_dir} (no config.yaml there); check "
                                "run_dir, or pass resume=auto to start a run there when there is none")
    if not last.is_file():
        return False
    if not cfg.resume:
        raise FileExistsError(f"{run_dir} already holds a run: pass resume=true to continue it, or another run_dir")
    before, now = _flat(OmegaConf.to_container(OmegaConf.load(saved))), _flat(OmegaConf.to_container(cfg, resolve=True))
    changed = [k for k in sorted(before.keys() | now.keys())
               if k not in RESUME_FREE_KEYS and not k.startswith(RESUME_FREE_PREFIXES) and before.get(k) != now.get(k)
               and (k in before or now[k] is not None)]
    if changed:
        diffs = ", ".join(f"{k}={show(before.get(k))} (now {show(now.get(k))})" for k in changed)
        raise ValueError(f"resume: {run_dir} was trained with {diffs}; resume with the same values, or start "
                         "another run_dir")
    return True


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix[:-1]: tree}
    return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}


@hydra_command("zoo.train", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> None:
    run(cfg)


def run(cfg: DictConfig) -> Path:
    """Train, evaluate and write one run; returns its directory."""
    recipe = check_config(cfg)
    head_cfg = heads.head_config(cfg.head)
    run_dir = Path(cfg.run_dir)
    checkpoint_dir = run_dir / "checkpoints"
    resuming = check_resume(cfg, run_dir)
    prepare_run_dir(run_dir, cfg)
    add_file_logging(run_dir)
    seed_everything(cfg.seed)
    _set_threads(cfg.threads)
    keep_freed_memory()  # fewer page faults, same numbers (core.memory)
    device = _device(cfg.device)

    study = load_study(cfg.data, progress=True)
    records = readable_records(study.records)
    write_json(run_dir / "data_summary.json", study.report)
    write_table(run_dir / "records.parquet", records)
    classes = _classes(records)
    taxonomy = heads.load_taxonomy(cfg.data.taxonomy) if cfg.data.get("taxonomy") else None
    if taxonomy is not None:
        taxonomy.check(classes, strict=False)
        shutil.copyfile(cfg.data.taxonomy, run_dir / "taxonomy.csv")
    write_json(run_dir / "classes.json", classes)
    log.info("%d classes: %s", len(classes), ", ".join(classes))
    prior_source = prior_records(head_cfg, records) if head_cfg.prior.enabled else None  # fails before training
    if head_cfg.pooling.empty_class is not None and head_cfg.pooling.empty_class not in classes:
        raise ValueError(f"head.pooling.empty_class={head_cfg.pooling.empty_class} is not allowed: expected one of "
                         f"the classes ({', '.join(classes)})")

    model, data_cfg = build_model(cfg.model, num_classes=len(classes))
    model_cfg = checkpoint_model_cfg(cfg.model, data_cfg)
    log.info("model %s, input %s px (evaluated at %s px), mean %s, std %s", model_cfg["name"], data_cfg.img_size,
             data_cfg.for_inference().img_size, data_cfg.mean, data_cfg.std)
    if recipe.zero_init_head:
        for p in model.get_classifier().parameters():
            torch.nn.init.zeros_(p)
    model.to(device).to(memory_format=torch.channels_last)
    trainer = Trainer(model, recipe, head_cfg, classes, taxonomy, records, data_cfg, checkpoint_dir, device, cfg.seed,
                      model_cfg)
    if resuming:
        trainer.load_checkpoint(checkpoint_dir / "last.pt")
    trainer.fit()
    trainer.load_checkpoint(checkpoint_dir / "best.pt", weights_only=True)
    metrics = finish(trainer, records, run_dir, head_cfg, taxonomy, prior_source)
    log.info("run written to %s", run_dir)
    _log_headline(metrics)
    return run_dir


class Trainer:
    """Two-stage fine-tuning with per-epoch checkpoints that make resuming exact."""

    def __init__(self, model, recipe, head_cfg, classes, taxonomy, records, data_cfg, checkpoint_dir, device, seed,
                 model_cfg=None):
        self.model, self.recipe, self.classes = model, recipe, classes
        self.data_cfg, self.model_cfg = data_cfg, model_cfg or {}
        self.checkpoint_dir, self.device, self.seed = Path(checkpoint_dir), device, seed
        self.class_index = {c: i for i, c in enumerate(classes)}
        self.train_records = records[(records["split"] == "train") & records["label"].isin(self.class_index)]
        self.valid_records = records[(records["split"] == "valid") & records["label"].isin(self.class_index)]
        if self.train_records.empty:
            raise ValueError("no labelled training records: check data.split")
        size, mean, std = data_cfg.img_size, data_cfg.mean, data_cfg.std
        self.train_set = RecordsImageDataset(self.train_records, self.class_index,
                                             train_transform(recipe.augment, size, mean, std), 2 * size, seed)
        weights = self._class_weights() if recipe.balance == "loss" else None
        self.criterion = heads.build_loss(head_cfg, classes, taxonomy, class_weights=weights)
        self.backbone_params, self.head_params = _split_parameters(model)
        self.early_params, self.early_norms = early_layers(model, recipe.frozen_groups)
        self.num_workers = recipe.num_workers
        if self.num_workers is None:
            self.num_workers = 0 if torch.device(device).type == "cpu" else default_num_workers()
        self.optimizer = self._optimizer()
        self.scheduler: CosineLRScheduler | None = None
        self.ema = ModelEmaV3(model, decay=recipe.ema_decay, use_warmup=True) if recipe.ema_decay else None
        self.epoch, self.step, self.best_loss, self.bad_epochs, self.stopped = 0, 0, math.inf, 0, False
        self.history: list[dict[str, float]] = []

    # --- training -------------------------------------------------------------------------------
    def fit(self) -> None:
        recipe = self.recipe
        while self.epoch < recipe.epochs and not self.stopped:
            frozen = self.epoch < recipe.frozen_epochs
            started = time.perf_counter()
            train_loss = self._train_epoch(frozen)
            valid_loss, valid_acc = self._validate()
            self.history.append({"epoch": self.epoch + 1, "stage": "frozen" if frozen else "finetune",
                                 "train_loss": train_loss, "valid_loss": valid_loss, "valid_accuracy": valid_acc,
                                 "seconds": time.perf_counter() - started})
            improved = valid_loss < self.best_loss
            if improved:
                self.best_loss, self.bad_epochs = valid_loss, 0
            elif not frozen:
                self.bad_epochs += 1
                self.stopped = self.bad_epochs >= recipe.early_stopping_patience
            self.epoch += 1
            self.save_checkpoint(self.checkpoint_dir / "last.pt")
            if improved:
                self.save_checkpoint(self.checkpoint_dir / "best.pt")
            log.info("epoch %d/%d (%s) train loss %.4f, valid loss %.4f, valid acc %.3f, %.0f s%s",
                     self.epoch, recipe.epochs, "frozen" if frozen else "finetune", train_loss, valid_loss, valid_acc,
                     self.history[-1]["seconds"], " (early stop)" if self.stopped else "")

    def _train_epoch(self, frozen: bool) -> float:
        torch.manual_seed(self.seed * 1000 + self.epoch)  # dropout etc.: a function of (seed, epoch)
        self.train_set.set_epoch(self.epoch)
        loader = self._train_loader()
        self.model.train()
        early = {id(p) for p in self.early_params}
        for p in self.backbone_params:
            p.requires_grad_(not frozen and id(p) not in early)
        # frozen layers keep the BatchNorm statistics of the pretrained backbone
        norms = [m for m in self.model.modules() if isinstance(m, _BatchNorm)] if frozen else self.early_norms
        for module in norms:
            module.eval()
        total, count = 0.0, 0
        steps = len(loader)
        for i, (x, y, _) in enumerate(tqdm(loader, desc=f"epoch {self.epoch + 1}", leave=False, unit="batch")):
            self._set_learning_rates(frozen, i, steps)
            x = x.to(self.device).to(memory_format=torch.channels_last)
            y = y.to(self.device)
            x, partner_y, lam = mix_batch(x, y, self.recipe.augment)
            logits = self.model(x)
            loss = self.criterion(logits, y)
            if lam < 1:
                loss = lam * loss + (1 - lam) * self.criterion(logits, partner_y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            if self.ema is not None:
                self.ema.update(self.model, step=self.step)
            total, count = total + loss.item() * len(y), count + len(y)
            if self.recipe.max_batches_per_epoch and i + 1 >= self.recipe.max_batches_per_epoch:
                break
        return total / max(count, 1)

    def _set_learning_rates(self, frozen: bool, i: int, steps: int) -> None:
        if i == 0 or self.scheduler is None:
            self.scheduler = stage_scheduler(self.optimizer, self.recipe, frozen)
        stage_start = 0 if frozen else self.recipe.frozen_epochs
        self.scheduler.step_update(num_updates=self.epoch - stage_start + i / max(steps, 1))

    def _train_loader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        sampler = None
        if self.recipe.balance == "sampler":
            weights = self._class_weights()[self.train_set.targets]
            sampler = WeightedRandomSampler(weights, len(weights), replacement=True, generator=generator)
        return DataLoader(self.train_set, batch_size=self.recipe.batch_size, shuffle=sampler is None,
                          sampler=sampler, generator=generator, num_workers=self.num_workers,
                          drop_last=len(self.train_set) > self.recipe.batch_size,
                          persistent_workers=False)

    def _validate(self) -> tuple[float, float]:
        if self.valid_records.empty:
            return float("nan"), float("nan")
        logits = self.predict_logits(self.valid_records)
        y = np.array(self.valid_records["label"].map(self.class_index), dtype=np.int64)
        probs = apply_temperature(logits, 1.0)
        return nll(probs, y), accuracy(probs, y)  # heads.calibration's NLL, zoo.metrics' accuracy

    # --- inference ------------------------------------------------------------------------------
    @torch.inference_mode()
    def predict_logits(self, records: pd.DataFrame, test_flip: bool | None = None, final: bool = False) -> np.ndarray:
        """Frame logits in `records` order. `final`: with `zoo.predict`'s preprocessing (`model.test_img_size`);
        otherwise at the training size, so that epoch selection never depends on the test size and a finished run
        can be re-evaluated at another one (`resume=true`) with the same weights."""
        test_flip = self.recipe.augment.test_flip if test_flip is None else test_flip
        data_cfg = self.data_cfg.for_inference() if final else self.data_cfg
        loader = make_loader(records["path"].tolist(), data_cfg, batch_size=self.recipe.eval_batch_size,
                             num_workers=self.num_workers)
        model = self.inference_model
        model.eval()
        out = np.full((len(records), len(self.classes)), np.nan, dtype=np.float32)
        for batch in loader:
            if batch.failed:
                raise OSError(f"images became unreadable since ingestion: {[f.path for f in batch.failed]}")
            x = to_model_input(batch.images, data_cfg).to(self.device)
            logits = model(x)
            if test_flip:
                logits = (logits + model(torch.flip(x, dims=[3]))) / 2
            out[batch.indices.numpy()] = logits.float().cpu().numpy()
        return out

    @property
    def inference_model(self) -> torch.nn.Module:
        """The weights that are validated, saved for inference and predicted with: the average if any."""
        return self.ema.module if self.ema is not None else self.model

    # --- checkpoints ----------------------------------------------------------------------------
    def save_checkpoint(self, path: Path, head: HeadPipeline | None = None) -> None:
        # "model" holds the inference weights (what zoo.predict loads); "trained" the raw ones under an average;
        # "head" the fitted HeadPipeline (best.pt at the end of training), "temperature" its T for older readers
        temperature = head.temperature_ if head is not None else 1.0
        state = {"head": head,
            "model": self.inference_model.state_dict(),
            "trained": self.model.state_dict() if self.ema is not None else None,
            "classes": self.classes, "model_cfg": self.model_cfg,
            "temperature": temperature, "epoch": self.epoch, "step": self.step, "best_loss": self.best_loss,
            "bad_epochs": self.bad_epochs, "stopped": self.stopped, "history": self.history,
            "optimizer": self.optimizer.state_dict(), "rng": _rng_state(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    def load_checkpoint(self, path: Path, weights_only: bool = False) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state["classes"] != self.classes:
            raise ValueError(f"{path} was trained on classes {state['classes']}, this run has {self.classes}")
        if self.ema is not None:
            if state.get("trained") is None:
                raise ValueError(f"{path} was trained without train.ema_decay; resume it without, or start a new run")
            self.ema.module.load_state_dict(state["model"])
            self.model.load_state_dict(state["trained"])
        else:
            if state.get("trained") is not None:
                raise ValueError(f"{path} was trained with train.ema_decay; resume it with the same value")
            self.model.load_state_dict(state["model"])
        if weights_only:
            return
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step, self.best_loss = state["epoch"], state["step"], state["best_loss"]
        self.bad_epochs, self.stopped, self.history = state["bad_epochs"], state["stopped"], state["history"]
        _set_rng_state(state["rng"])
        log.info("resuming %s after epoch %d", path.parent.parent, self.epoch)

    # --- helpers --------------------------------------------------------------------------------
    def _optimizer(self) -> torch.optim.Optimizer:
        groups = [{"params": self.backbone_params, "lr": 0.0}, {"params": self.head_params, "lr": self.recipe.lr}]
        if self.recipe.optimizer == "sgd":
            return torch.optim.SGD(groups, momentum=self.recipe.momentum, weight_decay=self.recipe.weight_decay, nesterov=True)
        return torch.optim.AdamW(groups, weight_decay=self.recipe.weight_decay)

    def _class_weights(self) -> np.ndarray:
        return class_weights(self.train_set.targets, len(self.classes), self.recipe.balance_power)


def class_weights(targets: np.ndarray, n_classes: int, power: float = 1.0) -> np.ndarray:
    """count ** -power per class, scaled to mean 1 over the classes present (absent classes weigh 0)."""
    counts = np.bincount(targets, minlength=n_classes).astype(float)
    weights = np.divide(1.0, counts ** power, out=np.zeros_like(counts), where=counts > 0)
    return weights * np.count_nonzero(counts) / weights.sum()


def stage_scheduler(optimizer: torch.optim.Optimizer, recipe: Any, frozen: bool) -> CosineLRScheduler:
    """timm's warm-up + cosine schedule over one stage, in epochs (fractional: one update per batch).

    Stage 1 (frozen): backbone 0, classifier `lr`; stage 2: `backbone_lr` and `finetune_lr`. Each stage warms up
    linearly from 0 over `warmup_epochs`, then decays along a half cosine to 0 at the stage's end."""
    stage_epochs = recipe.frozen_epochs if frozen else recipe.epochs - recipe.frozen_epochs
    stage_epochs = max(stage_epochs, 1)
    bases = (0.0, recipe.lr) if frozen else (recipe.backbone_lr, recipe.finetune_lr)
    for group, base in zip(optimizer.param_groups, bases):
        group["initial_lr"] = base
    warmup = float(recipe.warmup_epochs)
    timm_log = logging.getLogger("timm.scheduler.cosine_lr")
    level = timm_log.level
    timm_log.setLevel(logging.ERROR)  # its "no effect when t_initial = 1" warning is about restarts: none here
    try:
        return CosineLRScheduler(optimizer, t_initial=max(stage_epochs - warmup, 1e-8), warmup_t=warmup,
                                 warmup_lr_init=0.0, warmup_prefix=True, t_in_epochs=False, initialize=False)
    finally:
        timm_log.setLevel(level)


def finish(trainer: Trainer, records: pd.DataFrame, run_dir: Path, head_cfg, taxonomy,
           prior_source: pd.DataFrame | None = None) -> dict[str, Any]:
    """Predict the labelled splits with the best weights (the training one unless `train.predict_train` is false),
    fit the run's HeadPipeline on validation, write metrics and files. prior_source: what `prior_records` gave
    (head.prior.enabled)."""
    classes = trainer.classes
    predicted = ("train", "valid", "test") if trainer.recipe.predict_train else ("valid", "test")
    labelled = records[records["split"].isin(predicted)]
    started = time.perf_counter()
    logits = trainer.predict_logits(labelled, final=True)
    # end-to-end throughput as zoo.predict would see it: decoding, resizing and the forward pass(es)
    inference = {"images": len(labelled), "seconds": time.perf_counter() - started, "device": str(trainer.device),
                 "batch_size": int(trainer.recipe.eval_batch_size), "test_flip": bool(trainer.recipe.augment.test_flip)}
    inference["images_per_s"] = inference["images"] / max(inference["seconds"], 1e-9)
    log.info("inference: %d images in %.1f s (%.1f images/s on %s)", inference["images"], inference["seconds"],
             inference["images_per_s"], inference["device"])
    by_split = {s: labelled["split"].to_numpy() == s for s in ("train", "valid", "test")}
    head = HeadPipeline.from_config(head_cfg, classes, taxonomy)
    head.fit(logits[by_split["valid"]], labelled[by_split["valid"]], prior_records=prior_source)
    trainer.save_checkpoint(trainer.checkpoint_dir / "best.pt", head)
    log.info("head (saved in %s): %s", trainer.checkpoint_dir / "best.pt", head.summary())
    write_json(run_dir / "head.json", head.components_)
    n_bins = head_cfg.calibration.n_bins
    metrics: dict[str, Any] = {"temperature": head.temperature_, "head": head.components_, "classes": classes,
                               "history": trainer.history, "epochs_run": trainer.epoch, "inference": inference}
    for split in ("valid", "test"):
        mask = by_split[split]
        if not mask.any():
            continue
        part = labelled[mask]
        raw = evaluate_split(part, logits[mask], classes, head=head, calibrate=False, taxonomy=taxonomy, n_bins=n_bins)
        calibrated = evaluate_split(part, logits[mask], classes, head=head, taxonomy=taxonomy, n_bins=n_bins)
        metrics[split] = calibrated | {"uncalibrated": {lvl: {k: raw[lvl][k] for k in ("accuracy", "nll", "ece")}
                                                         for lvl in ("image", "sequence")}}
        plot_confusion(np.array(calibrated["image"]["confusion_matrix"]), classes, run_dir / f"confusion_{split}.png",
                       f"{split}: accuracy {calibrated['image']['accuracy']:.3f} ({calibrated['image']['n']} images)")
        _plot_reliability(head, part, logits[mask], classes, run_dir / f"reliability_{split}.png", n_bins, split)
    out = head.transform(logits, labelled)
    write_table(run_dir / "predictions_images.csv", prediction_frame(labelled, out.image_probs, classes))
    seq_meta = sequence_meta(labelled, out.sequence_ids, head.empty_class)
    seq_meta["split"] = labelled.groupby("sequence_id")["split"].first().reindex(seq_meta["sequence_id"]).to_numpy()
    seq_frame = prediction_frame(seq_meta, out.sequence_probs, classes,
                                 keep=("sequence_id", "split", "area", "site", "camera", "timestamp", "n_frames", "label"))
    write_table(run_dir / "predictions_sequences.csv", _with_rollup(seq_frame, out.rollup))
    history = pd.DataFrame(trainer.history)
    write_table(run_dir / "history.csv", history)
    if len(history):
        plot_history(history, run_dir / "training_curves.png")
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def _with_rollup(frame: pd.DataFrame, rolled: pd.DataFrame | None) -> pd.DataFrame:
    if rolled is None:
        return frame
    return pd.concat([frame, rolled.add_prefix("rollup_").reset_index(drop=True)], axis=1)


def _plot_reliability(head: HeadPipeline, records: pd.DataFrame, logits: np.ndarray, classes, path: Path,
                      n_bins: int, split: str) -> None:
    """Sequences of one split before and after the temperature (the ECE of its legend is metrics.json's)."""
    index = {c: i for i, c in enumerate(classes)}
    known = records["label"].isin(index).to_numpy()
    if not known.any():
        return
    records, logits = records[known], logits[known]
    curves = {}
    for name, calibrate in (("T = 1", False), (f"T = {head.temperature_:.2f}", True)):
        out = head.transform(logits, records, calibrate=calibrate)
        y = sequence_meta(records, out.sequence_ids, head.empty_class)["label"].map(index).to_numpy()
        curves[name] = (out.sequence_probs, y)
    plot_reliability(curves, path, n_bins=n_bins, title=f"{split} sequences")


def prior_records(head_cfg, records: pd.DataFrame) -> pd.DataFrame:
    """The labelled records the location/time prior learns from: `head.prior.records` (a data config read by
    zoo.data) or, when null, the run's training records; minus those within `holdout_days` of a valid/test
    photo at its site."""
    name = head_cfg.prior.records
    if name is None:
        source = records[records["split"] == "train"]
    else:
        source = load_study(load_data_config(str(name)), progress=False).records
    source = source[source["label"].fillna("").astype(str) != ""]
    scored = records[records["split"].isin(["valid", "test"])]
    kept = withhold_near(source, scored, head_cfg.prior.holdout_days)
    if len(kept) == 0:
        raise ValueError(f"head.prior: none of the {len(source)} labelled records of "
                         f"{'the training split' if name is None else name} is left to learn from: all lie within "
                         f"head.prior.holdout_days={head_cfg.prior.holdout_days:g} of a valid/test photo at their site "
                         "(lower it, or give head.prior.records)")
    log.info("prior: learns from %d labelled records (%s), %d within %g days of a valid/test photo left out",
             len(kept), "the run's training records" if name is None else name, len(source) - len(kept),
             head_cfg.prior.holdout_days)
    return kept


def _classes(records: pd.DataFrame) -> list[str]:
    train = records[(records["split"] == "train") & (records["label"] != "")]
    classes = sorted(train["label"].unique())
    # checked before the model loads: without them no epoch can be kept as best (the run ended in "no best.pt")
    if len(classes) < 2:
        raise ValueError(f"the train split holds {len(classes)} labelled class(es) ({', '.join(classes) or 'none'}): "
                         "a classifier needs at least two; label more photos or check data.split")
    valid = records[(records["split"] == "valid") & records["label"].isin(classes)]
    if valid.empty:
        raise ValueError("the valid split holds no labelled photo of a training class: add photos or raise "
                         "data.split.valid (the best epoch is chosen on it)")
    elsewhere = set(records.loc[(records["split"].isin(["valid", "test"])) & (records["label"] != ""), "label"])
    unseen = sorted(elsewhere - set(classes))
    if unseen:
        log.warning("labels %s occur in valid/test but not in train: those records are left out of the metrics", unseen)
    return classes


def early_layers(model, groups: int) -> tuple[list, list]:
    """Parameters and BatchNorm modules of the first `groups` of timm's coarse layer groups (stem, stages)."""
    if groups == 0:
        return [], []
    layers = [[model.get_submodule(name) for name in names]
              for names in group_modules(model, model.group_matcher(coarse=True)).values()]
    head = {id(p) for p in model.get_classifier().parameters()}
    trainable = next((i for i, group in enumerate(layers) if any(id(p) in head for m in group for p in m.parameters())),
                     len(layers))  # a model whose groups leave out its classifier: every group may freeze but one
    if groups > trainable - 1:  # the group before the classifier's learns, or only the classifier would
        raise ValueError(f"train.frozen_groups={groups} is too many for {type(model).__name__}: it has {trainable} "
                         f"layer groups before the classifier's, at most {trainable - 1} can stay frozen")
    modules = [m for group in layers[:groups] for m in group]
    return ([p for m in modules for p in m.parameters(recurse=False)],
            [m for m in modules if isinstance(m, _BatchNorm)])


def _split_parameters(model) -> tuple[list, list]:
    head = list(model.get_classifier().parameters())
    head_ids = {id(p) for p in head}
    return [p for p in model.parameters() if id(p) not in head_ids], head


def _set_threads(threads: Optional[int]) -> None:
    if threads:
        torch.set_num_threads(int(threads))


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _rng_state() -> dict[str, Any]:
    import random

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(state: dict[str, Any]) -> None:
    import random

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def _log_headline(metrics: dict[str, Any]) -> None:
    for split in ("valid", "test"):
        if split in metrics:
            image, seq = metrics[split]["image"], metrics[split]["sequence"]
            log.info("%s: image accuracy %.3f, macro-F1 %.3f | sequence accuracy %.3f, macro-F1 %.3f (T = %.2f)",
                     split, image["accuracy"], image["macro_f1"], seq["accuracy"], seq["macro_f1"], metrics["temperature"])


if __name__ == "__main__":
    main()
