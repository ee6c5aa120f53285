"""Detection histories: species x site x occasion arrays built from any record table.

A record table has one row per photo (or sequence) with a site, a time (or a ready-made occasion)
and a label. Missing occasions (camera inactive) are NaN, never zero.

`DetectionData` is what the model consumes. It can hold up to three observation streams that share
the same latent occupancy states:

- `y`: detections taken as true (manual labels, or classifier labels under the naive mode);
- `sequences`: classifier labels of the sequences at classified sites, with the verified ones
  (`occupancy.sequences.SequenceEvidence`), read through the classifier's learnt label rates;
- `scores`: calibrated classifier scores of the sequences at scored sites, condensed per site-occasion
  (`occupancy.scores.ScoreEvidence`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from zoo.data.times import blank, failure_message, parse_times, unparsed, validate_time_options

if TYPE_CHECKING:
    from occupancy.scores import ScoreEvidence
    from occupancy.sequences import SequenceEvidence

log = logging.getLogger(__name__)

OTHER = "other"


@dataclass(frozen=True)
class OccasionSpec:
    """How timestamps become occasions.

    kind='month': month of year, years pooled (the seed study), keeping `months` in that order.
    kind='days': consecutive windows of `length_days` from `origin` (default: earliest timestamp).
    kind='column': the records already carry an `occasion` column (e.g. simulated data).
    Times are read by zoo.data's parser (EXIF, ISO, day/month, kept as local time): `time_format` (a strftime
    pattern) and `dayfirst` (the order of 01/02/2017; None: from the values) fix how.
    """

    kind: str = "month"
    months: tuple[int, ...] = tuple(range(3, 12))
    length_days: int = 30
    origin: str | None = None
    time_format: str | None = None
    dayfirst: bool | None = None

    def __post_init__(self):
        if self.kind not in ("month", "days", "column"):
            raise ValueError(f"occasion kind must be 'month', 'days' or 'column', got {self.kind!r}")
        if self.kind == "month" and (not self.months or any(m not in range(1, 13) for m in self.months)):
            raise ValueError(f"occasion months must be in 1..12, got {list(self.months)}")
        if self.kind == "days" and self.length_days < 1:
            raise ValueError(f"occasion length_days must be >= 1, got {self.length_days}")
        validate_time_options(self.time_format, self.dayfirst, None, prefix="study.occasions")


@dataclass
class DetectionData:
    """Everything the occupancy model sees. Arrays are (species, site, occasion) unless noted."""

    species: tuple[str, ...]
    sites: tuple[str, ...]
    occasions: tuple[str, ...]
    y: np.ndarray
    sequences: "SequenceEvidence | None" = None  # classifier labels of sequences at classified sites
    scores: "ScoreEvidence | None" = None  # calibrated scores of sequences at scored sites
    effort: np.ndarray | None = None  # (site, occasion) active camera-days (or a proxy)
    site_covariates: pd.DataFrame | None = None  # index = sites
    occasion_covariates: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (site, occasion)
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        self.species, self.sites, self.occasions = tuple(self.species), tuple(map(str, self.sites)), tuple(
            map(str, self.occasions))
        self.validate()

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.species), len(self.sites), len(self.occasions)

    @property
    def classes(self) -> tuple[str, ...]:
        """Confusion-matrix classes: the focal species then everything else pooled."""
        return self.species + (OTHER,)

    def validate(self) -> None:
        S, N, J = self.shape
        if S == 0 or N == 0 or J == 0:
            raise ValueError(f"empty detection data: {S} species, {N} sites, {J} occasions")
        if len(set(self.species)) != S:
            raise ValueError(f"species names must be unique, got {list(self.species)}")
        if len(set(self.sites)) != N:
            raise ValueError("site names must be unique")
        self.y = np.asarray(self.y, dtype=float)
        if self.y.shape != (S, N, J):
            raise ValueError(f"y has shape {self.y.shape}, expected (species, site, occasion) = {(S, N, J)}")
        if not np.isin(self.y[~np.isnan(self.y)], (0.0, 1.0)).all():
            raise ValueError(f"y must hold 0, 1 or NaN (missing); got values {np.unique(self.y[~np.isnan(self.y)])[:5]}")
        for name in ("effort",):
            arr = getattr(self, name)
            if arr is None:
                continue
            arr = np.asarray(arr, dtype=float)
            setattr(self, name, arr)
            if arr.shape != (N, J):
                raise ValueError(f"{name} has shape {arr.shape}, expected (site, occasion) = {(N, J)}")
            if np.isnan(arr).any() or (arr < 0).any():
                raise ValueError(f"{name} must be finite and >= 0")
        for name in ("sequences", "scores"):
            ev = getattr(self, name)
            if ev is None:
                continue
            n_species = ev.label_count.shape[1] if name == "sequences" else ev.log_mean_products.shape[0]
            if n_species != S:
                raise ValueError(f"{name} evidence covers {n_species} species, expected {S}")
            if ev.n_units and (ev.unit_site.max() >= N or ev.unit_occasion.max() >= J or ev.unit_site.min() < 0):
                raise ValueError(f"{name} evidence names a site or occasion outside the histories")
            if ev.n_units and not np.isnan(self.y[:, ev.unit_site, ev.unit_occasion]).all():
                raise ValueError(f"a {'classified' if name == 'sequences' else 'scored'} site-occasion is also in the "
                                 "truth stream y: set y to NaN there")
        if self.site_covariates is not None:
            missing = set(self.sites) - set(map(str, self.site_covariates.index))
            if missing:
                raise ValueError(f"site_covariates lack sites {sorted(missing)[:10]}")
            self.site_covariates = self.site_covariates.set_axis(self.site_covariates.index.map(str)).loc[list(self.sites)]
        for name, arr in self.occasion_covariates.items():
            if np.shape(arr) != (N, J):
                raise ValueError(f"occasion covariate {name!r} must be (site, occasion) = {(N, J)}")

    def observed_mask(self) -> np.ndarray:
        """(site, occasion) True where any stream saw the occasion."""
        seen = ~np.isnan(self.y).all(axis=0)
        for ev in (self.sequences, self.scores):
            if ev is not None:
                seen[ev.unit_site, ev.unit_occasion] = True
        return seen

    def drop_empty_sites(self) -> "DetectionData":
        """Remove sites with no observed occasion in any stream (they carry no information), logging them."""
        keep = self.observed_mask().any(axis=1)
        if keep.all():
            return self
        dropped = [s for s, k in zip(self.sites, keep) if not k]
        log.warning("dropping %d site(s) with no observed occasion: %s", len(dropped), dropped[:20])
        return self.subset_sites(np.flatnonzero(keep))

    def subset_sites(self, index: Sequence[int]) -> "DetectionData":
        index = np.asarray(index)
        take3 = lambda a: None if a is None else a[:, index, :]  # noqa: E731
        take2 = lambda a: None if a is None else a[index, :]  # noqa: E731
        return replace(
            self,
            sites=tuple(np.asarray(self.sites, dtype=object)[index]),
            y=take3(self.y), effort=take2(self.effort),
            sequences=None if self.sequences is None else self.sequences.subset_sites(index),
            scores=None if self.scores is None else self.scores.subset_sites(index),
            site_covariates=None if self.site_covariates is None else self.site_covariates.iloc[index],
            occasion_covariates={k: v[index] for k, v in self.occasion_covariates.items()},
        )

    def to_frame(self) -> pd.DataFrame:
        """Long table (species, site, occasion, y): handy for inspection and for saving."""
        S, N, J = self.shape
        idx = pd.MultiIndex.from_product([self.species, self.sites, self.occasions], names=["species", "site", "occasion"])
        return pd.DataFrame({"y": self.y.reshape(-1)}, index=idx).reset_index()


# --------------------------------------------------------------------------------------------------
# From records to arrays
# --------------------------------------------------------------------------------------------------

def units_at_sites(unit_site: np.ndarray, index: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Which units (by their site index) lie at the kept sites `index`, and their sites' new positions:
    (mask over units, new site index of each kept unit). What `subset_sites` of the evidence classes share."""
    index = np.asarray(index)
    new_pos = np.full(int(max(unit_site.max(initial=0), index.max(initial=0))) + 1, -1)
    new_pos[index] = np.arange(len(index))
    keep = new_pos[unit_site] >= 0
    return keep, new_pos[unit_site[keep]]


def normalise_species_map(species: Mapping[str, str | Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """{'deer': 'chevreuil'} or {'deer': ['chevreuil']} -> {'deer': ('chevreuil',)}; labels must not overlap."""
    if not species:
        raise ValueError("no species given")
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name, labels in species.items():
        labels = (labels,) if isinstance(labels, str) else tuple(labels)
        if not labels:
            raise ValueError(f"species {name!r} maps to no label")
        for lab in labels:
            if lab in seen:
                raise ValueError(f"label {lab!r} is mapped to both {seen[lab]!r} and {name!r}")
            seen[lab] = name
        out[str(name)] = labels
    return out


def label_to_class(labels: pd.Series, species_map: Mapping[str, tuple[str, ...]]) -> pd.Series:
    """Map record labels to config species names; anything else becomes 'other' (empty/NaN stays NaN)."""
    lookup = {lab: name for name, labs in species_map.items() for lab in labs}
    labels = labels.astype("object")
    out = labels.map(lambda v: lookup.get(v, OTHER) if isinstance(v, str) and v != "" else np.nan)
    return out


def assign_occasions(records: pd.DataFrame, spec: OccasionSpec, time_col: str = "timestamp") -> tuple[pd.Series, list[str]]:
    """Occasion label for every record (NaN outside the study window) and the ordered occasion list."""
    if spec.kind == "column":
        if "occasion" not in records:
            raise ValueError("occasion kind 'column' needs an 'occasion' column in the records")
        occ = records["occasion"].astype(str)
        order = sorted(occ.dropna().unique(), key=_natural_key)
        return occ, order
    if time_col not in records:
        raise ValueError(f"records have no {time_col!r} column (columns: {list(records.columns)})")
    t = read_times(records[time_col], spec, time_col)
    if spec.kind == "month":
        month = t.dt.month
        occ = month.where(month.isin(spec.months)).map(lambda m: f"{int(m):02d}" if pd.notna(m) else np.nan)
        return occ, [f"{m:02d}" for m in spec.months]
    origin = pd.Timestamp(spec.origin) if spec.origin else t.min().normalize()
    index = np.floor((t - origin) / pd.Timedelta(days=spec.length_days))
    n_occ = int(index.max()) + 1 if index.notna().any() else 0
    labels = [(origin + pd.Timedelta(days=spec.length_days * k)).strftime("%Y-%m-%d") for k in range(n_occ)]
    occ = index.map(lambda k: labels[int(k)] if pd.notna(k) and k >= 0 else np.nan)
    return occ, labels


def read_times(values: pd.Series, spec: OccasionSpec, what: str = "timestamp") -> pd.Series:
    """Times through zoo.data's one parser; fails (one line) when none can be read or any is before 1900.

    A year-0001 or all-NaT column would give all-zero histories and a confident, wrong occupancy.
    """
    times = parse_times(values, spec.time_format, spec.dayfirst, what=what)
    bad = unparsed(values, times)
    message = failure_message(values, times, what, option="study.occasions.time_format")
    if message and bad.sum() == (~blank(values)).sum():
        raise ValueError(message)
    if message:
        log.warning("%s: those records are ignored", message)
    early = times.dt.year < 1900
    if early.any():
        examples = pd.Series(values)[early.to_numpy()].astype(str).drop_duplicates().head(3).tolist()
        raise ValueError(f"{int(early.sum())} {what} values fall before 1900 (e.g. {examples}): a misread or unset "
                         f"camera clock; fix them or set study.occasions.time_format")
    n_blank = int(blank(values).sum())
    if n_blank:
        log.warning("%d record(s) have no %s and are ignored", n_blank, what)
    return times


def _natural_key(value: str):
    try:
        return (0, float(value), value)
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def explode_labels(records: pd.DataFrame, label_col: str, sep: str = ";") -> pd.DataFrame:
    """One row per (record, label): a photo showing 'humain;chien' counts for both."""
    if label_col not in records:
        raise ValueError(f"records have no label column {label_col!r} (columns: {list(records.columns)})")
    out = records.copy()
    out["_label"] = out[label_col].astype("object").map(
        lambda v: [p.strip() for p in v.split(sep) if p.strip()] if isinstance(v, str) else [])
    return out.explode("_label")


def detection_array(
    records: pd.DataFrame,
    species_map: Mapping[str, tuple[str, ...]],
    sites: Sequence[str],
    occasions: Sequence[str],
    label_col: str,
    observed: np.ndarray | None = None,
    sep: str = ";",
) -> np.ndarray:
    """(species, site, occasion) 1 where any record at the site-occasion carries the species' label.

    `records` must already hold `site` and `occasion` columns. `observed` (site, occasion) marks
    active occasions; inactive ones become NaN. Labels of records outside `sites` are ignored.
    """
    S, N, J = len(species_map), len(sites), len(occasions)
    y = np.zeros((S, N, J))
    rows = explode_labels(records, label_col, sep)
    rows = rows[rows["_label"].notna() & rows["occasion"].notna()]
    rows = rows.assign(_class=label_to_class(rows["_label"], species_map))
    rows = rows[rows["_class"] != OTHER]
    s_idx = pd.Index(list(species_map)).get_indexer(rows["_class"])
    i_idx = pd.Index(list(map(str, sites))).get_indexer(rows["site"].astype(str))
    j_idx = pd.Index(list(map(str, occasions))).get_indexer(rows["occasion"].astype(str))
    ok = (s_idx >= 0) & (i_idx >= 0) & (j_idx >= 0)
    y[s_idx[ok], i_idx[ok], j_idx[ok]] = 1.0
    if observed is not None:
        y[:, ~np.asarray(observed, dtype=bool)] = np.nan
    return y


def count_array(records: pd.DataFrame, sites: Sequence[str], occasions: Sequence[str], mask: pd.Series | None = None) -> np.ndarray:
    """(site, occasion) number of records (optionally only where `mask`)."""
    rows = records if mask is None else records[mask.to_numpy()]
    rows = rows[rows["occasion"].notna()]
    i_idx = pd.Index(list(map(str, sites))).get_indexer(rows["site"].astype(str))
    j_idx = pd.Index(list(map(str, occasions))).get_indexer(rows["occasion"].astype(str))
    ok = (i_idx >= 0) & (j_idx >= 0)
    out = np.zeros((len(sites), len(occasions)))
    np.add.at(out, (i_idx[ok], j_idx[ok]), 1.0)
    return out


def activity_from_deployments(
    deployments: pd.DataFrame, sites: Sequence[str], spec: OccasionSpec, occasions: Sequence[str]
) -> np.ndarray:
    """(site, occasion) active camera-days from a deployments table (site, start, end), one row per camera run."""
    need = {"site", "start", "end"}
    if not need <= set(deployments.columns):
        raise ValueError(f"deployments need columns {sorted(need)}, got {list(deployments.columns)}")
    days = []
    starts = parse_times(deployments["start"], spec.time_format, spec.dayfirst, what="deployment start").dt.normalize()
    ends = parse_times(deployments["end"], spec.time_format, spec.dayfirst, what="deployment end").dt.normalize()
    for row, start, end in zip(deployments.itertuples(index=False), starts, ends):
        if pd.isna(start) or pd.isna(end) or end < start:
            raise ValueError(f"deployment at site {row.site!r} has bad dates {row.start!r}..{row.end!r}")
        days.append(pd.DataFrame({"site": str(row.site), "timestamp": pd.date_range(start, end, freq="D")}))
    day_table = pd.concat(days, ignore_index=True)
    day_table["occasion"], _ = assign_occasions(day_table, spec)
    return count_array(day_table, sites, occasions)


def build_histories(
    records: pd.DataFrame,
    species: Mapping[str, str | Iterable[str]],
    occasions: OccasionSpec = OccasionSpec(),
    label_col: str = "label",
    time_col: str = "timestamp",
    sites: Sequence[str] | None = None,
    activity: str | pd.DataFrame = "none",
    sep: str = ";",
) -> DetectionData:
    """Detection histories from a record table with columns (site, `time_col` or occasion, `label_col`).

    activity: 'none' (every occasion of every site observed, as the seed study), 'records' (an occasion
    is observed only if the site has at least one record in it, whatever its label) or a deployments
    table (site, start, end) giving active camera-days; inactive occasions are NaN, and effort
    (active days; for 'records', days with at least one record) is kept as a detection covariate.
    """
    if "site" not in records:
        raise ValueError(f"records have no 'site' column (columns: {list(records.columns)})")
    species_map = normalise_species_map(species)
    table = records.copy()
    table["site"] = table["site"].astype(str)
    table["occasion"], occasion_list = assign_occasions(table, occasions, time_col)
    sites = sorted(table["site"].dropna().unique(), key=_natural_key) if sites is None else list(map(str, sites))
    if not sites:
        raise ValueError("records contain no site")
    observed, effort = _activity(table, sites, occasions, occasion_list, activity, time_col)
    y = detection_array(table, species_map, sites, occasion_list, label_col, observed, sep)
    data = DetectionData(species=tuple(species_map), sites=tuple(sites), occasions=tuple(occasion_list), y=y, effort=effort)
    return data


def _activity(table, sites, spec, occasion_list, activity, time_col):
    N, J = len(sites), len(occasion_list)
    if isinstance(activity, pd.DataFrame):
        effort = activity_from_deployments(activity, sites, spec, occasion_list)
        return effort > 0, effort
    if activity == "none":
        return np.ones((N, J), dtype=bool), None
    if activity == "records":
        if time_col in table:
            days = table.assign(_day=parse_times(table[time_col], spec.time_format, spec.dayfirst).dt.normalize())
            days = days.dropna(subset=["_day"]).drop_duplicates(["site", "_day"])
            effort = count_array(days, sites, occasion_list)
        else:
            effort = count_array(table, sites, occasion_list)
        return effort > 0, effort
    raise ValueError(f"activity must be 'none', 'records' or a deployments table, got {activity!r}")
