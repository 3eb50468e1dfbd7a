"""Many series as one :class:`Panel`: a long-format file, a folder, glob or list of files, or a DataFrame.

A long-format file holds one row per (series, timestamp) and names the series in an id column
(``date,ticker,close`` with ``--id-col ticker``); a folder, glob or list holds one series per file,
named by the file's stem. The file is read once (:func:`forecast_cli.reading.read_table`), its
columns found once and its dates and numbers parsed once (:mod:`forecast_cli.data`); the rows are
then grouped by id with one sort, and each group is validated on its own by the same step as a
single file (:func:`forecast_cli.data.build_dataset`: order, duplicates, frequency, gaps).

Series that cannot be used are left out with a one-line reason (``Panel.skipped``): shorter than
``min_rows``, another frequency than most series, a column with no values, or (when the caller
needs a target and ``gaps="error"``) gaps too long to interpolate. The panel fails only when no
series is usable, or at the first one left out with ``strict=True``.

>>> import pandas as pd
>>> df = pd.DataFrame({"unique_id": ["a"] * 3 + ["b"] * 3,
...                    "ds": list(pd.date_range("2024-01-01", periods=3, freq="D")) * 2,
...                    "y": [1.0, 2.0, 3.0, 10.0, 20.0, 30.0]})
>>> p = panel_from_frame(df)
>>> p.ids, p.freq, [len(s.frame) for s in p.series]
(['a', 'b'], 'D', [3, 3])
"""
from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from .config import DataConfig
from .data import (
    GAPS_FIX,
    Dataset,
    Layout,
    Parsed,
    _as_text,
    _Duplicates,
    _suggest_id_col,
    build_dataset,
    check_columns,
    find_layout,
    long_gap_reason,
    parse_frame,
)
from .errors import ConfigError, DataError
from .reading import _source_name, read_table

__all__ = ["Panel", "load_panel", "panel_from_frame", "is_many", "SUFFIXES"]

SUFFIXES = (".csv", ".tsv", ".parquet")  # the files of a folder that are read (a glob takes any)
_GLOB_CHARS = ("*", "?", "[")
_DEFAULT_ID = "unique_id"
FIXES = {
    "short": "use longer series, or smaller settings that need rows (--lookback, --horizon, --folds)",
    "freq": "give series of one frequency (or check the others separately)",
    "gaps": GAPS_FIX,
    "empty": "choose another --target, or drop the empty column from --features",
}


@dataclass
class Panel:
    """Several validated series with the same columns (targets first) and frequency.

    Attributes:
        ids: the series ids, in order (sorted as strings unless given otherwise).
        series: one validated :class:`~forecast_cli.data.Dataset` per id.
        source: the file, folder, glob or DataFrame the series came from, for messages.
        id_col: the id column's name (``"unique_id"`` when the input had none).
        skipped: the series left out, in input order: ``{"id", "reason", "kind", "rows",
            "message", "fix"}`` (``kind`` one of ``short``, ``freq``, ``gaps``, ``empty``;
            ``message`` a warning-ready line).
    """

    ids: list[str]
    series: list[Dataset]
    source: str
    id_col: str = _DEFAULT_ID
    skipped: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.series)

    def __iter__(self) -> Iterator[tuple[str, Dataset]]:
        return iter(zip(self.ids, self.series))

    def __getitem__(self, key: str) -> Dataset:
        """The series named ``key``."""
        try:
            return self.series[self.ids.index(key)]
        except ValueError:
            raise KeyError(key) from None

    @property
    def first(self) -> Dataset:
        return self.series[0]

    @property
    def target(self) -> tuple[str, ...]:
        return self.first.target

    @property
    def features(self) -> tuple[str, ...]:
        return self.first.features

    @property
    def columns(self) -> tuple[str, ...]:
        return self.first.columns

    @property
    def freq(self) -> str | None:
        return self.first.freq

    @property
    def freq_label(self) -> str:
        return self.first.freq_label

    @property
    def trading_days(self) -> bool:
        return self.first.trading_days

    @property
    def season(self) -> int:
        return self.first.season

    @property
    def tz(self) -> str | None:
        return self.first.tz

    @property
    def date_col(self) -> str:
        return self.first.date_col

    @property
    def rows(self) -> int:
        """Rows of all series together (on their regular grids)."""
        return sum(len(s.frame) for s in self.series)

    def summary(self) -> dict:
        """A JSON-ready description for ``forecast check --json``: per-series blocks and totals.

        Each block is the series' :meth:`~forecast_cli.data.Dataset.summary` with its ``id``,
        its total ``missing`` values and its number of ``gaps``.
        """
        blocks = []
        for sid, ds in self:
            s = ds.summary()
            blocks.append({"id": sid, **s, "missing": int(sum(ds.missing.values())),
                           "n_gaps": len(ds.gaps)})
        return {
            "source": self.source,
            "id_col": self.id_col,
            "date_col": self.date_col,
            "target": list(self.target),
            "features": list(self.features),
            "freq": self.freq,
            "freq_label": self.freq_label,
            "trading_days": bool(self.trading_days),
            "season": int(self.season),
            "tz": self.tz,
            "series": blocks,
            "skipped": [dict(s) for s in self.skipped],
            "totals": {"series": len(self.series), "rows": int(self.rows), "left_out": len(self.skipped),
                       "gaps": sum(b["n_gaps"] for b in blocks),
                       "long_gaps": sum(b["long_gaps"] for b in blocks),
                       "missing": sum(b["missing"] for b in blocks)},
        }


# --------------------------------------------------------------------------- sources


def is_many(source, cfg: DataConfig | None = None) -> bool:
    """True when ``source`` holds several series: a folder, a glob, a list of paths, or ``cfg.id_col`` set.

    >>> is_many("sample_data/AAPL.csv", DataConfig()), is_many("sample_data", DataConfig())
    (False, True)
    """
    if cfg is not None and cfg.id_col:
        return True
    if isinstance(source, (list, tuple)):
        return True
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path == "-":
            return False
        if os.path.isdir(path):
            return True
        return _is_glob(path)
    return False


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in _GLOB_CHARS) and not os.path.exists(path)


def _files(source) -> tuple[list[str], str]:
    """(the paths of a folder, glob or list, the name messages give the whole source)."""
    if isinstance(source, (list, tuple)):
        paths = [os.fspath(p) for p in source]
        if not paths:
            raise DataError("no files given; give a file, a folder or a glob of files")
        if len(paths) == 1:
            return paths, paths[0]
        try:
            common = os.path.commonpath([os.path.abspath(p) for p in paths])
            where = os.path.relpath(common) if common else "."
        except ValueError:
            where = "."
        return paths, f"{where} ({len(paths)} files)"
    path = os.fspath(source)
    if os.path.isdir(path):
        found = sorted(str(p) for p in Path(path).iterdir()
                       if p.suffix.lower() in SUFFIXES and not p.name.startswith(".") and p.is_file())
        if not found:
            raise DataError("is a directory with no .csv, .tsv or .parquet files; give the path of a .csv file, "
                            "or a folder of them", path=path)
        return found, path
    if _is_glob(path):
        found = sorted(p for p in glob.glob(path) if os.path.isfile(p))
        if not found:
            raise DataError("no files match the pattern; check it (and quote it, so that the shell passes it "
                            "as it is)", path=path)
        return found, path
    return [path], _source_name(source)


def _stem(path: str) -> str:
    return "stdin" if path == "-" else Path(path).stem


def _refuse_repeated_stems(paths: list[str], source: str) -> None:
    seen: dict[str, str] = {}
    for p in paths:
        k = _stem(p)
        if k in seen:
            raise DataError(f"files '{seen[k]}' and '{p}' both name series '{k}' (a series is named by its file's "
                            "stem); rename or remove one of them", path=source)
        seen[k] = p


# --------------------------------------------------------------------------- entries


@dataclass
class _Entry:
    """One series on its way into a panel: validated, or with the reason it is left out."""

    id: str
    ds: Dataset | None
    rows: int
    kind: str | None = None
    reason: str | None = None


def _entry(sid: str, parsed: Parsed, layout: Layout, cfg: DataConfig, name: str, *, require_target: bool,
           hint_frame: pd.DataFrame | None = None) -> _Entry:
    """Validate one series' rows; an empty column or (when required) a long gap leaves it out."""
    rows = len(parsed.ts)
    for c in layout.target + layout.features:
        if np.isnan(parsed.data[c]).all():
            role = "target" if c in layout.target else "feature"
            return _Entry(sid, None, rows, "empty", f"{role} column '{c}' has no values (all {rows} are missing)")
    try:
        ds = build_dataset(parsed, layout, cfg, name, rows_read=rows, require_target=require_target,
                           raise_gaps=False)
    except _Duplicates as e:
        if hint_frame is not None:
            _suggest_id_col(hint_frame, layout, e, name)
        raise
    if require_target and cfg.gaps == "error":
        why = long_gap_reason(ds, cfg.max_gap)
        if why:
            return _Entry(sid, None, len(ds.frame), "gaps", why)
    return _Entry(sid, ds, len(ds.frame))


def _split(parsed: Parsed, ids: pd.Series, id_col: str, name: str) -> list[tuple[str, Parsed]]:
    """The rows of each id, sorted by time, ids sorted as strings: one stable sort of (id, time).

    ``pd.factorize`` and ``np.lexsort`` rather than ``DataFrame.groupby``: the parsed arrays are
    split by index once, with no frame per group.
    """
    empty = (ids.isna() | (ids == "")).to_numpy()
    if empty.any():
        i = int(np.argmax(empty))
        raise DataError(f"column '{id_col}' line {parsed.lines[i]}: the series id is empty; fill it in or remove "
                        "the row", path=name)
    codes, uniques = pd.factorize(ids.to_numpy(dtype=object), sort=True)
    order = np.lexsort((parsed.ts.view(np.int64), codes))
    c = codes[order]
    cuts = np.flatnonzero(np.diff(c)) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(c)]
    out = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        take = order[s:e]
        out.append((str(uniques[c[s]]),
                    Parsed(parsed.ts[take], parsed.lines[take], {k: v[take] for k, v in parsed.data.items()},
                           parsed.tz, parsed.dayfirst)))
    return out


def _long_entries(df: pd.DataFrame, cfg: DataConfig, name: str, require_target: bool) -> tuple[list[_Entry], Layout]:
    """The series of a long-format frame: columns found and values parsed once, then split by id."""
    layout = find_layout(df, cfg, name, require_target=require_target)
    parsed = parse_frame(df, layout, cfg, name)
    groups = _split(parsed, _as_text(df[cfg.id_col]), cfg.id_col, name)
    entries = [_entry(sid, p, layout, cfg, f"{name}: series '{sid}'", require_target=require_target)
               for sid, p in groups]
    return entries, layout


def _file_entries(paths: list[str], cfg: DataConfig, source: str, require_target: bool) -> list[_Entry]:
    """The series of each file (one per file, or the groups of each long file). Every file must have
    the first file's columns, and is read with the first file's layout and day/month reading."""
    entries: list[_Entry] = []
    use = cfg
    first: tuple[str, list[str]] | None = None
    for path in paths:
        name = _source_name(path)
        df = read_table(path, use)
        if first is not None:
            _same_columns(df, first[1], first[0], name)
        if cfg.id_col:
            mine, layout = _long_entries(df, use, name, require_target)
            dayfirst = next((e.ds.dayfirst for e in mine if e.ds is not None), None)
        else:
            layout = find_layout(df, use, name, require_target=require_target)
            parsed = parse_frame(df, layout, use, name)
            mine = [_entry(_stem(path), parsed, layout, use, name, require_target=require_target, hint_frame=df)]
            dayfirst = parsed.dayfirst
        if first is None:
            first = (name, list(df.columns))
            decided = cfg.dayfirst is not None or cfg.date_format is not None
            use = replace(cfg, date_col=layout.date_col, time_col=layout.time_col, target=layout.target,
                          features=layout.features, dayfirst=cfg.dayfirst if decided else dayfirst)
        entries.extend(mine)
    return entries


def _same_columns(df: pd.DataFrame, columns: list[str], first: str, name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    extra = [c for c in df.columns if c not in columns]
    if missing or extra:
        what = "; ".join(part for part in (("lacks " + _names(missing)) if missing else "",
                                           ("has " + _names(extra) + " in addition") if extra else "") if part)
        raise DataError(f"its columns differ from those of {first} (it {what}); every file must have the same "
                        "columns", path=name)


def _names(cols: list[str], most: int = 5) -> str:
    shown = ", ".join(f"'{c}'" for c in cols[:most])
    return shown + (f" and {len(cols) - most} more" if len(cols) > most else "")


# --------------------------------------------------------------------------- assembly


def _assemble(entries: list[_Entry], source: str, id_col: str, *, min_rows: int, strict: bool,
              sort: bool = True) -> Panel:
    """Check the ids, leave out series too short or of another frequency than most, and build the Panel."""
    seen: set[str] = set()
    for e in entries:
        if e.id in seen:
            raise DataError(f"series '{e.id}' appears in more than one file; give each series once", path=source)
        seen.add(e.id)
    if sort:
        entries = sorted(entries, key=lambda e: e.id)
    if min_rows:
        for e in entries:
            if e.ds is not None and len(e.ds.frame) < min_rows:
                e.kind, e.reason, e.ds = "short", f"{len(e.ds.frame)} rows, fewer than the {min_rows} needed", None
    freqs = Counter((e.ds.freq, e.ds.trading_days) for e in entries if e.ds is not None)
    if len(freqs) > 1:
        (freq, trading), count = freqs.most_common(1)[0]
        label = next(e.ds.freq_label for e in entries if e.ds is not None and (e.ds.freq, e.ds.trading_days)
                     == (freq, trading))
        for e in entries:
            if e.ds is not None and (e.ds.freq, e.ds.trading_days) != (freq, trading):
                e.kind, e.reason, e.ds = "freq", (f"frequency {e.ds.freq_label}, not {label} (the frequency of "
                                                   f"{count} of {sum(freqs.values())} series)"), None
    tzs = {e.ds.tz for e in entries if e.ds is not None}
    if len(tzs) > 1:
        shown = ", ".join(sorted(str(t) for t in tzs))
        raise DataError(f"the series' timestamps carry different UTC offsets ({shown}); write them with one offset "
                        "(or in UTC)", path=source)
    skipped = []
    for e in entries:
        if e.ds is not None:
            continue
        message = f"series '{e.id}' left out: {e.reason}"
        if strict:
            raise DataError(f"{message}; --strict fails when any series is left out ({FIXES[e.kind]})", path=source)
        skipped.append({"id": e.id, "kind": e.kind, "reason": e.reason, "rows": int(e.rows), "message": message,
                        "fix": FIXES[e.kind]})
    usable = [e for e in entries if e.ds is not None]
    if not usable:
        first = skipped[0]
        if len(entries) == 1:
            raise DataError(f"series '{first['id']}' cannot be used: {first['reason']}; {first['fix']}", path=source)
        raise DataError(f"no usable series: all {len(entries)} were left out (the first, '{first['id']}': "
                        f"{first['reason']}); {first['fix']}", path=source)
    return Panel(ids=[e.id for e in usable], series=[e.ds for e in usable], source=source, id_col=id_col,
                 skipped=skipped)


# --------------------------------------------------------------------------- entry points


def load_panel(source, cfg: DataConfig, *, require_target: bool = True, min_rows: int = 0,
               strict: bool = False) -> Panel:
    """Read and validate the series of ``source`` into a :class:`Panel`.

    With ``cfg.id_col``: each file is in long format, one series per value of that column. Without
    it: a folder, glob or list holds one series per file (named by the file's stem; two files of one
    stem are refused, and every file must have the columns of the first), and a single file is a
    Panel of one series (validated exactly as :func:`forecast_cli.data.load` does).

    Args:
        source: a CSV or Parquet path, ``-`` for stdin, a folder, a glob (``data/*.csv``) or a list
            of paths.
        cfg: the data settings; ``cfg.id_col`` names the id column of a long-format file.
        require_target: False for ``forecast check`` (every numeric column described, long gaps
            reported rather than leaving a series out). Defaults to True.
        min_rows: series with fewer rows (on their regular grid) are left out. Defaults to 0.
        strict: fail at the first series left out instead of leaving it out. Defaults to False.

    Raises:
        DataError: a file cannot be read, files differ in columns, a series has repeated
            timestamps, no series is usable, or (``strict``) one is left out.
        ConfigError: settings contradict each other or the file.

    >>> p = load_panel("sample_data/stocks_long.csv", DataConfig(id_col="ticker", target="close"))
    >>> p.ids, p.freq_label, p.id_col
    (['AAPL', 'SPY'], 'business days (trading calendar)', 'ticker')
    """
    cfg = cfg.check()
    if min_rows < 0:
        raise ConfigError(f"min_rows must be an int >= 0. Got {min_rows}.")
    paths, name = _files(source)
    if len(paths) > 1 or not cfg.id_col:
        _refuse_repeated_stems(paths, name)
    if len(paths) == 1 and not cfg.id_col and not is_many(source, cfg):
        from .data import load

        ds = load(paths[0], cfg, require_target=require_target)
        entries = [_Entry(_stem(paths[0]), ds, len(ds.frame))]
    else:
        entries = _file_entries(paths, cfg, name, require_target)
    return _assemble(entries, name, cfg.id_col or _DEFAULT_ID, min_rows=min_rows, strict=strict)


def panel_from_frame(df: pd.DataFrame, *, id_col: str | None = _DEFAULT_ID, time_col: str = "ds",
                     target: str | Sequence[str] = "y", features: Sequence[str] = (), min_rows: int = 0,
                     strict: bool = False, max_gap: int = 3, gaps: str = "error") -> Panel:
    """Validate a DataFrame in long format (Nixtla's ``unique_id, ds, y``) into a :class:`Panel`.

    The same checks as a file's: timestamps (datetime64 or text) sorted per series and unique,
    numbers finite, frequency inferred, short gaps interpolated, series left out as
    :func:`load_panel` leaves them out.

    Args:
        df: one row per (series, timestamp).
        id_col: the column naming the series; None when ``df`` is one series (its id is
            ``"series"``, its Panel's ``id_col`` ``"unique_id"``). Defaults to ``"unique_id"``.
        time_col: the timestamp column. Defaults to ``"ds"``.
        target: the column(s) to forecast. Defaults to ``"y"``.
        features: extra numeric input columns. Defaults to none.
        min_rows: series with fewer rows are left out. Defaults to 0.
        strict: fail at the first series left out. Defaults to False.
        max_gap: longest run of missing steps interpolated. Defaults to 3.
        gaps: ``error`` (a series with a longer gap is left out) or ``skip``. Defaults to ``error``.

    Raises:
        DataError: a column missing, a bad value, repeated timestamps in a series, no usable series.
        ConfigError: a bad setting.

    >>> import pandas as pd
    >>> one = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=4, freq="h"), "y": [1.0, 2, 3, 4]})
    >>> p = panel_from_frame(one, id_col=None)
    >>> p.ids, p.id_col, p.freq
    (['series'], 'unique_id', 'h')
    """
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"df must be a pandas DataFrame. Got {type(df).__name__}.")
    name = "DataFrame"
    targets = (target,) if isinstance(target, str) else tuple(target)
    cfg = DataConfig(target=targets, features=tuple(features), date_col=time_col, max_gap=max_gap, gaps=gaps,
                     id_col=id_col).check()
    if min_rows < 0:
        raise ConfigError(f"min_rows must be an int >= 0. Got {min_rows}.")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        twice = sorted({c for c in names if names.count(c) > 1})
        raise DataError(f"column '{twice[0]}' appears twice; rename or remove one of them", path=name)
    check_columns(names, [time_col, *targets, *features] + ([id_col] if id_col else []), name)
    if len(df) == 0:
        raise DataError("no rows; give a DataFrame with at least one row", path=name)
    keep = list(dict.fromkeys([time_col, *targets, *features] + ([id_col] if id_col else [])))
    raw = df.loc[:, keep].copy()
    raw.columns = [str(c) for c in raw.columns]
    raw.index = pd.RangeIndex(len(raw), name="row")
    if id_col:
        entries, _ = _long_entries(raw, cfg, name, True)
        return _assemble(entries, name, id_col, min_rows=min_rows, strict=strict)
    layout = find_layout(raw, cfg, name, require_target=True)
    parsed = parse_frame(raw, layout, cfg, name)
    entry = _entry("series", parsed, layout, cfg, name, require_target=True)
    return _assemble([entry], name, _DEFAULT_ID, min_rows=min_rows, strict=strict)
