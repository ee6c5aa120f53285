"""The tables and the netCDF file `occupancy.fit` writes read back as docs/formats/occupancy-outputs.md says.

One short real run (simulated records, 2 chains x 100 draws, no plots) makes the run directory; its CSVs are
read with Python's plain `csv` module and typed by the rules of R's `read.csv` (`utils::type.convert`), and
posterior.nc is opened with ArviZ. A species name with a non-ASCII letter checks the encoding.
"""
import csv
import io
import re

import arviz as az
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from core.runs import compose_config
from occupancy.fit import run
from occupancy.simulate import simulate

DEER = "chèvre"  # written as UTF-8, read back as the same name
TABLES = ("histories.csv", "summary.csv", "sites.csv", "predictive_check.csv")
# the column classes R's read.csv gives each table (defaults, R >= 4.0: strings stay character)
R_CLASSES = {
    "histories.csv": {"species": "character", "site": "character", "occasion": "integer", "y": "numeric"},
    "summary.csv": {"parameter": "character", "mean": "numeric", "sd": "numeric", "q2.5": "numeric",
                    "q97.5": "numeric", "r_hat": "numeric", "ess_bulk": "numeric"},
    "sites.csv": {"site": "character", "species": "character", "mean": "numeric", "q2.5": "numeric",
                  "q97.5": "numeric", "detected": "logical"},
    "predictive_check.csv": {"species": "character", "stream": "character", "observed": "numeric",
                             "replicated_mean": "numeric", "q2.5": "numeric", "q97.5": "numeric", "p_value": "numeric"},
}

# --- R's read.csv, emulated: utils::type.convert on each column (see ?type.convert) ------------------------
_R_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_R_NUMERIC = re.compile(r"^\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|0[xX][0-9a-fA-F]+|nan|inf|infinity)\s*$", re.I)
_R_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE", "NULL", "Inf",
               "NaN", "NA", "in"}


def r_missing(cell: str) -> bool:
    """read.csv's na.strings = "NA"; blank fields are missing in logical and numeric columns."""
    return cell.strip() in ("", "NA")


def r_class(cells: list[str]) -> str:
    """The class type.convert picks: the first of logical, integer, numeric that takes every non-missing cell."""
    values = [c for c in cells if not r_missing(c)]
    if all(v in ("T", "F", "TRUE", "FALSE") for v in values):  # also: a column with no value at all
        return "logical"
    if all(_R_INTEGER.match(v) and abs(int(v)) <= 2**31 - 1 for v in values):
        return "integer"
    if all(_R_NUMERIC.match(v) for v in values):
        return "numeric"
    return "character"


def r_syntactic(name: str) -> bool:
    """read.csv's check.names = TRUE keeps a name only if make.names would not change it."""
    return bool(re.fullmatch(r"([A-Za-z]|\.[A-Za-z._]|\.$)[A-Za-z0-9._]*", name)) and name not in _R_RESERVED


def read_rows(path) -> tuple[list[str], list[list[str]]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), f"{path.name} starts with a byte-order mark"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        pytest.fail(f"{path.name} is not UTF-8: {err}")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outputs")
    sim = simulate(n_sites=16, n_occasions=4, species=("lynx", "deer"), natural={"lynx": 0.0, "deer": 0.8, "lynx:deer": 0.5},
                   interactions=(("lynx", "deer"),), detection={"lynx": 0.3, "deer": 0.4}, seed=11)
    records = sim.records.assign(true_label=sim.records["true_label"].replace({"deer": DEER}))
    path = tmp / "records.csv"
    records.to_csv(path, index=False, encoding="utf-8")
    cfg = compose_config("occupancy/fit", [
        f"run_dir={tmp / 'run'}", "sampler=fast", "sampler.draws=100", "sampler.tune=100", "plots=false",
        f"study.records.path={path}", "study.occasions.kind=column", "study.truth_column=true_label",
        "study.classified_areas=[]", "study.activity=records",  # occasions without a record: missing (NaN)
    ])
    OmegaConf.set_struct(cfg, False)
    cfg.study.species = {"lynx": ["lynx"], DEER: [DEER]}
    cfg.study.interactions = [["lynx", DEER]]
    cfg.study.conditionals = [{"species": "lynx", "given": [DEER]}]
    return run(cfg)


@pytest.mark.parametrize("name", TABLES)
def test_each_table_reads_like_read_csv(run_dir, name):
    header, rows = read_rows(run_dir / name)
    assert rows, f"{name} has no data row"
    assert all(h and not h.startswith("Unnamed") for h in header), f"{name}: an unnamed (index) column {header}"
    assert all(r_syntactic(h) for h in header), f"{name}: read.csv would rename {header}"
    assert all(len(r) == len(header) for r in rows), f"{name}: a row with a different number of cells"
    assert header == list(R_CLASSES[name]), f"{name} columns {header}"
    columns = dict(zip(header, zip(*rows)))
    for column, cells in columns.items():
        assert r_class(list(cells)) == R_CLASSES[name][column], f"{name}.{column} would be read as {r_class(list(cells))}"
        if R_CLASSES[name][column] in ("numeric", "integer"):
            # Python: every cell a float, missing written as an empty cell (read.csv: NA), never nan/None/<NA>
            assert all(c == "" or np.isfinite(float(c)) for c in cells), f"{name}.{column}: {sorted(set(cells))[:5]}"
        else:
            assert all(c.strip() == c and c not in ("", "NA", "nan", "None", "<NA>") for c in cells), f"{name}.{column}"
        # one value per cell: no list written as "[...]" or "a;b" in these tables
        assert not any(c.startswith("[") and c.endswith("]") or ";" in c for c in cells), f"{name}.{column}"


def test_missing_occasions_are_empty_cells_and_names_are_utf8(run_dir):
    header, rows = read_rows(run_dir / "histories.csv")
    y = [r[header.index("y")] for r in rows]
    assert "" in y and set(y) <= {"", "0.0", "1.0"}  # a site-occasion without any record is missing, not 0
    frame = pd.read_csv(run_dir / "histories.csv")
    assert frame["y"].isna().sum() == y.count("") and frame["y"].isna().sum() < len(frame)
    assert DEER in set(frame["species"])
    summary = pd.read_csv(run_dir / "summary.csv", encoding="utf-8")
    assert {f"psi[{DEER}]", f"p[{DEER}]", f"psi[lynx | {DEER}]", f"psi[lynx | -{DEER}]"} <= set(summary["parameter"])
    sites = pd.read_csv(run_dir / "sites.csv")
    assert sites["detected"].dtype == bool and sites["mean"].between(0, 1).all()
    assert len(sites) == frame[["site", "species"]].drop_duplicates().shape[0]


def test_booleans_are_spelt_as_r_reads_them(run_dir):
    header, rows = read_rows(run_dir / "sites.csv")
    assert r_class([r[header.index("detected")] for r in rows]) == "logical"


def test_posterior_nc_is_inference_data_with_loo(run_dir):
    path = run_dir / "posterior.nc"
    assert path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"  # netCDF-4 (HDF5), with one netCDF group per ArviZ group
    idata = az.from_netcdf(path)
    assert {"posterior", "log_likelihood", "sample_stats"} <= set(idata.groups())
    post = idata.posterior
    assert {"psi", "p", "psi_conditional", "f", "alpha"} <= set(post.data_vars)
    assert post["psi"].dims == ("chain", "draw", "species") and list(post["species"].values) == ["lynx", DEER]
    assert list(post["psi_conditional"].coords["conditional"].values) == [f"psi[lynx | {DEER}]", f"psi[lynx | -{DEER}]"]
    assert post.attrs["labels"] == "ground_truth" and post.sizes["chain"] == 2 and post.sizes["draw"] == 100
    # summary.csv is this posterior, summarised
    summary = pd.read_csv(run_dir / "summary.csv").set_index("parameter")["mean"]
    assert summary[f"psi[{DEER}]"] == pytest.approx(float(post["psi"].sel(species=DEER).mean()))
    assert summary[f"psi[lynx | -{DEER}]"] == pytest.approx(
        float(post["psi_conditional"].sel(conditional=f"psi[lynx | -{DEER}]").mean()))
    ll = idata.log_likelihood["occupancy"]
    sites = pd.read_csv(run_dir / "sites.csv", dtype={"site": str})
    assert ll.dims == ("chain", "draw", "site") and list(ll["site"].values) == list(dict.fromkeys(sites["site"]))
    assert np.isfinite(ll.values).all() and (ll.values <= 0).all()
    assert np.isfinite(az.loo(idata).elpd_loo)
    assert idata.sample_stats["diverging"].dtype == bool
