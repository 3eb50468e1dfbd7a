"""Validate a CSV into a :class:`Dataset`: a regular, typed, time-indexed frame, with its gaps.

:func:`load` reads a file (:func:`forecast_cli.reading.read_table`) and validates its frame in
named steps, each usable alone: :func:`find_layout` finds the time column(s) and resolves the
target and feature columns; :func:`parse_frame` parses the dates (:mod:`forecast_cli.dates`) and
converts the values to float64; :func:`build_dataset` sorts the rows, refuses repeated timestamps,
infers the frequency (:mod:`forecast_cli.calendar`), reindexes a regular series onto its grid and
interpolates short gaps. :mod:`forecast_cli.panel` runs the first two once over a long-format
file and the last once per series. With ``expect`` (a bundle's frequency), :func:`load` first tries
its fast path: a clean file (:func:`forecast_cli.reading.read_clean`) on a regular grid
(:func:`forecast_cli.calendar.regular_frequency`) becomes a Dataset equal to the careful path's,
its arrays read and its frame built only when asked for.
"""
from __future__ import annotations

import difflib
import functools
import re
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from .calendar import _fmt_ts, infer_frequency, regular_frequency, season_for
from .config import DataConfig
from .dates import parse_dates, tz_name
from .errors import ConfigError, DataError
from .reading import (
    _COMMA_DEC_RE,
    _THOUSANDS_RE,
    _check_last_date,
    _is_number,
    _numeric_markers,
    _source_name,
    read_clean,
    read_table,
)

__all__ = ["Gap", "Dataset", "Layout", "Parsed", "load", "validate", "find_layout", "parse_frame",
           "build_dataset", "check_columns"]

# Names that mark the time column, most specific first (compared case-insensitively).
DATE_NAMES = ("datetime", "date_time", "timestamp", "date", "ds", "time")
TIME_NAMES = ("time", "hour")
_TIME_RE = re.compile(r"^\s*\d{1,2}[:.]\d{2}([:.]\d{2}(\.\d+)?)?\s*([AaPp][Mm])?\s*$")
_DOT_TIME_RE = r"^(\d{1,2})\.(\d{2})(?:\.(\d{2}))?$"


@dataclass(frozen=True)
class Gap:
    """A run of missing steps in one or more columns."""

    start: pd.Timestamp  # first missing timestamp
    end: pd.Timestamp  # last missing timestamp
    steps: int  # number of missing steps
    columns: tuple[str, ...]  # columns missing there (all used columns when the rows were absent)
    filled: bool  # True when interpolated (steps <= max_gap, not at the start or end)

    def to_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "steps": int(self.steps),
            "columns": list(self.columns),
            "filled": bool(self.filled),
        }


@dataclass
class Dataset:
    """A validated series: sorted, unique timestamps and float64 columns (targets, then features).

    The arrays hold the data (``stamps``, ``values``, both read-only); :attr:`frame` shows them
    as a DataFrame, built on first use (batch scoring reads thousands of files and needs none).
    NaN remains only inside gaps that were not interpolated (longer than ``max_gap``, or at the
    start or end of the series), and only when ``gaps="skip"`` or the data was loaded for ``check``.
    """

    stamps: np.ndarray  # datetime64[ns] wall times (see ``tz``), sorted and unique: the frame's index
    values: np.ndarray  # float64 (rows, targets + features), in column order
    source: str
    target: tuple[str, ...]
    features: tuple[str, ...]
    freq: str | None
    freq_label: str
    trading_days: bool
    season: int
    gaps: list[Gap] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)
    interpolated: dict[str, int] = field(default_factory=dict)
    date_col: str = ""
    rows_read: int = 0
    time_col: str | None = None
    tz: str | None = None  # the input's UTC offset ("+01:00", "UTC"); the index holds wall times in it
    dayfirst: bool | None = None  # how numeric day/month dates were read; None when not such dates

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The series as a DataFrame over :attr:`values` (no copy), indexed by the timestamps.

        The index is named after the date column (``timestamp`` when a separate time column
        was combined with it); the columns are the targets, then the features.
        """
        index = pd.DatetimeIndex(self.stamps, name="timestamp" if self.time_col else self.date_col)
        return pd.DataFrame(self.values, index=index, columns=list(self.columns), copy=False)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.target) + tuple(self.features)

    @property
    def long_gaps(self) -> list[Gap]:
        return [g for g in self.gaps if not g.filled]

    def stamp(self, ts) -> pd.Timestamp:
        """A timestamp of the index with the input's UTC offset (as it was written), or naive."""
        ts = pd.Timestamp(ts)
        return ts.tz_localize(self.tz) if self.tz and ts.tz is None else ts

    def summary(self) -> dict:
        """A JSON-ready description for ``forecast check --json``."""
        cols = []
        for name in self.frame.columns:
            v = self.frame[name].to_numpy(dtype=np.float64)
            ok = v[~np.isnan(v)]
            cols.append(
                {
                    "name": name,
                    "role": "target" if name in self.target else "feature",
                    "dtype": str(self.frame[name].dtype),
                    "missing": int(self.missing.get(name, 0)),
                    "interpolated": int(self.interpolated.get(name, 0)),
                    "min": float(ok.min()) if ok.size else None,
                    "max": float(ok.max()) if ok.size else None,
                    "mean": float(ok.mean()) if ok.size else None,
                }
            )
        idx = self.frame.index
        return {
            "file": self.source,
            "rows": int(len(self.frame)),
            "rows_read": int(self.rows_read),
            "date_col": self.date_col,
            "time_col": self.time_col,
            "target": list(self.target),
            "features": list(self.features),
            "columns": cols,
            "start": self.stamp(idx[0]).isoformat() if len(idx) else None,
            "end": self.stamp(idx[-1]).isoformat() if len(idx) else None,
            "tz": self.tz,
            "dayfirst": self.dayfirst,
            "freq": self.freq,
            "freq_label": self.freq_label,
            "trading_days": bool(self.trading_days),
            "season": int(self.season),
            "gaps": [g.to_dict() for g in self.gaps],
            "long_gaps": sum(1 for g in self.gaps if not g.filled),
        }


# --------------------------------------------------------------------------- columns


def _suggest(name: str, choices: Sequence[str]) -> str | None:
    low = {c.lower(): c for c in choices}
    if name.lower() in low:
        return low[name.lower()]
    if name.strip().lower() in low:
        return low[name.strip().lower()]
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.8)
    return close[0] if close else None


def check_columns(
    frame_or_columns,
    required: Sequence[str],
    source: str,
    *,
    choices: Sequence[str] | None = None,
    option: str | None = None,
    kind: str = "columns",
) -> None:
    """Raise DataError naming every column of ``required`` that the frame (or list of names) lacks.

    Args:
        frame_or_columns: a DataFrame or a sequence of column names.
        required: the names that must be present.
        source: the file name the message starts with.
        choices: the names listed as alternatives. Defaults to every column.
        option: the option that picks the column (``--target``), added as the fix.
        kind: how ``choices`` are described ("columns", "numeric columns"). Defaults to ``columns``.
    """
    columns = list(getattr(frame_or_columns, "columns", frame_or_columns))
    missing = [c for c in required if c not in columns]
    if not missing:
        return
    shown = list(choices) if choices is not None else columns
    if len(missing) == 1:
        head = f"column '{missing[0]}' not found"
    else:
        head = "columns " + ", ".join(f"'{c}'" for c in missing) + " not found"
    hints = []
    for c in missing:
        s = _suggest(c, columns)
        if s is not None:
            hints.append(f"did you mean '{s}'?" if len(missing) == 1 else f"'{c}' -> '{s}'?")
    msg = head
    if hints:
        msg += " (" + (hints[0] if len(missing) == 1 else "did you mean " + ", ".join(hints)) + ")"
    msg += f"; {kind} are: " + (", ".join(shown) if shown else "(none)")
    if option:
        msg += f" (use {option} NAME)"
    raise DataError(msg, path=source)


# --------------------------------------------------------------------------- time index


def _find_date_col(df: pd.DataFrame, cfg: DataConfig, name: str) -> str:
    cols = list(df.columns)
    if cfg.date_col:
        if cfg.date_col not in cols:
            check_columns(cols, [cfg.date_col], name, option="--date-col")
        return cfg.date_col
    low = {c.lower(): c for c in cols}
    for cand in DATE_NAMES:
        if cand in low:
            return low[cand]
    for c in cols:  # a year or month number column
        if c.lower() in ("year", "month", "period") and _mostly_dates(_as_text(df[c]).astype(str)):
            return c
    for c in cols:  # "Order Date", "date_utc", ...
        if "date" in c.lower() or "time" in c.lower():
            if _mostly_dates(df[c]):
                return c
    for c in cols:
        if not _is_number(df[c]) and _mostly_dates(df[c]):
            return c
    raise DataError(
        "no date column found; columns are: " + ", ".join(cols) + " (use --date-col NAME)", path=name
    )


def _mostly_dates(s: pd.Series) -> bool:
    if _is_number(s) or pd.api.types.is_bool_dtype(s.dtype):
        return False
    sample = s.dropna().astype(str).head(100)
    if sample.empty:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
        except (ValueError, TypeError, OverflowError):
            return False
    return parsed.notna().mean() >= 0.9


def _find_time_col(df: pd.DataFrame, cfg: DataConfig, date_col: str, name: str) -> str | None:
    if cfg.time_col:
        if cfg.time_col not in df.columns:
            check_columns(df, [cfg.time_col], name, option="--time-col")
        if cfg.time_col == date_col:
            raise ConfigError(f"--time-col '{cfg.time_col}' is also the date column; give a different column")
        return cfg.time_col
    if _as_text(df[date_col].dropna().head(50)).str.contains(":", regex=False).any():
        return None  # the date column holds times already
    for c in df.columns:
        if c != date_col and c.lower() in TIME_NAMES and not _is_number(df[c]):
            sample = df[c].dropna().astype(str).head(50)
            if len(sample) and sample.str.match(_TIME_RE).mean() >= 0.9:
                return c
    return None


def _as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.astype("Int64").astype(str).where(s.notna())
    return s.astype(str).where(s.notna()).str.strip()


class _Duplicates(DataError):
    """Repeated timestamps (a DataError that :func:`validate` may turn into ``--id-col`` advice)."""

    def __init__(self, message: str, *, path: str, count: int, example: str):
        super().__init__(message, path=path)
        self.count, self.example = count, example


def _check_duplicates(ts: np.ndarray, lines: np.ndarray, name: str) -> None:
    idx = pd.DatetimeIndex(ts)
    if idx.is_unique:
        return
    dup = idx.duplicated(keep=False)
    d = pd.DataFrame({"ts": ts[dup], "line": lines[dup]}).sort_values(["ts", "line"], kind="stable")
    groups = d.groupby("ts", sort=True)["line"]
    n = groups.ngroups
    parts = []
    for t, ls in list(groups)[:5]:
        parts.append(f"{_fmt_ts(t)} (lines {', '.join(str(x) for x in ls.tolist())})")
    more = f" and {n - 5} more" if n > 5 else ""
    word = "timestamp" if n == 1 else "timestamps"
    t0, l0 = next(iter(groups))
    raise _Duplicates(f"{n} duplicate {word}: {'; '.join(parts)}{more}; remove or aggregate duplicate rows",
                      path=name, count=n, example=f"{_fmt_ts(t0)} on lines {', '.join(str(x) for x in l0.tolist())}")


def _text_columns(df: pd.DataFrame, layout: Layout) -> list[str]:
    """Columns that hold text: not the time column(s), not numbers, not true/false, not dates."""
    used = {layout.date_col, layout.time_col, *layout.target, *layout.features}
    out = []
    for c in df.columns:
        s = df[c]
        if c in used or pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
            continue
        if s.notna().any() and not _mostly_numbers(s) and not _mostly_dates(s):
            out.append(c)
    return out


def _suggest_id_col(df: pd.DataFrame, layout: Layout, dup: _Duplicates, name: str) -> None:
    """Refuse repeated timestamps in a file with exactly one text column as a long-format file: name
    that column for ``--id-col`` (averaging rows would mix different series). Returns otherwise."""
    text = _text_columns(df, layout)
    if len(text) != 1:
        return
    col = text[0]
    values = _as_text(df[col]).dropna().unique()
    shown = ", ".join(str(v) for v in values[:3]) + (", ..." if len(values) > 3 else "")
    word = "timestamp repeats" if dup.count == 1 else "timestamps repeat"
    raise DataError(f"{dup.count} {word} (e.g. {dup.example}) and column '{col}' holds text ({len(values)} "
                    f"values: {shown}): this looks like several series in one long-format file; "
                    f"pass --id-col {col} to read one series per value", path=name) from None


# --------------------------------------------------------------------------- numbers


def _numeric_fix(value: str, col: str) -> str:
    if _THOUSANDS_RE.match(value):
        return "it looks like a number with thousands separators; remove them from the file"
    if _COMMA_DEC_RE.match(value):
        return "it looks like a decimal comma; pass --decimal ','"
    if re.match(r"^\s*[$€£¥]?\s*[-+]?[\d.,]+\s*[%$€£¥]?\s*[A-Za-z]*\s*$", value):
        return "remove the unit or currency sign from the values"
    return f"fix the value, mark it missing with --na-values '{value}', or choose another column"


def _to_float(s: pd.Series, col: str, lines: np.ndarray, markers: np.ndarray, na: set, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s.dtype):
        v = s.astype("float64").to_numpy()
    elif _is_number(s):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        txt = s.astype(str).where(s.notna()).str.strip()
        txt = txt.where(~(txt.isin(na) | (txt == "")))
        num = pd.to_numeric(txt, errors="coerce")
        bad = (num.isna() & txt.notna()).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            val = txt.iloc[i]
            raise DataError(
                f"column '{col}' line {lines[i]}: '{val}' is not a number; {_numeric_fix(val, col)}", path=name
            )
        v = num.to_numpy(dtype=np.float64, na_value=np.nan)
        if markers.size:  # numeric columns had theirs masked by the reader (one pass over the markers)
            hit = np.isin(v, markers)
            if hit.any():
                v = v.copy()
                v[hit] = np.nan
    inf = np.isinf(v)
    if inf.any():
        i = int(np.argmax(inf))
        raise DataError(
            f"column '{col}' line {lines[i]}: infinite value; replace it or mark it missing with --na-values",
            path=name,
        )
    return v


def _mostly_numbers(s: pd.Series) -> bool:
    """Numeric dtype, or text whose values mostly parse as numbers (a few stray cells)."""
    if _is_number(s):
        return True
    if pd.api.types.is_bool_dtype(s.dtype):
        return False
    sample = s.dropna().head(1000).astype(str).str.strip()
    if sample.empty:
        return False
    return pd.to_numeric(sample, errors="coerce").notna().mean() >= 0.5


# --------------------------------------------------------------------------- gaps


def _nan_runs(isn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of runs of True; ends are exclusive."""
    d = np.diff(np.concatenate(([0], isn.view(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _fill_and_find_gaps(frame: pd.DataFrame, max_gap: int):
    """Interpolate short inner runs of NaN in place; return (gaps, missing, interpolated)."""
    n = len(frame)
    idx = frame.index
    missing, interpolated = {}, {}
    runs = []  # (start, end_exclusive, col_pos)
    arrays = {}
    for j, col in enumerate(frame.columns):
        v = frame[col].to_numpy(dtype=np.float64, copy=True)
        isn = np.isnan(v)
        missing[col] = int(isn.sum())
        interpolated[col] = 0
        if not missing[col]:
            continue
        starts, ends = _nan_runs(isn)
        fillable = ((ends - starts) <= max_gap) & (starts > 0) & (ends < n)
        if fillable.any():
            delta = np.zeros(n + 1, dtype=np.int64)
            delta[starts[fillable]] += 1
            delta[ends[fillable]] -= 1
            mask = np.cumsum(delta[:n]) > 0
            ok = np.flatnonzero(~isn)
            where = np.flatnonzero(mask)
            v[where] = np.interp(where, ok, v[ok])
            interpolated[col] = int(where.size)
            arrays[col] = v
        runs.append(np.column_stack([starts, ends, np.full(starts.size, j), fillable]))
    for col, v in arrays.items():
        frame[col] = v
    gaps: list[Gap] = []
    if runs:
        r = np.concatenate(runs)
        r = r[np.lexsort((r[:, 2], r[:, 1], r[:, 0]))]
        key = r[:, 0] * (n + 1) + r[:, 1]
        cut = np.flatnonzero(np.diff(key)) + 1
        cols = list(frame.columns)
        for grp in np.split(r, cut):
            s, e = int(grp[0, 0]), int(grp[0, 1])
            gaps.append(Gap(idx[s], idx[e - 1], e - s, tuple(cols[k] for k in grp[:, 2]), bool(grp[0, 3])))
    return gaps, missing, interpolated


# --------------------------------------------------------------------------- load


def _resolve_columns(df, cfg, numeric, date_col, time_col, name, require_target):
    used_time = {date_col} | ({time_col} if time_col else set())
    target = list(dict.fromkeys(cfg.target))
    features = list(dict.fromkeys(cfg.features))
    for opt, cols in (("--target", target), ("--features", features)):
        for c in cols:
            if c in used_time:
                raise ConfigError(
                    f"column '{c}' is the time index of {name}; choose a numeric column for {opt}"
                )
        check_columns(df, cols, name, choices=numeric, option=opt, kind="numeric columns")
    if not target:
        candidates = [c for c in numeric if c not in features]
        if not candidates:
            _raise_no_numeric(df, used_time, features, name)
        if not require_target:
            target = candidates
        elif len(candidates) == 1:
            target = candidates
        else:
            raise DataError(
                "no --target given; numeric columns are: " + ", ".join(candidates) + " (use --target NAME)",
                path=name,
            )
    return tuple(target), tuple(features)


def _raise_no_numeric(df, used_time, features, name):
    """Say why no column holds numbers: the first bad cell of the first value column, with its fix."""
    others = [c for c in df.columns if c not in used_time and c not in features]
    if not others:
        raise DataError(
            "no columns of values, only the time column(s) " + ", ".join(f"'{c}'" for c in used_time if c)
            + "; add a numeric column to forecast, or check the delimiter (--sep; columns are: "
            + ", ".join(df.columns) + ")",
            path=name,
        )
    lines = df.index.to_numpy()
    for c in others:
        if pd.api.types.is_bool_dtype(df[c].dtype):
            raise DataError(
                f"column '{c}' holds true/false values, not numbers; give a numeric column to forecast "
                "(columns are: " + ", ".join(df.columns) + ")",
                path=name,
            )
        _to_float(df[c], c, lines, np.empty(0), set(), name)  # raises at the first non-number
    raise DataError(
        "no numeric columns to forecast; columns are: " + ", ".join(df.columns) + " (check --sep and --decimal)",
        path=name,
    )


class Layout(NamedTuple):
    """Which columns of a raw frame hold what: found once per file, shared by every series in it."""

    date_col: str
    time_col: str | None  # a separate time-of-day column, combined with the date
    target: tuple[str, ...]
    features: tuple[str, ...]
    id_col: str | None = None  # the series id of a long-format file

    @property
    def label(self) -> str:
        """The time column(s) as messages name them."""
        return f"{self.date_col}' + '{self.time_col}" if self.time_col else self.date_col

    @property
    def index_name(self) -> str:
        return "timestamp" if self.time_col else self.date_col


class Parsed(NamedTuple):
    """The timestamps and float64 columns of a raw frame, in its row order (not yet sorted)."""

    ts: np.ndarray  # datetime64[ns] wall times
    lines: np.ndarray  # each row's line number in the file
    data: dict[str, np.ndarray]  # float64 per used column, NaN where missing
    tz: str | None
    dayfirst: bool | None


def find_layout(df: pd.DataFrame, cfg: DataConfig, name: str, *, require_target: bool = True) -> Layout:
    """Find the time column(s), then resolve the target and feature columns (``cfg.id_col`` excluded).

    Raises:
        DataError: no date column, a named column missing, no numeric column.
        ConfigError: a column given for two roles.
    """
    id_col = cfg.id_col
    if id_col:
        check_columns(df, [id_col], name, option="--id-col")
        for opt, cols in (("--target", cfg.target), ("--features", cfg.features),
                          ("--date-col", (cfg.date_col,)), ("--time-col", (cfg.time_col,))):
            if id_col in cols:
                raise ConfigError(f"--id-col '{id_col}' is also given as {opt}; the id column names the series, "
                                  "give a different column")
    view = df if not id_col else df[[c for c in df.columns if c != id_col]]
    date_col = _find_date_col(view, cfg, name)
    time_col = _find_time_col(view, cfg, date_col, name)
    exclude = {date_col, time_col}
    numeric = [c for c in view.columns if c not in exclude and _mostly_numbers(view[c])]
    target, features = _resolve_columns(view, cfg, numeric, date_col, time_col, name, require_target)
    return Layout(date_col, time_col, target, features, id_col)


def parse_frame(df: pd.DataFrame, layout: Layout, cfg: DataConfig, name: str) -> Parsed:
    """Parse the timestamps (:func:`forecast_cli.dates.parse_dates`) and convert the used columns to float64.

    A date column that is already datetime64 (a Parquet file, a DataFrame) is taken as it is.

    Raises:
        DataError: an empty or unreadable date, a cell that is not a number, an infinite value.
    """
    lines = df.index.to_numpy()
    col = df[layout.date_col]
    if layout.time_col is None and pd.api.types.is_datetime64_any_dtype(col.dtype):
        ts, tz = _datetime_column(col, layout.date_col, lines, name)
        dayfirst = None
    else:
        dates = _as_text(col)
        if layout.time_col is not None:
            times = _as_text(df[layout.time_col])
            times = times.str.replace(_DOT_TIME_RE, lambda m: ":".join(g for g in m.groups() if g), regex=True)
            stamps = dates + " " + times.fillna("")
        else:
            stamps = dates
        if not df.attrs.get("final_newline", True):
            _check_last_date(stamps.fillna(""), lines, layout.label, name)
        reading = parse_dates(stamps, layout.label, lines, name, date_format=cfg.date_format, dayfirst=cfg.dayfirst)
        ts, tz, dayfirst = reading.values, reading.tz, reading.dayfirst
    markers = _numeric_markers(cfg.na_values)
    na = set(cfg.na_values)
    data = {c: _to_float(df[c], c, lines, markers, na, name) for c in layout.target + layout.features}
    return Parsed(ts, lines, data, tz, dayfirst)


def _datetime_column(col: pd.Series, label: str, lines: np.ndarray, name: str) -> tuple[np.ndarray, str | None]:
    """(wall times as datetime64[ns], offset name) of a datetime64 column; an empty one is an error."""
    empty = col.isna().to_numpy()
    if empty.any():
        i = int(np.argmax(empty))
        raise DataError(f"column '{label}' line {lines[i]}: the date is empty; fill it in or remove the row", path=name)
    tz = None
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        tz = tz_name(col.dt.tz)
        col = col.dt.tz_localize(None)
    return col.to_numpy(dtype="datetime64[ns]"), tz


def build_dataset(parsed: Parsed, layout: Layout, cfg: DataConfig, name: str, *, rows_read: int,
                  require_target: bool = True, raise_gaps: bool | None = None) -> Dataset:
    """Sort the rows of one series, refuse repeated timestamps, infer the frequency, reindex and fill gaps.

    ``parsed`` holds the rows of one series (a whole file, or one id's rows of a long file).

    Args:
        parsed: the series' timestamps and columns, any order.
        layout: the file's columns.
        cfg: the data settings (``max_gap``, ``gaps``).
        name: the source as messages name it.
        rows_read: rows of the input behind this series.
        require_target: False for ``forecast check`` (long gaps are reported, not raised).
            Defaults to True.
        raise_gaps: raise on gaps longer than ``cfg.max_gap``; None: when ``require_target`` and
            ``cfg.gaps == "error"``. Defaults to None.

    Raises:
        DataError: repeated timestamps, a column with no values, long gaps (see ``raise_gaps``).
    """
    ts, lines, data = parsed.ts, parsed.lines, parsed.data
    target, features = layout.target, layout.features
    if not pd.Index(ts).is_monotonic_increasing:
        order = np.argsort(ts, kind="stable")
        ts, lines = ts[order], lines[order]
        data = {c: v[order] for c, v in data.items()}
    _check_duplicates(ts, lines, name)

    index_name = layout.index_name
    index = pd.DatetimeIndex(ts, name=index_name)
    frame = pd.DataFrame(data, index=index, columns=list(target + features), dtype=np.float64)
    for c in target + features:
        if np.isnan(data[c]).all():
            fix = "choose another --target" if c in target else "drop it from --features"
            raise DataError(f"column '{c}' has no values (all {len(frame)} are missing); {fix}", path=name)

    freq, label, trading = infer_frequency(index)
    if freq is not None and not trading and len(index) >= 2:
        grid = pd.date_range(index[0], index[-1], freq=freq, name=index_name)
        if len(grid) != len(index):
            if pd.Index(index).isin(grid).all():
                frame = frame.reindex(grid)
            else:  # timestamps off the grid: treat as irregular
                freq, label = None, "irregular"

    gaps, missing, interpolated = _fill_and_find_gaps(frame, cfg.max_gap)
    ds = Dataset(
        stamps=_read_only(frame.index.as_unit("ns").values),
        values=_read_only(frame.to_numpy(dtype=np.float64)),
        source=name,
        target=target,
        features=features,
        freq=freq,
        freq_label=label,
        trading_days=trading,
        season=season_for(freq),
        gaps=gaps,
        missing=missing,
        interpolated=interpolated,
        date_col=layout.date_col,
        rows_read=int(rows_read),
        time_col=layout.time_col,
        tz=parsed.tz,
        dayfirst=parsed.dayfirst,
    )
    if raise_gaps is None:
        raise_gaps = require_target and cfg.gaps == "error"
    if raise_gaps:
        _raise_long_gaps(ds, cfg.max_gap)
    return ds


def validate(df: pd.DataFrame, cfg: DataConfig, name: str, *, require_target: bool = True,
             raise_gaps: bool | None = None) -> Dataset:
    """Validate the raw frame of one series (:func:`find_layout`, :func:`parse_frame`, :func:`build_dataset`).

    Repeated timestamps in a file with exactly one text column are refused with the advice to
    name it with ``--id-col`` (the file is likely several series in long format).
    """
    layout = find_layout(df, cfg, name, require_target=require_target)
    parsed = parse_frame(df, layout, cfg, name)
    try:
        return build_dataset(parsed, layout, cfg, name, rows_read=len(df), require_target=require_target,
                             raise_gaps=raise_gaps)
    except _Duplicates as e:
        _suggest_id_col(df, layout, e, name)
        raise


def load(source, cfg: DataConfig, *, require_target: bool = True, expect: tuple[str | None, bool] | None = None
         ) -> Dataset:
    """Read, validate and regularise a CSV (or Parquet file) into a :class:`Dataset`.

    Steps: read (``read_table``), find the time column (and a separate time-of-day column),
    pick the target and feature columns (:func:`find_layout`), parse the timestamps and convert
    the columns to float64 (:func:`parse_frame`), sort the rows (duplicates are an error), infer
    the frequency, reindex a regular series onto its full grid (trading days are kept as they
    are), interpolate runs of at most ``cfg.max_gap`` missing steps, and check the longer ones
    (:func:`build_dataset`). Each series of a long-format file goes through the same steps
    (:mod:`forecast_cli.panel`).

    Args:
        source: a path, or ``-`` for stdin.
        cfg: the data settings.
        require_target: False for ``forecast check``: with no ``--target`` every numeric column
            is described, and long gaps are reported instead of raised. Defaults to True.
        expect: ``(freq, trading_days)`` known in advance (a bundle's): a clean file is then read
            by the fast path (:func:`_load_clean`) into an equal Dataset, and anything unusual by
            the careful path. None: always the careful path. Defaults to None.

    Raises:
        DataError: the data cannot be used; the message names file, column, line and fix.
        ConfigError: settings contradict each other or the file.

    >>> ds = load("sample_data/AAPL.csv", DataConfig(target="Close"))
    >>> len(ds.frame), ds.freq, ds.trading_days
    (3379, 'B', True)
    """
    cfg = _checked(cfg)
    if expect is not None and require_target:
        fast = _load_clean(source, cfg, expect)
        if fast is not None:
            return fast
    name = _source_name(source)
    return validate(read_table(source, cfg), cfg, name, require_target=require_target)


_LAST_CHECKED: list = [None]  # the DataConfig that load() checked last


def _checked(cfg: DataConfig) -> DataConfig:
    """``cfg.check()``, skipped when ``cfg`` is the very settings object checked last (a frozen
    DataConfig stays valid): batch scoring loads thousands of files with one, and a check costs
    about 5 % of reading a clean file."""
    if cfg is not _LAST_CHECKED[0]:
        cfg = cfg.check()
        _LAST_CHECKED[0] = cfg
    return cfg


def _load_clean(source, cfg: DataConfig, expect: tuple[str | None, bool] | None) -> Dataset | None:
    """:func:`load`'s fast path: a clean file on a regular grid as a Dataset equal to the careful path's, or None.

    The file is read by :func:`~forecast_cli.reading.read_clean` (no sniffing, nothing missing)
    and its frequency checked by :func:`~forecast_cli.calendar.regular_frequency` (no timestamp
    absent); the Dataset holds the arrays, with no frame until one is asked for. None as soon as
    anything is unusual: :func:`load` then reads the file the careful way.
    """
    got = read_clean(source, cfg)
    if got is None:
        return None
    stamps, values = got
    found = regular_frequency(stamps, expect)
    if found is None:
        return None
    freq, label, trading = found
    cols = list(cfg.target) + list(cfg.features)
    return Dataset(stamps=_read_only(stamps), values=_read_only(values), source=_source_name(source),
                   target=tuple(cfg.target), features=tuple(cfg.features), freq=freq, freq_label=label,
                   trading_days=trading, season=season_for(freq), gaps=[], missing={c: 0 for c in cols},
                   interpolated={c: 0 for c in cols}, date_col=cfg.date_col, rows_read=len(values))


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a``, made read-only in place: a Dataset's arrays are shared with its frame."""
    a.flags.writeable = False
    return a


def long_gap_reason(ds: Dataset, max_gap: int) -> str | None:
    """Why ``ds`` cannot be used with ``--gaps error`` (its first column with gaps longer than
    ``max_gap`` steps, or that cannot be interpolated, and the first such gap), or None."""
    long = ds.long_gaps
    if not long:
        return None
    for col in ds.frame.columns:
        mine = [g for g in long if col in g.columns]
        if mine:
            break
    first = mine[0]
    n = len(mine)
    plural = "gap" if n == 1 else "gaps"
    if all(g.steps > max_gap for g in mine):
        what = f"{n} {plural} longer than --max-gap {max_gap} steps"
    else:
        what = f"{n} {plural} that cannot be interpolated (longer than --max-gap {max_gap} steps, or at the start or end)"
    span = "step" if first.steps == 1 else "steps"
    return (f"column '{col}' has {what}, the first from {_fmt_ts(first.start)} to {_fmt_ts(first.end)} "
            f"({first.steps} {span})")


GAPS_FIX = "raise --max-gap, or pass --gaps skip to leave out windows that cross them"


def _raise_long_gaps(ds: Dataset, max_gap: int) -> None:
    why = long_gap_reason(ds, max_gap)
    if why:
        raise DataError(f"{why}; {GAPS_FIX}", path=ds.source)
