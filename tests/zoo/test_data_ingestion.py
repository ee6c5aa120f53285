"""A new user's own photos and tables: every image format, cut files, any time style, a minimal label CSV."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from camtrap_files import make_jpeg, truncate
from zoo.data import load_study
from zoo.data.splits import file_blocks, leaking_sequences
from zoo.data.tags import read_image_tags
from zoo.data.times import parse_times, unparsed

NO_SPLIT = {"split": {"kind": "none"}}


def noisy_jpeg(path, size=(256, 192), seed=0):
    """A JPEG whose image data is most of the file, so a cut lands inside it (not in the headers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2017:05:01 10:00:00"
    Image.fromarray(pixels).save(path, "JPEG", quality=90, exif=exif.tobytes())
    return path


# --- images --------------------------------------------------------------------------------------

def test_png_and_png_named_jpg_are_read_like_jpegs(tmp_path):
    Image.new("RGB", (40, 30), (10, 200, 30)).save(tmp_path / "real.png")
    Image.new("RGBA", (40, 30), (10, 200, 30, 128)).save(tmp_path / "renamed.jpg", "PNG")
    Image.new("P", (40, 30)).save(tmp_path / "palette.png")
    for name in ("real.png", "renamed.jpg", "palette.png"):
        info = read_image_tags(tmp_path / name)  # raised RuntimeError: verify must be called directly after open
        assert info.problems == ["no EXIF capture time"], name
        assert (info.width, info.height) == (40, 30)
    records = load_study({"path": str(tmp_path), **NO_SPLIT}, progress=False).records
    assert records["readable"].all() and len(records) == 3


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_a_jpeg_cut_inside_its_image_data_is_unreadable(tmp_path, keep):
    path = truncate(noisy_jpeg(tmp_path / "cut.jpg"), keep)
    problems = read_image_tags(path).problems
    assert len(problems) == 1 and problems[0].startswith("unreadable image: image file is truncated")


def test_broken_files_are_flagged_listed_and_not_duplicates_of_each_other(tmp_path):
    noisy_jpeg(tmp_path / "good.jpg")
    truncate(noisy_jpeg(tmp_path / "cut.jpg", seed=1), 0.8)
    (tmp_path / "empty1.jpg").write_bytes(b"")
    (tmp_path / "empty2.jpg").write_bytes(b"")  # same bytes as empty1: still unreadable, not a copy
    (tmp_path / "notes.jpg").write_text("field notes, not a photo")
    study = load_study({"path": str(tmp_path), **NO_SPLIT}, progress=False)
    readable = study.records.set_index("media_id")["readable"]
    assert readable.to_dict() == {"cut.jpg": False, "empty1.jpg": False, "empty2.jpg": False,
                                  "good.jpg": True, "notes.jpg": False}
    assert study.report["problems"] == {"unreadable image": 4}


# --- times ---------------------------------------------------------------------------------------

def test_one_parser_for_exif_iso_and_slashes_keeping_local_time():
    raw = pd.Series(["2017:05:01 10:00:00", "2017-05-01T23:30:00+02:00", "2017-05-01T23:30:00Z",
                     "2017/05/01 10:00", "2017-05-01 10:00:00.250", "", None, "soon", "2019:02:29 10:00:00"])
    times = parse_times(raw)
    assert times.tolist()[:5] == [pd.Timestamp("2017-05-01 10:00"), pd.Timestamp("2017-05-01 23:30"),
                                  pd.Timestamp("2017-05-01 23:30"), pd.Timestamp("2017-05-01 10:00"),
                                  pd.Timestamp("2017-05-01 10:00:00.250")]
    assert unparsed(raw, times).tolist() == [False] * 7 + [True, True]
    # a time zone converts times that carry an offset to its local time; the others are already local
    paris = parse_times(raw[:3], timezone="Europe/Paris")
    assert paris.tolist() == [pd.Timestamp("2017-05-01 10:00"), pd.Timestamp("2017-05-01 23:30"),
                              pd.Timestamp("2017-05-02 01:30")]


def test_day_month_order_is_one_per_column_whatever_the_row_order(caplog):
    dates = ["03/05/2017 10:00", "25/05/2017 11:00"]
    for rows in (dates, dates[::-1]):
        assert sorted(parse_times(pd.Series(rows)).tolist()) == [pd.Timestamp("2017-05-03 10:00"),
                                                                 pd.Timestamp("2017-05-25 11:00")]
    assert parse_times(pd.Series(["05/25/2017 01:00 PM"])).tolist() == [pd.Timestamp("2017-05-25 13:00")]
    assert parse_times(pd.Series(["03/05/2017"]), dayfirst=False).tolist() == [pd.Timestamp("2017-03-05")]
    with caplog.at_level(logging.WARNING):
        assert parse_times(pd.Series(["03/05/2017"])).tolist() == [pd.Timestamp("2017-05-03")]
    assert "set data.dayfirst" in caplog.text  # ambiguous: said, not silently guessed
    assert parse_times(pd.Series(["1.5.2017 10h00"]), time_format="%d.%m.%Y %Hh%M").tolist() == [
        pd.Timestamp("2017-05-01 10:00")]


def test_unread_times_are_problems_in_the_summary(tmp_path):
    csv = tmp_path / "r.csv"
    pd.DataFrame({"file": ["a.jpg", "b.jpg", "c.jpg"], "label": ["fox", "fox", "deer"],
                  "timestamp": ["21/06/2017 10:00", "22/06/2017 10:00", "yesterday"]}).to_csv(csv, index=False)
    study = load_study({"path": str(csv), **NO_SPLIT}, progress=False)
    assert study.records["timestamp"].tolist()[:2] == [pd.Timestamp("2017-06-21 10:00"), pd.Timestamp("2017-06-22 10:00")]
    assert study.report["problems"] == {"unreadable time": 1}
    assert study.report["timestamp_flags"] == {"invalid": 1}
    study = load_study({"path": str(csv), "time_format": "%d/%m/%Y %H:%M", **NO_SPLIT}, progress=False)
    assert study.report["problems"] == {"unreadable time": 1}
    with pytest.raises(ValueError, match=r"data.time_format=dd/mm/yyyy is not allowed: expected null or a strftime pattern"):
        load_study({"path": str(csv), "time_format": "dd/mm/yyyy"}, progress=False)
    with pytest.raises(ValueError, match=r"data.timezone=Mars/Olympus is not allowed: expected null or a time zone name"):
        load_study({"path": str(csv), "timezone": "Mars/Olympus"}, progress=False)


# --- a minimal records table ---------------------------------------------------------------------

def test_a_csv_with_only_a_file_and_a_label_works_with_one_warning(tmp_path, caplog):
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"file": [f"IMG_{i:04d}.JPG" for i in range(48)],
                  "label": (["fox"] * 4 + ["deer"] * 4 + ["badger"] * 4) * 4}).to_csv(csv, index=False)
    with caplog.at_level(logging.WARNING):
        study = load_study({"path": str(csv)}, progress=False)  # raised KeyError: 'camera'
    lost = [r.message for r in caplog.records if "has no site/camera/timestamp column" in r.message]
    assert len(lost) == 1 and "without timestamp, no sequences" in lost[0]
    records = study.records
    assert records["label"].value_counts().to_dict() == {"fox": 16, "deer": 16, "badger": 16}
    assert (records["site"] == "").all() and records["timestamp"].isna().all()
    assert set(records["split"]) == {"train", "valid"}  # auto: file blocks, no time to form sequences


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8"])
def test_european_csv_semicolons_and_bom(tmp_path, encoding):
    csv = tmp_path / "export.csv"
    csv.write_text("Fichier;Espèce;Site\nphoto1.jpg;Renard;A\nphoto2.jpg;Chevreuil;B\n", encoding=encoding)
    study = load_study({"path": str(csv), "columns": {"media_id": "Fichier", "tags": ["Espèce"]}, **NO_SPLIT},
                       progress=False)
    assert study.records.set_index("media_id")["label"].to_dict() == {"photo1.jpg": "renard", "photo2.jpg": "chevreuil"}
    assert study.records["site"].tolist() == ["A", "B"]


def test_an_excel_workbook_is_a_label_table(tmp_path, caplog):
    """A plain spreadsheet (file, label, site, time) saved as .xlsx: date cells and typed text cells both read;
    a second sheet is named in a warning, not merged or dropped silently."""
    book = tmp_path / "labels.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"File": ["a.jpg", "b.jpg", "c.jpg"], "Species": ["Fox", "", "Roe deer"], "Site": [12, 12, 3.5],
                      "Date": [pd.Timestamp("2021-06-01 10:00"), pd.Timestamp("2021-06-01 10:00:30"), "2021-06-02 11:00"]}
                     ).to_excel(writer, sheet_name="labels", index=False)
        pd.DataFrame({"note": ["checked by AB"]}).to_excel(writer, sheet_name="notes", index=False)
    with caplog.at_level(logging.WARNING):
        study = load_study({"path": str(book), "columns": {"timestamp": "Date"}, **NO_SPLIT}, progress=False)
    assert any("first sheet 'labels' only (also has 'notes')" in r.message for r in caplog.records)
    records = study.records.set_index("media_id")
    assert records["label"].to_dict() == {"a.jpg": "fox", "b.jpg": "", "c.jpg": "roe deer"}
    assert records["site"].to_dict() == {"a.jpg": "12", "b.jpg": "12", "c.jpg": "3.5"}
    assert records["timestamp"].tolist() == [pd.Timestamp("2021-06-01 10:00"), pd.Timestamp("2021-06-01 10:00:30"),
                                             pd.Timestamp("2021-06-02 11:00")]
    assert records["sequence_id"]["a.jpg"] == records["sequence_id"]["b.jpg"] != records["sequence_id"]["c.jpg"]
    (tmp_path / "broken.xlsx").write_text("saved as text, named .xlsx")
    with pytest.raises(ValueError, match=r"broken.xlsx is not a readable .xlsx workbook"):
        load_study({"path": str(tmp_path / "broken.xlsx"), **NO_SPLIT}, progress=False)


def test_a_csv_that_is_not_utf8_gets_a_hint(tmp_path):
    csv = tmp_path / "export.csv"
    csv.write_bytes("file;label\nphoto1.jpg;Lièvre\n".encode("cp1252"))
    with pytest.raises(ValueError, match=r"is not UTF-8 text.*save it as UTF-8"):
        load_study({"path": str(csv), **NO_SPLIT}, progress=False)


# --- splits without time -------------------------------------------------------------------------

def test_file_blocks_keep_runs_of_consecutive_names_together():
    labels = ["fox"] * 5 + ["deer"] * 3 + ["fox"] * 30 + ["badger"] * 4
    records = pd.DataFrame({"media_id": [f"cam1/IMG_{i:04d}.JPG" for i in range(len(labels))],
                            "path": [f"/d/cam1/IMG_{i:04d}.JPG" for i in range(len(labels))], "label": labels})
    blocks = file_blocks(records, block_files=20)
    assert blocks[:5].nunique() == 1 and blocks[5:8].nunique() == 1 and blocks[4] != blocks[5]
    assert blocks[8:38].nunique() == 2  # a run of 30 is cut after 20 files
    shuffled = records.sample(frac=1, random_state=0)
    assert (file_blocks(shuffled, 20).sort_index() == blocks).all()  # order of rows does not matter


def test_auto_split_uses_file_blocks_without_times_and_warns_for_stratified(tmp_path, caplog):
    rng = np.random.default_rng(0)
    labels = np.repeat(rng.choice(["fox", "deer", "badger"], 40), rng.integers(1, 6, 40))
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"file": [f"IMG_{i:04d}.JPG" for i in range(len(labels))], "label": labels}).to_csv(csv, index=False)
    records = load_study({"path": str(csv)}, progress=False).records
    blocks = file_blocks(records)
    assert leaking_sequences(records.assign(sequence_id=blocks)) == 0  # no run of names straddles two sides
    assert set(records["split"]) == {"train", "valid"}
    with caplog.at_level(logging.WARNING):
        load_study({"path": str(csv), "split": {"kind": "stratified"}}, progress=False)
    assert "may put frames of one burst on both sides" in caplog.text


def test_an_id_and_a_path_column_are_both_used_and_one_label_is_not_split(tmp_path, caplog):
    (tmp_path / "img").mkdir()
    make_jpeg(tmp_path / "img" / "a.jpg")
    csv = tmp_path / "t.csv"
    pd.DataFrame({"ID": ["p1", "p2"], "Path": ["img/a.jpg", "img/missing.jpg"], "Species": ["fox", ""]}).to_csv(csv, index=False)
    with caplog.at_level(logging.WARNING):
        records = load_study({"path": str(csv)}, progress=False).records.set_index("media_id")
    assert records.loc["p1", "path"] == str(tmp_path / "img" / "a.jpg")  # found next to the table
    assert records.loc["p2", "path"] == "img/missing.jpg"  # kept as written
    assert records["label"].tolist() == ["fox", ""] and set(records["split"]) == {""}
    assert "fewer than two labelled sequences" in caplog.text
