"""Where bundled things live, and the `${sample:NAME}` config resolver that points at them."""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent  # the clone's root (in an installed wheel: site-packages)
# an installed wheel carries configs/ inside this package (setup.py); a clone (or editable install) has it at the root
CONFIG_DIR = PACKAGE_DIR / "configs" if (PACKAGE_DIR / "configs").is_dir() else PROJECT_DIR / "configs"
# bundled studies are package data of `zoo` (zoo/sample/<name>), a sibling of this package in a clone and a wheel
SAMPLE_DIR = PROJECT_DIR / "zoo" / "sample"


def sample_dir(name: str = "lynx") -> Path:
    """Folder of a study bundled with the package (e.g. `lynx`)."""
    path = SAMPLE_DIR / name
    if not path.is_dir():
        known = sorted(p.name for p in SAMPLE_DIR.iterdir() if p.is_dir()) if SAMPLE_DIR.is_dir() else []
        raise FileNotFoundError(f"no bundled sample {name!r}; bundled: {known}")
    return path


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("sample"):
        OmegaConf.register_new_resolver("sample", lambda name="lynx": str(sample_dir(name)))


register_resolvers()
