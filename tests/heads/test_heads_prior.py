import logging

import numpy as np
import pandas as pd
import pytest
import torch

from heads.prior import GeoTimePrior, PriorFusion, align_classes, combine

SITES = {"north": (46.60, 5.90), "south": (46.30, 5.70)}




def planted_records(n=1500, seed=0):
    """night -> 'owl' everywhere; day -> 'hare' at the north site, 'deer' at the south site."""
    rng = np.random.default_rng(seed)
    site = rng.choice(list(SITES), size=n)
    night = rng.random(n) < 0.5
    hour = np.where(night, rng.choice([22, 23, 0, 1, 2, 3], size=n), rng.integers(9, 17, size=n))
    day = rng.integers(0, 365, size=n)
    ts = pd.Timestamp("2016-01-01") + pd.to_timedelta(day, unit="D") + pd.to_timedelta(hour, unit="h")
    label = np.where(night, "owl", np.where(site == "north", "hare", "deer"))
    lat = [SITES[s][0] for s in site]
    lon = [SITES[s][1] for s in site]
    return pd.DataFrame({"site": site, "lat": lat, "lon": lon, "timestamp": ts, "label": label})


def query(site, hour):
    lat, lon = SITES[site] if site else (np.nan, np.nan)
    return pd.DataFrame({"lat": [lat], "lon": [lon], "timestamp": [pd.Timestamp("2016-06-01") + pd.Timedelta(hours=hour)]})


@pytest.fixture(scope="module")
def prior():
    torch.manual_seed(0)
    return GeoTimePrior(hidden=32, epochs=12, batch_size=128, seed=0, progress=False).fit(planted_records())


def test_prior_learns_the_planted_pattern(prior):
    assert prior.classes_.tolist() == ["deer", "hare", "owl"]
    assert prior.predict_proba(query("north", 0))[0, 2] > 0.9     # owl at night
    assert prior.predict_proba(query("north", 12))[0, 1] > 0.9    # hare by day, north
    assert prior.predict_proba(query("south", 12))[0, 0] > 0.9    # deer by day, south
    assert prior.class_freq_.sum() == pytest.approx(1.0)


def test_prior_falls_back_to_time_only_without_coordinates(prior, caplog):
    with caplog.at_level(logging.INFO, logger="heads.prior"):
        night = prior.predict_proba(query(None, 0))[0]
        day = prior.predict_proba(query(None, 12))[0]
    assert "no coordinates: time-only prior" in caplog.text
    assert night[2] > 0.9
    # by day without a place, hare and deer are equally likely (half the day records each)
    assert day[2] < 0.1 and day[0] == pytest.approx(0.5, abs=0.15) and day[1] == pytest.approx(0.5, abs=0.15)


def test_unseen_site_gets_the_time_only_prior(prior, caplog):
    far_away = query("north", 12).assign(lat=45.0, lon=4.0)  # ~200 km from both training sites
    with caplog.at_level(logging.INFO, logger="heads.prior"):
        unseen = prior.predict_proba(far_away)
    assert "more than 0.5 km from every training site" in caplog.text
    assert unseen == pytest.approx(prior.predict_proba(query(None, 12)))
    near = query("north", 12).assign(lat=SITES["north"][0] + 0.001)  # ~110 m away: still the north site
    assert prior.predict_proba(near)[0, 1] > 0.9


def test_prior_aligns_to_classifier_classes(prior, caplog):
    with caplog.at_level(logging.WARNING, logger="heads.prior"):
        probs = prior.predict_proba(query("north", 0), classes=["owl", "bat"])
    assert "bat" in caplog.text
    assert probs.sum() == pytest.approx(1.0) and probs[0, 0] > 0.99


def test_prior_needs_columns_and_labels():
    with pytest.raises(ValueError, match="timestamp"):
        GeoTimePrior().fit(pd.DataFrame({"lat": [1.0], "lon": [1.0], "label": ["a"]}))
    with pytest.raises(ValueError, match="no labelled records"):
        GeoTimePrior().fit(pd.DataFrame({"lat": [1.0], "lon": [1.0], "timestamp": [pd.NaT], "label": [""]}))
    with pytest.raises(RuntimeError, match="not fitted"):
        GeoTimePrior().predict_proba(query("north", 0))


def test_align_and_combine_by_hand():
    assert align_classes(np.array([[0.6, 0.3, 0.1]]), ["a", "b", "c"], ["c", "a"])[0] == pytest.approx([0.1 / 0.7, 0.6 / 0.7])
    image, place = np.array([[0.5, 0.5]]), np.array([[0.8, 0.2]])
    assert combine(image, place)[0] == pytest.approx([0.8, 0.2])
    assert combine(image, place, class_freq=np.array([0.8, 0.2]))[0] == pytest.approx([0.5, 0.5])
    assert combine(np.array([[0.2, 0.8]]), place, weight=0.0)[0] == pytest.approx([0.2, 0.8])
    with pytest.raises(ValueError, match="shape"):
        combine(image, np.ones((1, 3)))


def test_fusion_starts_as_the_plain_product():
    fusion = PriorFusion(3)
    logits, log_prior = torch.randn(4, 3), torch.log_softmax(torch.randn(4, 3), dim=1)
    fused = torch.softmax(fusion(logits, log_prior), dim=1).detach().numpy()
    product = combine(torch.softmax(logits, 1).numpy(), log_prior.exp().numpy())
    assert fused == pytest.approx(product, abs=1e-6)
    groups = fusion.param_groups([torch.nn.Parameter(torch.zeros(1))], lr=0.1, fusion_lr=0.01)
    assert [g["lr"] for g in groups] == [0.1, 0.01] and len(groups[1]["params"]) == 2
