"""Defaults live in the dataclasses (the Python API); the default YAML files carry the same keys so the
command line can show and override them. These tests make the two unable to drift: a key or a value
that differs fails here, so the Python API and `python -m occupancy.fit` fit the same model the same way."""
import dataclasses

import pytest
from omegaconf import OmegaConf

from core.paths import CONFIG_DIR
from core.runs import compose_config
from occupancy.fit import specs
from occupancy.histories import OccasionSpec
from occupancy.inference import SamplerSpec
from occupancy.model import ModelSpec, PriorSpec


def yaml_values(path):
    cfg = OmegaConf.to_container(OmegaConf.load(path))
    cfg.pop("defaults", None)
    return cfg


def dataclass_defaults(cls, skip=()):
    return {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(cls) if f.name not in skip}


def as_plain(values):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@pytest.mark.parametrize("path, cls, skip", [
    ("occupancy/sampler/default.yaml", SamplerSpec, ("seed",)),  # the seed is the fit's own `seed`
    ("occupancy/prior/default.yaml", PriorSpec, ()),
])
def test_default_yaml_is_the_dataclass_defaults(path, cls, skip):
    assert yaml_values(CONFIG_DIR / path) == as_plain(dataclass_defaults(cls, skip))


def test_study_occasions_keys_are_the_occasion_spec_fields():
    occasions = yaml_values(CONFIG_DIR / "occupancy" / "study" / "lynx.yaml")["occasions"]
    assert set(occasions) == {f.name for f in dataclasses.fields(OccasionSpec)}


def test_the_command_line_defaults_build_the_python_api_defaults():
    cfg = compose_config("occupancy/fit", ["study.interactions=[]"])
    model_spec, sampler = specs(cfg)
    assert sampler == SamplerSpec(seed=int(cfg.seed))
    assert model_spec == ModelSpec()
