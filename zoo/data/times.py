"""One parser for capture times, used by every reader in `zoo.data` and by `occupancy`.

Camera traps and spreadsheets write times in many ways. Without an explicit `time_format` we read:

* year first with any of `- / : .` between the date parts: EXIF `2017:05:01 10:00:00`, ISO 8601
  `2017-05-01T10:00:00`, `2017/05/01 10:00`;
* day and month first (`01/05/2017 10:00`, `1.5.17`): the order comes from `dayfirst`, else from the values
  themselves (a first number above 12 is a day), the same for every row whatever the row order; when no value
  tells, they are read day first with a warning;
* optional seconds, fractions of a second and AM/PM.

Times are kept as the local time the camera wrote: a UTC offset (`Z`, `+02:00`) is dropped, not converted,
so a photo never moves to another day or occasion. With `timezone` set, times carrying an offset are
converted to that zone's local time instead (times without one are taken as already local).
Values that cannot be read become NaT; `unparsed` tells them apart from empty cells so callers can count them.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime

import numpy as np
import pandas as pd

from core.runs import Options, Rule, validate

log = logging.getLogger(__name__)

EXIF_FORMAT = "%Y:%m:%d %H:%M:%S"
_TIME = (r"(?:[ T]+(?P<hour>\d{1,2})[:h.](?P<minute>\d{2})(?:[:.](?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
         r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?")
_OFFSET = r"\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?"
_YEAR_FIRST = re.compile(r"^(?P<year>\d{4})[-/:.](?P<a>\d{1,2})[-/:.](?P<b>\d{1,2})" + _TIME + _OFFSET + "$")
_DAY_OR_MONTH_FIRST = re.compile(r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<year>\d{4}|\d{2})" + _TIME + _OFFSET + "$")
_TRAILING_OFFSET = re.compile(r"\s*(Z|[+-]\d{2}:?\d{2})$")


def _strftime_pattern(value) -> bool:
    """True for a pattern that writes and reads back a time (a %z offset aside)."""
    if not isinstance(value, str) or "%" not in value:
        return False
    pattern, sample = value.replace("%z", ""), datetime(2017, 5, 21, 13, 4, 5)
    try:
        return datetime.strptime(sample.strftime(pattern), pattern).day in (1, 21)
    except ValueError:
        return False


def _time_zone(value) -> bool:
    try:
        pd.Timestamp("2017-01-01", tz=value)
    except Exception:
        return False
    return True


# the time options of a data config (data.*) and of an occupancy study's occasions (study.occasions.*)
TIME_OPTIONS = {
    "time_format": Rule(lambda v: v is None or _strftime_pattern(v),
                        "null or a strftime pattern such as '%d/%m/%Y %H:%M:%S'"),
    "dayfirst": Options((True, False), none=True),
    "timezone": Rule(lambda v: v is None or (isinstance(v, str) and _time_zone(v)),
                     "null or a time zone name such as 'Europe/Paris' or 'UTC'"),
}


def validate_time_options(time_format: str | None, dayfirst: bool | None, timezone: str | None,
                          prefix: str = "data") -> None:
    """Check the options once, at the config boundary: one line naming the key, the value and what is allowed."""
    validate({"time_format": time_format, "dayfirst": dayfirst, "timezone": timezone}, TIME_OPTIONS, f"{prefix}.")


def blank(values) -> pd.Series:
    """True for empty cells (None, NaN, '' or spaces): a missing time, not an unreadable one."""
    values = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.isna()
    return values.isna() | (values.astype(object).map(lambda v: str(v).strip()) == "")


def unparsed(values, times: pd.Series) -> pd.Series:
    """True where a value was given but could not be read as a time."""
    return ~blank(values).to_numpy() & pd.Series(times).isna().to_numpy()


def parse_times(values, time_format: str | None = None, dayfirst: bool | None = None,
                timezone: str | None = None, what: str = "time") -> pd.Series:
    """Text (or datetimes) -> naive local datetime64[ns]; unreadable and impossible dates become NaT."""
    values = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(values):
        return _naive_local(values, timezone)
    text = values.astype(object).map(lambda v: None if v is None or v != v or str(v).strip() == "" else str(v).strip())
    unique = pd.Series(pd.unique(text.dropna()), dtype=object)
    if time_format:
        parsed = _with_format(unique, time_format, timezone)
    else:
        parsed = _auto(unique, dayfirst, timezone, what)
    lookup = dict(zip(unique, parsed))
    out = pd.Series([lookup.get(v, pd.NaT) if v is not None else pd.NaT for v in text], index=values.index)
    return pd.to_datetime(out).astype("datetime64[ns]")


def failure_message(values, times: pd.Series, what: str = "time", option: str = "data.time_format") -> str | None:
    """One line for values that failed ('3 of 10 ... e.g. ...; set ...'), or None if all were read."""
    bad = unparsed(values, times)
    if not bad.any():
        return None
    examples = pd.Series(values)[bad].astype(str).drop_duplicates().head(3).tolist()
    return (f"{int(bad.sum())} of {len(bad)} {what} values are unreadable or impossible times (e.g. {examples}); "
            f"set {option} (a strftime pattern such as '%d/%m/%Y %H:%M') or fix the values")


def describe_format(values) -> str:
    """How the times are written, for `zoo.data init`: 'exif', 'iso', 'day first', 'month first', ..."""
    text = pd.Series(values).dropna().astype(str).str.strip()
    text = text[text != ""]
    if not len(text):
        return "none"
    if text.str.match(r"^\d{4}:\d{2}:\d{2}").all():
        return "exif"
    if text.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        return "iso"
    parts = text.str.extract(_DAY_OR_MONTH_FIRST)
    if parts["a"].notna().all():
        a, b = parts["a"].astype(int), parts["b"].astype(int)
        if (a > 12).any() and not (b > 12).any():
            return "day first"
        if (b > 12).any() and not (a > 12).any():
            return "month first"
        return "day or month first (ambiguous)"
    return "mixed or unknown"


# --------------------------------------------------------------------------------------------------

def _auto(text: pd.Series, dayfirst: bool | None, timezone: str | None, what: str) -> pd.Series:
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if not len(text):
        return out
    ymd = text.str.extract(_YEAR_FIRST)
    is_ymd = ymd["year"].notna()
    out[is_ymd] = _assemble(ymd[is_ymd], ymd.loc[is_ymd, "a"], ymd.loc[is_ymd, "b"], timezone)
    dmy = text[~is_ymd].str.extract(_DAY_OR_MONTH_FIRST)
    dmy = dmy[dmy["year"].notna()]
    if len(dmy):
        first = _day_first(dmy["a"].astype(int), dmy["b"].astype(int), dayfirst, what)
        day, month = (dmy["a"], dmy["b"]) if first else (dmy["b"], dmy["a"])
        year = dmy["year"].astype(int)
        dmy = dmy.assign(year=np.where(year < 100, year + 2000, year))
        out[dmy.index] = _assemble(dmy, month, day, timezone)
    return out


def _day_first(a: pd.Series, b: pd.Series, dayfirst: bool | None, what: str) -> bool:
    """The one day/month order of a column, from the option or from the values (never row by row)."""
    if dayfirst is not None:
        return bool(dayfirst)
    a_day, b_day = int((a > 12).sum()), int((b > 12).sum())
    if a_day and b_day:
        log.warning("%s values mix day-first (%d) and month-first (%d) dates: read day first, the others are "
                    "unreadable; set data.dayfirst or data.time_format", what, a_day, b_day)
        return a_day >= b_day
    if a_day or b_day:
        return bool(a_day)
    log.warning("%d %s values could be day/month or month/day (no day above 12): read day first; "
                "set data.dayfirst (true/false) to be sure", len(a), what)
    return True


def _assemble(parts: pd.DataFrame, month: pd.Series, day: pd.Series, timezone: str | None) -> pd.Series:
    hour = parts["hour"].fillna("0").astype(int)
    ampm = parts["ampm"].fillna("").str.lower().str[:1]
    hour = hour.where(ampm == "", np.where(ampm == "p", hour % 12 + 12, hour % 12))
    fields = pd.DataFrame({"year": parts["year"].astype(int), "month": month.astype(int), "day": day.astype(int),
                           "hour": hour, "minute": parts["minute"].fillna("0").astype(int),
                           "second": parts["second"].fillna("0").astype(int)})
    bad = (fields["month"] > 12) | (fields["hour"] > 23) | (fields["minute"] > 59) | (fields["second"] > 59)
    times = pd.to_datetime(fields.mask(bad, 1).assign(year=fields["year"]), errors="coerce")
    times = times.mask(bad)
    fraction = parts["fraction"].fillna("0").map(lambda f: int(f.ljust(9, "0")[:9]))
    times = times + pd.to_timedelta(fraction, unit="ns")
    return _apply_offset(times, parts["offset"], timezone)


def _apply_offset(times: pd.Series, offset: pd.Series, timezone: str | None) -> pd.Series:
    """Drop the offset (local time as written), or with a time zone convert offset times to its local time."""
    if timezone is None or not offset.notna().any():
        return times
    has = offset.notna()
    minutes = offset[has].map(_offset_minutes)
    utc = (times[has] - pd.to_timedelta(minutes, unit="min")).dt.tz_localize("UTC")
    out = times.copy()
    out[has] = utc.dt.tz_convert(timezone).dt.tz_localize(None)
    return out


def _offset_minutes(offset: str) -> int:
    if offset == "Z":
        return 0
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0))


def _with_format(text: pd.Series, time_format: str, timezone: str | None) -> pd.Series:
    if "%z" not in time_format:
        return pd.to_datetime(text, format=time_format, errors="coerce").astype("datetime64[ns]")
    offset = text.str.extract(_TRAILING_OFFSET)[0]
    bare = text.str.replace(_TRAILING_OFFSET, "", regex=True)
    times = pd.to_datetime(bare, format=time_format.replace("%z", "").strip(), errors="coerce")
    return _apply_offset(times.astype("datetime64[ns]"), offset, timezone)


def _naive_local(times: pd.Series, timezone: str | None) -> pd.Series:
    if getattr(times.dt, "tz", None) is None:
        return times.astype("datetime64[ns]")
    if timezone is not None:
        times = times.dt.tz_convert(timezone)
    return times.dt.tz_localize(None).astype("datetime64[ns]")
