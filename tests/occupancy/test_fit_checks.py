"""occupancy.fit refuses impossible values before it reads records or samples, in one line on the command line."""
import sys

import pytest
from hydra.core.global_hydra import GlobalHydra

import occupancy.fit as fit_module
from occupancy.fit import check_config
from core.runs import compose_config


def config(*overrides):
    return compose_config("occupancy/fit", overrides)


@pytest.mark.parametrize("override, message", [
    ("study.conditionals=[]", "study.conditionals=[] is not allowed: expected at least one {species: S, given"),
    ("study.conditionals=null", "study.conditionals=null is not allowed"),
    ("seed=-3", "seed=-3 is not allowed"),
    ("sampler.draws=0", "chains and draws must be >= 1"),
])
def test_impossible_values_fail_before_any_work(override, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("{", r"\{")):
        check_config(config(override))


def test_the_command_prints_one_line_and_samples_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fit_module, "fit", lambda *a, **k: pytest.fail("sampled"))
    monkeypatch.setattr(sys, "argv", ["occupancy.fit", f"run_dir={tmp_path / 'fit'}", "study.conditionals=[]"])
    with pytest.raises(SystemExit) as stop:
        fit_module.main()
    GlobalHydra.instance().clear()
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith("occupancy.fit: error: study.conditionals=[] is not allowed")
    assert not (tmp_path / "fit" / "config.yaml").exists()
