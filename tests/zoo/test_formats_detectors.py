"""Label sources from other tools: MegaDetector batch output JSON and Timelapse CSV, on small files made here."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from camtrap_files import make_jpeg
from zoo.data import load_study
from zoo.data.__main__ import main as data_main
from zoo.data.sources import detect_source


def _write_megadetector(tmp_path: Path) -> Path:
    """Five images of two site folders as run_detector_batch lists them (one failed), and four tiny JPEGs."""
    make_jpeg(tmp_path / "siteA" / "a1.jpg", when="2021:06:01 10:00:00")
    make_jpeg(tmp_path / "siteA" / "a2.jpg", when="2021:06:01 10:00:20")
    make_jpeg(tmp_path / "siteB" / "b1.jpg", when="2021:06:02 22:00:00")
    make_jpeg(tmp_path / "siteB" / "b2.jpg", when=None)
    images = [
        {"file": "siteA/a1.jpg", "detections": [
            {"category": "2", "conf": 0.35, "bbox": [0.1, 0.1, 0.2, 0.3]},
            {"category": "1", "conf": 0.93, "bbox": [0.5, 0.4, 0.3, 0.3]}]},
        {"file": "siteA/a2.jpg", "detections": [{"category": "1", "conf": 0.15, "bbox": [0.0, 0.0, 0.1, 0.1]}]},
        {"file": "siteB/b1.jpg", "detections": [{"category": "3", "conf": 0.2, "bbox": [0.2, 0.2, 0.5, 0.5]},
                                                {"category": "9", "conf": 0.99, "bbox": [0, 0, 1, 1]}]},
        {"file": "siteB/b2.jpg", "detections": []},
        {"file": "siteB/b3.jpg", "failure": "Failure image access"},
    ]
    path = tmp_path / "md_out.json"
    path.write_text(json.dumps({"images": images,
                                "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
                                "info": {"detector": "md_v5a.0.0.pt", "format_version": "1.3"}}, indent=1))
    return path


def test_megadetector_output_becomes_the_records_table(tmp_path, capsys):
    path = _write_megadetector(tmp_path)
    assert detect_source(path) == "megadetector"
    study = load_study({"path": str(path), "split": {"kind": "none"}}, progress=False)
    records = study.records.set_index("media_id")
    assert records["label"].to_dict() == {"siteA/a1.jpg": "animal", "siteA/a2.jpg": "empty",
                                          "siteB/b1.jpg": "vehicle", "siteB/b2.jpg": "empty", "siteB/b3.jpg": ""}
    assert records.loc["siteA/a1.jpg", "path"] == str(tmp_path / "siteA" / "a1.jpg")
    assert records["site"].to_dict()["siteB/b1.jpg"] == "siteB"
    assert records.loc["siteA/a1.jpg", "timestamp"] == pd.Timestamp("2021-06-01 10:00:00")  # EXIF of the file
    assert records.loc["siteA/a1.jpg", "sequence_id"] == records.loc["siteA/a2.jpg", "sequence_id"]
    assert records.loc["siteA/a1.jpg", "detection_conf"] == pytest.approx(0.93)
    assert records.loc["siteA/a1.jpg", "n_detections"] == 2
    boxes = json.loads(records.loc["siteA/a1.jpg", "detections"])
    assert [(d["category"], d["conf"], d["bbox"]) for d in boxes] == [
        ("person", 0.35, [0.1, 0.1, 0.2, 0.3]), ("animal", 0.93, [0.5, 0.4, 0.3, 0.3])]
    assert len(json.loads(records.loc["siteA/a2.jpg", "detections"])) == 1  # below threshold, still kept
    assert not records.loc["siteB/b3.jpg", "readable"] and records.loc["siteA/a1.jpg", "readable"]
    problems = set(study.problems["problem"])
    assert "detector failure: Failure image access" in problems
    assert "detection of unknown category '9' (skipped)" in problems
    assert data_main(["summarize", str(path), "--quiet"]) == 0
    assert "5 records from megadetector" in capsys.readouterr().out


def test_megadetector_threshold_image_root_and_bad_files(tmp_path):
    path = _write_megadetector(tmp_path)
    records = load_study({"path": str(path), "detection_threshold": 0.1, "image_root": "/data/traps",
                          "split": {"kind": "none"}}, progress=False).records.set_index("media_id")
    assert records.loc["siteA/a2.jpg", "label"] == "animal"
    assert records.loc["siteA/a1.jpg", "path"] == "/data/traps/siteA/a1.jpg"
    with pytest.raises(ValueError, match="detection_threshold"):
        load_study({"path": str(path), "detection_threshold": 1.5}, progress=False)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"images": [{"file": "x.jpg", "detections": []}]}))
    with pytest.raises(ValueError, match=r"missing \['detection_categories'\]"):
        load_study({"path": str(broken), "source": "megadetector"}, progress=False)
    # categories written after a long `images` list (run_detector_batch's order) are still found
    big = tmp_path / "big.json"
    images = [{"file": f"f{i:06d}.jpg", "detections": []} for i in range(40000)]
    big.write_text(json.dumps({"images": images, "detection_categories": {"1": "animal"}, "info": {}}))
    assert big.stat().st_size > (1 << 20) and detect_source(big) == "megadetector"


# --- Timelapse CSV --------------------------------------------------------------------------------

TIMELAPSE_CSV = """File,RelativePath,Folder,DateTime,DeleteFlag,ImageQuality,Species,Count,Notes
IMG_0001.JPG,siteA\\cam1,Traps2021,2021-06-01 10:00:00,false,Ok,Red deer,2,
IMG_0002.JPG,siteA\\cam1,Traps2021,2021-06-01 10:00:20,False,Ok,Red deer,1,
IMG_0003.JPG,siteA\\cam1,Traps2021,2021-06-01 11:00:00,true,Dark,,0,blurred
IMG_0001.JPG,siteB\\cam2,Traps2021,2021-06-02 22:00:00,false,Ok,Wild boar,3,
IMG_0002.JPG,siteB\\cam2,Traps2021,2021-06-03 08:00:00,FALSE,Ok,,0,
"""


def test_timelapse_csv_is_a_label_source(tmp_path):
    make_jpeg(tmp_path / "siteA" / "cam1" / "IMG_0001.JPG")
    path = tmp_path / "timelapse_export.csv"
    path.write_text(TIMELAPSE_CSV, encoding="utf-8")
    assert detect_source(path) == "records"
    study = load_study({"path": str(path), "columns": {"tags": ["Species"]}, "split": {"kind": "none"}},
                       progress=False)
    records = study.records.set_index("media_id")
    # the same file name in two folders is two photos; the DeleteFlag row is dropped and counted
    assert sorted(records.index) == ["siteA/cam1/IMG_0001.JPG", "siteA/cam1/IMG_0002.JPG",
                                     "siteB/cam2/IMG_0001.JPG", "siteB/cam2/IMG_0002.JPG"]
    assert study.report["problems"] == {"DeleteFlag set (dropped)": 1}
    assert study.problems.set_index("file").loc["siteA/cam1/IMG_0003.JPG", "problem"] == "DeleteFlag set (dropped)"
    assert records["label"].to_dict() == {"siteA/cam1/IMG_0001.JPG": "red deer", "siteA/cam1/IMG_0002.JPG": "red deer",
                                          "siteB/cam2/IMG_0001.JPG": "wild boar", "siteB/cam2/IMG_0002.JPG": ""}
    assert records.loc["siteA/cam1/IMG_0001.JPG", "path"] == str(tmp_path / "siteA" / "cam1" / "IMG_0001.JPG")
    assert records.loc["siteB/cam2/IMG_0001.JPG", "site"] == "cam2"
    assert records.loc["siteB/cam2/IMG_0001.JPG", "timestamp"] == pd.Timestamp("2021-06-02 22:00:00")
    assert records.loc["siteA/cam1/IMG_0001.JPG", "sequence_id"] == records.loc["siteA/cam1/IMG_0002.JPG", "sequence_id"]
    assert records.loc["siteB/cam2/IMG_0001.JPG", "Count"] == "3"  # user columns carried through


def test_timelapse_date_and_time_columns_and_a_site_column(tmp_path):
    path = tmp_path / "old_export.csv"
    path.write_text("File,RelativePath,Date,Time,DeleteFlag,Station,Species\n"
                    "a.jpg,,01-Jun-2021,10:00:00,false,S1,Fox\n"
                    "b.jpg,,01-Jun-2021,10:00:30,false,S1,Fox\n"
                    "c.jpg,,02-Jun-2021,23:15:00,false,S2,Badger\n", encoding="utf-8")
    records = load_study({"path": str(path), "split": {"kind": "none"}}, progress=False).records.set_index("media_id")
    assert records["site"].to_dict() == {"a.jpg": "S1", "b.jpg": "S1", "c.jpg": "S2"}
    assert records.loc["c.jpg", "timestamp"] == pd.Timestamp("2021-06-02 23:15:00")
    assert records["label"].tolist() == ["fox", "fox", "badger"]


def test_init_on_a_megadetector_file_writes_a_config_that_loads_it(tmp_path):
    from zoo.data.config import load_data_config

    path = _write_megadetector(tmp_path)
    out = tmp_path / "md.yaml"
    assert data_main(["init", str(path), "--out", str(out), "--quiet"]) == 0
    cfg = load_data_config(str(out))
    assert cfg.source == "megadetector" and cfg.detection_threshold == 0.2
    assert len(load_study(cfg, progress=False).records) == 5
