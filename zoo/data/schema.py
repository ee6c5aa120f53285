"""The records table: one row per photo, the contract between all stages (see docs/records.md)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = {
    "media_id": "string", "path": "string", "area": "string", "site": "string", "camera": "string",
    "timestamp": "datetime64[ns]", "timestamp_raw": "string", "timestamp_flag": "string",
    "label": "string", "labels": "string", "labels_raw": "string",
    "lat": "float64", "lon": "float64", "sequence_id": "string", "frame": "int64", "split": "string",
}
SPLIT_VALUES = {"", "train", "valid", "test"}


class RecordsError(ValueError):
    """A records table that breaks the contract; the message names the column."""


def validate_records(df: pd.DataFrame, source: str = "records table") -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise RecordsError(f"{source}: missing column(s) {missing}; expected at least {list(COLUMNS)}")
    if df["media_id"].isna().any() or (df["media_id"].astype(str) == "").any():
        raise RecordsError(f"{source}: column 'media_id' has empty values")
    dup = df["media_id"][df["media_id"].duplicated()]
    if len(dup):
        raise RecordsError(f"{source}: column 'media_id' must be unique; repeated e.g. {dup.iloc[:3].tolist()}")
    if not pd.api.types.is_datetime64_any_dtype(df["timestamp"]):
        raise RecordsError(f"{source}: column 'timestamp' must hold datetimes, got {df['timestamp'].dtype}")
    for column in ("lat", "lon"):
        if not pd.api.types.is_numeric_dtype(df[column]):
            raise RecordsError(f"{source}: column {column!r} must be numeric, got {df[column].dtype}")
    if not pd.api.types.is_integer_dtype(df["frame"]):
        raise RecordsError(f"{source}: column 'frame' must be integer, got {df['frame'].dtype}")
    bad_split = set(df["split"].fillna("").astype(str)) - SPLIT_VALUES
    if bad_split:
        raise RecordsError(f"{source}: column 'split' has values {sorted(bad_split)}; allowed {sorted(SPLIT_VALUES)}")
    return df


def read_records(path: str | Path) -> pd.DataFrame:
    """Load a records table written by `write_records` (Parquet or CSV) and check the contract."""
    path = Path(path)
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path, dtype={c: "string" for c, t in COLUMNS.items() if t == "string"},
                         keep_default_na=False, na_values={"lat": [""], "lon": [""]})
        df["timestamp"] = pd.to_datetime(df["timestamp"], errors="coerce")
    for column, dtype in COLUMNS.items():
        if dtype == "string" and column in df:
            df[column] = df[column].fillna("").astype(str)
    return validate_records(df, source=str(path))
