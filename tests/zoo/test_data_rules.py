"""Label normalisation, clock repair, sequence grouping and leak-free splits."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from zoo.data import LabelNormalizer, assign_sequences, leaking_sequences, split_by_group, split_stratified
from zoo.data.__main__ import main as data_cli
from zoo.data.clock import repair_timestamps
from zoo.data.config import load_data_config
from zoo.data.sequences import most_common_label, most_common_labels


def test_lynx_rules_normalise_the_real_mess():
    cfg = load_data_config("lynx")
    norm = LabelNormalizer(synonyms=cfg.labels.synonyms, drop=cfg.labels.drop,
                           drop_patterns=cfg.labels.drop_patterns, priority=cfg.labels.priority)
    cases = {"véhicule": "vehicule", "vehicule": "vehicule", "Lièvre": "lievre", "écureuil": "ecureuil",
             "chat forestier": "chat", "chat domestique": "chat", "sanglier": "sangliers", "Sangliers": "sangliers",
             "59.1": None, "D": None, "G": None, "droite": None, "Non identifié": None, "non identifie": None,
             "Fréquentation humaine": None, "None": None}
    assert {raw: norm.normalize_tag(raw) for raw in cases} == cases
    assert norm.normalize_tags(["humain", "chien", "lynx", "59.1"]) == ["lynx", "chien", "humain"]
    report = norm.report()
    assert report["mapped_tags"]["chat forestier -> chat"] == 1
    assert report["dropped_tags"] == {"59.1": 2, "D": 1, "G": 1, "droite": 1, "Non identifié": 1,
                                      "non identifie": 1, "Fréquentation humaine": 1, "None": 1}


def test_clock_rules_shift_flag_and_add_up():
    records = pd.DataFrame({
        "area": ["jura", "jura", "jura", "ain", "jura"],
        "path": ["a.jpg", "b ATTENTION 2017.jpg", "c AMPM.jpg", "d.jpg", "e.jpg"],
        "timestamp_raw": ["2006:03:01 10:00:00", "2006:03:01 10:00:00", "2016:03:01 08:30:00",
                          "2006:03:01 10:00:00", "2011:02:24 22:30:00"],
    })
    rules = [{"name": "decade", "where": {"area": "jura", "year": 2006}, "shift": {"years": 10}},
             {"name": "late", "where": {"path_contains": "ATTENTION 2017"}, "shift": {"years": 1}},
             {"name": "ampm", "where": {"path_contains": "AMPM"}, "shift": {"swap_am_pm": 1}}]
    out = repair_timestamps(records, rules, valid_years=[2016, 2019])
    assert out["timestamp"].tolist() == [pd.Timestamp("2016-03-01 10:00"), pd.Timestamp("2017-03-01 10:00"),
                                         pd.Timestamp("2016-03-01 20:30"), pd.Timestamp("2006-03-01 10:00"),
                                         pd.Timestamp("2011-02-24 22:30")]
    assert out["timestamp_flag"].tolist() == ["decade", "decade;late", "ampm", "suspect_year", "suspect_year"]
    with pytest.raises(ValueError, match="unknown condition 'sitee'"):
        repair_timestamps(records, [{"where": {"sitee": "1"}, "shift": {"years": 1}}])


def test_sequences_split_on_gap_per_camera():
    t0 = pd.Timestamp("2017-05-01 10:00:00")
    records = pd.DataFrame({
        "media_id": list("abcdef"), "area": "x", "site": ["1", "1", "1", "1", "2", "1"], "camera": "D",
        "timestamp": [t0, t0 + pd.Timedelta(seconds=30), t0 + pd.Timedelta(seconds=100), t0 + pd.Timedelta(seconds=130),
                      t0 + pd.Timedelta(seconds=10), pd.NaT],
    })
    out = assign_sequences(records, gap_seconds=60).set_index("media_id")
    seq = out["sequence_id"]
    assert seq["a"] == seq["b"] and seq["c"] == seq["d"] and seq["b"] != seq["c"]
    assert seq["e"] not in {seq["a"], seq["c"]}  # another site is another camera
    assert seq["f"] not in set(seq.drop("f"))  # no timestamp: a sequence of its own
    assert out.loc[["a", "b", "c", "d"], "frame"].tolist() == [0, 1, 0, 1]
    wide = assign_sequences(records, gap_seconds=120).set_index("media_id")["sequence_id"]
    assert wide["a"] == wide["d"]


def _random_records(seed: int, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sequence = rng.integers(0, 150, n)
    labels = np.array(["lynx", "renard", "chamois", "humain"])[sequence % 4]  # one label per burst
    return pd.DataFrame({"media_id": [f"m{i}" for i in range(n)], "sequence_id": [f"s{s}" for s in sequence],
                         "label": labels, "site": [f"site{s % 7}" for s in sequence],
                         "area": np.where(sequence % 7 < 5, "jura", "ain")})



def _slow_most_common(values, empty=("",)):
    """The rule spelled out: most frequent non-empty label, ties to the first seen, NaN when none."""
    kept = [v for v in values if isinstance(v, str) and v not in empty]
    if not kept:
        return np.nan
    return max(dict.fromkeys(kept), key=lambda v: (kept.count(v), -kept.index(v)))


@pytest.mark.parametrize("sort", [True, False])
def test_most_common_labels_follow_the_rule_per_group(sort):
    rng = np.random.default_rng(0)
    n = 400
    labels = rng.choice(np.array(["lynx", "deer", "", None, "fox"], dtype=object), size=n)
    groups = rng.choice(np.array(["s3", "s1", "s2", None, "s10", "s5"], dtype=object), size=n).tolist()
    got = most_common_labels(labels, groups, sort=sort)
    seen = list(dict.fromkeys(g for g in groups if g is not None))
    assert got.index.tolist() == (sorted(seen) if sort else seen)
    for group in seen:
        want = _slow_most_common([lab for lab, g in zip(labels, groups) if g == group])
        assert (got[group] == want) or (pd.isna(got[group]) and pd.isna(want)), group
    named = most_common_labels(pd.Series(labels), pd.Series(groups, name="sequence_id"), sort=sort)
    assert named.index.name == "sequence_id" and named.equals(got.rename_axis("sequence_id"))
    assert most_common_label(pd.Series(["deer", "lynx", "lynx", "deer", ""])) == "deer"  # tie: first seen
    assert pd.isna(most_common_label(pd.Series(["", None], dtype=object)))
    assert pd.isna(most_common_label(pd.Series([], dtype=object)))

@pytest.mark.parametrize("seed", range(5))
def test_stratified_split_never_leaks_a_sequence(seed):
    records = _random_records(seed)
    split = split_stratified(records, valid=0.2, test=0.1, seed=seed)
    assert leaking_sequences(records, split) == 0
    assert set(split) == {"train", "valid", "test"}
    shares = split.value_counts(normalize=True)
    assert 0.1 < shares["valid"] < 0.3 and 0.03 < shares["test"] < 0.2
    for side in ("train", "valid"):  # every class on both sides: stratified
        assert set(records.loc[split == side, "label"]) == {"lynx", "renard", "chamois", "humain"}


def test_split_by_area_keeps_areas_apart():
    records = _random_records(1)
    split = split_by_group(records, "area", test=["ain"], valid=0.2)
    assert (split[records["area"] == "ain"] == "test").all()
    assert set(split[records["area"] == "jura"]) == {"train", "valid"}
    assert leaking_sequences(records, split) == 0


def test_summarize_bundled_sample(tmp_path, capsys):
    out = tmp_path / "summary.json"
    assert data_cli(["summarize", "zoo/sample/lynx/images/jura", "--json", str(out), "--quiet"]) == 0
    summary = json.loads(out.read_text())
    assert summary["n_records"] == 467
    assert summary["labels"]["renard"] == 58 and summary["labels"]["lynx"] == 13
    assert summary["dropped_tags"] == {"Non identifié": 5}
    assert summary["splits"] == {"train": 364, "valid": 96, "unassigned": 7}  # the authors' split
    assert summary["timestamp_flags"]["marked_2016_to_2017"] == 356
    assert 400 < summary["n_sequences"] < 467
    assert "renard" in capsys.readouterr().out


def test_summarize_all_records_has_no_site_ids_or_sides_among_labels(tmp_path):
    out = tmp_path / "summary.json"
    assert data_cli(["summarize", "zoo/sample/lynx/records.csv.gz", "--json", str(out), "--quiet"]) == 0
    summary = json.loads(out.read_text())
    labels = set(summary["labels_any"])
    assert not {lab for lab in labels if any(ch.isdigit() for ch in lab)}
    assert not labels & {"d", "g", "d1", "droite", "gauche", "non identifie", "none", "frequentation humaine"}
    assert labels >= {"lynx", "chevreuil", "chamois", "renard", "chat"}
    assert summary["n_records"] == 63346  # 64955 rows, 1609 of them second labels of one photo
    assert summary["sites_without_coordinates"] == ["12.2", "8.3"]
    assert summary["unknown_labels"] == {}
    assert summary["dropped_tags"]["59.1"] > 3000
