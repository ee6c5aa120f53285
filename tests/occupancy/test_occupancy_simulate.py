"""The field-like simulator borrows real sites' camera-off months, and the fit reads them as missing."""
import numpy as np
import pandas as pd

from occupancy.simulate import field_pattern, simulate_bursty

CONFUSION = np.array([[0.8, 0.05, 0.15], [0.05, 0.75, 0.2], [0.006, 0.01, 0.984]])


def real_like_records():
    """Two cameras: A runs every month, B is off in months 02 and 03 (no photo at all then)."""
    rows = []
    for site, months in (("A", ["01", "02", "03", "04"]), ("B", ["01", "04"])):
        for j, month in enumerate(months):
            rows += [(site, month, f"{site}{month}h{k}", "humain") for k in range(5 + j)]
            rows += [(site, month, f"{site}{month}d", "chevreuil")]
    rows += [("A", "02", "Al1", "lynx"), ("A", "02", "Al2", "lynx")]
    return pd.DataFrame(rows, columns=["site", "occasion", "sequence_id", "label"])


def test_field_pattern_keeps_each_real_sites_months_with_and_without_photos():
    pattern = field_pattern(real_like_records(), {"lynx": ["lynx"], "deer": ["chevreuil"]}, "label")
    assert [a.tolist() for a in pattern.active] == [[True] * 4, [True, False, False, True]]
    assert [t.tolist() for t in pattern.traffic] == [[5, 6, 7, 8], [5, 0, 0, 6]]
    assert pattern.sequences_per_use["deer"].tolist() == [1] * 6 and pattern.sequences_per_use["lynx"].tolist() == [2]


def test_simulated_cameras_are_off_when_their_real_site_was_and_the_fit_reads_those_months_as_missing():
    pattern = field_pattern(real_like_records(), {"lynx": ["lynx"], "deer": ["chevreuil"]}, "label")
    sim = simulate_bursty(pattern, n_sites=30, n_occasions=4, species=("lynx", "deer"),
                          natural={"lynx": 0.5, "deer": 2.0}, interactions=(), detection={"lynx": 0.6, "deer": 0.9},
                          confusion=CONFUSION, seed=3)
    assert sim.activity == "records"
    data = sim.detection_data("ground_truth")
    observed = data.observed_mask()  # (site, occasion)
    recorded = sim.records.groupby(["site", "occasion"]).size().unstack(fill_value=0).reindex(
        index=list(data.sites), columns=list(data.occasions), fill_value=0) > 0
    assert np.array_equal(observed, recorded.to_numpy())
    # about half the simulated sites borrowed camera B: their months 02 and 03 hold nothing and are missing
    off = ~observed[:, 1] & ~observed[:, 2] & observed[:, 0]
    assert 5 <= off.sum() <= 25 and observed[:, [0, 3]].all()
    # the seed study's reading turns the same months into non-detections
    assert sim.detection_data("ground_truth", activity="none").observed_mask().all()
