import json
import os
import re
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import zoo.images as images_module
import zoo.predict as predict_module
from zoo.models import create_model
from zoo.predict import predict

CLASSES = ["chat", "lynx", "renard"]
TEMPERATURE = 2.0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny zoo.train-style run: resnet10t at 32 px, 3 classes, T=2."""
    run = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = create_model("resnet10t", num_classes=len(CLASSES))
    model_cfg = {"name": "resnet10t", "model_kwargs": {}, "img_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3,
                 "interpolation": "bilinear", "resize": "squash", "crop_pct": 0.875}
    (run / "checkpoints").mkdir()
    torch.save({"model": model.state_dict(), "classes": CLASSES, "model_cfg": model_cfg, "temperature": TEMPERATURE,
                "epoch": 1, "optimizer": {}, "rng": {"numpy": np.random.get_state()}}, run / "checkpoints" / "best.pt")
    (run / "classes.json").write_text(json.dumps(CLASSES))
    (run / "config.yaml").write_text("head:\n  pooling:\n    kind: mean_probs\n")
    return run


@pytest.fixture
def photos(tmp_path):
    """9 photos in two folders (one a broken file) plus a records table giving them cameras and times."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(9):
        p = tmp_path / "photos" / ("siteA" if i < 5 else "siteB") / f"img{i}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    paths[6].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return paths


def read(path):
    return path.read_bytes()


def test_interrupted_run_restarts_to_the_same_files(run_dir, photos, tmp_path):
    folder = photos[0].parent.parent
    whole = tmp_path / "whole" / "pred.csv"
    predict(run_dir, folder, whole, batch_size=2, num_workers=0, flush_every=1, progress=False)
    out = tmp_path / "resumed" / "pred.csv"
    assert predict(run_dir, folder, out, batch_size=2, num_workers=0, flush_every=1, max_batches=2,
                   progress=False) is None
    assert not out.exists() and len(list((tmp_path / "resumed" / "pred.csv.parts").glob("part-*"))) == 2
    predict(run_dir, folder, out, batch_size=2, num_workers=0, flush_every=1, progress=False)
    for name in ("pred.csv", "pred_sequences.csv", "pred_failed.csv"):
        assert read(tmp_path / "resumed" / name) == read(tmp_path / "whole" / name), name
    assert not (tmp_path / "resumed" / "pred.csv.parts").exists()


def test_a_crash_mid_way_keeps_finished_batches(run_dir, photos, tmp_path, monkeypatch):
    folder = photos[0].parent.parent
    whole = tmp_path / "whole" / "pred.parquet"
    predict(run_dir, folder, whole, batch_size=2, num_workers=0, flush_every=1, progress=False)
    real, calls = images_module.to_model_input, []

    def crash_on_third_batch(images, data):
        calls.append(len(images))
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real(images, data)

    monkeypatch.setattr(images_module, "to_model_input", crash_on_third_batch)
    out = tmp_path / "crashed" / "pred.parquet"
    with pytest.raises(RuntimeError, match="power cut"):
        predict(run_dir, folder, out, batch_size=2, num_workers=0, flush_every=1, progress=False)
    calls.clear()
    monkeypatch.setattr(images_module, "to_model_input", lambda images, data: calls.append(len(images)) or real(images, data))
    predict(run_dir, folder, out, batch_size=2, num_workers=0, flush_every=1, progress=False)
    assert sum(calls) == 8 - 2 * 2  # 8 readable photos; the two batches finished before the crash are not redone
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(whole))


def test_outputs_probabilities_sequences_and_failures(run_dir, photos, tmp_path):
    records = pd.DataFrame({
        "media_id": [f"m{i}" for i in range(9)], "path": [str(p) for p in photos],
        "site": ["A"] * 5 + ["B"] * 4, "camera": ["A"] * 5 + ["B"] * 4,
        # camera A: a burst of 3 then, 10 min later, a burst of 2; camera B: one burst of 4 (m6 unreadable)
        "timestamp": ["2016-05-01 10:00:00", "2016-05-01 10:00:05", "2016-05-01 10:00:10", "2016-05-01 10:10:00",
                      "2016-05-01 10:10:03", "2016-06-01 22:00:00", "2016-06-01 22:00:02", "2016-06-01 22:00:04",
                      "2016-06-01 22:00:30"]})
    records.to_csv(tmp_path / "records.csv", index=False)
    out = tmp_path / "out" / "pred.csv"
    images, sequences, failed = predict(run_dir, tmp_path / "records.csv", out, batch_size=4, num_workers=0,
                                        progress=False)
    assert failed["media_id"].tolist() == ["m6"] and (tmp_path / "out" / "pred_failed.csv").is_file()
    provenance = json.loads((tmp_path / "out" / "pred_provenance.json").read_text())
    assert (provenance["images"], provenance["sequences"], provenance["failed"]) == (8, 3, 1)
    assert provenance["temperature"] == TEMPERATURE and provenance["classes"] == CLASSES
    assert images["media_id"].tolist() == ["m0", "m1", "m2", "m3", "m4", "m5", "m7", "m8"]
    p = images[[f"p_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    assert (images["pred"] == np.asarray(CLASSES)[p.argmax(1)]).all()

    # temperature: probabilities are softmax(logits / 2)
    model, data, _, _, _ = predict_module.load_run(run_dir)
    from zoo.images import load_image, to_model_input
    x = to_model_input(torch.from_numpy(load_image(photos[0], data))[None], data)
    with torch.inference_mode():
        expected = torch.softmax(model(x) / TEMPERATURE, 1)[0].numpy()
    np.testing.assert_allclose(p[0], expected, rtol=1e-4, atol=1e-6)

    assert sequences["n_frames"].tolist() == [3, 2, 3]
    assert len(sequences) == images["sequence_id"].nunique() == 3
    first = sequences.iloc[0]
    np.testing.assert_allclose(first[[f"p_{c}" for c in CLASSES]].to_numpy(float), p[:3].mean(0), rtol=1e-6)
    assert pd.read_csv(out.with_name("pred_sequences.csv"))["n_frames"].tolist() == [3, 2, 3]


def test_bad_inputs_are_named(run_dir, tmp_path):
    pd.DataFrame({"file": ["a.jpg"]}).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(ValueError, match="no `path` column"):
        predict(run_dir, tmp_path / "r.csv", tmp_path / "o.csv", progress=False)
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        predict(run_dir, tmp_path, tmp_path / "o.xlsx", progress=False)
    with pytest.raises(FileNotFoundError, match="last.pt"):
        predict(run_dir, tmp_path, tmp_path / "o.csv", checkpoint="last", progress=False)


def test_two_predictions_in_one_folder_keep_their_own_failure_lists(run_dir, photos, tmp_path):
    out = tmp_path / "out"
    predict(run_dir, photos[0].parent, out / "a.csv", num_workers=0, progress=False)  # siteA: all readable
    predict(run_dir, photos[6].parent, out / "b.csv", num_workers=0, progress=False)  # siteB: img6 is broken
    assert pd.read_csv(out / "a_failed.csv").empty
    assert pd.read_csv(out / "b_failed.csv")["media_id"].tolist() == ["img6.jpg"]
    assert not (out / "failed.csv").exists()


def test_outputs_honour_the_umask(run_dir, photos, tmp_path):
    previous = os.umask(0o027)
    try:
        predict(run_dir, photos[0].parent.parent, tmp_path / "out" / "pred.csv", num_workers=0, progress=False)
    finally:
        os.umask(previous)
    written = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in written] == ["pred.csv", "pred_failed.csv", "pred_provenance.json", "pred_sequences.csv"]
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o640)}  # not mkstemp's 0600


@pytest.mark.parametrize("key, value, message", [
    ("batch_size", 0, "batch_size=0 is not allowed: expected an integer >= 1"),
    ("flush_every", 0, "flush_every=0"),
    ("device", "cuda", "device=cuda is not allowed: expected one of auto, cpu"),
    ("backend", "tensorrt", "backend=tensorrt is not allowed: expected one of torch, onnx"),
    ("pooling", "median", "pooling=median"),
    ("checkpoint", "nowhere.pt", "checkpoint=nowhere.pt"),
    ("input", "no/such/folder", "input=no/such/folder does not exist"),
])
def test_impossible_values_fail_before_the_model_loads(run_dir, tmp_path, monkeypatch, key, value, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(predict_module, "load_run", lambda *a, **k: pytest.fail("the model was loaded"))
    kwargs = {"input": tmp_path, "output": tmp_path / "o.csv", "progress": False, key: value}
    with pytest.raises((ValueError, FileNotFoundError), match=re.escape(message)):
        predict(run_dir, **kwargs)


def test_the_command_prints_one_line_for_a_user_error(tmp_path, monkeypatch, capsys):
    from hydra.core.global_hydra import GlobalHydra

    argv = ["zoo.predict", f"run_dir={tmp_path / 'no_run'}", f"input={tmp_path}", f"output={tmp_path / 'o.csv'}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        predict_module.main()
    GlobalHydra.instance().clear()
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("zoo.predict: error: no checkpoint") and "--debug" in err
    monkeypatch.setattr(sys, "argv", argv + ["--debug"])
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        predict_module.main()
    GlobalHydra.instance().clear()


def test_onnx_backend_matches_torch(run_dir, photos, tmp_path):
    pytest.importorskip("onnxruntime")
    folder = photos[0].parent.parent
    torch_out, _, _ = predict(run_dir, folder, tmp_path / "t.csv", batch_size=4, num_workers=0, progress=False)
    onnx_out, _, failed = predict(run_dir, folder, tmp_path / "o.csv", batch_size=4, num_workers=0, progress=False,
                                  backend="onnx")
    cols = [f"p_{c}" for c in CLASSES]
    assert onnx_out["media_id"].tolist() == torch_out["media_id"].tolist() and len(failed) == 1
    np.testing.assert_allclose(onnx_out[cols].to_numpy(), torch_out[cols].to_numpy(), atol=1e-5)


def test_relative_paths_in_a_table_are_relative_to_the_table(run_dir, photos, tmp_path, monkeypatch):
    folder = photos[0].parent.parent
    pd.DataFrame({"path": ["siteA/img0.jpg", "siteB/img5.jpg"]}).to_csv(folder / "table.csv", index=False)
    monkeypatch.chdir(tmp_path)
    images, _, failed = predict(run_dir, folder / "table.csv", tmp_path / "rel.csv", num_workers=0, progress=False)
    assert images["media_id"].tolist() == ["siteA/img0.jpg", "siteB/img5.jpg"] and failed.empty
    assert images["path"].tolist() == [str(folder / "siteA" / "img0.jpg"), str(folder / "siteB" / "img5.jpg")]


def test_sequence_output_is_what_occupancy_scores_mode_reads(run_dir, photos, tmp_path):
    """The zoo -> occupancy hand-off: pred_sequences.csv goes straight into labels=scores."""
    from occupancy.histories import OccasionSpec
    from occupancy.streams import assemble

    records = pd.DataFrame({"path": [str(p) for p in photos], "site": ["A"] * 5 + ["B"] * 4,
                            "camera": ["A"] * 5 + ["B"] * 4,
                            "timestamp": ["2016-05-01 10:00:00"] * 5 + ["2016-06-01 22:00:00"] * 4})
    records.to_csv(tmp_path / "records.csv", index=False)
    predict(run_dir, tmp_path / "records.csv", tmp_path / "out" / "pred.csv", num_workers=0, progress=False)
    scores = pd.read_csv(tmp_path / "out" / "pred_sequences.csv")
    manual = pd.DataFrame({"site": ["J"], "timestamp": ["2016-05-03 12:00:00"], "label": ["lynx"]})
    data = assemble(manual, {"lynx": "lynx", "cat": "chat"}, "scores", truth_col="label", scores=scores,
                    occasions=OccasionSpec(kind="month", months=(5, 6)))
    assert data.sites == ("A", "B", "J") and data.occasions == ("05", "06")
    assert data.y[0, 2].tolist() == [1, 0]  # the manual site keeps its human labels
    # scored sites are seen through the scores where they have sequences; their other months are certain zeros
    assert np.isnan(data.y[:, 0, 0]).all() and np.isnan(data.y[:, 1, 1]).all()
    assert (data.y[:, 0, 1] == 0).all() and (data.y[:, 1, 0] == 0).all()
    evidence = data.scores
    assert list(zip(evidence.unit_site, evidence.unit_occasion)) == [(0, 0), (1, 1)]  # A in May, B in June
    assert np.isfinite(evidence.log_mean_products).all() and 2 not in evidence.unit_site


def test_a_table_s_times_are_read_by_the_one_parser(tmp_path, caplog):
    """EXIF-style and day/month times in a prediction table read as zoo.data reads them (not year 1, not swapped)."""
    from zoo.predict import _table_records

    table = tmp_path / "t.csv"
    pd.DataFrame({"path": ["a.jpg", "b.jpg", "c.jpg"],
                  "timestamp": ["2017:05:25 10:00:00", "2017:05:25 10:00:20", "not a time"]}).to_csv(table, index=False)
    with caplog.at_level("WARNING"):
        times = _table_records(table)["timestamp"]
    assert times.tolist()[:2] == [pd.Timestamp("2017-05-25 10:00:00"), pd.Timestamp("2017-05-25 10:00:20")]
    assert pd.isna(times.iloc[2]) and "1 timestamp(s)" in caplog.text


def test_a_table_is_read_like_a_zoo_data_label_table(tmp_path):
    """A spreadsheet's ';' CSV with a byte-order mark and an .xlsx give the same records as a plain CSV."""
    from zoo.predict import input_records

    frame = pd.DataFrame({"path": ["a.jpg", "b.jpg"], "site": ["12", "3.5"], "timestamp": ["2017-05-25 10:00:00"] * 2})
    frame.to_csv(tmp_path / "plain.csv", index=False)
    (tmp_path / "europe.csv").write_text(frame.to_csv(index=False, sep=";"), encoding="utf-8-sig")
    frame.to_excel(tmp_path / "book.xlsx", index=False)
    expected = input_records(tmp_path / "plain.csv", progress=False)[["media_id", "site", "timestamp", "sequence_id"]]
    for name in ("europe.csv", "book.xlsx"):
        got = input_records(tmp_path / name, progress=False)[["media_id", "site", "timestamp", "sequence_id"]]
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    with pytest.raises(ValueError, match=r"a .csv/.parquet/.xlsx records table, got .*labels.ods"):
        input_records(tmp_path / "labels.ods", progress=False)


def test_options_are_the_command_s_keys_checked_once(run_dir, photos, tmp_path):
    from zoo.predict import predict_options

    opts = predict_options({"run_dir": run_dir, "input": photos[0].parent, "output": tmp_path / "o.csv"}, batch_size=4)
    assert (opts.batch_size, opts.checkpoint, opts.sequence_gap_s) == (4, "best", 60)  # the rest: configs/predict.yaml
    with pytest.raises(ValueError, match="unknown prediction option.*batchsize"):
        predict(run_dir, photos[0].parent, tmp_path / "o.csv", batchsize=4)
    with pytest.raises(ValueError, match="missing prediction option.*output"):
        predict(run_dir, photos[0].parent)
    images, _, _ = predict(options=opts, num_workers=0, progress=False)
    provenance = json.loads((tmp_path / "o_provenance.json").read_text())
    assert len(images) == 5 and provenance["head"]["temperature"]["T"] == TEMPERATURE  # a run saved before heads
    assert provenance["head"]["prior"] == {"ran": False} and not provenance["head"]["rollup"]["ran"]


def test_an_exported_onnx_file_predicts_alone_like_the_run(run_dir, photos, tmp_path):
    """zoo.export writes the model with its classes, preprocessing and temperature; predict needs only the file."""
    pytest.importorskip("onnxruntime")
    from zoo.export import export
    from zoo.models.onnx import read_metadata

    model_file = export(run_dir, tmp_path / "model.onnx")
    meta = read_metadata(model_file)
    assert meta["classes"] == CLASSES and meta["temperature"] == pytest.approx(TEMPERATURE)
    assert {"img_size", "mean", "std", "resize", "interpolation"} <= set(meta["preprocessing"])
    folder = photos[0].parent.parent
    torch_out, torch_seq, _ = predict(run_dir, folder, tmp_path / "t.csv", batch_size=4, num_workers=0, progress=False)
    moved = tmp_path / "elsewhere" / "model.onnx"  # no run directory next to it
    moved.parent.mkdir()
    model_file.rename(moved)
    onnx_out, onnx_seq, failed = predict(input=folder, output=tmp_path / "o.csv", onnx=str(moved), batch_size=4,
                                         num_workers=0, progress=False)
    cols = [f"p_{c}" for c in CLASSES]
    assert onnx_out["media_id"].tolist() == torch_out["media_id"].tolist() and len(failed) == 1
    np.testing.assert_allclose(onnx_out[cols].to_numpy(), torch_out[cols].to_numpy(), atol=1e-4)
    np.testing.assert_allclose(onnx_seq[cols].to_numpy(), torch_seq[cols].to_numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="onnx="):
        predict(input=folder, output=tmp_path / "x.csv", onnx=str(tmp_path / "missing.onnx"))
