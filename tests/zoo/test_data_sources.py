"""Ingestion from the three sources, with the bad input a real collection has."""
from __future__ import annotations

import pandas as pd
import pytest

from camtrap_files import make_jpeg, truncate
from zoo.data import load_study
from zoo.data.tags import read_image_tags

RULES = {
    "labels": {"synonyms": {"chat forestier": "chat", "sanglier": "sangliers"},
               "drop": ["frequentation humaine", "non identifie"],
               "drop_patterns": [r"\d+(\.\d+)?", "d|g"],
               "priority": ["lynx", "chien", "humain"]},
    "split": {"kind": "none"},
}


def test_tags_read_from_exif_xmp_and_iptc(tmp_path):
    path = make_jpeg(tmp_path / "a.jpg", when="2017:06:02 21:15:00", subject=["Lièvre"],
                     hierarchy=["mammifères|laporidés|lièvre", "Fréquentation humaine|humain"], iptc=["chevreuil"])
    info = read_image_tags(path)
    assert info.datetime_original == "2017:06:02 21:15:00"
    assert info.tags == ["Lièvre", "lièvre", "humain", "chevreuil"]
    assert info.problems == []


def test_image_folder_with_bad_files(tmp_path, caplog):
    root = tmp_path / "photos"
    make_jpeg(root / "site1" / "img1.jpg", subject=["lynx"], when="2017:05:01 10:00:00")
    make_jpeg(root / "site1" / "img2.jpg", subject=["Chat forestier", "59.1", "D"], when="2017:05:01 10:00:20",
              color=(10, 10, 10))
    make_jpeg(root / "site1" / "copy.jpg", subject=["lynx"], when="2017:05:01 10:00:00")  # same bytes as img1
    make_jpeg(root / "site2" / "notime.jpg", subject=["sanglier"], when=None, color=(1, 2, 3))
    make_jpeg(root / "site2" / "badxmp.jpg", xmp="<x:xmpmeta><unclosed>", color=(4, 5, 6))
    truncate(make_jpeg(root / "site2" / "cut.jpg", subject=["renard"], color=(7, 8, 9), size=(256, 256)), 0.3)
    (root / "site2" / "empty.jpg").write_bytes(b"")
    (root / "site2" / "noise.jpg").write_bytes(b"\x00garbage" * 50)

    study = load_study({"path": str(root), **RULES}, progress=False)
    records = study.records.set_index("media_id")
    problems = study.problems.set_index("file")["problem"]

    # files are read in name order: the later identical file is the one skipped
    assert "site1/img1.jpg" not in records.index and "duplicate of site1/copy.jpg" in problems["site1/img1.jpg"]
    assert records.loc["site1/img2.jpg", "label"] == "chat"  # site id and camera side dropped
    assert records.loc["site1/img2.jpg", "labels_raw"] == "Chat forestier;59.1;D"
    assert records.loc["site2/notime.jpg", "label"] == "sangliers"
    assert pd.isna(records.loc["site2/notime.jpg", "timestamp"])
    assert records.loc["site2/notime.jpg", "timestamp_flag"] == "missing"
    assert "unreadable XMP" in problems["site2/badxmp.jpg"]
    for broken in ("site2/cut.jpg", "site2/empty.jpg", "site2/noise.jpg"):
        assert problems[broken].startswith("unreadable image"), broken
        assert not records.loc[broken, "readable"]
    assert study.report["problems"]["unreadable image"] == 3
    assert study.report["dropped_tags"] == {"59.1": 1, "D": 1}
    assert records.loc["site1/copy.jpg", "sequence_id"] == records.loc["site1/img2.jpg", "sequence_id"]
    assert "duplicate" in caplog.text


def test_records_csv_merges_rows_and_reports_unknown_and_missing_sites(tmp_path):
    csv = tmp_path / "records.csv"
    pd.DataFrame({
        "file": ["a.jpg", "a.jpg", "b.jpg", "c.jpg", "d.jpg"],
        "site": ["1.1", "1.1", "1.1", "9.9", "1.1"],
        "camera": ["D"] * 5,
        "datetime_original": ["2017:05:01 10:00:00", "2017:05:01 10:00:00", "2017:05:01 12:00:00",
                              "2019:02:29 10:00:00", ""],
        "keywords": ["1.1;D;humain", "1.1;D;chien", "Non identifié", "licorne", "lynx"],
    }).to_csv(csv, index=False)
    sites = tmp_path / "sites.csv"
    pd.DataFrame({"site": ["1.1"], "lat": [46.5], "lon": [6.0]}).to_csv(sites, index=False)
    taxonomy = tmp_path / "taxonomy.csv"
    pd.DataFrame({"label": ["humain", "chien", "lynx"]}).to_csv(taxonomy, index=False)

    study = load_study({"path": str(csv), "sites": str(sites), "taxonomy": str(taxonomy),
                        "columns": {"media_id": "file", "timestamp": "datetime_original", "tags": ["keywords"]},
                        **RULES}, progress=False)
    records = study.records.set_index("media_id")
    assert len(records) == 4  # the two rows of a.jpg are one photo
    assert records.loc["a.jpg", "labels"] == "chien;humain" and records.loc["a.jpg", "label"] == "chien"
    assert records.loc["b.jpg", "label"] == ""  # 'Non identifié' is not a class
    assert study.report["unknown_labels"] == {"licorne": 1}
    assert records.loc["c.jpg", "timestamp_flag"] == "invalid"  # 29 February 2019 does not exist
    assert records.loc["d.jpg", "timestamp_flag"] == "missing"
    assert pd.isna(records.loc["c.jpg", "lat"]) and records.loc["a.jpg", "lat"] == 46.5
    assert study.report["problems"] == {"several rows for one photo (labels merged)": 1, "site missing": 1,
                                        "unreadable time": 1}  # the impossible date is counted, not hidden
    assert study.report["sites_without_coordinates"] == ["9.9"]


def _write_camtrap_dp(folder):
    folder.mkdir()
    pd.DataFrame({"deploymentID": ["dep1", "dep2"], "locationID": ["L1", "L2"], "latitude": [46.1, 46.2],
                  "longitude": [5.1, 5.2], "cameraID": ["camA", "camB"]}).to_csv(folder / "deployments.csv", index=False)
    pd.DataFrame({"mediaID": ["m1", "m2", "m3", "m4"], "deploymentID": ["dep1", "dep1", "dep2", "dep2"],
                  "timestamp": ["2021-04-01T10:00:00Z", "2021-04-01T10:00:05Z", "2021-04-02T22:00:00Z",
                                "2021-04-02T22:00:03Z"],
                  "filePath": ["img/m1.jpg", "img/m2.jpg", "img/m3.jpg", "img/m4.jpg"]}).to_csv(folder / "media.csv", index=False)
    pd.DataFrame({"observationID": ["o1", "o2", "o3"], "deploymentID": ["dep1", "dep1", "dep2"],
                  "mediaID": ["m1", "m2", None], "eventStart": [None, None, "2021-04-02T21:59:00Z"],
                  "eventEnd": [None, None, "2021-04-02T22:01:00Z"],
                  "observationType": ["animal", "blank", "animal"],
                  "scientificName": ["Lynx lynx", None, "Vulpes vulpes"]}).to_csv(folder / "observations.csv", index=False)


def test_camtrap_dp_media_and_event_observations(tmp_path):
    folder = tmp_path / "dp"
    _write_camtrap_dp(folder)
    rules = {"labels": {"synonyms": {"lynx lynx": "lynx", "vulpes vulpes": "renard"}, "drop": ["blank"]},
             "split": {"kind": "none"}}
    records = load_study({"path": str(folder), **rules}, progress=False).records.set_index("media_id")
    assert records["label"].to_dict() == {"m1": "lynx", "m2": "", "m3": "renard", "m4": "renard"}
    assert records.loc["m3", "site"] == "L2" and records.loc["m3", "camera"] == "camB"
    assert records.loc["m1", "lat"] == pytest.approx(46.1)
    assert records.loc["m3", "sequence_id"] == records.loc["m4", "sequence_id"]
    assert records.loc["m1", "timestamp"] == pd.Timestamp("2021-04-01 10:00:00")


def test_missing_columns_and_config_typos_fail_clearly(tmp_path):
    csv = tmp_path / "r.csv"
    pd.DataFrame({"file": ["a"], "site": ["1"]}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"column\(s\) \['when'\] not found"):  # named in the config: required
        load_study({"path": str(csv), "columns": {"timestamp": "when"}, "split": {"kind": "none"}}, progress=False)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['stie'\]"):
        load_study({"path": str(csv), "columns": {"stie": "site"}, "split": {"kind": "none"}}, progress=False)
    with pytest.raises(Exception, match="gap_secnds"):
        load_study({"path": str(csv), "sequences": {"gap_secnds": 30}}, progress=False)
