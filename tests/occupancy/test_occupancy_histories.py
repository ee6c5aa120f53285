"""Detection histories and streams on small handmade tables."""
import numpy as np
import pandas as pd
import pytest

from occupancy.histories import DetectionData, OccasionSpec, build_histories, normalise_species_map
from occupancy.sequences import SequenceEvidence, sequence_evidence, sequence_table
from occupancy.streams import assemble, verified_mask

SPECIES = {"lynx": "lynx", "deer": "chevreuil"}


def records(rows):
    return pd.DataFrame(rows, columns=["site", "timestamp", "label"]).assign(timestamp=lambda d: pd.to_datetime(d.timestamp))


def test_monthly_histories_pool_years_and_drop_months_outside_window():
    recs = records([
        ("A", "2016-03-05", "lynx"),
        ("A", "2017-03-20", "chevreuil"),  # another year, same occasion
        ("A", "2016-12-01", "lynx"),  # month 12: outside 3..11
        ("B", "2016-11-30", "humain;chevreuil"),  # several labels on one photo
        ("B", "2016-04-01", "renard"),  # not a focal species
    ])
    data = build_histories(recs, SPECIES)
    assert data.occasions == tuple(f"{m:02d}" for m in range(3, 12))
    assert data.sites == ("A", "B")
    assert data.y[0, 0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert data.y[1, 0, 0] == 1 and data.y[1].sum() == 2
    assert data.y[1, 1, 8] == 1  # 'humain;chevreuil' counts for deer
    assert not np.isnan(data.y).any()  # activity 'none': nothing missing, as the seed study


def test_inactive_occasions_are_missing_not_zero():
    recs = records([("A", "2016-03-05", "humain"), ("A", "2016-04-05", "lynx"), ("B", "2016-03-07", "")])
    data = build_histories(recs, SPECIES, activity="records")
    assert data.y[0, 0, 0] == 0  # camera A was active in March (a human), no lynx
    assert data.y[0, 0, 1] == 1
    assert np.isnan(data.y[:, 0, 2:]).all()  # no record at all: inactive
    assert data.y[0, 1, 0] == 0 and np.isnan(data.y[0, 1, 1])  # empty-label photo still proves activity
    assert data.effort[0, 0] == 1 and data.effort[0, 2] == 0


def test_deployments_give_effort_in_camera_days():
    recs = records([("A", "2016-03-05", "lynx")])
    deployments = pd.DataFrame({"site": ["A", "A"], "start": ["2016-03-01", "2016-03-01"], "end": ["2016-03-10", "2016-04-02"]})
    data = build_histories(recs, SPECIES, activity=deployments)
    assert data.effort[0, 0] == 10 + 31 and data.effort[0, 1] == 2
    assert np.isnan(data.y[0, 0, 2]) and data.y[0, 0, 0] == 1


def test_day_occasions():
    recs = records([("A", "2016-03-01", "lynx"), ("A", "2016-03-09", "lynx"), ("A", "2016-03-15", "chevreuil")])
    data = build_histories(recs, SPECIES, OccasionSpec(kind="days", length_days=7))
    assert data.occasions == ("2016-03-01", "2016-03-08", "2016-03-15")
    assert data.y[0, 0].tolist() == [1, 1, 0] and data.y[1, 0].tolist() == [0, 0, 1]


def test_bad_input_fails_clearly():
    with pytest.raises(ValueError, match="no 'site' column"):
        build_histories(pd.DataFrame({"timestamp": [], "label": []}), SPECIES)
    with pytest.raises(ValueError, match="label column 'lab'"):
        build_histories(records([("A", "2016-03-05", "lynx")]), SPECIES, label_col="lab")
    with pytest.raises(ValueError, match="mapped to both"):
        normalise_species_map({"a": "lynx", "b": ["lynx"]})
    with pytest.raises(ValueError, match="months must be in 1..12"):
        OccasionSpec(months=(0, 13))
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        DetectionData(species=("a",), sites=("s",), occasions=("1",), y=np.array([[[2.0]]]))
    with pytest.raises(ValueError, match="shape"):
        DetectionData(species=("a",), sites=("s",), occasions=("1",), y=np.zeros((1, 2, 1)))
    with pytest.raises(ValueError, match="also in the truth stream"):
        DetectionData(species=("a",), sites=("s",), occasions=("1",), y=np.zeros((1, 1, 1)), sequences=SequenceEvidence(
            unit_site=np.array([0]), unit_occasion=np.array([0]), label_count=np.ones((1, 1)), n_sequences=np.array([1.0]),
            verified_hit=np.zeros((1, 1)), verified_miss=np.zeros((1, 1)), confirmed=np.zeros((1, 1), bool)))


def test_sites_with_no_observed_occasion_are_dropped_with_a_log(caplog):
    y = np.array([[[1.0, 0.0], [np.nan, np.nan]]])
    data = DetectionData(species=("a",), sites=("s1", "s2"), occasions=("1", "2"), y=y)
    kept = data.drop_empty_sites()
    assert kept.sites == ("s1",) and "s2" in caplog.text


def test_streams_for_each_mode():
    recs = pd.DataFrame({
        "site": ["J", "J", "A", "A", "A", "A"],
        "occasion": ["1", "2", "1", "1", "2", "2"],
        "truth": ["lynx", "chevreuil", "chevreuil", "humain", "lynx", "humain"],
        "cnn": ["", "", "chevreuil", "chevreuil", "renard", "humain"],
        "classified": [False, False, True, True, True, True],
    })
    kw = dict(truth_col="truth", classifier_col="cnn", classified=recs["classified"], occasions=OccasionSpec(kind="column"))
    gt = assemble(recs, SPECIES, "ground_truth", **kw)
    naive = assemble(recs, SPECIES, "naive", **kw)
    assert gt.y[0, 0].tolist() == [0, 1] and naive.y[0, 0].tolist() == [0, 0]  # site A is first ('A' < 'J')
    verified = pd.Series([False, False, True, False, False, False])
    conf = assemble(recs, SPECIES, "confusion", verified=verified, **kw)
    ev = conf.sequences
    # site A (index 0) is read from its sequences, one per record here; site J keeps its human labels
    assert ev.unit_site.tolist() == [0, 0] and ev.unit_occasion.tolist() == [0, 1]
    assert np.isnan(conf.y[:, 0]).all() and conf.y[:, 1].tolist() == [[1, 0], [0, 1]]
    assert ev.label_count.tolist() == [[0, 2], [0, 0]] and ev.n_sequences.tolist() == [2, 2]
    assert ev.verified_hit.tolist() == [[0, 1], [0, 0]] and ev.confirmed.tolist() == [[False, True], [False, False]]
    none = assemble(recs, SPECIES, "confusion", verified=verified & False, **kw)  # no verification: classifier only
    assert none.sequences.confirmed.sum() == 0
    mask = verified_mask(recs["classified"], 0.5, seed=3)
    assert not mask[~recs["classified"]].any()


def test_sequences_share_one_label_and_verification_replaces_the_whole_burst():
    recs = pd.DataFrame({
        "site": ["A"] * 6, "occasion": ["1"] * 6, "sequence_id": ["s1", "s1", "s1", "s2", "s2", "s3"],
        "truth": ["chevreuil", "chevreuil", "chevreuil", "humain", "humain;chevreuil", "humain"],
        "cnn": ["chevreuil", "lynx", "chevreuil", "lynx", "humain", "humain"],
        "classified": [True] * 6,
    })
    seqs = sequence_table(recs, "cnn", "truth", pd.Series([True, False, False, False, True, False]),
                          normalise_species_map(SPECIES))
    assert seqs["label"].tolist() == ["chevreuil", "lynx", "humain"]  # most common; a tie goes to the first seen
    assert seqs["n_photos"].tolist() == [3, 2, 1] and seqs["verified"].tolist() == [True, True, False]
    assert seqs["truth_classes"].tolist() == [("deer",), ("deer",), ()]  # only the verified photos' labels count
    ev = sequence_evidence(seqs, ["lynx", "deer"], ["A"], ["1"])
    assert ev.label_count.tolist() == [[1, 1]] and ev.verified_hit.tolist() == [[0, 1]]
    assert ev.verified_miss.tolist() == [[1, 0]]  # labelled lynx, shows deer: a miss for lynx, a confirmation of deer
    assert ev.confirmed.tolist() == [[False, True]]
    by_sequence = verified_mask(recs["classified"], 0.5, seed=0, unit="sequence", sequence_id=recs["sequence_id"])
    assert by_sequence.groupby(recs["sequence_id"]).nunique().eq(1).all()  # whole bursts or nothing
    with pytest.raises(ValueError, match="verified_unit"):
        verified_mask(recs["classified"], 0.5, seed=0, unit="burst")


def test_a_species_whose_label_never_occurs_is_reported(caplog):
    recs = pd.DataFrame({"site": ["A"], "occasion": ["1"], "truth": ["lynx"]})
    data = assemble(recs, {"lynx": "lynx", "wolf": "loup"}, "ground_truth", truth_col="truth", occasions=OccasionSpec(kind="column"))
    assert data.y[1].sum() == 0
    assert "'wolf'" in caplog.text and "never occur" in caplog.text
