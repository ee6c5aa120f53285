"""bench/occupancy_coverage.py: a run paired with an earlier one (--paired-with) compares its own fits with the
earlier run's ground truth; a mode both runs fitted must not be averaged over the two."""
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import occupancy_coverage as coverage  # noqa: E402


def _rows(mode, means):
    return [{"seed": seed, "mode": mode, "parameter": "psi[chamois]", "truth": 0.5, "mean": m, "median": m,
             "q2.5": 0.0, "q97.5": 1.0} for seed, m in enumerate(means)]


def test_paired_run_takes_only_the_modes_it_did_not_fit(tmp_path):
    earlier = tmp_path / "earlier.json"
    # the earlier run: ground truth (errors 0.0, -0.2) and a confusion fit (errors +0.4 on both studies)
    earlier.write_text(json.dumps({"rows": _rows("ground_truth", [0.5, 0.3]) + _rows("confusion", [0.9, 0.9])}))
    now = pd.DataFrame(_rows("confusion", [0.6, 0.4]))  # this run: errors +0.1 and -0.1
    paired = coverage.paired_rows(str(earlier), now)
    assert set(paired["mode"]) == {"ground_truth"}
    excess = coverage.excess_over_ground_truth(pd.concat([paired, now], ignore_index=True))
    # (0.1 - 0.0 + -0.1 - -0.2) / 2 = 0.1; averaging in the earlier confusion fit would give 0.25
    assert excess.loc["psi[chamois]", "confusion"] == pytest.approx(0.1)
    assert excess.loc["psi[chamois]", "ground_truth"] == pytest.approx(-0.1)
