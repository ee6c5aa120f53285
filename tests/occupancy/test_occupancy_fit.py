"""The Hydra entry point: config checks, the lynx histories, and one end-to-end run on simulated records."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from occupancy.fit import check_config, run
from occupancy.simulate import simulate
from occupancy.study import detection_data, load_study_records
from core.runs import compose_config, write_table


def config(*overrides):
    return compose_config("occupancy/fit", overrides)


def test_every_default_composes_and_passes_the_key_check():
    for labels in ("ground_truth", "naive", "confusion"):
        for sampler in ("default", "pymc", "nutpie", "numpyro", "fast"):
            check_config(config(f"labels={labels}", f"sampler={sampler}"))
    check_config(config("labels=scores", "scores_path=x.csv", "prior=unmarked_classified"))


def test_config_mistakes_fail_clearly():
    cfg = config()
    OmegaConf.set_struct(cfg, False)
    cfg.study.interations = [["lynx", "deer"]]  # a typo in a study file (files are not struct-checked)
    with pytest.raises(ValueError, match="unknown key.*interations"):
        check_config(cfg)
    with pytest.raises(ValueError, match="unknown species \\['wolf'\\]"):
        check_config(config("study.interactions=[[lynx,wolf]]"))
    with pytest.raises(ValueError, match="needs scores_path"):
        check_config(config("labels=scores"))
    with pytest.raises(ValueError, match="unknown key.*verified_fraction"):
        check_config(config("labels=naive", "+labels.verified_fraction=0.2"))
    with pytest.raises(Exception, match="chians"):
        config("sampler.chians=2")  # Hydra's struct mode rejects unknown overrides


def test_two_jobs_of_one_multirun_may_not_share_a_run_dir(tmp_path, monkeypatch):
    import occupancy.fit as fit_module

    monkeypatch.setattr(fit_module, "_WRITTEN", {(tmp_path / "fit").resolve()})  # as if an earlier job wrote it
    monkeypatch.setattr(fit_module, "_in_multirun", lambda: True)
    with pytest.raises(ValueError, match="written by an earlier job of this --multirun: name the swept keys"):
        run(config(f"run_dir={tmp_path / 'fit'}"))
    assert not (tmp_path / "fit").exists()
    fit_module._claim_run_dir(str(tmp_path / "other"))  # another run_dir is fine
    monkeypatch.setattr(fit_module, "_in_multirun", lambda: False)
    fit_module._claim_run_dir(str(tmp_path / "fit"))  # outside a multirun a refit may reuse its run_dir


@pytest.fixture(scope="module")
def lynx_records():
    return load_study_records(config().study.records)


def test_lynx_ground_truth_histories_are_29_sites_by_9_months(lynx_records):
    cfg = config()
    data = detection_data(lynx_records, cfg.study, cfg.labels)
    assert data.shape == (5, 29, 9)
    areas = lynx_records.drop_duplicates("site").set_index("site")["area"].astype(str)
    assert (areas.reindex(list(data.sites)) == "ain").sum() == 11
    assert (areas.reindex(list(data.sites)) == "jura").sum() == 18
    # a site-month without a single photo is missing (the camera was off): 39 of 261, 22 of them at Ain
    missing = np.isnan(data.y[0])
    assert missing.sum() == 39 and (np.isnan(data.y) == missing[None]).all()
    assert missing[(areas.reindex(list(data.sites)) == "ain").to_numpy()].sum() == 22
    assert not np.isnan(detection_data(lynx_records, config("study.activity=none").study, cfg.labels).y).any()  # the seed study's reading
    assert data.occasions == tuple(f"{m:02d}" for m in range(3, 12))
    # every species is detected somewhere, and not everywhere
    per_species = np.nanmean(data.y.reshape(5, -1), axis=1)
    assert ((per_species > 0.1) & (per_species < 0.95)).all()


def test_lynx_classified_streams(lynx_records):
    naive = detection_data(lynx_records, config().study, config("labels=naive").labels)
    conf = detection_data(lynx_records, config().study, config("labels=confusion").labels)
    gt = detection_data(lynx_records, config().study, config().labels)
    ain = np.isin(np.asarray(gt.sites), lynx_records.loc[lynx_records["area"] == "ain", "site"].astype(str).unique())
    assert np.array_equal(naive.y[:, ~ain], gt.y[:, ~ain], equal_nan=True)  # Jura keeps its manual labels
    assert not np.array_equal(naive.y[:, ain], gt.y[:, ain], equal_nan=True)
    ev = conf.sequences
    assert set(ev.unit_site) == set(np.flatnonzero(ain))  # Ain is read from its sequences, Jura from its labels
    assert np.array_equal(conf.y[:, ~ain], gt.y[:, ~ain], equal_nan=True)
    assert np.isnan(conf.y[:, ain]).all()  # Ain is seen through its sequences only (months without a photo: missing)
    # 10% of the Ain photos verified, whole sequences counted once: fewer verified sequences than photos
    assert conf.notes["n_verified"] == pytest.approx(0.1 * (lynx_records["area"] == "ain").sum(), rel=0.1)
    assert 0 < ev.confirmed.sum() < (ev.label_count > 0).sum()


def _assert_same_evidence(a, b, where="data"):
    """Every field of two DetectionData (and of their sequence evidence) equal, NaN included."""
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _assert_same_evidence(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, (pd.DataFrame, pd.Series)):
        assert a.equals(b), where
    else:
        assert a == b, where


def test_records_cleaned_once_and_read_from_a_table_give_the_same_evidence(lynx_records, tmp_path):
    # zoo.pipeline cleans the 65k records once (`zoo.data summarize --records`) and every fit reads that table
    # through study.records.path: no label mode may see different data than through the data config
    write_table(tmp_path / "records.parquet", lynx_records)
    from_table = load_study_records({"path": str(tmp_path / "records.parquet"), "data": None})
    for labels in ("labels=confusion", "labels=classifier_only"):
        cfg = config(labels)
        _assert_same_evidence(detection_data(lynx_records, cfg.study, cfg.labels, seed=int(cfg.seed)),
                              detection_data(from_table, cfg.study, cfg.labels, seed=int(cfg.seed)))


def test_end_to_end_run_writes_the_outputs(tmp_path):
    sim = simulate(n_sites=40, species=("lynx", "deer"), natural={"lynx": 0.0, "deer": 1.0, "lynx:deer": 0.5},
                   interactions=(("lynx", "deer"),), seed=3)
    path = tmp_path / "records.csv"
    sim.records.to_csv(path, index=False)
    cfg = config(
        f"run_dir={tmp_path / 'run'}", "sampler=fast", f"study.records.path={path}",
        "study.species={lynx:[lynx],deer:[deer]}", "study.interactions=[[lynx,deer]]",
        "study.conditionals=[{species:lynx,given:[deer]}]", "study.occasions.kind=column",
        "study.truth_column=true_label", "study.classified_areas=[]",
    )
    run_dir = run(cfg)
    for name in ("config.yaml", "versions.json", "log.txt", "posterior.nc", "summary.csv", "sites.csv",
                 "diagnostics.json", "histories.csv", "occupancy.png"):
        assert (run_dir / name).is_file(), name
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary.columns) == ["parameter", "mean", "sd", "q2.5", "q97.5", "r_hat", "ess_bulk"]
    assert {"p[lynx]", "psi[deer]", "psi[lynx | deer]", "psi[lynx | -deer]"} <= set(summary["parameter"])
    diag = json.loads((run_dir / "diagnostics.json").read_text())
    assert diag["chains"] == 2 and "max_r_hat" in diag
    import arviz as az

    idata = az.from_netcdf(run_dir / "posterior.nc")
    assert "psi_conditional" in idata.posterior and idata.posterior.attrs["labels"] == "ground_truth"
    assert not any(p.name == "outputs" for p in tmp_path.iterdir())
