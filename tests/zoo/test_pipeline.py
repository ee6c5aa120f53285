"""zoo.pipeline's scheduler on stages made of tiny Python commands (the real stages are the documented CLIs)."""
from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import pytest

from zoo.pipeline import BESIDE_NICENESS, EMULATION_SEEDS, Stage, log_format, run, stages


def _stage(tmp: Path, key: str, body: str = "", needs: tuple[str, ...] = (), exclusive: bool = False) -> Stage:
    """A stage that runs `body`, records its niceness, prints a line and writes its done file."""
    done = tmp / f"{key}.done"
    code = (f"import os, pathlib, sys, time\n{body}\n"
            f"pathlib.Path(r'{tmp / key}.nice').write_text(str(os.nice(0)))\n"
            f"print('{key} ran')\npathlib.Path(r'{done}').write_text('ok')\n")
    return Stage(key, f"stage {key}", done, [sys.executable, "-c", code], needs=needs, exclusive=exclusive)


def _wait_for(path: Path) -> str:
    """Code that fails unless `path` appears within 20 s: only a stage running beside it can make it."""
    return (f"deadline = time.time() + 20\n"
            f"while not pathlib.Path(r'{path}').exists():\n"
            f"    if time.time() > deadline: sys.exit(7)\n"
            f"    time.sleep(0.05)")


def _touch(path: Path) -> str:
    return f"pathlib.Path(r'{path}').touch()\n"


def test_independent_stages_run_side_by_side_and_a_stage_waits_for_what_it_needs(tmp_path):
    flag_a, flag_b = tmp_path / "a.started", tmp_path / "b.started"
    a = _stage(tmp_path, "a", _touch(flag_a) + _wait_for(flag_b))
    b = _stage(tmp_path, "b", _touch(flag_b) + _wait_for(flag_a))
    c = _stage(tmp_path, "c", f"assert pathlib.Path(r'{a.done}').exists() and pathlib.Path(r'{b.done}').exists()",
               needs=("a", "b"))
    assert run([a, b, c], tmp_path, jobs=2) == 0
    assert c.done.exists()
    for key in "abc":
        assert (tmp_path / "logs" / f"{key}.log").read_text().strip() == f"{key} ran"


def test_trainings_run_one_at_a_time_at_normal_priority_and_the_rest_beside_them_niced(tmp_path):
    flag_x, flag_n = tmp_path / "x.started", tmp_path / "n.started"
    x = _stage(tmp_path, "x", _touch(flag_x) + _wait_for(flag_n), exclusive=True)
    # y reads nothing of x, but as a training it must not start before x ends
    y = _stage(tmp_path, "y", f"assert pathlib.Path(r'{tmp_path / 'x.done'}').exists()", exclusive=True)
    n = _stage(tmp_path, "n", _touch(flag_n) + _wait_for(flag_x))  # runs beside x, or both time out
    assert run([x, y, n], tmp_path, jobs=2) == 0
    assert y.done.exists() and n.done.exists()
    own = os.nice(0)
    assert int((tmp_path / "x.nice").read_text()) == own
    expected = min(19, own + BESIDE_NICENESS) if shutil.which("nice") else own
    assert int((tmp_path / "n.nice").read_text()) == expected
    assert not (tmp_path / "logs" / "x.log").exists()  # a training prints its progress to the console
    assert (tmp_path / "logs" / "n.log").exists()


def test_done_stages_are_skipped_and_a_failure_stops_the_pipeline(tmp_path, caplog):
    finished = _stage(tmp_path, "finished", "sys.exit(5)")  # would fail if it ran
    finished.done.write_text("from an earlier run")
    broken = _stage(tmp_path, "broken", "print('the cause, spelled out'); sys.exit(3)")
    fine = _stage(tmp_path, "fine")
    later = _stage(tmp_path, "later", needs=("broken",))
    with caplog.at_level(logging.INFO, logger="zoo.pipeline"):
        assert run([finished, broken, fine, later], tmp_path, jobs=2) == 3
    assert fine.done.exists() and not broken.done.exists() and not later.done.exists()
    assert "[1] stage finished: done already" in caplog.text
    assert "[2] stage broken failed (exit 3)" in caplog.text and "the cause, spelled out" in caplog.text
    # re-running picks up where it stopped: only the broken stage and what follows it run again
    broken_fixed = _stage(tmp_path, "broken")
    assert run([finished, broken_fixed, fine, later], tmp_path, jobs=1) == 0
    assert later.done.exists()


def test_a_stage_that_needs_a_later_or_unknown_stage_is_refused_before_anything_runs(tmp_path):
    first = _stage(tmp_path, "first", needs=("second",))
    second = _stage(tmp_path, "second")
    with pytest.raises(ValueError, match=r"stage 'first' needs \['second'\]"):
        run([first, second], tmp_path, jobs=2)
    assert not first.done.exists() and not second.done.exists()


def test_the_study_plan_trains_alone_and_reports_last(tmp_path):
    plan = stages(tmp_path, quick=True)
    keys = [stage.key for stage in plan]
    assert len(set(keys)) == len(keys)
    assert {stage.key for stage in plan if stage.exclusive} == {"train", "train_best", "train_grouped"}
    # the report reads no prediction of a training photo: the trainings do not make them
    assert all("train.predict_train=false" in stage.command for stage in plan if stage.exclusive)
    report = plan[-1]
    assert report.key == "report" and set(report.needs) == set(keys) - {"report", "data", "records", "predict",
                                                                         "classifier_only", "plan"}
    # every fit reads the records the "records" stage cleaned once; an emulated fit also waits for the
    # classifier whose mistakes it emulates, and for nothing else
    records = next(stage for stage in plan if stage.key == "records")
    for stage in plan:
        if stage.command[1:3] == ["-m", "occupancy.fit"]:
            assert f"study.records.path={records.done}" in stage.command and stage.needs[0] == "records"
        if stage.key.startswith("emulated_"):
            assert stage.needs == ("records", stage.key.removeprefix("emulated_").rsplit("_", 1)[0])
    # the emulated fits of one classifier and label mode are one process, one run directory a seed, all reported;
    # the long uncertainty-aware ones first
    emulated = [stage for stage in plan if stage.key.startswith("emulated_")]
    assert [stage.key.rsplit("_", 1)[1] for stage in emulated] == ["confusion"] * 3 + ["naive"] * 3
    assert len(emulated) == 3 * 2 and all(len(stage.outputs) == EMULATION_SEEDS for stage in emulated)
    fits = next(arg for arg in report.command if arg.startswith("fits=["))
    assert all(f"{path.parent}," in fits or f"{path.parent}]" in fits for stage in emulated for path in stage.outputs)
    assert emulated[0].command[3] == "--multirun" and f"run_dir={emulated[0].outputs[0].parent.parent}/" \
        f"emulated_train_confusion_seed${{labels.emulate_seed}}" in emulated[0].command


def test_a_stage_with_several_outputs_is_done_only_when_all_exist(tmp_path):
    stage = Stage("fits", "several fits", (tmp_path / "seed0.csv", tmp_path / "seed1.csv"), ["true"])
    (tmp_path / "seed0.csv").write_text("x")
    assert not stage.finished()  # a sweep stopped after its first job reruns
    (tmp_path / "seed1.csv").write_text("x")
    assert stage.finished()


def test_on_a_terminal_a_progress_line_clears_a_half_drawn_bar_first():
    record = logging.LogRecord("zoo.pipeline", logging.INFO, __file__, 1, "[13] fit: 52 s", None, None)
    on_terminal = logging.Formatter(log_format(terminal=True), "%H:%M:%S").format(record)
    in_a_file = logging.Formatter(log_format(terminal=False), "%H:%M:%S").format(record)
    assert on_terminal.startswith("\r\033[K") and on_terminal.endswith("[13] fit: 52 s")
    assert "\r" not in in_a_file and in_a_file.endswith("[13] fit: 52 s")
