"""zoo.data's config checks (core.runs.validate): an impossible value fails when the config loads, in one line
naming the key, the value and what is allowed, before any file is read."""
import pytest

from zoo.data.config import SOURCES, SPLITS, as_data_config, load_data_config


@pytest.mark.parametrize("values, message", [
    ({"source": "folder"}, "data.source=folder is not allowed: expected one of " + ", ".join(SOURCES)),
    ({"split": {"kind": "random"}}, "data.split.kind=random is not allowed: expected one of " + ", ".join(SPLITS)),
    ({"split": {"block_files": 0}}, "data.split.block_files=0 is not allowed: expected an integer >= 1"),
    ({"split": {"seed": -1}}, "data.split.seed=-1 is not allowed: expected an integer in [0, 4294967295]"),
    ({"split": {"valid": 20}}, "data.split.valid=20.0 is not allowed: expected a number in [0, 1)"),
    ({"split": {"test": 1.0}}, "data.split.test=1.0 is not allowed: expected a number in [0, 1)"),
    ({"detection_threshold": 1.5}, "data.detection_threshold=1.5 is not allowed: expected a number in [0, 1]"),
    ({"workers": 0}, "data.workers=0 is not allowed: expected an integer >= 1"),
    ({"sequences": {"gap_seconds": -5}}, "data.sequences.gap_seconds=-5.0 is not allowed: expected a number >= 0"),
    ({"time_format": "dd/mm/yyyy"},
     "data.time_format=dd/mm/yyyy is not allowed: expected null or a strftime pattern such as '%d/%m/%Y %H:%M:%S'"),
    ({"timezone": "Mars/Olympus"},
     "data.timezone=Mars/Olympus is not allowed: expected null or a time zone name such as 'Europe/Paris' or 'UTC'"),
])
def test_a_bad_value_fails_in_one_line_naming_key_and_allowed_values(values, message):
    with pytest.raises(ValueError) as err:
        as_data_config({"path": "photos", **values})
    assert str(err.value) == message and "\n" not in message


def test_the_bundled_configs_and_good_values_pass():
    for name in ("lynx", "lynx_records"):
        assert load_data_config(name).name == name
    cfg = as_data_config({"path": "photos", "source": "megadetector", "detection_threshold": 0.0, "workers": 1,
                          "time_format": "%d/%m/%Y %H:%M", "dayfirst": True, "timezone": "Europe/Paris",
                          "split": {"kind": "file_blocks", "block_files": 1}, "sequences": {"gap_seconds": 0}})
    assert cfg.split.kind == "file_blocks" and cfg.timezone == "Europe/Paris"


def test_a_bad_override_of_a_bundled_config_fails_the_same_way():
    with pytest.raises(ValueError, match=r"^data.split.kind=halves is not allowed: expected one of auto, "):
        load_data_config("lynx", ["split.kind=halves"])
