"""Occupancy reads times with zoo.data's parser and keeps deployed sites that recorded nothing."""
import logging

import numpy as np
import pandas as pd
import pytest

from occupancy.histories import OccasionSpec
from occupancy.study import detection_data, load_study_records

MONTHS = {"kind": "month", "months": [5, 6, 7]}
GROUND_TRUTH = {"mode": "ground_truth"}


def study(**extra):
    return {"species": {"fox": ["renard"], "deer": ["chevreuil"]}, "occasions": MONTHS, "truth_column": "label",
            "activity": "none", **extra}


def histories(tmp_path, times, **extra):
    path = tmp_path / "records.csv"
    pd.DataFrame({"media_id": [f"m{i}" for i in range(len(times))], "site": ["A", "A", "B"][: len(times)],
                  "timestamp": times, "label": ["renard", "chevreuil", "renard"][: len(times)]}).to_csv(path, index=False)
    records = load_study_records({"path": str(path), "data": None})
    return detection_data(records, study(**extra), GROUND_TRUTH)


def detected(data, species, site):
    y = data.y[data.species.index(species), data.sites.index(site)]
    return [occ for occ, v in zip(data.occasions, y) if v == 1]


def test_exif_style_times_give_their_months_not_year_one(tmp_path):
    data = histories(tmp_path, ["2017:05:01 10:00:00", "2017:06:12 22:00:00", "2017:07:03 08:00:00"])
    assert detected(data, "fox", "A") == ["05"] and detected(data, "deer", "A") == ["06"]
    assert detected(data, "fox", "B") == ["07"]


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0]])
def test_day_first_dates_are_read_the_same_whatever_the_row_order(tmp_path, order):
    times = np.array(["03/05/2017 10:00", "04/06/2017 10:00", "25/07/2017 10:00"])[order]
    data = histories(tmp_path, list(times))
    assert {detected(data, "fox", "A")[0], detected(data, "deer", "A")[0], detected(data, "fox", "B")[0]} == {"05", "06", "07"}
    by_time = dict(zip(times, [("fox", "A"), ("deer", "A"), ("fox", "B")]))
    assert detected(data, *by_time["03/05/2017 10:00"]) == ["05"]  # 3 May, not 5 March


def test_a_utc_offset_does_not_move_a_photo_to_the_next_month(tmp_path):
    data = histories(tmp_path, ["2017-05-31T23:30:00-02:00", "2017-06-30T23:59:00-05:00"])
    assert detected(data, "fox", "A") == ["05"] and detected(data, "deer", "A") == ["06"]


def test_explicit_time_format_and_unreadable_times_fail_in_one_line(tmp_path, caplog):
    data = histories(tmp_path, ["05-01-2017", "06-12-2017"],
                     occasions={**MONTHS, "time_format": "%m-%d-%Y"})
    assert detected(data, "fox", "A") == ["05"] and detected(data, "deer", "A") == ["06"]
    with pytest.raises(ValueError, match=r"3 of 3 timestamp values are unreadable.*study.occasions.time_format"):
        histories(tmp_path, ["soon", "later", "never"])
    with caplog.at_level(logging.WARNING):
        histories(tmp_path, ["2017:05:01 10:00:00", "later", "2017:07:03 08:00:00"])
    assert "1 of 3 timestamp values are unreadable" in caplog.text
    with pytest.raises(ValueError, match="study.occasions.time_format=mm/dd is not allowed: expected null or a strftime pattern"):
        OccasionSpec(time_format="mm/dd")


def test_deployed_and_listed_sites_without_records_stay_as_all_zero_histories(tmp_path, caplog):
    deployments = tmp_path / "deployments.csv"
    pd.DataFrame({"site": ["A", "B", "C"], "start": ["01/05/2017"] * 3,
                  "end": ["31/07/2017"] * 3}).to_csv(deployments, index=False)
    sites = tmp_path / "sites.csv"
    pd.DataFrame({"site": ["A", "B", "C", "D"], "elevation": [400, 500, 600, 700]}).to_csv(sites, index=False)
    with caplog.at_level(logging.INFO):
        data = histories(tmp_path, ["2017:05:01 10:00:00", "2017:06:12 22:00:00", "2017:07:03 08:00:00"],
                         deployments_path=str(deployments), sites_path=str(sites))
    assert data.sites == ("A", "B", "C", "D")  # C and D were dropped: occupancy biased upwards
    c, d = data.sites.index("C"), data.sites.index("D")
    assert (data.y[:, c] == 0).all() and data.effort[c].tolist() == [31, 30, 31]
    assert np.isnan(data.y[:, d]).all() and data.effort[d].sum() == 0  # listed, but no camera ran there
    assert data.site_covariates.loc["C", "elevation"] == 600
    assert "2 deployed site(s) recorded nothing" in caplog.text


def test_a_study_reads_its_records_through_a_data_config_file(tmp_path):
    from PIL import Image

    for i, (site, when, tag) in enumerate([("A", "2017:05:01 10:00:00", "renard"), ("B", "2017:06:02 10:00:00", "chevreuil"),
                                           ("C", "2017:07:03 10:00:00", "blaireau")]):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = when
        (tmp_path / "photos" / site).mkdir(parents=True)
        Image.new("RGB", (16, 12), (i * 40, 9, 9)).save(tmp_path / "photos" / site / f"IMG_{i}.JPG", exif=exif.tobytes())
    config = tmp_path / "my_study.yaml"  # what `python -m zoo.data init` writes, trimmed
    config.write_text(f"name: mine\npath: {tmp_path / 'photos'}\nsplit:\n  kind: none\n")
    records = load_study_records({"data": str(config), "path": None}).assign(label=["renard", "chevreuil", "blaireau"])
    data = detection_data(records, study(), GROUND_TRUTH)
    assert data.sites == ("A", "B", "C") and detected(data, "fox", "A") == ["05"] and detected(data, "deer", "B") == ["06"]
