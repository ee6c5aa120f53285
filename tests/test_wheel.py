"""A plain (non-editable) install works outside the clone: the wheel ships configs/ and the lynx sample.

Builds the wheel from a copy of the project with this environment's setuptools (no build isolation, so no
download), installs it into a fresh venv in tmp_path that borrows this environment's packages (torch & co.)
through a .pth file, then runs commands from a folder outside the clone.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from core.paths import PROJECT_DIR

pytestmark = pytest.mark.slow
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "configs", "core", "zoo", "heads", "occupancy")


def sh(*cmd, cwd, env=None, timeout=300):
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:  # a copy, so that the build leaves no build/ or egg-info in the clone
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp"))
        else:
            shutil.copy2(source, src / name)
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", ".",
       "-w", root / "dist", cwd=src)
    wheel = next((root / "dist").glob("camtrap_zoo-*.whl"))
    venv = root / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    python = venv / "bin" / "python"
    sh(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel, cwd=root)
    # the dependencies come from this environment; added after the install so that pip never sees its camtrap-zoo
    site = Path(sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root).strip())
    (site / "_camtrap_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = root / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CAMTRAP_DEBUG")}
    return wheel, venv, work, env


def test_the_wheel_is_the_package_with_its_configs_and_sample(installed):
    wheel, *_ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {"core/configs/train.yaml", "core/configs/data/lynx.yaml", "core/configs/occupancy/fit.yaml", "core/runs.py",
            "zoo/sample/lynx/taxonomy.csv", "zoo/sample/lynx/records.csv.gz"} <= set(names)
    assert sum(n.startswith("zoo/sample/lynx/images/") for n in names) == 470
    assert not [n for n in names if n.startswith(("tests/", "bench/", "runs/", "configs/")) or "__pycache__" in n]
    assert wheel.stat().st_size < 60e6


def test_commands_run_outside_the_clone(installed):
    _, venv, work, env = installed
    python = venv / "bin" / "python"
    where = sh(python, "-c", "import zoo, core.paths as p; print(zoo.__file__); print(p.CONFIG_DIR); print(p.sample_dir())",
               cwd=work, env=env).split()
    assert all(str(venv) in w for w in where), where  # the installed package, not the clone
    sample = Path(where[2])
    summary = sh(python, "-m", "zoo.data", "summarize", sample / "images" / "jura", "--quiet", cwd=work, env=env)
    assert "467 records" in summary
    sh(venv / "bin" / "camtrap-train", "run_dir=run", "train.epochs=1", "train.frozen_epochs=1",
       "train.max_batches_per_epoch=2", "train.num_workers=0", "model.img_size=64", "threads=2", cwd=work, env=env)
    assert (work / "run" / "metrics.json").is_file() and (work / "run" / "checkpoints" / "best.pt").is_file()
