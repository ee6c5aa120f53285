"""zoo.predict engine=ray (zoo.ray_engine) on a local Ray cluster of 2 CPUs: the local engine's tables, row for row."""
import re
import shutil
import socket

import numpy as np
import pandas as pd
import pytest

import zoo.predict as predict_module
from core.paths import PROJECT_DIR
from test_predict import run_dir  # noqa: F401  (the tiny resnet10t run, a fixture)
from zoo import ray_engine
from zoo.images import find_images
from zoo.predict import predict

needs_ray = pytest.mark.skipif(not ray_engine.installed(), reason="Ray is not installed: pip install -e .[ray]")
SAMPLE = PROJECT_DIR / "zoo" / "sample" / "lynx" / "images" / "jura"
OPTIONS = {"batch_size": 4, "flush_every": 4, "progress": False}


@pytest.fixture(scope="module")
def cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """30 bundled Jura photos (their EXIF times make sequences) and one broken file among them."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "jura").mkdir()
    for path in find_images(SAMPLE)[:30]:
        shutil.copy(path, folder / "jura" / path.name)
    (folder / "jura" / "3.1 D (10) broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


@pytest.fixture(scope="module")
def local(run_dir, photos, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("local") / "pred.csv"
    return predict(run_dir, photos, out, num_workers=0, **OPTIONS), out


def assert_same_tables(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Ids, labels and every other column equal; probabilities within 1e-6."""
    numbers = ["confidence", *[c for c in expected if c.startswith("p_")]]
    pd.testing.assert_frame_equal(got.drop(columns=numbers), expected.drop(columns=numbers))
    np.testing.assert_allclose(got[numbers].to_numpy(float), expected[numbers].to_numpy(float), rtol=0, atol=1e-6)


@needs_ray
def test_ray_gives_the_local_tables_and_resumes_where_it_stopped(cluster, run_dir, photos, local, tmp_path, caplog):  # noqa: F811
    (images, sequences, failed), local_out = local
    assert failed["media_id"].tolist() == ["jura/3.1 D (10) broken.jpg"] and len(images) == 30
    out = tmp_path / "ray" / "pred.csv"
    ray_options = {**OPTIONS, "engine": "ray", "ray_workers": 2}

    assert predict(run_dir, photos, out, max_batches=3, **ray_options) is None  # stopped after part of the work
    parts = pd.concat(map(pd.read_parquet, out.with_name("pred.csv.parts").glob("part-*.parquet")))
    assert not out.exists() and parts["media_id"].nunique() == len(parts) == 3 * 4

    with caplog.at_level("INFO", logger="zoo.predict"):
        got_images, got_sequences, got_failed = predict(run_dir, photos, out, **ray_options)  # restarted
    assert "31 images: 12 done before, 19 to label" in caplog.text
    assert_same_tables(got_images, images)
    assert_same_tables(got_sequences, sequences)
    pd.testing.assert_frame_equal(got_failed, failed)
    assert (out.with_name("pred_failed.csv").read_bytes() == local_out.with_name("pred_failed.csv").read_bytes())
    assert not out.with_name("pred.csv.parts").exists()


def test_engine_ray_without_ray_says_how_to_install_it_before_the_model_loads(run_dir, photos, tmp_path,  # noqa: F811
                                                                            monkeypatch):
    monkeypatch.setattr(ray_engine, "installed", lambda: False)
    monkeypatch.setattr(predict_module, "load_run", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(ValueError, match=re.escape("engine=ray needs Ray, which is not installed here: "
                                                   "pip install -e .[ray]")):
        predict(run_dir, photos, tmp_path / "o.csv", engine="ray", progress=False)


@pytest.mark.parametrize("key, value, message", [
    ("engine", "spark", "engine=spark is not allowed: expected one of local, ray"),
    ("ray_workers", 0, "ray_workers=0 is not allowed: expected an integer >= 1"),
    ("ray_worker_cpus", 0.5, "ray_worker_cpus=0.5 is not allowed: expected an integer >= 1"),
    ("ray_worker_gpus", -1, "ray_worker_gpus=-1 is not allowed: expected a number >= 0"),
    ("ray_address", "", "ray_address='' is not allowed"),
])
def test_impossible_ray_options_fail_before_the_model_loads(run_dir, photos, tmp_path, monkeypatch,  # noqa: F811
                                                            key, value, message):
    monkeypatch.setattr(predict_module, "load_run", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(ValueError, match=re.escape(message)):
        predict(run_dir, photos, tmp_path / "o.csv", progress=False, **{key: value})


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_cluster_address_where_nothing_answers_fails_in_one_line_at_once(scheme):
    with socket.socket() as free:  # a port nothing listens on once closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(ValueError, match=re.escape(f"engine=ray: nothing answers at {scheme}127.0.0.1:{port}")):
        ray_engine.check_listening(f"{scheme}127.0.0.1:{port}", timeout_s=2)
    ray_engine.check_listening("auto")  # left to Ray
