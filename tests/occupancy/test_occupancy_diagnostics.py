"""Convergence diagnostics: chains that disagree are flagged by name and reported loudly."""
import logging

import arviz as az
import numpy as np
import xarray as xr

from occupancy.summary import diagnostics, summarize, warn_if_unconverged


def idata_with_chains(offset: float):
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(2, 500, 2))
    draws[1, :, 0] += offset  # species 'lynx': the second chain sits elsewhere
    p = xr.DataArray(1 / (1 + np.exp(-draws)), dims=("chain", "draw", "species"),
                     coords={"chain": [0, 1], "draw": np.arange(500), "species": ["lynx", "deer"]})
    return az.from_dict(posterior={"p": p.values}, coords={"species": ["lynx", "deer"]}, dims={"p": ["species"]}), p


def test_disagreeing_chains_are_named_and_reported_loudly(caplog):
    idata, p = idata_with_chains(offset=3.0)
    summary = summarize(xr.Dataset({"p": p}))
    diag = diagnostics(idata, summary)
    assert diag["r_hat_above_limit"] == ["p[lynx]"] and not diag["converged"]
    assert summary.set_index("parameter").loc["p[lynx]", "r_hat"] > 1.5
    with caplog.at_level(logging.ERROR):
        warn_if_unconverged(diag)
    assert "NOT CONVERGED" in caplog.text and "p[lynx]" in caplog.text


def test_agreeing_chains_pass_quietly(caplog):
    idata, p = idata_with_chains(offset=0.0)
    diag = diagnostics(idata, summarize(xr.Dataset({"p": p})))
    assert diag["converged"] and diag["r_hat_above_limit"] == [] and diag["max_r_hat"] < 1.01
    with caplog.at_level(logging.WARNING):
        warn_if_unconverged(diag)
    assert caplog.text == ""
