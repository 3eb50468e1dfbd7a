"""Read a CSV (or Parquet file) into a frame of raw columns: bytes, decoding, sniffing, and the checks made on the way.

Bytes come from a path or stdin (anything but a regular file is refused before it is opened) and
are decoded (UTF-8 with or without BOM, UTF-16 with BOM, then latin-1; binary files refused); the
delimiter and decimal mark are sniffed from the first lines. The header is checked for repeated
names and, in a file with no final newline, the last row for a cut made by a writer still
appending. A ``.parquet`` file is read through pandas and pyarrow (an optional extra) into the
same kind of frame. :func:`read_table` is the entry point; :mod:`forecast_cli.data` validates its
frame (one series) and :mod:`forecast_cli.panel` its groups (a long-format file).
"""
from __future__ import annotations

import csv
import io
import os
import re
import sys
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from .config import DataConfig
from .errors import DataError
from .files import not_regular

__all__ = ["read_table", "is_parquet", "PARQUET_HINT"]

STDIN = "<stdin>"
_SEPS = (",", ";", "\t", "|")
_BINARY_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"%PDF", b"\xd0\xcf\x11\xe0", b"BZh", b"\x89PNG")
_COMMA_DEC_RE = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
_DOT_DEC_RE = re.compile(r"^\s*[-+]?\d+\.\d+\s*$")
_THOUSANDS_RE = re.compile(r"^\s*[-+]?\d{1,3}([,.']\d{3})+([.,]\d+)?\s*$")


def _source_name(source) -> str:
    if isinstance(source, str) and source == "-":
        return STDIN
    return os.fspath(source) if not isinstance(source, str) else source


def _read_bytes(source, name: str) -> bytes | str:
    if name == STDIN:
        stream = sys.stdin
        buf = getattr(stream, "buffer", None)
        return buf.read() if buf is not None else stream.read()
    path = os.fspath(source)
    if not os.path.exists(path):
        raise DataError("file not found; check the path", path=name)
    if os.path.isdir(path):
        raise DataError("is a directory, not a CSV file; give the path of a .csv file", path=name)
    kind = not_regular(path)
    if kind:
        raise DataError(f"is not a regular file ({kind}); give a CSV file", path=name)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except PermissionError:
        raise DataError("cannot read the file (permission denied); check its permissions", path=name) from None
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror or e}); check the path", path=name) from None


def _decode(raw: bytes | str, name: str) -> str:
    if isinstance(raw, str):
        return raw[1:] if raw.startswith("\ufeff") else raw
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    head = raw[:8192]
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        raise DataError(
            "not a text CSV file (it looks binary: a spreadsheet, zip or gzip file?); export it as CSV",
            path=name,
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    sample = text[:8192]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n") + sum(
        1 for ch in sample if 0x7F <= ord(ch) < 0xA0
    )
    if sample and controls / len(sample) > 0.05:
        raise DataError("not a text CSV file (it cannot be decoded as text); export it as UTF-8 CSV", path=name)
    return text


def _head_lines(text: str, budget: int = 65536, most: int = 200) -> list[str]:
    """The first non-blank whole lines of ``text`` (at most ``most``) within about ``budget`` characters.

    Always whole lines, and at least two when the text has them: a header wider than the budget
    (12,000 columns) is read to its end, with the first data line, instead of being cut.
    """
    limit = budget
    while True:
        whole = limit >= len(text)
        lines = text[:limit].splitlines()
        if not whole:
            lines = lines[:-1]  # the last one may be cut
        lines = [ln for ln in lines if ln.strip()]
        if whole or len(lines) >= 2:
            return lines[:most]
        limit *= 4


def _sniff_sep(lines: list[str]) -> str:
    """The delimiter that splits the header into the most fields, consistently on the data lines."""
    header, data = lines[0], lines[1:50]
    best, best_score = ",", (False, 1)
    for sep in _SEPS:
        try:
            n_head = len(next(csv.reader([header], delimiter=sep)))
            counts = [len(r) for r in csv.reader(data, delimiter=sep)]
        except csv.Error:
            continue
        if n_head < 2:
            continue
        consistent = not counts or sum(c == n_head for c in counts) >= 0.9 * len(counts)
        score = (consistent, n_head)
        if score > best_score:
            best, best_score = sep, score
    return best


def _sniff_decimal(lines: list[str], sep: str) -> str:
    """',' when numbers are written with a decimal comma (and never a decimal point), else '.'.

    With ',' as the delimiter, decimal commas can only appear in quoted cells ("10,5"); they are
    taken as decimal commas only when some have other than three digits after the comma, so
    thousands separators ("1,500") are never misread.
    """
    comma = dot = 0
    not_thousands = False
    try:
        rows = list(csv.reader(lines[1:200], delimiter=sep))
    except csv.Error:
        return "."
    for row in rows:
        for cell in row:
            if _COMMA_DEC_RE.match(cell):
                comma += 1
                not_thousands |= len(cell.strip().split(",")[1]) != 3
            elif _DOT_DEC_RE.match(cell) or (sep == "," and _THOUSANDS_RE.match(cell)):
                dot += 1
    if sep == ",":
        return "," if comma > 0 and dot == 0 and not_thousands else "."
    return "," if comma > 0 and dot == 0 else "."


def read_table(source: str | os.PathLike, cfg: DataConfig) -> pd.DataFrame:
    """Read a CSV (a path, or ``-`` for stdin), or a ``.parquet`` file, into a frame of raw columns.

    The delimiter and decimal mark are sniffed unless ``cfg.sep``/``cfg.decimal`` are set;
    UTF-8 (with or without BOM) is tried before latin-1; column names are stripped; the strings
    in ``cfg.na_values`` become NaN (numeric markers also match numerically: ``-200`` matches
    ``-200.0``). Blank lines are dropped. The index holds each row's CSV line number (the
    header is line 1). Numeric columns come out numeric, others as strings.

    Raises:
        DataError: missing file, directory, empty file, no data rows, binary file, bad CSV.
    """
    name = _source_name(source)
    if is_parquet(source):
        return _read_parquet(source, cfg, name)
    text = _decode(_read_bytes(source, name), name)
    if not text.strip():
        raise DataError("the file is empty; give a CSV with a header line and data rows", path=name)
    # Leading blank lines would be taken for the header; skip them and count them.
    stripped = text.lstrip("\r\n")
    skipped = text[: len(text) - len(stripped)].count("\n")
    text = stripped
    sample_lines = _head_lines(text)
    sep = cfg.sep or _sniff_sep(sample_lines)
    decimal = cfg.decimal or _sniff_decimal(sample_lines, sep)
    if len(sample_lines) < 2:
        raise DataError(
            "no data rows, only a header on line 1; give a CSV with at least one data row", path=name
        )
    _check_header(sample_lines[0], sep, name, 1 + skipped)
    na = list(cfg.na_values)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                decimal=decimal,
                na_values=na or None,
                keep_default_na=True,
                skip_blank_lines=False,
                index_col=False,
                low_memory=False,
            )
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty; give a CSV with a header line and data rows", path=name) from None
    except (pd.errors.ParserError, csv.Error, ValueError) as e:
        msg = " ".join(str(e).replace("Error tokenizing data. C error:", "").split())
        raise DataError(
            f"cannot parse as CSV ({msg}); check the delimiter (--sep {sep!r} was used) and the quoting",
            path=name,
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    df.index = pd.RangeIndex(2 + skipped, 2 + skipped + len(df), name="line")
    final_newline = text.endswith(("\n", "\r"))
    if not final_newline and len(df):
        _check_last_line(text, sep, int(df.index[-1]), name)
    # Blank lines (and lines of bare delimiters or spaces) are empty rows: drop them, keep line numbers.
    blank = np.ones(len(df), dtype=bool)
    for c in df.columns:
        col = df[c]
        empty = col.isna().to_numpy()
        if not _is_number(col) and not pd.api.types.is_bool_dtype(col.dtype):
            empty = empty | (col.astype(str).str.strip() == "").to_numpy()
        blank = blank & empty
    if blank.any():
        df = df.loc[~blank]
    # Trailing delimiters make empty "Unnamed: N" columns; they carry nothing.
    empty = [c for c in df.columns if c.startswith("Unnamed:") and df[c].isna().all()]
    if empty:
        df = df.drop(columns=empty)
    if len(df) == 0:
        raise DataError(
            "no data rows, only a header on line 1; give a CSV with at least one data row", path=name
        )
    _mask_numeric_markers(df, na)
    df.attrs["final_newline"] = final_newline
    return df


PARQUET_HINT = "pip install 'forecast-cli[parquet]' (or pip install pyarrow)"


def is_parquet(source) -> bool:
    """A path whose name ends in ``.parquet`` (any case)."""
    return not (isinstance(source, str) and source == "-") and os.fspath(source).lower().endswith(".parquet")


def _read_parquet(source, cfg: DataConfig, name: str) -> pd.DataFrame:
    """A Parquet file as :func:`read_table` gives a CSV: stripped string column names, numeric
    ``cfg.na_values`` masked, the index the row number (1 for the first row).

    Through pandas and pyarrow (an optional extra, imported only here); the file's bytes are read
    with the same checks as a CSV's (missing, a directory, not a regular file).
    """
    raw = _read_bytes(source, name)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DataError(f"reading Parquet needs pyarrow, which is not installed; {PARQUET_HINT}, "
                        "or give a CSV file", path=name) from None
    try:
        df = pd.read_parquet(io.BytesIO(raw))
    except Exception as e:  # pyarrow raises its own ArrowInvalid/ArrowException kinds
        msg = " ".join(str(e).split())[:200]
        raise DataError(f"cannot read as Parquet ({msg}); check that it is a complete Parquet file",
                        path=name) from None
    df.columns = [str(c).strip() for c in df.columns]
    names = list(df.columns)
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise DataError(f"column '{twice[0]}' appears twice; rename or remove one of them", path=name)
    if len(df) == 0:
        raise DataError("no data rows; give a file with at least one row", path=name)
    df = df.reset_index(drop=True)
    df.index = pd.RangeIndex(1, 1 + len(df), name="row")
    _mask_numeric_markers(df, list(cfg.na_values))
    df.attrs["final_newline"] = True
    return df


_STILL_WRITTEN = "the file may still be being written; rerun when it is complete (if it is, end it with a newline)"


def _check_last_line(text: str, sep: str, line: int, name: str) -> None:
    """Refuse a last line, with no newline after it, that has fewer fields than the line before it
    or an empty last field where that line has a value: a row cut by a writer still appending."""
    tail = text[max(0, len(text) - 1_000_000):].splitlines()
    rows = [ln for ln in tail if ln.strip()][-2:]
    if len(rows) < 2:
        return
    try:
        prev, last = list(csv.reader(rows, delimiter=sep))
    except (csv.Error, ValueError):
        return
    short = len(last) < len(prev)
    if short or (last and not last[-1].strip() and prev[-1].strip()):
        what = f"{len(last)} of {len(prev)} fields" if short else "its last field is empty"
        raise DataError(f"line {line}: the last row is incomplete (no final newline, {what}): {_STILL_WRITTEN}",
                        path=name)


def _check_last_date(dates: pd.Series, lines: np.ndarray, col: str, name: str) -> None:
    """With no final newline, refuse a last date of another width than every other date of the column
    (``2011-1`` after ``2011-01-31``): a row cut by a writer still appending."""
    if len(dates) < 2:
        return
    widths = dates.str.len().to_numpy()
    if widths[-1] not in widths[:-1]:
        raise DataError(f"line {lines[-1]}: the last row is incomplete (no final newline, column '{col}' holds "
                        f"'{dates.iloc[-1]}', unlike the other dates such as '{dates.iloc[-2]}'): {_STILL_WRITTEN}",
                        path=name)


def _check_header(header: str, sep: str, name: str, line: int) -> None:
    """Refuse a header that names a column twice (pandas would silently rename one 'y.1')."""
    try:
        cells = next(csv.reader([header], delimiter=sep))
    except (csv.Error, StopIteration):
        return
    seen: dict[str, int] = {}
    for pos, cell in enumerate(cells, start=1):
        key = cell.strip()
        if not key:
            continue
        if key in seen:
            raise DataError(
                f"line {line}: column '{key}' appears twice in the header (fields {seen[key]} and {pos}); "
                "rename or remove one of them",
                path=name,
            )
        seen[key] = pos


def _mask_numeric_markers(df: pd.DataFrame, na) -> None:
    """Mask the numeric missing-value markers ``na`` (``-200``) in every numeric column of ``df``, in place."""
    markers = _numeric_markers(na)
    if markers.size:
        for c in df.columns:
            if _is_number(df[c]):
                df[c] = _mask_markers(df[c], markers)


def _numeric_markers(na: Sequence[str]) -> np.ndarray:
    out = []
    for m in na:
        try:
            out.append(float(m))
        except ValueError:
            pass
    return np.array([m for m in out if np.isfinite(m)], dtype=np.float64)


def _mask_markers(s: pd.Series, markers: np.ndarray) -> pd.Series:
    v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    hit = np.isin(v, markers)
    if not hit.any():
        return s
    v = v.copy()
    v[hit] = np.nan
    return pd.Series(v, index=s.index, name=s.name)


def _is_number(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
