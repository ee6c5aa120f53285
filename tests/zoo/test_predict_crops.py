"""zoo.predict's `crops` option: MegaDetector's boxes classified instead of whole frames (zoo.crops).

Hand-written MegaDetector batch output files over real photos of the bundle; the tiny run of test_predict.
"""
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import zoo.predict as predict_module
from core.paths import SAMPLE_DIR
from test_predict import CLASSES, run_dir  # noqa: F401 (run_dir is a fixture)
from zoo.predict import predict

P = [f"p_{c}" for c in CLASSES]
AIN = SAMPLE_DIR / "lynx" / "images" / "ain"
CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}
LYNX_BOXES = [[0.25, 0.2, 0.5, 0.4], [0.05, 0.55, 0.3, 0.4]]
BOAR_BOX = [0.7, 0.1, 0.5, 0.5]  # runs past the right edge: clamped to the image


def md_file(path, images, categories=CATEGORIES):
    path.write_text(json.dumps({"images": images, "detection_categories": categories,
                                "info": {"detector": "hand-written"}}))
    return path


def det(category, conf, bbox):
    return {"category": category, "conf": conf, "bbox": bbox}


@pytest.fixture
def photos(tmp_path):
    """The bundle's three Ain photos (640 x ~493) and a MegaDetector file boxing them."""
    folder = tmp_path / "traps"
    shutil.copytree(AIN, folder)
    md_file(folder / "md.json", [
        {"file": "lynx.jpg", "detections": [det("1", 0.9, LYNX_BOXES[0]), det("2", 0.95, [0.0, 0.0, 0.2, 0.2]),
                                            det("1", 0.5, LYNX_BOXES[1]), det("1", 0.1, [0.6, 0.6, 0.3, 0.3])]},
        {"file": "roedeer.jpg", "detections": [det("1", 0.15, [0.1, 0.1, 0.5, 0.5])]},  # below 0.2: empty
        {"file": "wildboard.jpg", "detections": [det("1", 0.8, BOAR_BOX)]},
    ])
    return folder


def manual_crop(path, bbox, out):
    """The box cut by hand: [x, y, w, h] fractions -> pixels rounded, clamped to the image; saved losslessly."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        x0, y0 = round(bbox[0] * w), round(bbox[1] * h)
        x1, y1 = min(w, round((bbox[0] + bbox[2]) * w)), min(h, round((bbox[1] + bbox[3]) * h))
        im.crop((x0, y0, x1, y1)).save(out)


def crop_run(run_dir, folder, out, **crops):  # noqa: F811 (run_dir is the fixture's value)
    crops = {"detections": str(folder / "md.json"), **crops}
    return predict(run_dir, folder, out, crops=crops, batch_size=2, num_workers=0, progress=False)


def test_each_box_is_classified_as_its_crop_and_empty_frames_are_empty(run_dir, photos, tmp_path):  # noqa: F811
    images, sequences, failed = crop_run(run_dir, photos, tmp_path / "out" / "pred.csv")
    crops = pd.read_csv(tmp_path / "out" / "pred_crops.csv")
    # the person box, the box below the threshold and roedeer's only box are not classified
    assert list(zip(crops["media_id"], crops["box"])) == [("lynx.jpg", 0), ("lynx.jpg", 2), ("wildboard.jpg", 0)]
    assert crops["detection_conf"].tolist() == [0.9, 0.5, 0.8] and failed.empty

    manual = tmp_path / "manual"
    manual.mkdir()
    for name, (file, bbox) in {"a.png": ("lynx.jpg", LYNX_BOXES[0]), "b.png": ("lynx.jpg", LYNX_BOXES[1]),
                               "c.png": ("wildboard.jpg", BOAR_BOX), "whole.png": ("lynx.jpg", [0, 0, 1, 1])}.items():
        manual_crop(photos / file, bbox, manual / name)
    by_hand, _, _ = predict(run_dir, manual, tmp_path / "manual.csv", num_workers=0, progress=False)
    by_hand = by_hand.set_index("media_id")[P]
    np.testing.assert_allclose(crops[P].to_numpy(), by_hand.loc[["a.png", "b.png", "c.png"]].to_numpy(), atol=1e-5)
    assert np.abs(by_hand.loc["whole.png"].to_numpy() - crops[P].to_numpy()[0]).max() > 1e-4  # a crop is no frame

    assert images["media_id"].tolist() == ["lynx.jpg", "roedeer.jpg", "wildboard.jpg"]  # the input's order
    lynx, roedeer, boar = (images.iloc[i] for i in range(3))
    assert (lynx["box"], lynx["n_crops"], lynx["empty"]) == (0, 2, False)  # its most confident box
    np.testing.assert_allclose(lynx[P].to_numpy(float), crops[P].to_numpy()[0])
    assert (roedeer["pred"], roedeer["empty"], roedeer["n_crops"]) == ("empty", True, 0)
    assert np.isnan(roedeer[[*P, "confidence", "detection_conf"]].to_numpy(float)).all() and pd.isna(roedeer["box"])
    assert boar["n_crops"] == 1 and boar["pred"] in CLASSES

    # sequences pool the crops; the empty frame's sequence has no row, so no NaN reaches occupancy
    written = pd.read_csv(tmp_path / "out" / "pred_sequences.csv")
    assert len(written) == 2 and not written[P].isna().any().any()
    lynx_seq = written.set_index("sequence_id").loc[lynx["sequence_id"]]
    assert (lynx_seq["n_frames"], lynx_seq["n_crops"]) == (1, 2)
    np.testing.assert_allclose(lynx_seq[P].to_numpy(float), crops[P].to_numpy()[:2].mean(0), rtol=1e-6)


def test_the_sequences_are_what_occupancy_scores_mode_reads(run_dir, photos, tmp_path):  # noqa: F811
    from occupancy.histories import OccasionSpec
    from occupancy.streams import assemble

    crop_run(run_dir, photos, tmp_path / "pred.csv")
    scores = pd.read_csv(tmp_path / "pred_sequences.csv")
    manual = pd.DataFrame({"site": ["J"], "timestamp": ["2018-07-03 12:00:00"], "label": ["lynx"]})
    data = assemble(manual, {"lynx": "lynx", "cat": "chat"}, "scores", truth_col="label", scores=scores,
                    occasions=OccasionSpec(kind="month", months=(7, 9)))
    assert data.sites == ("J", "traps") and data.scores.unit_site.tolist() == [1, 1]  # July: lynx, Sept: boar
    assert data.scores.unit_occasion.tolist() == [0, 1]


def test_missing_failed_and_unreadable_images_are_listed_not_fatal(run_dir, photos, tmp_path, caplog):  # noqa: F811
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    shutil.copy(photos / "lynx.jpg", photos / "unlisted.jpg")
    md_file(photos / "md.json", [
        {"file": "lynx.jpg", "detections": [det("1", 0.9, LYNX_BOXES[0])]},
        {"file": "roedeer.jpg", "failure": "Failure image access"},
        {"file": "wildboard.jpg", "detections": []},
        {"file": "broken.jpg", "detections": [det("1", 0.7, [0.1, 0.1, 0.5, 0.5])]},
        {"file": "elsewhere/gone.jpg", "detections": [det("1", 0.7, [0.1, 0.1, 0.5, 0.5])]},  # not in the input
    ])
    with caplog.at_level("WARNING"):
        images, sequences, failed = crop_run(run_dir, photos, tmp_path / "out" / "pred.csv")
    assert images["media_id"].tolist() == ["lynx.jpg", "wildboard.jpg"]
    assert images["empty"].tolist() == [False, True]
    written = pd.read_csv(tmp_path / "out" / "pred_failed.csv").set_index("media_id")["error"]
    assert written.index.tolist() == ["broken.jpg", "roedeer.jpg", "unlisted.jpg"]  # the input's order
    assert written["roedeer.jpg"] == "detector failure: Failure image access"
    assert written["unlisted.jpg"] == "not in md.json" and written["broken.jpg"].startswith(("OSError", "Unidentified"))
    assert "unlisted.jpg skipped: not in md.json" in caplog.text
    assert len(sequences) == 1 and len(pd.read_csv(tmp_path / "out" / "pred_crops.csv")) == 1


@pytest.mark.parametrize("crops, message", [
    ({"treshold": 0.3}, "unknown crop option(s) crops.treshold: expected some of detections, threshold"),
    ({"detections": "nowhere.json"}, "crops.detections=nowhere.json is not allowed"),
    ({"threshold": 1.5}, "crops.threshold=1.5 is not allowed: expected a number in [0.0, 1.0]"),
    ({"categories": "animal"}, "crops.categories=animal is not allowed: expected a non-empty list"),
    ({"categories": []}, "crops.categories=[] is not allowed"),
    ({"padding": -0.1}, "crops.padding=-0.1 is not allowed"),
    ("md.json", "crops=md.json is not allowed: expected a mapping"),
])
def test_impossible_crop_options_fail_before_the_model_loads(run_dir, photos, tmp_path, monkeypatch, crops,  # noqa: F811
                                                             message):
    monkeypatch.setattr(predict_module, "load_run", lambda *a, **k: pytest.fail("the model was loaded"))
    if isinstance(crops, dict) and "detections" not in crops:
        crops = {"detections": str(photos / "md.json"), **crops}
    with pytest.raises(ValueError, match=re.escape(message)):
        predict(run_dir, photos, tmp_path / "o.csv", crops=crops, progress=False)


def test_a_coco_file_or_a_misspelt_category_is_refused(run_dir, photos, tmp_path, monkeypatch):  # noqa: F811
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "lynx.jpg"}], "annotations": [], "categories": []}))
    with pytest.raises(ValueError, match="crops.detections=.*coco.json is not allowed"):
        predict(run_dir, photos, tmp_path / "o.csv", crops={"detections": str(coco)}, progress=False)
    monkeypatch.setattr(predict_module, "label_images", lambda *a, **k: pytest.fail("labelling began"))
    with pytest.raises(ValueError, match=r"crops.categories \['animals'\]: no detection .* has them"):
        crop_run(run_dir, photos, tmp_path / "o.csv", categories=["animals"])
    assert not (tmp_path / "o.csv").exists()


def test_a_crop_run_resumes_to_the_same_files_and_records_its_settings(run_dir, photos, tmp_path):  # noqa: F811
    whole = tmp_path / "whole" / "pred.csv"
    crop_run(run_dir, photos, whole, padding=0.1)
    out = tmp_path / "resumed" / "pred.csv"
    crops = {"detections": str(photos / "md.json"), "padding": 0.1}
    assert predict(run_dir, photos, out, crops=crops, batch_size=2, num_workers=0, flush_every=1, max_batches=1,
                   progress=False) is None
    with pytest.raises(ValueError, match="holds parts of another prediction"):  # other crops: other parts
        crop_run(run_dir, photos, out, padding=0.2)
    crop_run(run_dir, photos, out, padding=0.1)
    for name in ("pred.csv", "pred_crops.csv", "pred_sequences.csv", "pred_failed.csv"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    provenance = json.loads((tmp_path / "resumed" / "pred_provenance.json").read_text())
    settings = provenance["crops"]
    assert (settings["threshold"], settings["categories"], settings["padding"]) == (0.2, ["animal"], 0.1)
    assert settings["detections"] == str((photos / "md.json").resolve()) and len(settings["detections_sha256"]) == 64
    assert provenance["crop_counts"] == {"crops": 3, "empty_images": 1} and provenance["images"] == 3


def test_padding_grows_the_box_within_the_image(run_dir, photos, tmp_path):  # noqa: F811
    from zoo.crops import crop_box

    assert crop_box([0.25, 0.2, 0.5, 0.4], 0.1) == pytest.approx((0.2, 0.16, 0.8, 0.64))
    assert crop_box(BOAR_BOX, 0.0) == pytest.approx((0.7, 0.1, 1.0, 0.6))
    assert crop_box([0.2, 0.2, 0.0, 0.3]) is None and crop_box("0.1 0.1") is None and crop_box([1.2, 0, 0.1, 0.1]) is None


def test_the_onnx_backend_classifies_the_same_crops(run_dir, photos, tmp_path):  # noqa: F811
    pytest.importorskip("onnxruntime")
    crop_run(run_dir, photos, tmp_path / "t.csv")
    predict(run_dir, photos, tmp_path / "o.csv", crops={"detections": str(photos / "md.json")}, backend="onnx",
            batch_size=2, num_workers=0, progress=False)
    torch_crops, onnx_crops = pd.read_csv(tmp_path / "t_crops.csv"), pd.read_csv(tmp_path / "o_crops.csv")
    assert onnx_crops["box"].tolist() == torch_crops["box"].tolist()
    np.testing.assert_allclose(onnx_crops[P].to_numpy(), torch_crops[P].to_numpy(), atol=1e-4)
