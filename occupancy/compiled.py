"""Compiled PyTensor functions of an occupancy model, kept on disk from one fit to the next (joblib.Memory).

PyTensor caches the C code it compiles, not the graph rewrites that come before: for the lynx confusion-aware
model, rewriting the logp-and-gradient graph took longer than a quarter of a warm fit (docs/occupancy.md, Speed).
A fit of the same data with the same model and code (another seed, more draws, a rerun of the pipeline) now
loads the rewritten, compiled function instead. The key is a hash of the detection data, the model spec, the
model's graph before any rewrite, and what turns a graph into compiled code (this package's source, the versions
of PyMC, PyTensor and NumPy), so a change to any of them compiles afresh rather than handing back a stale graph.
A function that takes the data at run time (the numba gradient, `model.lift_data`) is keyed by the data's shapes
instead of their values (`shape_key`): a new data set of the same shapes loads it and puts its own data in.

The cache lives in ~/.cache/camtrap-zoo/pytensor-graphs, or where the environment variable
OCCUPANCY_GRAPH_CACHE points; OCCUPANCY_GRAPH_CACHE=off compiles every time.
"""
from __future__ import annotations

import functools
import logging
import os
import pickle
from pathlib import Path
from typing import Callable, TypeVar

import joblib
import numpy as np
import pymc as pm
import pytensor
from pytensor.graph.basic import Constant
from pytensor.graph.traversal import toposort
from pytensor.tensor.variable import TensorConstant

log = logging.getLogger(__name__)
T = TypeVar("T")
CACHE_ENV = "OCCUPANCY_GRAPH_CACHE"
CACHE_ROOT = Path("~/.cache/camtrap-zoo")  # every compile cache of this package lives under it (JAX's too)
DEFAULT_LOCATION = CACHE_ROOT / "pytensor-graphs"
BYTES_LIMIT = "1G"  # the oldest entries go beyond it (a lynx model's function takes about 4 MB)
OFF = ("off", "none", "0", "false", "")


def cache_location() -> Path | None:
    """Where compiled functions are kept; None when OCCUPANCY_GRAPH_CACHE turns the cache off."""
    value = os.environ.get(CACHE_ENV)
    if value is None:
        return DEFAULT_LOCATION.expanduser()
    return None if value.strip().lower() in OFF else Path(value).expanduser()


@functools.cache
def code_version() -> str:
    """Hash of what turns data and a model spec into a graph: this package's source, the libraries' versions and
    the PyTensor settings that change compiled code."""
    sources = sorted(Path(__file__).parent.glob("*.py"))
    settings = {name: str(getattr(pytensor.config, name)) for name in ("floatX", "mode", "linker", "optimizer", "cxx")}
    return joblib.hash(([(p.name, p.read_bytes()) for p in sources], pm.__version__, pytensor.__version__,
                        np.__version__, settings))


def model_key(model: pm.Model, *inputs) -> str:
    """Key of `model`, built from `inputs` (its data and spec) by this code. The model's own graph is part of it,
    so a build changed at run time (a benchmark's ablation patching a function) does not share a key."""
    return joblib.hash((code_version(), inputs, graph_fingerprint(model)))


def shape_key(outputs: list) -> str:
    """Key of the graph of `outputs` with its data arrays (array constants) by type and shape only, not by value:
    for a function compiled on that graph with the data taken out (`model.lift_data`), so that a new data set of
    the same shapes (one more verified sequence) reuses it. The key is of the very graph that is compiled, so a
    constant folded differently for other data gives another key."""
    return joblib.hash((code_version(), _graph_entries(outputs, data_values=False)))


def graph_fingerprint(model: pm.Model) -> str:
    """Hash of the model's graph before any rewrite: every operation in order, its inputs, the constants'
    values, and how each free variable is transformed for sampling."""
    outputs = model.potentials + model.free_RVs + model.observed_RVs + model.deterministics
    transforms = [(rv.name, _describe(model.rvs_to_transforms.get(rv))) for rv in model.free_RVs]
    return joblib.hash((_graph_entries(outputs), transforms))


def _graph_entries(outputs: list, data_values: bool = True) -> tuple[list, list]:
    """Every operation of the graph of `outputs` in order, with its inputs and the constants' values (with
    `data_values` False, only the scalars': arrays by type and static shape)."""
    ids: dict = {}
    entries = []
    for node in toposort(outputs):
        for var in node.inputs:
            if var not in ids:
                ids[var] = len(ids)
                value = var.data if isinstance(var, Constant) else None
                if not data_values and isinstance(var, TensorConstant) and var.data.size > 1:
                    value = None  # str(var.type) holds the static shape
                entries.append((var.name, str(var.type), None if value is None else joblib.hash(value)))
        entries.append((type(node.op).__qualname__, str(node.op), [ids[var] for var in node.inputs]))
        ids.update({out: len(ids) + k for k, out in enumerate(node.outputs)})
    return entries, [ids.get(out) for out in outputs]


def _describe(transform) -> tuple | None:
    """A transform's class and plain settings (its repr holds a memory address)."""
    if transform is None:
        return None
    settings = {k: v for k, v in sorted(vars(transform).items()) if isinstance(v, (bool, int, float, str, tuple))}
    return type(transform).__module__, type(transform).__qualname__, settings


def _compile(key: str, what: str, compile: Callable[[], object]) -> bytes:
    """What joblib.Memory caches under (key, what): the compiled function, pickled here, because joblib's own
    unpickler runs in Python and took 10 times longer than `pickle.loads` on a lynx model's function."""
    return pickle.dumps(compile(), protocol=pickle.HIGHEST_PROTOCOL)


def cached(key: str | None, what: str, compile: Callable[[], T]) -> T:
    """`compile()`, or what an earlier call with the same key and `what` stored. joblib reads and writes the
    entries atomically; an entry it cannot read is compiled again, and one it cannot write is only a warning."""
    location = cache_location()
    if key is None or location is None:
        return compile()
    try:
        memory = joblib.Memory(location, verbose=0)
    except OSError as error:  # e.g. a read-only home
        log.warning("graph cache %s unusable (%s): compiling", location, error)
        return compile()
    function = memory.cache(_compile, ignore=["compile"])
    compiled: list[T] = []  # the function compiled in this call, if it was not in the cache

    def compile_here() -> T:
        compiled.append(compile())
        return compiled[0]

    if function.check_call_in_cache(key, what, compile_here):
        log.info("%s: the compiled function from the graph cache (%s)", what, location)
    stored = function(key, what, compile_here)
    if compiled:
        memory.reduce_size(bytes_limit=BYTES_LIMIT)
        return compiled[0]
    return pickle.loads(stored)
