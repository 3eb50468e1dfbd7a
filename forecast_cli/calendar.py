"""Frequencies and future timestamps: infer a series' frequency, name it, and step past its end.

:func:`infer_frequency` recognises trading calendars (weekdays, holidays skipped), pandas'
frequencies, calendar anchors with missing periods and a regular median step;
:func:`regular_frequency` is its fast path for a series with no timestamp absent; :func:`freq_label`
and :func:`season_for` name a frequency and give its default seasonal period. :func:`future_index`
and :func:`future_stamps` give the timestamps after the last one and refuse any past 2262-04-11,
the end of the datetime64[ns] range.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from .dates import RANGE_TEXT
from .errors import DataError

__all__ = ["infer_frequency", "regular_frequency", "freq_label", "season_for", "future_index", "future_stamps"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def _fmt_ts(ts: pd.Timestamp) -> str:
    ts = pd.Timestamp(ts)
    if ts == ts.normalize():
        return ts.strftime("%Y-%m-%d")
    if ts.second == 0 and ts.microsecond == 0 and ts.nanosecond == 0:
        return ts.strftime("%Y-%m-%d %H:%M")
    return ts.isoformat(sep=" ")


def regular_frequency(stamps: np.ndarray, expect: tuple[str | None, bool] | None = None
                      ) -> tuple[str, str, bool] | None:
    """``(freq, label, trading_days)`` of timestamps on a regular grid with none absent, else None.

    The fast path of :func:`forecast_cli.data.load`, equal to :func:`infer_frequency` where it
    answers. ``expect`` (a bundle's ``(freq, trading_days)``) is tried first: one comparison of
    the steps for a fixed-length frequency, the trading-calendar test for trading days. None
    for fewer than two timestamps, unsorted or repeated ones, an irregular series, and one on a
    fixed-length grid with timestamps absent (the careful path reindexes and reports those).

    Args:
        stamps: datetime64 values in file order.
        expect: ``(freq, trading_days)`` known in advance. Defaults to None.

    >>> regular_frequency(pd.date_range("2024-01-01", periods=48, freq="h").values, ("h", False))
    ('h', 'hourly', False)
    >>> regular_frequency(pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-04"]).values) is None
    True
    """
    stamps = np.asarray(stamps, dtype="datetime64[ns]")  # steps are counted in nanoseconds
    if len(stamps) < 2:
        return None
    steps = np.diff(stamps.view(np.int64))
    if (steps <= 0).any():
        return None  # unsorted or repeated timestamps: the careful path sorts or reports them
    freq, trading = expect if expect is not None else (None, False)
    step = _fixed_step(freq) if freq and not trading else None
    if step is not None and (steps == step).all():
        return freq, freq_label(freq, False), False
    idx = pd.DatetimeIndex(stamps)
    if trading and _is_trading(idx):
        return "B", freq_label("B", True), True
    freq, label, trading = infer_frequency(idx)
    if freq is None:
        return None
    if not trading and not _is_fixed_step(idx, freq):
        return None  # timestamps absent from a fixed grid, or a calendar frequency: the careful path
    return freq, label, trading


def _infer_freq_str(index: pd.DatetimeIndex) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            f = pd.infer_freq(index)
        except (ValueError, TypeError):
            return None
    if f is None:
        return None
    return f if isinstance(f, str) else f.freqstr


def _weekday_steps(index: pd.DatetimeIndex):
    """(business-day steps, calendar-day steps) between consecutive dates of a weekday-only daily
    index (three dates at least), or None when the index is not one."""
    if len(index) < 3:
        return None
    i8 = index.asi8
    day = np.int64(86_400 * 10**9)
    if (i8 % day).any() or (index.day_of_week >= 5).any():
        return None
    days = index.values.astype("datetime64[D]")
    return np.busday_count(days[:-1], days[1:]), np.diff(i8) // day


def _is_trading(index: pd.DatetimeIndex) -> bool:
    """Daily weekday-only dates, mostly one business day apart, weekends skipped, holidays short."""
    steps = _weekday_steps(index)
    if steps is None:
        return False
    bsteps, calsteps = steps
    if bsteps.min() < 1 or bsteps.max() > 5:
        return False
    # Weekends must actually be skipped (a step spans more calendar days than business days).
    return bool((calsteps > bsteps).any() and (bsteps == 1).mean() >= 0.9)


def _calendar_freq(index: pd.DatetimeIndex) -> str | None:
    """Month/quarter/year starts or ends with missing periods, which infer_freq rejects."""
    if (index.asi8 % (86_400 * 10**9)).any():
        return None
    m = index.year.to_numpy() * 12 + index.month.to_numpy() - 1
    steps = np.diff(m)
    if (steps <= 0).any():
        return None
    g = int(np.gcd.reduce(steps))
    first = int(index.month[0])
    if index.is_month_start.all():
        kind = "S"
    elif index.is_month_end.all():
        kind = "E"
    else:
        return None
    if g == 12:
        return f"Y{kind}-{_MONTHS[first - 1]}"
    if g == 3:
        anchor = ((first - 1) % 3) + (1 if kind == "S" else 10)
        return f"Q{kind}-{_MONTHS[anchor - 1]}"
    return ("" if g == 1 else str(g)) + f"M{kind}"


def _step_freq(index: pd.DatetimeIndex) -> str | None:
    """The median step, when every step is a multiple of it and most steps equal it."""
    d = np.diff(index.asi8)
    if d.size == 0:
        return None
    step = int(np.median(d))
    if step <= 0 or (d % step).any() or (d == step).mean() < 0.5:
        return None
    td = pd.Timedelta(step, unit="ns")
    week = pd.Timedelta(days=7)
    if td % week == pd.Timedelta(0) and (index.asi8 % (86_400 * 10**9) == 0).all():
        k = td // week
        return ("" if k == 1 else str(k)) + f"W-{_DAYS[index[0].day_of_week]}"
    for unit, alias in ((86_400 * 10**9, "D"), (3_600 * 10**9, "h"), (60 * 10**9, "min"), (10**9, "s")):
        if step % unit == 0:
            k = step // unit
            return alias if k == 1 else f"{k}{alias}"
    return to_offset(td).freqstr


def _business_daily(index: pd.DatetimeIndex) -> bool:
    """Weekday-only dates that skip weekends, mostly one business day apart (missing days are gaps)."""
    steps = _weekday_steps(index)
    if steps is None:
        return False
    bsteps, calsteps = steps
    return bool((calsteps > bsteps).any() and (bsteps == 1).mean() >= 0.5)


@functools.lru_cache(maxsize=256)
def freq_label(freq: str | None, trading_days: bool = False) -> str:
    """A phrase for people: "hourly", "every 15 minutes", "business days (trading calendar)".

    Cached, as :func:`season_for` is: batch scoring names the frequency of every file it reads,
    and parsing the name (``to_offset``) costs more than the rest of the answer.
    """
    if freq is None:
        return "irregular"
    off = to_offset(freq)
    n, base = off.n, off.rule_code.split("-")[0]
    unit_names = {"D": ("daily", "days"), "h": ("hourly", "hours"), "min": ("every minute", "minutes"),
                  "s": ("every second", "seconds"), "W": ("weekly", "weeks"), "MS": ("monthly", "months"),
                  "ME": ("monthly", "months"), "QS": ("quarterly", "quarters"), "QE": ("quarterly", "quarters"),
                  "YS": ("yearly", "years"), "YE": ("yearly", "years")}
    if base == "B":
        if trading_days:
            return "business days (trading calendar)"
        return "business days" if n == 1 else f"every {n} business days"
    if base in unit_names:
        one, many = unit_names[base]
        return one if n == 1 else f"every {n} {many}"
    return f"every {freq}"


@functools.lru_cache(maxsize=256)
def season_for(freq: str | None) -> int:
    """Default seasonal period: B 5, h 24, D 7, W 52, M 12, Q 4, minutes: steps per day, else 1."""
    if freq is None:
        return 1
    off = to_offset(freq)
    n, base = off.n, off.rule_code.split("-")[0]
    per = {"B": 5, "D": 7, "W": 52, "MS": 12, "ME": 12, "QS": 4, "QE": 4}
    if base in per:
        p = per[base]
        return p if n == 1 else (p // n if base in ("MS", "ME") and p % n == 0 else 1)
    if base == "h":
        return 24 // n if 24 % n == 0 and n < 24 else 1
    if base == "min":
        return 1440 // n if 1440 % n == 0 and n < 1440 else 1
    return 1


def infer_frequency(index: pd.DatetimeIndex) -> tuple[str | None, str, bool]:
    """(freq, label, trading_days) of a sorted, unique DatetimeIndex.

    Trading data (weekday dates, mostly one business day apart, short holiday jumps) gives
    ``("B", "business days (trading calendar)", True)``. Otherwise ``pd.infer_freq`` is tried,
    then calendar anchors (month/quarter/year starts or ends) and the median step, so a regular
    series with some timestamps absent still gets its frequency. Anything else is irregular.

    >>> infer_frequency(pd.date_range("2024-01-01", periods=48, freq="h"))
    ('h', 'hourly', False)
    """
    # Steps below are counted in nanoseconds; pandas 3 may hold other units.
    index = pd.DatetimeIndex(index).as_unit("ns")
    if len(index) < 2:
        return None, "irregular", False
    if _is_trading(index):
        return "B", freq_label("B", True), True
    f = _infer_freq_str(index) if len(index) >= 3 else None
    if f is None:
        if _business_daily(index):
            f = "B"
        else:
            f = _calendar_freq(index) or _step_freq(index)
    if f is None:
        return None, "irregular", False
    return f, freq_label(f, False), False


def future_index(last: pd.Timestamp, freq: str | None, steps: int, trading_days: bool) -> pd.DatetimeIndex:
    """The ``steps`` timestamps after ``last``: business days for trading data, else ``freq`` steps.

    >>> future_index(pd.Timestamp("2018-01-19"), "B", 2, True)[0]
    Timestamp('2018-01-22 00:00:00')
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0. Got {steps}.")
    last = pd.Timestamp(last)
    if trading_days:
        freq = "B"
    if freq is None:
        raise DataError(
            "the time steps are irregular, so future timestamps are unknown; resample the data to a regular frequency"
        )
    off, step = _offset(freq)
    if step is not None and last.tz is None:  # a fixed-length step: plain arithmetic, as date_range does
        return pd.DatetimeIndex(_fixed_steps(last.to_datetime64(), step, steps))
    try:
        out = pd.date_range(last + off, periods=steps, freq=off)
    except (OverflowError, pd.errors.OutOfBoundsDatetime, ValueError):
        out = None
    if out is None or (steps and (out[-1] < last or out[-1] > pd.Timestamp.max)):
        fit = sum(1 for _ in _take_in_range(last, off, steps))
        _raise_past_range(last, steps, fit)
    return out


def future_stamps(last: np.datetime64, freq: str | None, steps: int, trading_days: bool) -> np.ndarray:
    """:func:`future_index` after a tz-naive ``last``, as datetime64[ns] values (batch scoring's hot path)."""
    step = None if trading_days or freq is None else _fixed_step(freq)
    if step is None or steps < 0:
        return future_index(pd.Timestamp(last), freq, steps, trading_days).values
    return _fixed_steps(last, step, steps)


def _fixed_steps(last: np.datetime64, step: int, steps: int) -> np.ndarray:
    """``last + step * (1..steps)`` as datetime64[ns] values (``step`` in nanoseconds).

    DataError when the last of them would be past 2262-04-11 (numpy would wrap it to 1677).
    """
    last = np.datetime64(last, "ns")
    room = pd.Timestamp.max.value - int(last.astype(np.int64))
    if step > 0 and steps * step > room:
        _raise_past_range(pd.Timestamp(last), steps, room // step)
    return last + (step * np.arange(1, steps + 1, dtype=np.int64)).astype("timedelta64[ns]")


def _take_in_range(last: pd.Timestamp, off, steps: int):
    """The calendar steps after ``last`` that stay in the datetime64[ns] range (at most ``steps``)."""
    t = last
    for _ in range(steps):
        try:
            t = t + off
        except (OverflowError, pd.errors.OutOfBoundsDatetime, ValueError):
            return
        if t > pd.Timestamp.max or t < last:
            return
        yield t


def _raise_past_range(last: pd.Timestamp, steps: int, fit: int):
    fix = f"forecast at most {fit} step(s) with --steps {fit}" if fit > 0 else "no step fits"
    raise DataError(f"the forecast's {steps} step(s) after the last timestamp {_fmt_ts(last)} go past "
                    f"2262-04-11, the end of the supported range {RANGE_TEXT}; {fix}")


@functools.lru_cache(maxsize=64)
def _offset(freq: str):
    """``to_offset(freq)`` and its fixed length in nanoseconds (None for calendar offsets: B, MS...)."""
    off = to_offset(freq)
    try:
        return off, int(pd.Timedelta(off).value)
    except (ValueError, TypeError):
        return off, None


def _fixed_step(freq: str) -> int | None:
    """The length of a fixed-length frequency in nanoseconds; None for calendar ones or bad names."""
    try:
        return _offset(freq)[1]
    except (ValueError, TypeError):
        return None


def _is_fixed_step(idx: pd.DatetimeIndex, freq: str) -> bool:
    """Every step of a nanosecond index equals ``freq``, a fixed-length frequency (h, D, 15min...)."""
    step = _fixed_step(freq)  # None for calendar frequencies (months, business days)
    return step is not None and bool((np.diff(idx.asi8) == step).all())
