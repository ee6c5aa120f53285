"""One Hydra config root (configs/) whose tree mirrors the code: every command composes its primary config from it,
and the command lines of the docs (short group names, a config file for a group) keep working."""
from __future__ import annotations

import ast
import importlib

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from core.paths import CONFIG_DIR, PROJECT_DIR
from core.runs import command_overrides, compose_config, hydra_command, short_group_names

# every command built on core.runs.hydra_command, and the primary config it names (a path under configs/)
COMMANDS = {"zoo.train": "train", "zoo.predict": "predict", "zoo.export": "export", "zoo.report.cli": "report",
            "occupancy.fit": "occupancy/fit", "occupancy.plan": "occupancy/plan"}
# the keys a command needs before its config resolves (??? in the YAML)
REQUIRED = {"predict": ["run_dir=r", "input=i", "output=o.csv"], "export": ["run_dir=r", "out=m.onnx"],
            "occupancy/plan": ["fit_dir=f"]}


def hydra_command_calls() -> dict[str, ast.Call]:
    """Each project module that calls hydra_command, with the call."""
    calls = {}
    for package in ("core", "zoo", "heads", "occupancy"):
        for path in (PROJECT_DIR / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "hydra_command":
                    module = ".".join(path.relative_to(PROJECT_DIR).with_suffix("").parts)
                    calls[module] = node
    return calls


def test_every_hydra_command_composes_from_the_one_root():
    calls = hydra_command_calls()
    assert set(calls) == set(COMMANDS), "a new command: add it to COMMANDS (and its config under configs/)"
    for module, call in calls.items():
        keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
        # no second root: config_path is left out, or is the root itself
        assert keywords.get("config_path", "str(CONFIG_DIR)") == "str(CONFIG_DIR)", f"{module}: {keywords}"
        assert keywords["config_name"].strip("'\"") == COMMANDS[module], module
        assert (CONFIG_DIR / f"{COMMANDS[module]}.yaml").is_file()


@pytest.mark.parametrize("module, config_name", sorted(COMMANDS.items()))
def test_each_commands_primary_config_composes_from_the_root(module, config_name):
    if module.startswith(("zoo.train", "zoo.predict", "zoo.export")):
        pytest.importorskip("torch")
    main = importlib.import_module(module).main
    assert main.config_name == config_name
    cfg = compose_config(config_name, REQUIRED.get(config_name, []))
    assert "hydra" not in cfg and len(cfg) > 0
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):  # and with Hydra's own compose
        assert compose(config_name=config_name, overrides=REQUIRED.get(config_name, []), return_hydra_config=True)


def test_hydra_command_refuses_a_second_root(tmp_path):
    with pytest.raises(ValueError, match="is not the config root"):
        hydra_command("tool", config_name="fit", config_path=str(CONFIG_DIR / "occupancy"))
    assert hydra_command("tool", config_name="train", config_path=str(CONFIG_DIR))  # the root itself is fine


def test_short_group_names_become_the_folders_groups():
    args = ["study=lynx", "labels=confusion", "labels.verified_fraction=0.05", "sampler=fast", "prior.penalty=1.28",
            "run_dir=r", "+prior=default", "~study", "--cfg", "job", "occupancy/labels@labels=naive"]
    assert short_group_names(args, "occupancy/fit") == [
        "occupancy/study@study=lynx", "occupancy/labels@labels=confusion", "labels.verified_fraction=0.05",
        "occupancy/sampler@sampler=fast", "prior.penalty=1.28", "run_dir=r", "+occupancy/prior@prior=default",
        "~occupancy/study@study", "--cfg", "job", "occupancy/labels@labels=naive"]
    # a primary config at the root: its groups already have their short names
    assert short_group_names(["data=lynx", "model=lite1"], "train") == ["data=lynx", "model=lite1"]
    assert short_group_names(["budget=0.02", "fit_dir=f"], "occupancy/plan") == ["budget=0.02", "fit_dir=f"]


def test_the_documented_occupancy_command_line_composes():
    """README and docs/occupancy.md: python -m occupancy.fit study=lynx labels=confusion ... (values land)."""
    cfg = compose_config("occupancy/fit", ["study=lynx", "labels=confusion", "labels.verified_fraction=0.05",
                                           "sampler=fast", "prior.penalty=1.28", "run_dir=runs/x"])
    assert (cfg.study.name, cfg.labels.mode, cfg.labels.verified_fraction) == ("lynx", "confusion", 0.05)
    assert (cfg.sampler.draws, cfg.prior.penalty, cfg.run_dir) == (300, 1.28, "runs/x")
    assert set(cfg) == {"study", "labels", "sampler", "prior", "run_dir", "seed", "scores_path", "plots"}
    planned = compose_config("occupancy/fit", ["labels=planned", "labels.verified_path=review.csv"])
    assert planned.labels.verified_path == "review.csv"
    plan = compose_config("occupancy/plan", ["fit_dir=f", "budget=0.02", "out=review.csv"])
    assert (plan.fit_dir, plan.budget, plan.out) == ("f", 0.02, "review.csv")


def test_a_study_file_is_an_option_of_the_study_group(tmp_path):
    """docs/own-study.md: study=my_configs/occupancy/my_occupancy.yaml, a file that starts from the generic study."""
    path = tmp_path / "my_occupancy.yaml"
    path.write_text("defaults: [generic, _self_]\nname: mine\nspecies: {fox: [renard]}\n"
                    "conditionals: [{species: fox, given: []}]\n")
    overrides = command_overrides([f"study={path}", "labels=ground_truth"], "occupancy/fit")
    assert overrides[0].startswith("hydra.searchpath=") and "occupancy/study@study=my_occupancy" in overrides
    cfg = compose_config("occupancy/fit", [f"study={path}", "labels=ground_truth"])
    assert cfg.study.name == "mine" and OmegaConf.to_container(cfg.study.species) == {"fox": ["renard"]}
    assert cfg.study.occasions.kind == "month"  # from generic.yaml
    lynx = tmp_path / "lynx.yaml"  # a bundled option's name: offered as lynx_file
    lynx.write_text("defaults: [lynx, _self_]\nname: my_lynx\n")
    assert compose_config("occupancy/fit", [f"study={lynx}"]).study.name == "my_lynx"
    with pytest.raises(FileNotFoundError, match="study=.*nope.yaml: no such config file"):
        compose_config("occupancy/fit", [f"study={tmp_path / 'nope.yaml'}"])


def test_a_misspelt_key_still_fails_with_the_known_keys():
    from occupancy.fit import check_config

    cfg = compose_config("occupancy/fit", [])
    OmegaConf.set_struct(cfg, False)
    cfg.sampler.chians = 2  # as a typo in a sampler file would
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['chians'\] in sampler; known: \[.*'chains'"):
        check_config(cfg)
    with pytest.raises(Exception, match="Could not find 'occupancy/labels/confusio'"):
        compose_config("occupancy/fit", ["labels=confusio"])


def test_a_data_config_composes_inside_a_running_command(monkeypatch, tmp_path):
    """occupancy.fit reads its study's data config while Hydra runs it: the running instance serves (one root)."""
    import sys

    import occupancy.fit as fit_module
    from zoo.data import load_data_config

    seen = {}

    def run(cfg):
        running = GlobalHydra.instance().hydra
        seen["name"] = load_data_config(cfg.study.records.data).name
        seen["same"] = GlobalHydra.instance().hydra is running

    monkeypatch.setattr(fit_module, "run", run)
    monkeypatch.setattr(sys, "argv", ["occupancy.fit", "study=lynx", f"run_dir={tmp_path / 'fit'}"])
    try:
        fit_module.main()
    finally:
        GlobalHydra.instance().clear()
    assert seen == {"name": "lynx_records", "same": True}


def test_a_data_config_loads_beside_another_programs_hydra(tmp_path):
    """A user's own Hydra app (another root) keeps its instance: zoo.data steps aside and puts it back."""
    from zoo.data import load_data_config

    (tmp_path / "app.yaml").write_text("x: 1\n")
    assert not GlobalHydra.instance().is_initialized()
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        theirs = GlobalHydra.instance().hydra
        assert load_data_config("lynx").name == "lynx"
        assert GlobalHydra.instance().hydra is theirs and compose(config_name="app").x == 1
    assert load_data_config("lynx_records").name == "lynx_records"  # and with none running
    assert not GlobalHydra.instance().is_initialized()
