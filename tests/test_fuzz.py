"""Property-based tests (Hypothesis) of the CSV loader and the window builder.

The loader, given any text, either returns a valid Dataset (sorted unique DatetimeIndex, float64
columns, no infinities) or raises one of the library's own errors (ForecastError) - never another
exception. Windows always have their documented shapes, hold exactly the source rows, and no
training window's target reaches a test row.

Sized for CI (60 examples per property). For a deeper local run:
    FORECAST_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/test_fuzz.py
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from forecast_cli.config import DataConfig
from forecast_cli.data import Dataset, load
from forecast_cli.errors import ConfigError, DataError, ForecastError
from forecast_cli.evaluation import make_folds
from forecast_cli.windows import valid_origins, window_views

EXAMPLES = int(os.environ.get("FORECAST_FUZZ_EXAMPLES", 60))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------- CSV text strategies
NAMES = ["date", "Date", "timestamp", "time", "ds", "y", "Y", "value", "x", "Close", "a b", "température",
         "", " y ", "y", "Unnamed: 3", "12", "2024-01-01"]
GARBAGE = ["", " ", "NaN", "nan", "NA", "-", "?", "abc", "inf", "-inf", "1e999", "1,5", "1.234,5", "1,234.5",
           '"', '""', "\x00", "true", "FALSE", "€12", "12 kg", "-200", "0", "1e-300", "𝟙", "\ufeff"]
DELIMS = [",", ";", "\t", "|"]


def _date(draw, i: int, base: pd.Timestamp, step: pd.Timedelta) -> str:
    kind = draw(st.sampled_from(["iso", "iso", "iso", "dayfirst", "us", "datetime", "tz", "garbage", "year"]))
    t = base + i * step
    if kind == "iso":
        return t.strftime("%Y-%m-%d")
    if kind == "dayfirst":
        return t.strftime("%d/%m/%Y")
    if kind == "us":
        return t.strftime("%m/%d/%Y")
    if kind == "datetime":
        return t.strftime("%Y-%m-%d %H:%M:%S")
    if kind == "tz":
        return t.strftime("%Y-%m-%dT%H:%M:%S+01:00")
    if kind == "year":
        return str(1900 + i)
    return draw(st.sampled_from(GARBAGE + ["2024-13-45", "31/31/2024", "yesterday"]))


def _number(draw) -> str:
    kind = draw(st.sampled_from(["float", "float", "float", "int", "comma", "garbage", "big"]))
    if kind == "float":
        return repr(draw(st.floats(allow_nan=True, allow_infinity=True, width=64)))
    if kind == "int":
        return str(draw(st.integers(-10**6, 10**6)))
    if kind == "comma":
        return f"{draw(st.integers(0, 999))},{draw(st.integers(0, 99))}"
    if kind == "big":
        return draw(st.sampled_from(["1e308", "-1e308", "9" * 400, "1e-320"]))
    return draw(st.sampled_from(GARBAGE))


@st.composite
def csv_texts(draw):
    """Mostly CSV-like text: a header, rows of dates and numbers, with garbage sprinkled in."""
    sep = draw(st.sampled_from(DELIMS))
    n_cols = draw(st.integers(1, 4))
    header = [draw(st.sampled_from(NAMES)) for _ in range(n_cols)]
    date_pos = draw(st.integers(0, n_cols))  # == n_cols: no date column
    n_rows = draw(st.integers(0, 40))
    base = pd.Timestamp("2024-01-01") + pd.Timedelta(days=draw(st.integers(0, 400)))
    step = draw(st.sampled_from([pd.Timedelta(days=1), pd.Timedelta(hours=1), pd.Timedelta(days=7),
                                 pd.Timedelta(minutes=15)]))
    shuffle = draw(st.booleans())
    order = list(range(n_rows))
    if shuffle:
        order = draw(st.permutations(order))
    lines = [sep.join(header)]
    for i in order:
        cells = [_number(draw) for _ in range(n_cols)]
        if date_pos < n_cols:
            cells[date_pos] = _date(draw, i, base, step)
        if draw(st.integers(0, 20)) == 0:
            cells = cells[: draw(st.integers(0, len(cells)))] + draw(st.lists(st.sampled_from(GARBAGE), max_size=2))
        lines.append(sep.join(cells))
        if draw(st.integers(0, 15)) == 0:
            lines.append(draw(st.sampled_from(["", " ", sep * n_cols])))
    nl = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = nl.join(lines) + draw(st.sampled_from(["", nl, nl * 3]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text


any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"])


def _write(text: str, encoding: str) -> str:
    raw = text.encode(encoding, errors="replace")
    fd, path = tempfile.mkstemp(suffix=".csv", prefix="fuzz_")
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    return path


def _assert_valid(ds: Dataset) -> None:
    idx = ds.frame.index
    assert isinstance(idx, pd.DatetimeIndex)
    assert idx.is_monotonic_increasing and idx.is_unique
    assert len(ds.frame) >= 1
    assert all(dt == np.float64 for dt in ds.frame.dtypes)
    assert list(ds.frame.columns) == list(ds.target) + list(ds.features)
    assert len(ds.target) >= 1
    v = ds.values
    assert not np.isinf(v).any()
    assert not np.isnan(v).all(axis=0).any()  # no column is all missing
    ds.summary()  # JSON description never fails


def _load_or_own_error(path: str, cfg: DataConfig, require_target: bool):
    try:
        ds = load(path, cfg, require_target=require_target)
    except ForecastError as e:
        msg = e.message
        assert msg and "\n" not in msg, repr(msg)
        return None
    _assert_valid(ds)
    return ds


CONFIGS = st.sampled_from([
    DataConfig(),
    DataConfig(max_gap=0, gaps="skip"),
    DataConfig(target=("y",)),
    DataConfig(sep=";", decimal=","),
    DataConfig(na_values=("-200", "?")),
    DataConfig(date_col="date", max_gap=10),
])


@FUZZ
@given(text=csv_texts(), encoding=encodings, cfg=CONFIGS, require_target=st.booleans())
def test_loader_on_csv_like_text(text, encoding, cfg, require_target):
    path = _write(text, encoding)
    try:
        _load_or_own_error(path, cfg, require_target)
    finally:
        os.unlink(path)


@FUZZ
@given(text=any_text, encoding=encodings, require_target=st.booleans())
def test_loader_on_arbitrary_text(text, encoding, require_target):
    path = _write(text, encoding)
    try:
        _load_or_own_error(path, DataConfig(), require_target)
    finally:
        os.unlink(path)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_loader_on_arbitrary_bytes(raw):
    fd, path = tempfile.mkstemp(suffix=".csv", prefix="fuzz_")
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    try:
        _load_or_own_error(path, DataConfig(), False)
    finally:
        os.unlink(path)


@FUZZ
@given(values=st.lists(st.one_of(st.floats(width=32, allow_nan=True, allow_infinity=False), st.none()),
                       min_size=2, max_size=60),
       drop=st.sets(st.integers(0, 59), max_size=10), max_gap=st.integers(0, 5))
def test_valid_series_keeps_every_value(values, drop, max_gap):
    """A well-formed daily series with some rows absent: every present value is kept, in order."""
    days = pd.date_range("2024-01-01", periods=len(values), freq="D")
    keep = [i for i in range(len(values)) if i not in drop]
    assume(len(keep) >= 2)
    text = "date,y\n" + "\n".join(f"{days[i]:%Y-%m-%d},{'' if values[i] is None else repr(values[i])}"
                                  for i in keep) + "\n"
    path = _write(text, "utf-8")
    try:
        ds = _load_or_own_error(path, DataConfig(max_gap=max_gap, gaps="skip"), True)
    finally:
        os.unlink(path)
    present = [i for i in keep if values[i] is not None and not np.isnan(values[i])]
    if ds is None:
        assert not present  # the only reason to refuse: the column has no values at all
        return
    got = ds.frame["y"]
    for i in present:
        assert got[days[i]] == pytest.approx(values[i], nan_ok=False)


# ---------------------------------------------------------------------------- windows
shapes = st.tuples(st.integers(1, 60), st.integers(1, 4), st.integers(1, 10), st.integers(1, 6))


@FUZZ
@given(shape=shapes, n_targets=st.integers(1, 4))
def test_window_views_shapes_and_values(shape, n_targets):
    n, c, L, H = shape
    T = min(n_targets, c)
    values = np.arange(n * c, dtype=np.float64).reshape(n, c)
    if n < L + H:
        with pytest.raises(DataError):
            window_views(values, L, H, T)
        return
    X, Y = window_views(values, L, H, T)
    k = n - L - H + 1
    assert X.shape == (k, L, c) and Y.shape == (k, H, T)
    assert not X.flags.writeable or np.shares_memory(X, values)
    for i in range(k):
        np.testing.assert_array_equal(X[i], values[i:i + L])
        np.testing.assert_array_equal(Y[i], values[i + L:i + L + H, :T])
        # no leak: every target row comes after every input row of its window
        assert Y[i, 0, 0] == values[i + L - 1, 0] + c  # the row right after the origin


@FUZZ
@given(shape=shapes, nan_rows=st.sets(st.integers(0, 59), max_size=8), bounds=st.tuples(st.integers(0, 60),
                                                                                        st.integers(0, 60)))
def test_valid_origins_exact(shape, nan_rows, bounds):
    n, c, L, H = shape
    values = np.arange(n * c, dtype=np.float64).reshape(n, c)
    for r in nan_rows:
        if r < n:
            values[r, r % c] = np.nan if r % 2 else np.inf
    start, stop = min(bounds), max(bounds)
    got = valid_origins(values, L, H, start=start, stop=stop)
    expected = [o for o in range(n)
                if o - L + 1 >= start and o + H < min(stop, n)
                and np.isfinite(values[o - L + 1:o + H + 1]).all()]
    assert got.tolist() == expected


@FUZZ
@given(n=st.integers(5, 300), L=st.integers(1, 20), H=st.integers(1, 8), k=st.integers(1, 6),
       cv=st.sampled_from(["expanding", "sliding"]), nan_rows=st.sets(st.integers(0, 299), max_size=5))
def test_folds_never_leak(n, L, H, k, cv, nan_rows):
    values = np.arange(n, dtype=np.float64)[:, None]
    for r in nan_rows:
        if r < n:
            values[r, 0] = np.nan
    try:
        folds = make_folds(values, L, H, k, cv)
    except (DataError, ConfigError):
        return
    assert len(folds) == k
    prev_stop = None
    for f in folds:
        assert 0 <= f.train_start < f.train_stop <= f.test_start < f.test_stop <= n
        if prev_stop is not None:
            assert f.test_start == prev_stop  # consecutive test spans
        prev_stop = f.test_stop
        tr, te = np.asarray(f.train_origins), np.asarray(f.test_origins)
        if len(tr):
            # a training window's inputs and targets lie in the training rows: no test row is seen
            assert tr.min() - L + 1 >= f.train_start
            assert tr.max() + H < f.train_stop <= f.test_start
        if len(te):
            assert te.min() >= f.test_start - 1 and te.max() + H < f.test_stop
            assert te.min() - L + 1 >= 0
        for o in np.concatenate([tr, te]).astype(int):
            assert np.isfinite(values[o - L + 1:o + H + 1]).all()
    assert folds[-1].test_stop == n
