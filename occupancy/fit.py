"""`python -m occupancy.fit study=lynx labels=ground_truth run_dir=PATH`: fit the multispecies occupancy model.

Writes into run_dir: config.yaml, versions.json, inputs.json, log.txt, histories.csv, posterior.nc
(InferenceData with the derived quantities), summary.csv (parameter, mean, sd, q2.5, q97.5, r_hat,
ess_bulk in unmarked's notation), sites.csv (per-site posterior occupancy), diagnostics.json and
occupancy.png.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

import zoo  # noqa: F401  (registers the ${sample:...} resolver)
from core.runs import (Interval, Rule, add_file_logging, add_input_record, atomic_path, hydra_command,
                       prepare_run_dir, seed_everything, table_sha256, validate, write_json, write_table)

from occupancy.derived import conditional_set
from occupancy.histories import OccasionSpec
from occupancy.inference import SamplerSpec, fit
from occupancy.model import ModelSpec, PriorSpec, interaction_terms
from occupancy.streams import VERIFIED_UNITS
from occupancy.study import detection_data, load_study_records, read_table

log = logging.getLogger("occupancy.fit")

STUDY_KEYS = {
    "name", "records", "species", "interactions", "conditionals", "occasions", "activity", "deployments_path",
    "time_column", "area_column", "truth_column", "classifier_column", "classified_areas", "sites_path",
    "occupancy_covariates", "detection_covariates",
}
LABEL_KEYS = {
    "ground_truth": {"mode"},
    "naive": {"mode", "emulate_from", "emulate_seed"},
    "confusion": {"mode", "verified_fraction", "verified_unit", "verified_seed", "verified_path", "emulate_from",
                  "emulate_seed"},
    "scores": {"mode", "score_prior"},
}
TOP_KEYS = {"study", "labels", "sampler", "prior", "run_dir", "seed", "scores_path", "plots"}


def check_config(cfg: DictConfig) -> None:
    """Fail on unknown or misspelt keys before any work starts, naming the key and the known ones."""
    def check(section: str, keys, allowed) -> None:
        unknown = sorted(set(keys) - set(allowed))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in {section}; known: {sorted(allowed)}")

    check("the occupancy config", cfg.keys(), TOP_KEYS)
    check("study", cfg.study.keys(), STUDY_KEYS)
    check("study.records", cfg.study.records.keys(), {"data", "path"})
    check("study.occasions", cfg.study.occasions.keys(), {f.name for f in dataclasses.fields(OccasionSpec)})
    mode = cfg.labels.get("mode")
    if mode not in LABEL_KEYS:
        raise ValueError(f"labels.mode must be one of {sorted(LABEL_KEYS)}, got {mode!r}")
    check(f"labels ({mode})", cfg.labels.keys(), LABEL_KEYS[mode])
    check("sampler", cfg.sampler.keys(), {f.name for f in dataclasses.fields(SamplerSpec)} - {"seed"})
    check("prior", cfg.prior.keys(), {f.name for f in dataclasses.fields(PriorSpec)})
    if mode == "confusion":
        if OmegaConf.is_missing(cfg.labels, "verified_path"):
            raise ValueError("labels.verified_path is required here: a review list from occupancy.plan with its "
                             "verified_label column filled")
        if not 0 <= float(cfg.labels.verified_fraction) <= 1:
            raise ValueError(f"labels.verified_fraction must be in [0, 1], got {cfg.labels.verified_fraction}")
        if cfg.labels.verified_unit not in VERIFIED_UNITS:
            raise ValueError(f"labels.verified_unit must be one of {list(VERIFIED_UNITS)}, got {cfg.labels.verified_unit!r}")
        if cfg.labels.verified_path and not Path(cfg.labels.verified_path).is_file():
            raise ValueError(f"labels.verified_path {cfg.labels.verified_path} does not exist")
    if cfg.labels.get("emulate_from") and not Path(cfg.labels.emulate_from).exists():
        raise ValueError(f"labels.emulate_from {cfg.labels.emulate_from} does not exist (a zoo.train run directory or a "
                         "confusion CSV with true, predicted, count)")
    if mode == "scores" and not cfg.scores_path:
        raise ValueError("labels=scores needs scores_path=<per-sequence probabilities from zoo.predict (CSV/Parquet)>")
    validate(cfg, {"seed": Interval(0, 2**32 - 1, integer=True)})
    # the summary cannot yet report a fit without conditional occupancies: it failed after sampling
    validate(cfg.study, {"conditionals": Rule(lambda c: c is not None and len(c) > 0,
                                              "at least one {species: S, given: [OTHER, ...]} entry")}, "study.")
    species = list(cfg.study.species)
    conditional_set(species, OmegaConf.to_container(cfg.study.conditionals))  # unknown names fail here
    interaction_terms(tuple(species), OmegaConf.to_container(cfg.study.interactions))
    specs(cfg)  # the sampler's and prior's own checks


def specs(cfg: DictConfig) -> tuple[ModelSpec, SamplerSpec]:
    prior = PriorSpec(**OmegaConf.to_container(cfg.prior))
    interactions = OmegaConf.to_container(cfg.study.interactions)
    model_spec = ModelSpec(
        interactions=interactions if isinstance(interactions, str) else tuple(tuple(t) for t in interactions),
        occupancy_covariates=tuple(cfg.study.occupancy_covariates),
        detection_covariates=tuple(cfg.study.detection_covariates),
        prior=prior,
    )
    sampler = SamplerSpec(seed=int(cfg.seed), **OmegaConf.to_container(cfg.sampler))
    return model_spec, sampler


_WRITTEN: set[Path] = set()  # run directories the jobs of this --multirun wrote


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _claim_run_dir(run_dir: str) -> None:
    """Jobs of one --multirun must each write their own run_dir (a refit from Python may reuse one)."""
    if not _in_multirun():
        return
    target = Path(run_dir).resolve()
    if target in _WRITTEN:
        raise ValueError(f"run_dir {run_dir} was written by an earlier job of this --multirun: name the swept keys "
                         "in it, e.g. run_dir='runs/occ/seed${labels.emulate_seed}'")
    _WRITTEN.add(target)


def run(cfg: DictConfig) -> Path:
    """Fit one study and label mode; every output goes to cfg.run_dir atomically."""
    check_config(cfg)
    _claim_run_dir(cfg.run_dir)
    started = time.perf_counter()
    inputs = {k: v for k, v in {"records": cfg.study.records.path, "scores": cfg.scores_path,
                               "verified": cfg.labels.get("verified_path"),
                               "sites": cfg.study.sites_path, "deployments": cfg.study.deployments_path}.items() if v}
    run_dir = prepare_run_dir(cfg.run_dir, cfg, inputs)
    handler = add_file_logging(run_dir)
    try:
        seed_everything(int(cfg.seed))
        model_spec, sampler = specs(cfg)
        records = load_study_records(cfg.study.records)
        if not cfg.study.records.path:  # read through a zoo.data config: hash the records themselves
            add_input_record(run_dir, "records", {"data": str(cfg.study.records.data), "rows": len(records),
                                                  "sha256": table_sha256(records)})
        scores = read_table(cfg.scores_path) if cfg.labels.mode == "scores" else None
        data = detection_data(records, cfg.study, cfg.labels, scores=scores, seed=int(cfg.seed))
        log.info("%s / %s: %d species x %d sites x %d occasions", cfg.study.name, cfg.labels.mode, *data.shape)
        write_table(run_dir / "histories.csv", data.to_frame())
        conditionals = conditional_set(data.species, OmegaConf.to_container(cfg.study.conditionals))
        result = fit(data, model_spec, sampler, conditionals)
        result.idata.posterior.attrs.update({"study": cfg.study.name, "labels": cfg.labels.mode, "seed": int(cfg.seed)})
        with atomic_path(run_dir / "posterior.nc") as tmp:
            result.idata.to_netcdf(str(tmp))
        write_table(run_dir / "summary.csv", result.summary)
        write_table(run_dir / "sites.csv", result.sites)
        write_table(run_dir / "predictive_check.csv", result.check)
        result.diagnostics["timings"]["wall_s"] = time.perf_counter() - started
        write_json(run_dir / "diagnostics.json", result.diagnostics)
        if cfg.plots:
            from occupancy.plots import plot_occupancy, plot_predictive_check

            plot_occupancy({f"{cfg.study.name} / {cfg.labels.mode}": result.summary}, run_dir / "occupancy.png")
            plot_predictive_check(result.check, result.replicated, run_dir / "predictive_check.png")
        log.info("summary:\n%s", result.summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        log.info("posterior predictive check (detection frequencies):\n%s",
                 result.check.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        log.info("wrote %s in %.1f s (sampling %.1f s, back-end %s)", run_dir, result.diagnostics["timings"]["wall_s"],
                 result.timings["sample_s"], result.timings["backend"])
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    return run_dir


@hydra_command("occupancy.fit", config_name="occupancy/fit")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
