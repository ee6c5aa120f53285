"""Standard formats: Camtrap DP 1.0.2 export (validated against the offline schemas, round trip) and
COCO Camera Traps import, on small files made here."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.paths import sample_dir
from zoo.data import load_data_config, load_study
from zoo.data.__main__ import main as data_main
from zoo.data.export import export_camtrap_dp, validate_camtrap_dp

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = ROOT.parent / "shared" / "standards" / "camtrap-dp-1.0.2"


@pytest.fixture(scope="module")
def standards():
    pytest.importorskip("frictionless")
    if not (STANDARDS / "camtrap-dp-profile.json").is_file():
        pytest.skip(f"the offline Camtrap DP 1.0.2 schemas are not at {STANDARDS}")
    return STANDARDS


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(folder / f"{n}.csv", dtype=str, keep_default_na=False)
            for n in ("deployments", "media", "observations")}


# --- Camtrap DP export ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_subset(tmp_path_factory):
    """16 of the bundled Jura photos (both traps), read with the lynx study's rules."""
    folder = tmp_path_factory.mktemp("jura")
    photos = sorted((sample_dir("lynx") / "images" / "jura").glob("*.jpg"))
    for photo in [p for p in photos if p.name.startswith("3.1")][:8] + [p for p in photos if p.name.startswith("8.2")][:8]:
        shutil.copy(photo, folder / photo.name)
    return folder


def test_export_of_the_bundled_sample_validates(sample_subset, standards, tmp_path):
    out = tmp_path / "dp"
    result = export_camtrap_dp(sample_subset, out, data="lynx", overrides=[f"path={sample_subset}"], level="both",
                               metadata={"contributors": [{"title": "Olivier Gimenez", "role": "principalInvestigator"}]},
                               progress=False)
    assert validate_camtrap_dp(out, standards) == []
    tables = _tables(out)
    assert result.counts["media"] == 16 and set(tables["deployments"]["locationID"]) == {"3.1", "8.2"}
    obs = tables["observations"]
    assert set(obs["classificationMethod"]) == {"human"} and set(obs["observationLevel"]) == {"media", "event"}
    events = obs[obs["observationLevel"] == "event"]
    assert (events["mediaID"] == "").all() and set(events["eventID"]) <= set(obs.loc[obs["mediaID"] != "", "eventID"])
    # scientificName from the taxonomy file; non-animal labels are observation types
    by_label = obs.groupby("observationTags")[["observationType", "scientificName"]].agg(set)
    assert by_label.loc["label:sangliers"].tolist() == [{"animal"}, {"Sus scrofa"}]
    assert by_label.loc["label:humain"].tolist() == [{"human"}, {""}]
    assert by_label.loc["label:vehicule"].tolist() == [{"vehicle"}, {""}]
    descriptor = json.loads((out / "datapackage.json").read_text())
    assert descriptor["contributors"][0]["title"] == "Olivier Gimenez"
    assert {t["scientificName"] for t in descriptor["taxonomic"]} == set(obs["scientificName"]) - {""}


def _predict_output(tmp_path: Path) -> Path:
    """What zoo.predict writes for 5 photos of two cameras (2 sequences + 1), with its run's config beside it."""
    run = tmp_path / "runs" / "run42"
    run.mkdir(parents=True)
    sites = tmp_path / "sites.csv"
    pd.DataFrame({"site": ["siteA", "siteB"], "lat": [46.5, 46.6], "lon": [6.0, 6.1]}).to_csv(sites, index=False)
    taxonomy = tmp_path / "taxonomy.csv"
    pd.DataFrame({"label": ["lynx", "renard", "humain"], "class": ["Mammalia", "Mammalia", "non-animal"],
                  "order": ["Carnivora", "Carnivora", "human activity"], "family": ["Felidae", "Canidae", "person"],
                  "genus": ["Lynx", "Vulpes", ""], "species": ["Lynx lynx", "Vulpes vulpes", ""],
                  "common_en": ["Eurasian lynx", "red fox", "human"]}).to_csv(taxonomy, index=False)
    (run / "config.yaml").write_text(f"model:\n  name: resnet10t\ndata:\n  sites: {sites}\n  taxonomy: {taxonomy}\n")
    classes = ["humain", "lynx", "renard"]
    probs = np.array([[.1, .8, .1], [.2, .7, .1], [.1, .1, .8], [.6, .3, .1], [.05, .05, .9]])
    images = pd.DataFrame({
        "media_id": [f"img{i}.jpg" for i in range(5)], "path": [str(tmp_path / f"img{i}.jpg") for i in range(5)],
        "area": "", "site": ["siteA", "siteA", "siteA", "siteB", "siteB"],
        "camera": ["siteA", "siteA", "siteA", "siteB", "siteB"],
        "timestamp": ["2021-05-01 10:00:00", "2021-05-01 10:00:20", "2021-05-02 03:00:00", "2021-05-01 12:00:00",
                      "2021-05-01 12:00:30"],
        "sequence_id": ["siteA/siteA#00001", "siteA/siteA#00001", "siteA/siteA#00002", "siteB/siteB#00001",
                        "siteB/siteB#00001"], "frame": [0, 1, 0, 0, 1]})
    images["pred"] = np.asarray(classes)[probs.argmax(1)]
    images["confidence"] = probs.max(1)
    images[[f"p_{c}" for c in classes]] = probs
    images.to_csv(tmp_path / "preds.csv", index=False)
    seq = images.groupby("sequence_id", sort=True).agg(area=("area", "first"), site=("site", "first"),
                                                       camera=("camera", "first"), timestamp=("timestamp", "min"),
                                                       n_frames=("media_id", "size")).reset_index()
    seq_probs = np.stack([probs[images["sequence_id"] == s].mean(0) for s in seq["sequence_id"]])
    seq["pred"], seq["confidence"] = np.asarray(classes)[seq_probs.argmax(1)], seq_probs.max(1)
    seq[[f"p_{c}" for c in classes]] = seq_probs
    seq.to_csv(tmp_path / "preds_sequences.csv", index=False)
    (tmp_path / "preds_provenance.json").write_text(json.dumps({
        "run_dir": str(run), "checkpoint_sha256": "ab" * 32, "classes": classes, "input": str(tmp_path / "photos")}))
    return tmp_path / "preds.csv"


def test_export_of_a_predict_output_validates(standards, tmp_path, capsys):
    preds = _predict_output(tmp_path)
    out = tmp_path / "dp"
    assert data_main(["export", str(preds), "--to", "camtrap-dp", "--out", str(out), "--timezone", "Europe/Paris",
                      "--quiet"]) == 0
    assert "machine classifications" in capsys.readouterr().out
    assert validate_camtrap_dp(out, standards) == []
    tables = _tables(out)
    obs = tables["observations"].set_index("eventID")
    # default for predictions: one event-level observation per sequence, pooled probability of the class written
    assert list(obs.index) == ["siteA/siteA#00001", "siteA/siteA#00002", "siteB/siteB#00001"]
    assert set(obs["observationLevel"]) == {"event"} and set(obs["classificationMethod"]) == {"machine"}
    assert obs.loc["siteA/siteA#00001", "scientificName"] == "Lynx lynx"
    assert float(obs.loc["siteA/siteA#00001", "classificationProbability"]) == pytest.approx(0.75)
    assert obs.loc["siteA/siteA#00001", "eventStart"] == "2021-05-01T10:00:00+02:00"
    assert obs.loc["siteA/siteA#00001", "eventEnd"] == "2021-05-01T10:00:20+02:00"
    assert obs.loc["siteA/siteA#00002", "scientificName"] == "Vulpes vulpes"
    assert obs["classifiedBy"].str.contains("resnet10t").all() and obs["classifiedBy"].str.contains("run42").all()
    assert tables["deployments"].set_index("locationID").loc["siteB", "latitude"] == "46.6"
    # per photo on request; a photo's prediction of a non-animal class is an observation type
    media_level = tmp_path / "dp_media"
    export_camtrap_dp(preds, media_level, level="media", progress=False)
    assert validate_camtrap_dp(media_level, standards) == []
    photo = _tables(media_level)["observations"].set_index("mediaID")
    assert photo.loc["img3.jpg", "observationType"] == "human" and photo.loc["img3.jpg", "scientificName"] == ""
    assert float(photo.loc["img4.jpg", "classificationProbability"]) == pytest.approx(0.9)


def test_the_validator_catches_what_breaks_the_standard(standards, tmp_path):
    out = tmp_path / "dp"
    export_camtrap_dp(_predict_output(tmp_path), out, level="media", progress=False)
    obs = pd.read_csv(out / "observations.csv", dtype=str, keep_default_na=False)
    obs.loc[0, "classificationProbability"] = "1.5"
    obs.loc[1, "mediaID"] = "no-such-photo"
    obs.to_csv(out / "observations.csv", index=False)
    descriptor = json.loads((out / "datapackage.json").read_text())
    del descriptor["taxonomic"]
    descriptor["spatial"] = {"type": "Pointy", "coordinates": [6.0, 46.5]}
    (out / "datapackage.json").write_text(json.dumps(descriptor))
    errors = "\n".join(validate_camtrap_dp(out, standards))
    assert "'taxonomic' is a required property" in errors
    assert "spatial" in errors
    assert "classificationProbability" in errors
    assert "foreign key" in errors.lower()


def _write_package(folder: Path) -> None:
    folder.mkdir()
    pd.DataFrame({"deploymentID": ["dep1", "dep2"], "locationID": ["L1", "L2"], "locationName": ["north", "south"],
                  "latitude": [46.1, 46.2], "longitude": [5.1, 5.2], "cameraID": ["camA", "camB"]}
                 ).to_csv(folder / "deployments.csv", index=False)
    pd.DataFrame({"mediaID": ["m1", "m2", "m3", "m4", "m5"], "deploymentID": ["dep1", "dep1", "dep2", "dep2", "dep2"],
                  "timestamp": ["2021-04-01T10:00:00Z", "2021-04-01T10:00:05Z", "2021-04-02T22:00:00Z",
                                "2021-04-02T22:00:03Z", "2021-04-03T08:00:00Z"],
                  "filePath": [f"img/m{i}.jpg" for i in range(1, 6)]}).to_csv(folder / "media.csv", index=False)
    pd.DataFrame({"observationID": ["o1", "o2", "o3", "o4"], "deploymentID": ["dep1", "dep1", "dep2", "dep2"],
                  "mediaID": ["m1", "m2", None, "m5"], "eventStart": [None, None, "2021-04-02T21:59:00Z", None],
                  "eventEnd": [None, None, "2021-04-02T22:01:00Z", None],
                  "observationType": ["animal", "blank", "animal", "human"],
                  "scientificName": ["Lynx lynx", None, "Vulpes vulpes", None]}
                 ).to_csv(folder / "observations.csv", index=False)


def test_camtrap_dp_round_trip_gives_the_same_records(standards, tmp_path):
    package = tmp_path / "in"
    _write_package(package)
    cfg = load_data_config("camtrap_dp", [f"path={package}"])
    first = load_study(cfg, progress=False).records
    out = tmp_path / "out"
    export_camtrap_dp(package, out, progress=False)
    assert validate_camtrap_dp(out, standards) == []
    again = load_study(load_data_config("camtrap_dp", [f"path={out}"]), progress=False).records
    pd.testing.assert_frame_equal(first.sort_values("media_id").reset_index(drop=True),
                                  again.sort_values("media_id").reset_index(drop=True))
    assert first.set_index("media_id").loc["m3", "label"] == "vulpes vulpes"  # the event labelled its frames
    assert _tables(out)["observations"].set_index("mediaID").loc["m2", "observationType"] == "blank"


# --- COCO Camera Traps import ---------------------------------------------------------------------

def _write_coco(tmp_path: Path) -> Path:
    """A LILA-style file: 6 images at 2 locations, 3 sequences (one given by seq_id across a 2 h gap), an empty
    frame, a photo with two species, an unannotated one; file_name relative to the JSON's folder."""
    rng = np.random.default_rng(0)
    names = ["loc1/a.jpg", "loc1/b.jpg", "loc1/c.jpg", "loc2/d.jpg", "loc2/e.jpg", "loc2/f.jpg"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(tmp_path / name)
    images = [
        {"id": "i1", "file_name": names[0], "location": 1, "datetime": "2014-05-01 10:00:00", "seq_id": "s1",
         "seq_num_frames": 2, "frame_num": 0, "width": 16, "height": 12},
        {"id": "i2", "file_name": names[1], "location": 1, "datetime": "2014-05-01 12:00:00", "seq_id": "s1",
         "seq_num_frames": 2, "frame_num": 1, "width": 16, "height": 12},
        {"id": "i3", "file_name": names[2], "location": 1, "datetime": "2014:05:02 06:30:00", "seq_id": "s2",
         "seq_num_frames": 1, "frame_num": 0},
        {"id": "i4", "file_name": names[3], "location": 2, "datetime": "2014-05-03 20:00:01", "seq_id": "s3",
         "seq_num_frames": 2, "frame_num": 1},
        {"id": "i5", "file_name": names[4], "location": 2, "datetime": "2014-05-03 20:00:00", "seq_id": "s3",
         "seq_num_frames": 2, "frame_num": 0},
        {"id": "i6", "file_name": names[5], "location": 2, "datetime": "not a time"},
    ]
    categories = [{"id": 0, "name": "empty"}, {"id": 1, "name": "deer"}, {"id": 2, "name": "Red Fox"}]
    annotations = [
        {"id": "a1", "image_id": "i1", "category_id": 1, "bbox": [1, 2, 3, 4]},
        {"id": "a2", "image_id": "i2", "category_id": 1, "sequence_level_annotation": True},
        {"id": "a3", "image_id": "i3", "category_id": 0},
        {"id": "a4", "image_id": "i4", "category_id": 1}, {"id": "a5", "image_id": "i4", "category_id": 2},
        {"id": "a6", "image_id": "i5", "category_id": 2},
        {"id": "a7", "image_id": "nope", "category_id": 1},
    ]
    path = tmp_path / "coco.json"
    path.write_text(json.dumps({"info": {"version": "1.0"}, "images": images, "categories": categories,
                                "annotations": annotations}))
    return path


def test_coco_camera_traps_becomes_the_records_table(tmp_path, capsys):
    from zoo.data.sources import detect_source

    path = _write_coco(tmp_path)
    assert detect_source(path) == "coco"
    md = tmp_path / "md.json"  # MegaDetector batch output is not COCO (tests/zoo/test_formats_detectors.py)
    md.write_text(json.dumps({"images": [{"file": "a.jpg", "detections": []}], "detection_categories": {"1": "animal"}}))
    assert detect_source(md) == "megadetector"
    study = load_study({"path": str(path), "split": {"kind": "none"}}, progress=False)
    records = study.records.set_index("media_id")
    assert records["site"].to_dict() == {"i1": "1", "i2": "1", "i3": "1", "i4": "2", "i5": "2", "i6": "2"}
    assert records.loc["i1", "path"] == str(tmp_path / "loc1" / "a.jpg")
    assert Path(records.loc["i4", "path"]).is_file()
    assert records.loc["i3", "timestamp"] == pd.Timestamp("2014-05-02 06:30:00")  # EXIF style, same parser
    assert pd.isna(records.loc["i6", "timestamp"]) and records.loc["i6", "timestamp_flag"] == "invalid"
    assert records["label"].to_dict() == {"i1": "deer", "i2": "deer", "i3": "empty", "i4": "deer", "i5": "red fox",
                                          "i6": ""}
    assert records.loc["i4", "labels"] == "deer;red fox"
    # seq_id wins over the 60 s gap (i1 and i2 are 2 h apart); frames in time order
    assert records.loc["i1", "sequence_id"] == records.loc["i2", "sequence_id"] == "s1"
    assert records.loc[["i5", "i4"], "frame"].tolist() == [0, 1] and records.loc["i3", "sequence_id"] == "s2"
    assert records.loc["i6", "sequence_id"] != "" and records.loc["i1", "width"] == 16
    assert "annotation of an unknown image (skipped)" in set(study.problems["problem"])
    assert data_main(["summarize", str(path), "--quiet"]) == 0
    assert "6 records from coco" in capsys.readouterr().out


def test_coco_image_root_and_bad_files(tmp_path):
    path = _write_coco(tmp_path)
    moved = tmp_path / "elsewhere"
    for folder in ("loc1", "loc2"):
        shutil.move(tmp_path / folder, moved / folder)
    records = load_study({"path": str(path), "image_root": str(moved), "split": {"kind": "none"}},
                         progress=False).records
    assert all(Path(p).is_file() for p in records["path"])
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"images": [{"id": 1, "file_name": "x.jpg"}], "annotations": []}))
    with pytest.raises(ValueError, match=r"missing \['categories'\]"):
        load_study({"path": str(broken), "source": "coco", "split": {"kind": "none"}}, progress=False)


def test_coco_to_camtrap_dp_with_a_sites_table(tmp_path, standards, capsys):
    path = _write_coco(tmp_path)
    sites = tmp_path / "sites.csv"
    pd.DataFrame({"site": ["1"], "lat": [34.1], "lon": [-118.2]}).to_csv(sites, index=False)
    out = tmp_path / "dp"
    assert data_main(["export", str(path), "--to", "camtrap-dp", "--out", str(out), "--sites", str(sites),
                      "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "dropped: 2 photos of deployments without coordinates" in printed  # location 2
    assert "dropped: 1 photos without a capture time" in printed
    assert validate_camtrap_dp(out, standards) == []
    obs = _tables(out)["observations"]
    assert obs.set_index("mediaID").loc["i3", "observationType"] == "blank"  # the `empty` category
    assert set(obs["eventID"]) == {"s1", "s2"}
