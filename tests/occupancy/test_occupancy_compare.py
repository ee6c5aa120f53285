"""occupancy.compare: one column per run, even for runs of one label mode, in a table GitHub renders."""
import pandas as pd

from occupancy.compare import main

ROWS = [("psi[lynx]", 0.8), ("p[lynx]", 0.5), ("psi[lynx | deer]", 0.9)]


def _run(folder, mode, shift):
    folder.mkdir()
    (folder / "config.yaml").write_text(f"labels:\n  mode: {mode}\n")
    pd.DataFrame([{"parameter": p, "mean": m + shift, "sd": 0.1, "q2.5": m + shift - 0.1, "q97.5": m + shift + 0.05}
                  for p, m in ROWS]).to_csv(folder / "summary.csv", index=False)
    return folder


def test_runs_of_one_mode_keep_their_columns_and_pipes_are_escaped(tmp_path):
    runs = [_run(tmp_path / "round0", "confusion", 0.0), _run(tmp_path / "round1", "confusion", 0.02)]
    main([str(r) for r in runs] + ["--out", str(tmp_path / "out")])
    lines = (tmp_path / "out" / "comparison.md").read_text().splitlines()
    assert lines[0] == "| quantity | confusion | confusion (round1) |"
    conditional = next(line for line in lines if "lynx \\| deer" in line)
    assert conditional.replace("\\|", "").count("|") == 4  # quantity and two runs: 3 cells
    assert "0.90 (0.80, 0.95)" in conditional and "0.92 (0.82, 0.97)" in conditional
    assert (tmp_path / "out" / "comparison.png").is_file()
