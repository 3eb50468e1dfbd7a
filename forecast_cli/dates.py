"""Read a column of date text into timestamps: day-first or month-first, the supported range, UTC offsets.

Rules (the README's "Dates" section states them for users):

* ``--date-format`` (strftime syntax) is used as given; a date that does not match it is an error.
* Numeric dates with the year last (``01.02.2021``, ``01/02/2021``, ``01-02-2021``) are read
  day-first or month-first, never by a silent guess: ``--dayfirst``/``--no-dayfirst`` decide;
  else a column where some first field is over 12 is day-first and one where some second field
  is over 12 is month-first; else (every field <= 12) the reading that gives a regular series
  is taken; when both readings are regular or both irregular, dotted dates are day-first (the
  European convention) and others are refused with a message naming ``--date-format`` and
  ``--dayfirst``.
* Timestamps are held as datetime64[ns]: dates outside 1677-09-21 .. 2262-04-11 are refused,
  never shifted.
* UTC offsets: when every row has the same offset the wall times are kept and the offset is
  returned (``"+01:00"``, ``"UTC"``); with different offsets the times are converted to UTC
  (``"UTC"``). Dates without an offset give ``None``.
"""
from __future__ import annotations

import re
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import DataError

__all__ = ["DateReading", "parse_dates", "RANGE_TEXT", "check_format", "tz_name"]

RANGE_TEXT = "1677-09-21 .. 2262-04-11"
_LO, _HI = pd.Timestamp.min, pd.Timestamp.max
# Day, month (in either order) and a 2- or 4-digit year last, one separator; a time may follow.
_DMY_RE = r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?:$|[\sT])"
# What the ISO8601 second chance accepts: padded ISO dates, with or without seconds or an offset.
_ISO_RE = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)?$"
_FIX = "give --dayfirst or --no-dayfirst, or the format with --date-format (e.g. --date-format '%d/%m/%Y')"


class DateReading(NamedTuple):
    """Parsed timestamps and how they were read."""

    values: np.ndarray  # datetime64[ns] wall times, in the rows' order
    tz: str | None  # the rows' one UTC offset ("+01:00", "UTC"), "UTC" for mixed offsets, None for none
    dayfirst: bool | None  # the reading of numeric day/month dates; None when the dates are not such


def check_format(fmt: str) -> str | None:
    """A reason why ``fmt`` is not a usable strftime format for ``--date-format``, or None."""
    if not isinstance(fmt, str) or not fmt.strip():
        return "it is empty"
    if not re.search(r"%[A-Za-z]", fmt):
        return "it has no % directive"
    return None


def tz_name(tz) -> str | None:
    """``"+01:00"`` for a fixed offset, ``"UTC"`` for UTC, None for naive."""
    if tz is None:
        return None
    off = pd.Timestamp("2000-01-01", tz=tz).utcoffset()
    if off is None or off == pd.Timedelta(0):
        return "UTC"
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_dates(text: pd.Series, col: str, lines: np.ndarray, name: str, *, date_format: str | None = None,
                dayfirst: bool | None = None) -> DateReading:
    """Timestamps of ``text`` (stripped strings, one per row) by the rules of this module.

    Raises:
        DataError: an empty or unparseable date (naming its line), dates read both day-first and
            month-first, a date outside the supported range.
    """
    empty = (text.isna() | (text == "")).to_numpy()
    if empty.any():
        i = int(np.argmax(empty))
        raise DataError(f"column '{col}' line {lines[i]}: the date is empty; fill it in or remove the row", path=name)
    chosen = None
    if date_format:
        attempts = [{"format": date_format}]
    else:
        # Numeric day/month dates only when every value is one; the first value decides cheaply
        # for everything else (a regex over a whole column costs about as much as parsing it).
        dmy = text.str.extract(_DMY_RE) if re.match(_DMY_RE, str(text.iloc[0])) else None
        if dmy is not None and dmy[0].notna().all():
            chosen = _order(dmy, text, col, lines, name, dayfirst)
            attempts = [{"dayfirst": chosen}]
        else:
            # The format is inferred from the first value; ISO variants (with and without seconds)
            # get a second chance before the first bad value is reported.
            attempts = [{}, {"format": "ISO8601"}]
    parsed, tz, first_read = _parse(text, attempts)
    bad = parsed.isna().to_numpy()
    if not bad.any() and first_read is not None:
        # The ISO8601 second chance read what the first value's format did not: it must still be one
        # padded ISO layout per column ("2011-1" is not read as 2011-01-01).
        bad = ~text.str.match(_ISO_RE).to_numpy(dtype=bool) & ~first_read
    if bad.any():
        i = int(np.argmax(bad))
        if date_format:
            fix = f"it does not match --date-format '{date_format}'; fix the date or the format"
        elif i == 0 or bad.mean() > 0.5:
            fix = "check --date-col, or give dates like 2024-01-31 or 2024-01-31 14:00 (or --date-format)"
        else:
            fix = f"use one date format in the whole column (the first rows look like '{text.iloc[0]}')"
        raise DataError(f"column '{col}' line {lines[i]}: cannot parse '{text.iloc[i]}' as a date; {fix}", path=name)
    out = (parsed < _LO) | (parsed > _HI)
    if out.any():
        i = int(np.argmax(out.to_numpy()))
        raise DataError(f"column '{col}' line {lines[i]}: the date '{text.iloc[i]}' is outside the supported range "
                        f"{RANGE_TEXT}; fix it or remove the row (dates are never shifted)", path=name)
    return DateReading(parsed.to_numpy(dtype="datetime64[ns]"), tz, chosen)


def _parse(text: pd.Series, attempts: list[dict]) -> tuple[pd.Series, str | None, np.ndarray | None]:
    """(naive wall times, offset name, which values the first attempt read) by the first attempt that
    parses every value, else the first's. The third item is None when the first attempt read them all."""
    first = None
    first_read = np.zeros(len(text), dtype=bool)
    for k, kwargs in enumerate(attempts):
        try:
            parsed, tz = _to_datetime(text, kwargs)
        except (ValueError, TypeError, OverflowError):
            continue
        if first is None:
            first = (parsed, tz)
        if k == 0:
            first_read = parsed.notna().to_numpy()
        if not parsed.isna().any():
            return parsed, tz, (None if k == 0 else first_read)
    if first is None:
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]"), None, first_read
    return (*first, first_read)


def _to_datetime(text: pd.Series, kwargs: dict) -> tuple[pd.Series, str | None]:
    """``pd.to_datetime`` keeping one shared UTC offset (as wall times plus its name); mixed ones go to UTC."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(text, errors="coerce", **kwargs)
        except ValueError as e:
            if "timezone" not in str(e).lower() and "offset" not in str(e).lower():
                raise
            parsed = pd.to_datetime(text, errors="coerce", utc=True, **kwargs)
    if not isinstance(parsed.dtype, pd.DatetimeTZDtype):
        if parsed.dtype == object:  # naive and offset values mixed: pandas gives up on a dtype
            raise ValueError("naive and offset dates mixed")
        return parsed, None
    tz = tz_name(parsed.dt.tz)
    return parsed.dt.tz_localize(None), tz


def _order(dmy: pd.DataFrame, text: pd.Series, col: str, lines: np.ndarray, name: str,
           dayfirst: bool | None) -> bool:
    """True for day-first, False for month-first (see the module's rules); DataError when undecidable."""
    if dayfirst is not None:
        return bool(dayfirst)
    a, b = dmy[0].astype(int), dmy[2].astype(int)
    if (a > 12).any():
        return True  # a later month-first row fails to parse and is reported with its line
    if (b > 12).any():
        return False
    day, month = _regular(text, True), _regular(text, False)
    if day != month:
        return day
    if (dmy[1] == ".").all():
        return True
    how = "both give a regular series" if day else "neither gives a regular series"
    raise DataError(f"column '{col}': the dates (e.g. '{text.iloc[0]}', line {lines[0]}) read both day-first and "
                    f"month-first, and {how}; {_FIX}", path=name)


def _regular(text: pd.Series, dayfirst: bool) -> bool:
    """The reading gives unique timestamps on a regular grid (90 % of its steps present, or trading days)."""
    from .calendar import infer_frequency

    try:
        parsed, _ = _to_datetime(text, {"dayfirst": dayfirst})
    except (ValueError, TypeError, OverflowError):
        return False
    if parsed.isna().any() or (parsed < _LO).any() or (parsed > _HI).any():
        return False
    idx = pd.DatetimeIndex(parsed.to_numpy(dtype="datetime64[ns]")).sort_values()
    if len(idx) < 2 or not idx.is_unique:
        return False
    freq, _, trading = infer_frequency(idx)
    if freq is None:
        return False
    if trading:
        return True
    try:
        grid = pd.date_range(idx[0], idx[-1], freq=freq)
    except (ValueError, OverflowError):
        return False
    return len(idx) >= 0.9 * len(grid) and bool(idx.isin(grid).all())
