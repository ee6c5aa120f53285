"""heads.HeadPipeline: the run's one fitted post-processing object (prior, temperature, pooling, roll-up)."""
import io
import logging

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from heads.calibration import apply_temperature, fit_temperature
from heads.pipeline import HeadPipeline, sequence_targets
from heads.pooling import pool
from heads.taxonomy import Taxonomy

CLASSES = ["deer", "hare", "owl"]
SITES = {"north": (46.60, 5.90), "south": (46.30, 5.70)}




def frames(n_seq=40, seed=0):
    """Frame logits and records: sequences of 1-3 frames, labels mostly matching the logits' arg-max."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 4, n_seq)
    seq = np.repeat([f"s{i:03d}" for i in range(n_seq)], sizes)
    frame = np.concatenate([np.arange(k) for k in sizes])
    truth = np.repeat(rng.integers(0, 3, n_seq), sizes)
    logits = rng.normal(0, 1, (len(seq), 3)) * 3
    logits[np.arange(len(seq)), truth] += 4
    site = np.repeat(rng.choice(list(SITES), n_seq), sizes)
    hour = np.where(np.asarray(CLASSES)[truth] == "owl", 23, 12)
    records = pd.DataFrame({"sequence_id": seq, "frame": frame, "label": np.asarray(CLASSES, dtype=object)[truth],
                            "site": site, "timestamp": pd.Timestamp("2016-06-01") + pd.to_timedelta(hour, unit="h")})
    return logits, records


def planted_records(n=1200, seed=0):
    """night -> owl everywhere; day -> hare in the north, deer in the south."""
    rng = np.random.default_rng(seed)
    site = rng.choice(list(SITES), size=n)
    night = rng.random(n) < 0.5
    hour = np.where(night, 23, 12)
    ts = pd.Timestamp("2016-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D") + pd.to_timedelta(hour, unit="h")
    label = np.where(night, "owl", np.where(site == "north", "hare", "deer"))
    return pd.DataFrame({"site": site, "lat": [SITES[s][0] for s in site], "lon": [SITES[s][1] for s in site],
                         "timestamp": ts, "label": label})


def small_prior(**kw):
    return dict(hidden=16, epochs=80, drop_prob=0.25, use_location=True, use_time=True, seen_site_km=0.5, seed=0, **kw)


def test_without_prior_it_is_temperature_then_pooling():
    logits, records = frames()
    head = HeadPipeline(CLASSES, pooling="mean_probs", rollup="none").fit(logits, records)
    ids, labels = sequence_targets(records["label"], records["sequence_id"])
    codes = pd.Categorical(records["sequence_id"], categories=ids).codes
    mean = np.stack([logits[codes == k].mean(0) for k in range(len(ids))])
    assert head.temperature_ == pytest.approx(fit_temperature(mean, np.array([CLASSES.index(x) for x in labels])))
    out = head.transform(logits, records)
    np.testing.assert_allclose(out.image_probs, apply_temperature(logits, head.temperature_))
    expected_ids, expected = pool(logits / head.temperature_, records["sequence_id"], "mean_probs",
                                  frame=records["frame"])
    assert list(out.sequence_ids) == list(expected_ids)
    np.testing.assert_allclose(out.sequence_probs, expected)
    assert out.rollup is None and out.components["prior"] == {"ran": False}
    assert head.summary().startswith("no prior, temperature T=")
    uncalibrated = head.transform(logits, records, calibrate=False)
    np.testing.assert_allclose(uncalibrated.image_probs, apply_temperature(logits, 1.0))


def test_image_level_temperature_and_sklearn_protocol():
    logits, records = frames()
    head = HeadPipeline(CLASSES, calibration_level="image", rollup="none")
    assert clone(head).get_params()["calibration_level"] == "image"
    head.fit(logits, records)
    y = records["label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    assert head.temperature_ == pytest.approx(fit_temperature(logits, y))
    with pytest.raises(RuntimeError, match="not fitted"):
        HeadPipeline(CLASSES).transform(logits, records)


def test_a_label_absent_from_the_classes_is_left_out_not_a_crash(caplog):
    """The case zoo.train's `_classes` warns about: a class only in valid/test (was a NaN index cast to int)."""
    logits, records = frames()
    odd = records["sequence_id"].isin(["s000", "s001"])
    records.loc[odd, "label"] = "badger"
    with caplog.at_level(logging.INFO):
        head = HeadPipeline(CLASSES, rollup="none").fit(logits, records)
    assert np.isfinite(head.temperature_) and head.temperature_ > 0
    assert f"{int(odd.sum())} of {len(records)} validation record(s) have no label among the classes" in caplog.text
    kept = ~odd.to_numpy()
    assert head.temperature_ == HeadPipeline(CLASSES, rollup="none").fit(logits[kept], records[kept]).temperature_


def test_prior_is_learnt_applied_by_site_and_pickles():
    logits, records = frames()
    flat = np.zeros_like(logits)  # an uninformative classifier: the prior alone decides
    head = HeadPipeline(CLASSES, prior=True, prior_combine="bayes", prior_params=small_prior(), rollup="none",
                        calibration=False).fit(flat, records, prior_records=planted_records())
    assert head.components_["prior"]["ran"] and head.components_["prior"]["sites"] == 2
    query = pd.DataFrame({"sequence_id": ["a", "b", "c"], "frame": [0, 0, 0], "site": ["north", "south", "north"],
                          "timestamp": pd.to_datetime(["2016-06-01 12:00", "2016-06-01 12:00", "2016-06-01 23:00"])})
    inputs = head.prior_inputs(query)  # no coordinates in the query: they come from the site
    assert inputs["lat"].tolist() == [SITES["north"][0], SITES["south"][0], SITES["north"][0]]
    out = head.transform(np.zeros((3, 3)), query)
    assert np.asarray(CLASSES)[out.image_probs.argmax(1)].tolist() == ["hare", "deer", "owl"]
    assert "prior bayes" in head.summary()
    buffer = io.BytesIO()
    joblib.dump(head, buffer)
    buffer.seek(0)
    again = joblib.load(buffer)
    np.testing.assert_allclose(again.transform(np.zeros((3, 3)), query).image_probs, out.image_probs)
    with pytest.raises(ValueError, match="needs labelled records"):
        HeadPipeline(CLASSES, prior=True, prior_params=small_prior()).fit(flat, records)


def test_attention_is_fitted_and_applied():
    logits, records = frames(n_seq=60)
    head = HeadPipeline(CLASSES, pooling="attention", attention_epochs=30, rollup="none").fit(logits, records)
    assert head.attention_ is not None and head.components_["pooling"]["fitted"]
    out = head.transform(logits, records)
    np.testing.assert_allclose(out.sequence_probs.sum(1), 1.0)
    unfitted = HeadPipeline.from_temperature(CLASSES, 1.0).set_params(pooling="attention")
    with pytest.raises(ValueError, match="pooler fitted"):
        unfitted.transform(logits, records)


def test_empty_class_and_rollup():
    classes = ["empty", "lynx", "chat"]
    taxonomy = Taxonomy(pd.DataFrame({"label": classes, "class": ["", "Mammalia", "Mammalia"],
                                      "order": ["", "Carnivora", "Carnivora"], "family": ["", "Felidae", "Felidae"],
                                      "genus": ["", "Lynx", "Felis"], "species": ["", "lynx", "catus"]}))
    # two frames 98% empty and one 90% lynx (docs/heads.md's worked example), labelled so
    p = np.array([[0.98, 0.01, 0.01], [0.98, 0.01, 0.01], [0.05, 0.90, 0.05]])
    records = pd.DataFrame({"sequence_id": ["s"] * 3, "frame": [0, 1, 2], "label": ["empty", "empty", "lynx"]})
    assert sequence_targets(records["label"], records["sequence_id"], "empty")[1].tolist() == ["lynx"]
    assert sequence_targets(["empty", "empty"], ["t", "t"], "empty")[1].tolist() == ["empty"]
    head = HeadPipeline(classes, empty_class="empty", calibration=False, rollup="speciesnet", taxonomy=taxonomy)
    out = head.fit(np.log(p), records).transform(np.log(p), records)
    assert out.sequence_probs[0].argmax() == 1
    assert out.rollup.columns.tolist() == ["prediction", "level", "score"] and out.components["rollup"]["ran"]
    with pytest.raises(ValueError, match="empty_class='nothing'"):
        HeadPipeline(classes, empty_class="nothing").fit(np.log(p), records)
