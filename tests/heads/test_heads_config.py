import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

import heads
from heads.config import head_config
from core.paths import CONFIG_DIR


def test_shipped_config_matches_the_defaults():
    shipped = head_config(OmegaConf.load(CONFIG_DIR / "head" / "default.yaml"))
    assert OmegaConf.to_container(shipped) == OmegaConf.to_container(head_config())


def test_typos_and_bad_values_fail_by_name():
    with pytest.raises(ConfigKeyError, match="epz"):
        head_config({"smoothing": {"epz": 0.1}})
    with pytest.raises(ValueError, match="head.pooling.kind = 'median'"):
        head_config({"pooling": {"kind": "median"}})
    with pytest.raises(ValueError, match="head.smoothing.decay"):
        head_config({"smoothing": {"decay": 1.5}})


def test_build_prior_takes_its_options():
    prior = heads.build_prior({"prior": {"hidden": 8, "epochs": 3, "use_location": False}})
    assert (prior.hidden, prior.epochs, prior.use_location) == (8, 3, False)
