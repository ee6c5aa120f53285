"""Parse capture times and repair camera clocks with rules from the study config.

A rule says which records it applies to (`where`: column equalities, a capture `year`, a text the
path contains) and how to shift them (`shift`: years/days/hours/minutes/seconds). Rules apply in
order and add up. Every touched record is flagged in `timestamp_flag`, so repaired times stay
visible. Years outside `valid_years` that no rule repairs are flagged `suspect_year`.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from zoo.data.times import EXIF_FORMAT, parse_times, unparsed  # noqa: F401  (EXIF_FORMAT: kept importable)

log = logging.getLogger(__name__)

_SHIFT_UNITS = {"years", "months", "days", "hours", "minutes", "seconds"}
_WHERE_KEYS_SPECIAL = {"year", "path_contains"}


def parse_timestamps(raw: pd.Series, time_format: str | None = None, dayfirst: bool | None = None,
                     timezone: str | None = None) -> pd.Series:
    """Capture-time text to local datetimes (see zoo.data.times); unreadable and impossible dates become NaT."""
    return parse_times(raw, time_format, dayfirst, timezone)


def repair_timestamps(
    records: pd.DataFrame,
    corrections: Sequence[Mapping[str, Any]] = (),
    valid_years: Sequence[int] | None = None,
    time_format: str | None = None,
    dayfirst: bool | None = None,
    timezone: str | None = None,
) -> pd.DataFrame:
    """Fill `timestamp` and `timestamp_flag` from `timestamp_raw` and the correction rules.

    `timestamp_flag` is `missing` for an empty value and `invalid` for one that could not be read.
    """
    out = records.copy()
    out["timestamp"] = parse_timestamps(out["timestamp_raw"], time_format, dayfirst, timezone)
    flags = pd.Series("", index=out.index, dtype=object)
    invalid = unparsed(out["timestamp_raw"], out["timestamp"])
    flags[out["timestamp"].isna().to_numpy() & ~invalid] = "missing"
    flags[invalid] = "invalid"
    original_year = out["timestamp"].dt.year
    for number, rule in enumerate(corrections):
        mask = _rule_mask(out, original_year, rule.get("where", {}), number)
        if not mask.any():
            log.info("clock rule %d (%s) matched no record", number, rule.get("name", rule.get("where")))
            continue
        out.loc[mask, "timestamp"] = _shifted(out.loc[mask, "timestamp"], rule.get("shift", {}), number)
        name = rule.get("name") or f"rule{number}"
        flags[mask] = flags[mask].where(flags[mask] == "", flags[mask] + ";") + name
        log.info("clock rule %r repaired %d records", name, int(mask.sum()))
    if valid_years is not None:
        lo, hi = valid_years
        year = out["timestamp"].dt.year
        suspect = out["timestamp"].notna() & ((year < lo) | (year > hi))
        flags[suspect] = flags[suspect].where(flags[suspect] == "", flags[suspect] + ";") + "suspect_year"
        if suspect.any():
            log.warning("%d records have a capture year outside %s-%s after repair (flagged suspect_year)",
                        int(suspect.sum()), lo, hi)
    out["timestamp_flag"] = flags
    return out


def _rule_mask(df: pd.DataFrame, year: pd.Series, where: Mapping[str, Any], number: int) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for key, value in where.items():
        if key == "year":
            mask &= year == int(value)
        elif key == "path_contains":
            mask &= df["path"].astype("string").str.contains(str(value), regex=False).fillna(False)
        elif key in df.columns:
            mask &= df[key].astype("string") == str(value)
        else:
            raise ValueError(
                f"clock rule {number}: unknown condition {key!r}; use a records column "
                f"({', '.join(map(str, df.columns))}) or one of {sorted(_WHERE_KEYS_SPECIAL)}"
            )
    return mask


def _shifted(times: pd.Series, shift: Mapping[str, Any], number: int) -> pd.Series:
    """Apply a rule's shift; an empty shift only flags (the error is known, its size is not)."""
    shift = dict(shift)
    unknown = set(shift) - _SHIFT_UNITS - {"swap_am_pm"}
    if unknown:
        raise ValueError(f"clock rule {number}: unknown shift {sorted(unknown)}; "
                         f"use {sorted(_SHIFT_UNITS)} or swap_am_pm")
    if shift.pop("swap_am_pm", False):
        times = times + pd.to_timedelta((times.dt.hour < 12).map({True: 12, False: -12}), unit="h")
    if shift:
        times = times + pd.DateOffset(**{k: int(v) for k, v in shift.items()})
    return times
