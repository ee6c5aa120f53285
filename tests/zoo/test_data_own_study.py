"""A new user's folder: the generic config, `zoo.data init`, docs/own-study.md's commands, a messy folder of 41."""
from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from camtrap_files import make_jpeg, truncate
from zoo.data import load_records, read_records
from zoo.data.__main__ import main as data_cli
from zoo.data.config import default_data_config, load_data_config
from core.paths import PROJECT_DIR, sample_dir

DOC = PROJECT_DIR / "docs" / "own-study.md"
SPECIES = ["Renard", "chevreuil", "Blaireau"]


def make_photos(root: Path, n: int = 12, exif: bool = True) -> list[Path]:
    """n photos in root/<site>/<camera>/: bursts of 3 shots 10 s apart, one label and one camera each.

    Bursts 0 and 1 are in May, 2 and 3 in June, 4 and 5 in May, ...: two sites seen in two months."""
    paths = []
    for i in range(n):
        burst = i // 3
        site, camera = ("siteA", "cam1") if burst % 2 == 0 else ("siteB", "cam2")
        month = 5 + burst // 2 % 2
        when = f"2017:{month:02d}:{1 + burst:02d} 10:00:{(i % 3) * 10:02d}" if exif else None
        paths.append(make_jpeg(root / site / camera / f"IMG_{i:04d}.JPG", when=when,
                               subject=[SPECIES[burst % 3]], color=(i * 9 % 256, 40, 200 - i)))
    return paths


def label_of(i: int) -> str:
    return SPECIES[(i // 3) % 3].lower()


def test_a_folder_that_is_no_known_study_gets_a_generic_config(tmp_path, capsys):
    make_photos(tmp_path / "my_traps")
    out = tmp_path / "s.json"
    assert data_cli(["summarize", str(tmp_path / "my_traps"), "--json", str(out), "--quiet"]) == 0
    summary = json.loads(out.read_text())
    assert summary["study"] == "my_traps" and summary["config"].startswith("generic")
    assert summary["labels"] == {"renard": 6, "chevreuil": 3, "blaireau": 3}  # no lynx synonyms or drops
    assert summary["timestamp_flags"] == {} and summary["split_kind"] == "stratified"
    assert "config: generic" in capsys.readouterr().out
    # a path inside the bundled study keeps its rules
    cfg, used = default_data_config(sample_dir("lynx") / "images" / "jura", "images")
    assert cfg.name == "lynx" and used.startswith("lynx")


def test_init_writes_a_config_that_loads_and_reads_the_layout(tmp_path, capsys):
    make_photos(tmp_path / "photos")
    out = tmp_path / "my_study.yaml"
    assert data_cli(["init", str(tmp_path / "photos"), "--out", str(out), "--quiet"]) == 0
    text = out.read_text()
    assert "EXIF style" in text and "#   Renard: 6" in text and "kind: stratified" in text
    cfg = load_data_config(str(out))
    assert cfg.name == "photos" and cfg.path_pattern.startswith("^(?P<site>")
    records = load_records(cfg, progress=False).set_index("media_id")
    assert records.loc["siteA/cam1/IMG_0000.JPG", ["site", "camera"]].tolist() == ["siteA", "cam1"]
    with pytest.raises(SystemExit):
        data_cli(["init", str(tmp_path / "photos"), "--out", str(out)])
    assert capsys.readouterr().err.startswith(f"zoo.data: error: {out} exists; pass --force to overwrite it")


def test_init_on_a_label_table_maps_its_columns(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("\ufeffFilename;Species;Station;DateTime\na.jpg;fox;S1;25/05/2017 10:00\nb.jpg;deer;S2;26/05/2017 11:00\n",
                   encoding="utf-8")
    out = tmp_path / "t.yaml"
    data_cli(["init", str(csv), "--out", str(out), "--quiet"])
    text = out.read_text()
    assert "media_id: Filename" in text and 'tags: ["Species"]' in text and "site: Station" in text
    assert "dayfirst: true" in text
    records = load_records(load_data_config(str(out)), progress=False)
    assert records["timestamp"].tolist() == [pd.Timestamp("2017-05-25 10:00"), pd.Timestamp("2017-05-26 11:00")]


def doc_steps() -> list[tuple[str, str]]:
    """The page's blocks in order: ('command', line) for each `python -m` line of a plain block, and
    ('file', text) for a YAML block whose first line names the file (`# my_configs/...yaml`)."""
    steps = []
    for kind, block in re.findall(r"```(yaml)?\n(.*?)```", DOC.read_text(), flags=re.S):
        if kind:
            steps.append(("file", block))
        else:
            steps += [("command", line.split("  #")[0].strip()) for line in block.splitlines()
                      if line.startswith("python -m ")]
    return steps


# what the test adds to the page's commands: resources only (a 2-core machine shared with others), no result changes
RESOURCES = {"zoo.train": ["train.num_workers=0", "threads=2"], "zoo.predict": ["num_workers=0", "threads=2",
                                                                             "progress=false"]}


def test_every_command_of_the_own_study_page_runs(tmp_path, monkeypatch):
    """From photos to a trained model, its labels and an occupancy fit: every command and file of the page."""
    monkeypatch.chdir(tmp_path)
    photos = make_photos(Path("photos"), n=24)  # 8 bursts: enough for a validation split of 0.2
    make_photos(Path("photos_noexif"), n=9, exif=False)
    pd.DataFrame({"file": [p.as_posix() for p in photos],
                  "label": [label_of(i) for i in range(len(photos))]}).to_csv("labels.csv", index=False)
    steps = doc_steps()
    ran = [line.split()[2] for kind, line in steps if kind == "command"]
    assert len(ran) >= 10 and {"zoo.train", "zoo.predict", "occupancy.fit"} <= set(ran)
    for kind, text in steps:
        if kind == "file":
            name = Path(text.splitlines()[0].lstrip("# ").strip())
            assert name.suffix == ".yaml", f"a YAML block of docs/own-study.md names no file: {text[:60]}"
            name.parent.mkdir(parents=True, exist_ok=True)
            name.write_text(text)
            continue
        args = shlex.split(text)
        if args[2] == "zoo.data":
            assert data_cli(args[3:] + ["--quiet"]) == 0, text
        elif args[2] in ("zoo.train", "zoo.predict", "occupancy.fit"):
            hydra_cli(args[2], *args[3:], *RESOURCES.get(args[2], []))
        else:
            pytest.fail(f"docs/own-study.md runs a command this test does not know: {text}")
    assert Path("my_configs/data/my_study.yaml").is_file() and Path("my_configs/data/my_labels.yaml").is_file()
    # the model trained on every photo, and labelled them all
    model = Path("runs/my_first_model")
    assert (model / "checkpoints" / "best.pt").is_file()
    trained = read_records(model / "records.parquet")
    assert len(trained) == len(photos) and set(trained["split"]) == {"train", "valid"}
    assert json.loads((model / "classes.json").read_text()) == ["blaireau", "chevreuil", "renard"]
    preds = pd.read_csv("preds/photos.csv")
    assert len(preds) == len(photos) and preds["site"].tolist() == trained["site"].tolist()
    assert pd.read_csv("preds/photos_sequences.csv")["n_frames"].tolist() == [3] * 8
    assert pd.read_csv("preds/photos_failed.csv").empty
    # the occupancy fit of those photos: 3 species x 2 sites x 2 months
    fit = Path("runs/my_occupancy")
    histories = pd.read_csv(fit / "histories.csv")
    fox = histories[histories["species"] == "fox"]  # renard: bursts 0 (siteA, May), 3 (siteB, June), 6 (siteA, June)
    assert list(zip(fox["site"], fox["occasion"], fox["y"])) == [("siteA", 5, 1), ("siteA", 6, 1), ("siteB", 5, 0),
                                                                 ("siteB", 6, 1)]
    assert len(histories) == 3 * 2 * 2
    assert {"psi[fox]", "psi[roe_deer]", "psi[badger]", "p[fox]", "psi[fox | roe_deer]", "psi[fox | -roe_deer]"} \
        <= set(pd.read_csv(fit / "summary.csv")["parameter"])
    assert json.loads((fit / "diagnostics.json").read_text())["chains"] == 2


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """41 files: 5% cut, an empty file, a PNG, a text file named .jpg, no EXIF, non-ASCII names, a duplicate.

    Returns (folder, the good photos' media ids, the bad ones')."""
    root = tmp_path_factory.mktemp("messy") / "terrain"
    good = [p.relative_to(root).as_posix() for p in make_photos(root, n=30)]
    for name in ("siteA/cam1/chevreuil été.JPG", "siteB/cam2/renard_ñandú_01.jpg", "siteB/cam2/狐狸.jpg"):
        make_jpeg(root / name, subject=["Renard"], when="2017:06:01 12:00:00", color=(len(name) * 7 % 256, 1, 2))
        good.append(name)
    make_jpeg(root / "siteA" / "cam1" / "sans_exif.jpg", subject=["Blaireau"], when=None, color=(3, 4, 5))
    Image.new("RGB", (40, 30), (5, 90, 5)).save(root / "siteA" / "cam1" / "scan.png")
    Image.new("RGB", (40, 30), (6, 90, 5)).save(root / "siteA" / "cam1" / "png_named.jpg", "PNG")
    good += ["siteA/cam1/sans_exif.jpg", "siteA/cam1/scan.png", "siteA/cam1/png_named.jpg"]
    shutil.copy(root / "siteA" / "cam1" / "IMG_0000.JPG", root / "siteA" / "cam1" / "IMG_0000 copie.JPG")
    # files are read in name order (' ' < '.'): the copy comes first, so the original is the one skipped
    good[good.index("siteA/cam1/IMG_0000.JPG")] = "siteA/cam1/IMG_0000 copie.JPG"
    bad = ["siteB/cam2/cut1.jpg", "siteB/cam2/cut2.jpg", "siteA/cam1/vide.jpg", "siteA/cam1/notes.jpg"]
    for name, seed in (("cut1.jpg", 1), ("cut2.jpg", 2)):
        truncate(_noisy_jpeg(root / "siteB" / "cam2" / name, seed), 0.7)
    (root / "siteA" / "cam1" / "vide.jpg").write_bytes(b"")
    (root / "siteA" / "cam1" / "notes.jpg").write_text("relevé du 3 juin: piles changées")
    assert len(list(root.rglob("*.*"))) == 41
    return root, sorted(good), sorted(bad)


def test_a_messy_folder_keeps_every_good_photo_and_lists_every_bad_one(messy, tmp_path):
    root, good, bad = messy
    out = tmp_path / "out"
    assert data_cli(["summarize", str(root), "--json", str(out / "s.json"), "--records", str(out / "r.parquet"),
                     "--problems", str(out / "p.csv"), "--quiet"]) == 0
    records = read_records(out / "r.parquet").set_index("media_id")
    problems = pd.read_csv(out / "p.csv")
    summary = json.loads((out / "s.json").read_text())
    assert sorted(records.index[records["readable"]]) == good  # every good photo, copy skipped
    assert sorted(records.index[~records["readable"]]) == bad
    listed = problems.groupby("problem")["file"].apply(sorted).to_dict()
    assert sorted(f for p, files in listed.items() if p.startswith("unreadable image") for f in files) == bad
    assert problems.loc[problems["problem"].str.startswith("duplicate of"), "file"].tolist() == [DUPLICATE]
    assert summary["problems"]["unreadable image"] == 4 and summary["problems"]["duplicate of"] == 1
    assert summary["problems"]["no EXIF capture time"] == 3  # the JPEG without EXIF and the two PNGs
    from zoo.datasets import readable_records  # what zoo.train keeps

    assert sorted(readable_records(records.reset_index())["media_id"]) == good


DUPLICATE = "siteA/cam1/IMG_0000.JPG"  # the original of 'IMG_0000 copie.JPG', skipped by zoo.data


def test_a_messy_folder_is_trained_on_and_predicted_with_every_good_photo(messy, tmp_path):
    """`zoo.data init`, `zoo.train data=FILE.yaml` and `zoo.predict` on the messy folder, as a user runs them."""
    root, good, bad = messy
    config = tmp_path / "terrain.yaml"
    assert data_cli(["init", str(root), "--out", str(config), "--quiet"]) == 0
    run_dir = tmp_path / "run"
    hydra_cli("zoo.train", f"data={config}", f"run_dir={run_dir}", *QUICK_TRAIN, "train.num_workers=0", "threads=2")
    trained = read_records(run_dir / "records.parquet")
    assert sorted(trained["media_id"]) == good  # every good photo, none of the bad ones, not the skipped copy
    labelled = trained[trained["label"] != ""]
    assert set(labelled["split"]) == {"train", "valid"} and (trained.loc[trained["label"] == "", "split"] == "").all()
    assert sorted(labelled["media_id"]) == sorted(set(good) - {"siteA/cam1/scan.png", "siteA/cam1/png_named.jpg"})
    predictions = sorted(pd.read_csv(run_dir / "predictions_images.csv")["media_id"])
    assert predictions == sorted(labelled["media_id"])  # every labelled photo evaluated

    output = tmp_path / "preds" / "terrain.csv"
    hydra_cli("zoo.predict", f"run_dir={run_dir}", f"input={root}", f"output={output}", "num_workers=0", "threads=2",
              "progress=false")
    preds = pd.read_csv(output)
    failed = pd.read_csv(output.with_name("terrain_failed.csv"))
    # every readable file is labelled (the skipped duplicate too: prediction labels files, it does not dedupe)
    assert sorted(preds["media_id"]) == sorted(good + [DUPLICATE])
    assert preds["pred"].notna().all() and sorted(failed["media_id"]) == bad
    assert json.loads((run_dir / "classes.json").read_text()) == ["blaireau", "chevreuil", "renard"]


# a first training run in well under a minute (docs/own-study.md): what a new user tries before a real one
QUICK_TRAIN = ("train.epochs=1", "train.frozen_epochs=1", "train.max_batches_per_epoch=2", "model.img_size=64")


def hydra_cli(module: str, *args: str) -> None:
    """`python -m MODULE ARGS...` in this process (config file paths, checks and one-line errors included)."""
    import importlib
    import sys

    from hydra.core.global_hydra import GlobalHydra

    saved = sys.argv
    sys.argv = [module, *args]
    try:
        importlib.import_module(module).main()
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()


def _noisy_jpeg(path: Path, seed: int) -> Path:
    import numpy as np

    pixels = np.random.default_rng(seed).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=90)
    return path


def test_a_config_file_path_works_on_the_command_line(tmp_path, monkeypatch, capsys):
    """`zoo.train data=FILE.yaml` resolves the file as a data config (Hydra's --cfg job prints it, no training).

    The command's own entry point, called in this process with its arguments in sys.argv: a subprocess spends
    12 s importing torch and timm before it reads them (tests/test_wheel.py runs the installed commands)."""
    import sys

    from zoo.train import main

    make_photos(tmp_path / "photos")
    out = tmp_path / "cfgs" / "lynx.yaml"  # the bundled option's name: the copy is offered as lynx_file
    assert data_cli(["init", str(tmp_path / "photos"), "--out", str(out), "--quiet"]) == 0
    monkeypatch.chdir(PROJECT_DIR)
    monkeypatch.setattr(sys, "argv", ["zoo.train", f"data={out}", "--cfg", "job"])
    main()
    printed = capsys.readouterr().out
    assert "name: photos" in printed and str(tmp_path / "photos") in printed
    monkeypatch.setattr(sys, "argv", ["zoo.train", f"data={tmp_path / 'nope.yaml'}"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2 and "no such config file" in capsys.readouterr().err


def test_the_generic_study_has_every_key_of_the_lynx_study():
    """configs/occupancy/study/generic.yaml (the base of a user's study file) cannot fall behind lynx.yaml."""
    from omegaconf import OmegaConf

    from core.paths import CONFIG_DIR
    from occupancy.fit import STUDY_KEYS

    generic, lynx = (OmegaConf.load(CONFIG_DIR / "occupancy" / "study" / f"{n}.yaml") for n in ("generic", "lynx"))
    assert set(generic) == set(lynx) == STUDY_KEYS
    assert set(generic.records) == set(lynx.records) and set(generic.occasions) == set(lynx.occasions)
