"""core.runs: atomic writes with the umask's mode, declarative value checks, one-line user errors."""
import json
import os
import sys

import pandas as pd
import pytest

from core.runs import (Interval, Options, add_input_record, command, table_sha256, validate, write_json, write_table,
                       write_text)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_mode_of_any_new_file(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        paths = [write_text(tmp_path / "a.txt", "x"), write_json(tmp_path / "b.json", {"a": 1}),
                 write_table(tmp_path / "c.csv", pd.DataFrame({"a": [1]})),
                 write_table(tmp_path / "d.parquet", pd.DataFrame({"a": [1]}))]
    finally:
        os.umask(previous)
    assert [oct(p.stat().st_mode & 0o777) for p in paths] == [oct(mode)] * 4
    assert os.umask(previous) == previous  # the umask itself is left as it was


def test_validate_names_key_value_and_what_is_allowed():
    rules = {"epochs": Interval(1, integer=True), "frozen": Interval(0, "epochs", integer=True),
             "decay": Interval(0, 1, open_low=True, open_high=True, none=True), "kind": Options(("a", "b"))}
    validate({"epochs": 3, "frozen": 3, "decay": None, "kind": "a"}, rules)
    for values, message in [({"epochs": 0}, "x.epochs=0 is not allowed: expected an integer >= 1"),
                            ({"epochs": 2.5}, "x.epochs=2.5 is not allowed: expected an integer >= 1"),
                            ({"epochs": True}, "x.epochs=true is not allowed: expected an integer >= 1"),
                            ({"frozen": 4}, "x.frozen=4 is not allowed: expected an integer in [0, x.epochs=3]"),
                            ({"decay": 1.0}, "x.decay=1.0 is not allowed: expected null or a number in (0, 1)"),
                            ({"kind": ""}, "x.kind='' is not allowed: expected one of a, b")]:
        with pytest.raises(ValueError) as err:
            validate({"epochs": 3, "frozen": 0, "decay": 0.5, "kind": "a", **values}, rules, "x.")
        assert str(err.value) == message


@command("tool")
def tool_main(argv=None):
    if "bad" in (argv or sys.argv[1:]):
        raise FileNotFoundError("no such study folder: x\n(check the path)")
    if "bug" in (argv or sys.argv[1:]):
        raise ZeroDivisionError("a bug keeps its traceback")
    return 0


def test_a_command_prints_user_errors_in_one_line(capsys, monkeypatch):
    monkeypatch.delenv("CAMTRAP_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stop:
        tool_main(["bad"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == ("tool: error: no such study folder: x (check the path) "
                                       "(--debug or CAMTRAP_DEBUG=1 shows the traceback)\n")
    with pytest.raises(ZeroDivisionError):
        tool_main(["bug"])
    argv = ["bad", "--debug"]
    with pytest.raises(FileNotFoundError):
        tool_main(argv)
    assert argv == ["bad"]  # the flag is taken out before the command parses its arguments
    monkeypatch.setenv("CAMTRAP_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        tool_main(["bad"])
    assert tool_main(["fine"]) == 0 and "HYDRA_FULL_ERROR" not in os.environ


def test_a_records_table_hash_changes_with_any_value_and_lands_in_inputs_json(tmp_path):
    table = pd.DataFrame({"site": ["1.1", "1.2"], "label": ["lynx", "chamois"]})
    digest = table_sha256(table)
    assert digest == table_sha256(table.copy())
    assert digest != table_sha256(table.assign(label=["lynx", "chevreuil"]))
    assert digest != table_sha256(table.iloc[::-1].reset_index(drop=True))
    assert digest != table_sha256(table.rename(columns={"label": "labels"}))
    write_json(tmp_path / "inputs.json", {"scores": {"path": "s.csv", "sha256": "x"}})
    add_input_record(tmp_path, "records", {"data": "lynx_records", "rows": 2, "sha256": digest})
    saved = json.loads((tmp_path / "inputs.json").read_text())
    assert saved["records"]["sha256"] == digest and saved["scores"]["path"] == "s.csv"
