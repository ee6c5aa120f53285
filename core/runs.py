"""Run directories: every result sits next to the config, versions and seeds that made it.

Torch-free on purpose: `occupancy` uses this module and must not import torch.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import random
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from numbers import Integral, Real
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from core.paths import CONFIG_DIR

log = logging.getLogger(__name__)

TRACKED_PACKAGES = (
    "camtrap-zoo", "torch", "torchvision", "timm", "albumentations", "pandas", "numpy",
    "scikit-learn", "pymc", "pytensor", "arviz", "hydra-core", "omegaconf", "pyarrow", "pillow",
)


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A killed process never leaves a half-written result under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file 0600; give it the mode any new file gets (0644 under umask 022)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0o077)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120, **savefig) -> Path:
    """A matplotlib figure written atomically, in the format its suffix names (png when none)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi, **savefig)
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def write_table(path: str | os.PathLike, df) -> Path:
    """Write a DataFrame as CSV or Parquet (chosen by suffix), atomically.

    CSV booleans are written TRUE/FALSE: R's read.csv reads those as logical (pandas' True/False would
    arrive as text), and pandas reads them back as bool."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            flags = {c: df[c].map({True: "TRUE", False: "FALSE"}) for c in df.columns if df[c].dtype == bool}
            (df.assign(**flags) if flags else df).to_csv(tmp, index=False)
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def table_sha256(df) -> str:
    """sha256 of a DataFrame's contents (column names, index and values, row order included)."""
    import pandas as pd

    digest = hashlib.sha256("\x1f".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def add_input_record(run_dir: str | os.PathLike, name: str, entry: dict) -> None:
    """Add one entry to a run's inputs.json (for inputs read through a config rather than from one file)."""
    path = Path(run_dir) / "inputs.json"
    inputs = json.loads(path.read_text()) if path.is_file() else {}
    write_json(path, {**inputs, name: entry})


def seed_everything(seed: int) -> None:
    """Seed python, numpy and (if already imported) torch."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def default_run_dir(kind: str) -> Path:
    return Path("runs") / kind / datetime.now().strftime("%Y%m%d-%H%M%S")


def prepare_run_dir(run_dir: str | os.PathLike, cfg: Any = None, inputs: dict[str, str] | None = None) -> Path:
    """Create `run_dir` and record what makes the run reproducible.

    Writes `config.yaml` (the resolved config, when given), `versions.json` (package versions)
    and `inputs.json` (sha256 of the named input files).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg is not None:
        from omegaconf import OmegaConf

        write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    write_json(run_dir / "versions.json", package_versions())
    if inputs:
        hashes = {name: {"path": str(p), "sha256": file_sha256(p)} for name, p in inputs.items() if Path(p).is_file()}
        write_json(run_dir / "inputs.json", hashes)
    return run_dir


def add_file_logging(run_dir: str | os.PathLike, name: str = "log.txt") -> logging.Handler:
    """Mirror log records into the run directory so a run's story stays with its results."""
    handler = logging.FileHandler(Path(run_dir) / name, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


# --- values checked once, at a command's boundary -------------------------------------------------
# Each command declares what its keys allow (like scikit-learn's parameter constraints) and checks them
# before any data or model loads, so an impossible value fails in one line naming key, value and rule.

@dataclass(frozen=True)
class Interval:
    """A number from `low` to `high` (None: unbounded; a str: the value of that key of the same section)."""

    low: float | str | None = None
    high: float | str | None = None
    integer: bool = False
    open_low: bool = False
    open_high: bool = False
    none: bool = False  # null allowed (meaning "off" or "the default")

    def allows(self, value: Any, section: Mapping) -> bool:
        if value is None:
            return self.none
        if isinstance(value, bool) or not isinstance(value, Integral if self.integer else Real):
            return False
        low, high = (section.get(b) if isinstance(b, str) else b for b in (self.low, self.high))
        return ((low is None or (value > low if self.open_low else value >= low))
                and (high is None or (value < high if self.open_high else value <= high)))

    def describe(self, prefix: str, section: Mapping) -> str:
        kind = "an integer" if self.integer else "a number"
        low, high = (f"{prefix}{b}={section.get(b)}" if isinstance(b, str) else b for b in (self.low, self.high))
        if low is not None and high is not None:
            text = f"{kind} in {'(' if self.open_low else '['}{low}, {high}{')' if self.open_high else ']'}"
        elif low is not None:
            text = f"{kind} {'>' if self.open_low else '>='} {low}"
        elif high is not None:
            text = f"{kind} {'<' if self.open_high else '<='} {high}"
        else:
            text = kind
        return f"null or {text}" if self.none else text


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple
    none: bool = False

    def allows(self, value: Any, section: Mapping) -> bool:
        return (value is None and self.none) or (value is not None and value in self.values)

    def describe(self, prefix: str, section: Mapping) -> str:
        text = "one of " + ", ".join(map(show, self.values))
        return f"null or {text}" if self.none else text


@dataclass(frozen=True)
class Rule:
    """Any other constraint: a predicate and, in words, what it allows."""

    predicate: Callable[[Any], bool]
    allowed: str

    def allows(self, value: Any, section: Mapping) -> bool:
        return bool(self.predicate(value))

    def describe(self, prefix: str, section: Mapping) -> str:
        return self.allowed


@dataclass(frozen=True)
class Device:
    """auto, cpu, or an accelerator torch sees here (asked when checked: torch is imported only then)."""

    def visible(self) -> list[str]:
        import torch

        names = ["auto", "cpu"]
        if torch.cuda.is_available():
            names += ["cuda", *[f"cuda:{i}" for i in range(torch.cuda.device_count())]]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            names.append("mps")
        return names

    def allows(self, value: Any, section: Mapping) -> bool:
        return isinstance(value, str) and value in self.visible()

    def describe(self, prefix: str, section: Mapping) -> str:
        names = self.visible()
        return "one of " + ", ".join(names) + ("" if len(names) > 2 else " (torch sees no GPU here)")


def validate(section: Mapping, constraints: Mapping[str, Interval | Options | Rule | Device], prefix: str = "") -> None:
    """Raise ValueError naming the first key of `section` whose value its constraint does not allow."""
    for key, rule in constraints.items():
        value = section.get(key)
        if not rule.allows(value, section):
            raise ValueError(f"{prefix}{key}={show(value)} is not allowed: expected {rule.describe(prefix, section)}")


def show(value: Any) -> str:
    """A value as one would write it on the command line (null, true, '')."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value) if value == "" else str(value)


# --- commands: user errors in one line --------------------------------------------------------------

DEBUG_ENV = "CAMTRAP_DEBUG"
DEBUG_FLAG = "--debug"
# a wrong value, path or key: the message is the whole story. Anything else (a bug) keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
                                                IsADirectoryError, PermissionError)


def command(prog: str) -> Callable:
    """Decorate a command's `main` so that a user error prints `prog: error: <one line>` and exits with 2.

    `--debug` among the arguments (taken out before the command parses them) or CAMTRAP_DEBUG=1 shows the
    traceback instead. Hydra commands use `hydra_command`, which puts this around `hydra.main`.
    """
    def decorate(main: Callable) -> Callable:
        @functools.wraps(main)
        def wrapper(*args, **kwargs):
            debug = {DEBUG_ENV: "1"} if _take_debug_flag(args) else {}
            # Hydra prints its own partial traceback of a bad override unless HYDRA_FULL_ERROR passes it on
            with _environment(HYDRA_FULL_ERROR="1", **debug), one_line_errors(prog):
                return main(*args, **kwargs)
        return wrapper
    return decorate


def hydra_command(prog: str, config_name: str, config_path: str | None = None) -> Callable:
    """`hydra.main` on the one config root `configs/` (core.paths.CONFIG_DIR), with user errors in one line (see
    `command`), those of the task and of the overrides.

    `config_name` may sit in a folder of the root (`occupancy/fit`): that folder's groups then take their short
    names on the command line (`study=lynx`, see `command_overrides`). `config_path`, when given, must be that root:
    every command composes from it, so a data config or a user's file resolves the same way in all of them.
    """
    import hydra

    if config_path is not None and Path(config_path).resolve() != CONFIG_DIR.resolve():
        raise ValueError(f"{prog}: config_path {config_path} is not the config root {CONFIG_DIR}: every command "
                         "composes from it (put the primary config in a folder of it instead)")

    def decorate(task: Callable) -> Callable:
        @functools.wraps(task)
        def guarded(cfg):
            with one_line_errors(prog):  # inside Hydra too, which would add "Error executing job ..." first
                return task(cfg)
        hydra_main = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)(guarded)

        @functools.wraps(task)
        def main():
            sys.argv[1:] = command_overrides(sys.argv[1:], config_name)
            return hydra_main()
        main.config_name = config_name  # which primary config the command composes (tests check each one)
        return command(prog)(main)
    return decorate


def compose_config(config_name: str, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """A command's config composed as its command line composes it (short group names and config files given for
    a group included), outside a running Hydra app: for tests and the Python API.

    `compose_config("occupancy/fit", ["labels=confusion", "sampler=fast"])` is what
    `python -m occupancy.fit labels=confusion sampler=fast` runs with.
    """
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=command_overrides(list(overrides), config_name))


def command_overrides(overrides: list[str], config_name: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    """A command line as Hydra composes it from the root: short group names, then config files (the two below)."""
    return config_files_as_options(short_group_names(overrides, config_name, config_dir), config_dir)


def short_group_names(overrides: list[str], config_name: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    """`study=lynx` for a primary config in a folder of the root: the one place group names are translated.

    `configs/occupancy/fit.yaml` (`# @package _global_`) takes its groups from `configs/occupancy/` (study, labels,
    sampler, prior) into keys of the same names, which Hydra's overrides call `occupancy/study@study`. Users type
    the short name (`study=lynx`, `labels=confusion`, `~study`, `study=path/to/my_study.yaml`); dotted keys
    (`labels.verified_fraction=0.05`) are the config's own and stay as they are, and so does a full name.
    """
    folder = PurePosixPath(config_name).parent
    if folder == PurePosixPath("."):
        return list(overrides)
    out = []
    for arg in overrides:
        key, sep, value = arg.partition("=")
        group = key.lstrip("+~")
        if group and not set(group) & set("./@-") and (config_dir / folder / group).is_dir():
            arg = f"{key[:len(key) - len(group)]}{folder}/{group}@{group}{sep}{value}"
        out.append(arg)
    return out


def config_files_as_options(overrides: list[str], config_dir: Path = CONFIG_DIR) -> list[str]:
    """`data=path/to/my_study.yaml`: Hydra takes only option names for a config group, so a YAML file given
    for a group is offered as an option of that group on an extra search path (a copy, named after the
    file; `<stem>_file` where a bundled option has that name already). A group's full name
    (`occupancy/study@study=my_study.yaml`, what `short_group_names` makes of `study=`) works the same way."""
    out, extra = [], None
    for arg in overrides:
        key, sep, value = arg.partition("=")
        group = key.lstrip("+~").split("@")[0]
        if not (sep and group and value.endswith((".yaml", ".yml")) and (config_dir / group).is_dir()):
            out.append(arg)
            continue
        source = Path(value).expanduser()
        if not source.is_file():
            raise FileNotFoundError(f"{group.rsplit('/', 1)[-1]}={value}: no such config file")
        name = source.stem if not (config_dir / group / f"{source.stem}.yaml").exists() else f"{source.stem}_file"
        extra = extra or Path(tempfile.mkdtemp(prefix="camtrap-configs-"))
        (extra / group).mkdir(parents=True, exist_ok=True)
        (extra / group / f"{name}.yaml").write_bytes(source.read_bytes())
        out.append(f"{key}={name}")
    if extra is not None:
        out.insert(0, f"hydra.searchpath=[file://{extra}]")  # before any flag: argparse reads overrides first
    return out


@contextmanager
def one_line_errors(prog: str) -> Iterator[None]:
    try:
        yield
    except _user_errors() as err:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        print(f"{prog}: error: {one_line(err)} ({DEBUG_FLAG} or {DEBUG_ENV}=1 shows the traceback)", file=sys.stderr)
        raise SystemExit(2) from None


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def one_line(err: BaseException) -> str:
    """An exception's message on one line; Hydra's wrapped errors with their cause."""
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(err, OmegaConfBaseException) and getattr(err, "msg", None):
        text = err.msg
        if getattr(err, "full_key", None) and str(err.full_key) not in text:
            text += f" (key {err.full_key})"
    else:
        text = str(err) or type(err).__name__
    cause = err.__cause__
    if cause is not None and not isinstance(err, USER_ERRORS) and str(cause) not in text:
        text += f": {one_line(cause)}"
    return " ".join(text.split())


def _user_errors() -> tuple[type[BaseException], ...]:
    from omegaconf.errors import OmegaConfBaseException

    errors: tuple[type[BaseException], ...] = (*USER_ERRORS, OmegaConfBaseException)
    try:
        from hydra.errors import HydraException
    except ImportError:  # pragma: no cover - hydra is a dependency, but this module does not need it
        return errors
    return (*errors, HydraException)


def _take_debug_flag(args: tuple) -> bool:
    """Remove --debug from sys.argv and from an explicit argv list (a main's first positional argument)."""
    found = False
    for argv in [sys.argv, *[a for a in args[:1] if isinstance(a, list)]]:
        found |= DEBUG_FLAG in argv
        argv[:] = [a for a in argv if a != DEBUG_FLAG]
    return found
