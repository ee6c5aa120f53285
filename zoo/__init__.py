"""Camera-trap model zoo: data ingestion, timm backbones, training, evaluation and prediction.

Importing `zoo` stays light (no torch): `occupancy` relies on `zoo.data` and `core.runs` only.
"""
from core import paths as _paths  # noqa: F401  (registers the ${sample:...} config resolver)

__all__ = ["__version__"]
__version__ = "0.1.0"
