"""zoo.pipeline's scheduler on stages made of tiny Python commands (the real stages are the documented CLIs)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from zoo.pipeline import Stage, run


def _stage(tmp: Path, key: str, body: str = "") -> Stage:
    """A stage that runs `body`, prints a line and writes its done file."""
    done = tmp / f"{key}.done"
    code = (f"import pathlib, sys, time\n{body}\nprint('{key} ran')\n"
            f"pathlib.Path(r'{done}').write_text('ok')\n")
    return Stage(key, f"stage {key}", done, [sys.executable, "-c", code])


def _wait_for(path: Path) -> str:
    """Code that fails unless `path` appears within 20 s: only a stage running beside it can make it."""
    return (f"deadline = time.time() + 20\n"
            f"while not pathlib.Path(r'{path}').exists():\n"
            f"    if time.time() > deadline: sys.exit(7)\n"
            f"    time.sleep(0.05)")


def test_a_groups_stages_run_side_by_side_and_log_to_files(tmp_path):
    flag_a, flag_b = tmp_path / "a.started", tmp_path / "b.started"
    a = _stage(tmp_path, "a", f"pathlib.Path(r'{flag_a}').touch()\n" + _wait_for(flag_b))
    b = _stage(tmp_path, "b", f"pathlib.Path(r'{flag_b}').touch()\n" + _wait_for(flag_a))
    # the next group reads the first group's outputs
    c = _stage(tmp_path, "c", f"assert pathlib.Path(r'{a.done}').exists() and pathlib.Path(r'{b.done}').exists()")
    assert run([[a, b], [c]], tmp_path, jobs=2) == 0
    assert c.done.exists()
    assert (tmp_path / "logs" / "a.log").read_text().strip() == "a ran"
    assert (tmp_path / "logs" / "b.log").read_text().strip() == "b ran"
    assert not (tmp_path / "logs" / "c.log").exists()  # alone in its group: its output went to the console


def test_done_stages_are_skipped_and_a_failure_stops_the_pipeline(tmp_path, caplog):
    finished = _stage(tmp_path, "finished", "sys.exit(5)")  # would fail if it ran
    finished.done.write_text("from an earlier run")
    broken = _stage(tmp_path, "broken", "print('the cause, spelled out'); sys.exit(3)")
    fine = _stage(tmp_path, "fine")
    later = _stage(tmp_path, "later")
    with caplog.at_level(logging.INFO, logger="zoo.pipeline"):
        assert run([[finished], [broken, fine], [later]], tmp_path, jobs=2) == 3
    assert fine.done.exists() and not broken.done.exists() and not later.done.exists()
    assert "[1] stage finished: done already" in caplog.text
    assert "[2] stage broken failed (exit 3)" in caplog.text and "the cause, spelled out" in caplog.text
    # re-running picks up where it stopped: only the broken stage and what follows it run again
    broken_fixed = _stage(tmp_path, "broken")
    assert run([[finished], [broken_fixed, fine], [later]], tmp_path, jobs=1) == 0
    assert later.done.exists()
