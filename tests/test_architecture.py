"""Package seams (docs/architecture.md): every import points down the layers, and the light packages stay light.

Layers, bottom up: core (run and path utilities) -> zoo's library (data, models, images) -> heads ->
occupancy -> the application (zoo.train, zoo.predict, zoo.export, zoo.evaluate, zoo.metrics, zoo.report, zoo.pipeline).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import PROJECT_DIR

PACKAGES = ("core", "zoo", "heads", "occupancy")
APPLICATION = ("zoo.train", "zoo.predict", "zoo.export", "zoo.evaluate", "zoo.metrics", "zoo.report", "zoo.pipeline")
LAYERS = {"core": 0, "zoo": 1, "heads": 2, "occupancy": 3, "application": 4}


def layer_of(module: str) -> str:
    if any(module == app or module.startswith(app + ".") for app in APPLICATION):
        return "application"
    return module.split(".")[0]


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (PROJECT_DIR / package).rglob("*.py"):
            parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported(path: Path) -> set[str]:
    """Every project module a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {n for n in names if n.split(".")[0] in PACKAGES}


def test_no_module_imports_a_layer_above_its_own():
    known = modules()
    assert {"core.runs", "core.paths", "zoo.data", "heads.calibration", "occupancy.model", "zoo.report"} <= set(known)
    upward = []
    for name, path in known.items():
        for target in imported(path):
            target = target if target in known else target.rsplit(".", 1)[0]  # `from pkg import name`
            if LAYERS[layer_of(target)] > LAYERS[layer_of(name)]:
                upward.append(f"{name} ({layer_of(name)}) imports {target} ({layer_of(target)})")
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("module, forbidden", [
    ("occupancy.fit", "torch"), ("occupancy.plan", "torch"), ("zoo.data", "torch"),
    ("core.runs", "zoo"), ("core.runs", "heads"), ("core.runs", "occupancy"),
])
def test_light_packages_load_no_heavy_or_higher_ones(module, forbidden):
    code = f"import sys, {module}; print(any(m == {forbidden!r} or m.startswith({forbidden + '.'!r}) for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", f"importing {module} loads {forbidden}"
