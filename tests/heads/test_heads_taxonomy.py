import logging

import numpy as np
import pandas as pd
import pytest

from core.paths import sample_dir
from heads.taxonomy import Taxonomy, load_taxonomy, mistake_severity, severity_summary


@pytest.fixture(scope="module")
def lynx_taxonomy():
    return load_taxonomy(sample_dir("lynx") / "taxonomy.csv")


@pytest.mark.parametrize("a, b, expected", [
    ("chat", "chat", 0),
    ("fouine", "martre", 1),      # genus Martes
    ("chat", "lynx", 2),          # family Felidae
    ("chat", "chien", 3),         # order Carnivora
    ("chat", "chevreuil", 4),     # class Mammalia
    ("chat", "humain", 5),        # unrelated
    ("chat", "oiseaux", 5),       # Aves, no lower levels
    ("humain", "chasseur", 2),    # empty genus is not shared; family 'person' is
    ("humain", "vehicule", 3),    # order 'human activity'
])
def test_distance_is_the_level_of_the_lowest_shared_taxon(lynx_taxonomy, a, b, expected):
    assert lynx_taxonomy.distance(a, b) == expected
    assert lynx_taxonomy.distance(b, a) == expected


def test_distance_matrix_and_severity(lynx_taxonomy):
    d = lynx_taxonomy.distance_matrix(["chat", "lynx", "chien"])
    assert d.tolist() == [[0, 2, 3], [2, 0, 3], [3, 3, 0]]
    severity = mistake_severity(["chat", "chat", "lynx", "chien"], ["chat", "lynx", "humain", "renard"], lynx_taxonomy)
    assert severity.tolist() == [0, 2, 5, 2]
    summary = severity_summary(severity)
    assert summary["mean_severity"] == pytest.approx(9 / 4)
    assert summary["mean_mistake_severity"] == pytest.approx(3.0)
    assert (summary["n_mistakes"], summary["mistakes_at_family"], summary["mistakes_at_unrelated"]) == (3, 2, 1)


def test_unknown_label_is_unrelated_and_logged(lynx_taxonomy, caplog):
    with caplog.at_level(logging.WARNING):
        assert lynx_taxonomy.distance("chat", "dragon") == 5
    assert "dragon" in caplog.text
    with pytest.raises(ValueError, match="dragon"):
        lynx_taxonomy.check(["chat", "dragon"])


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="genus"):
        Taxonomy(pd.DataFrame({"label": ["a"], "species": ["x"], "family": ["f"], "order": ["o"], "class": ["c"]}))
    row = {"label": "a", "species": "", "genus": "", "family": "", "order": "", "class": ""}
    with pytest.raises(ValueError, match="more than once"):
        Taxonomy(pd.DataFrame([row, row]))
    with pytest.raises(ValueError, match="3 items"):
        mistake_severity(["a", "a", "a"], ["a"], Taxonomy(pd.DataFrame([row])))
    assert np.array_equal(Taxonomy(pd.DataFrame([row])).distance_matrix(["a"]), [[0]])
