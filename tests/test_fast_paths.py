"""Fast paths of batch scoring give exactly what the careful paths give."""
import numpy as np
import pandas as pd
import pytest

from forecast_cli.config import DataConfig
from forecast_cli import data as data_module
from forecast_cli.data import _load_clean, load
from forecast_cli.forecasting import forecast_csv, forecast_frame

from conftest import AAPL, AIR, write_series


_META = ("source", "target", "features", "freq", "freq_label", "trading_days", "season", "gaps", "missing",
         "interpolated", "date_col", "rows_read", "time_col", "tz", "dayfirst")


def _same(a, b):
    """Two Datasets hold the same data: arrays, frame (index, its name, columns) and every other field."""
    assert np.array_equal(a.values, b.values) and a.values.dtype == b.values.dtype == np.float64
    assert np.array_equal(a.stamps, b.stamps) and a.stamps.dtype == b.stamps.dtype == np.dtype("datetime64[ns]")
    assert not a.values.flags.writeable and not b.values.flags.writeable
    pd.testing.assert_frame_equal(a.frame, b.frame, check_freq=False)
    assert a.frame.index.name == b.frame.index.name
    assert {k: getattr(a, k) for k in _META} == {k: getattr(b, k) for k in _META}


@pytest.mark.parametrize("expect", [("B", True), None])
def test_load_clean_equals_load_on_trading_days(expect):
    cfg = DataConfig(target="Close", features="Volume", date_col="Date")
    fast = _load_clean(AAPL, cfg.check(), expect)
    assert fast is not None
    _same(fast, load(AAPL, cfg))


def test_load_clean_equals_load_hourly(tmp_path):
    f = write_series(tmp_path / "h.csv", np.arange(50.0), freq="h")
    cfg = DataConfig(target="y", date_col="date")
    _same(_load_clean(f, cfg.check(), ("h", False)), load(f, cfg))


def _no_careful_reading(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the careful reader was used")
    monkeypatch.setattr(data_module, "read_table", refuse)


@pytest.mark.parametrize("freq, expect", [("D", ("D", False)), ("h", ("h", False)), ("D", None)])
def test_one_reader_fast_and_careful_paths_give_equal_datasets(tmp_path, monkeypatch, freq, expect):
    """load(expect=...) takes its fast path for a clean file (no read_table, no frame built), and its
    Dataset equals the careful path's: values, timestamps, frame, frequency and every other field."""
    rng = np.random.default_rng(5)
    f = write_series(tmp_path / "clean.csv", (rng.normal(size=120) * 40).round(4), freq=freq)
    cfg = DataConfig(target="y", date_col="date")
    careful = load(f, cfg)
    with monkeypatch.context() as m:
        _no_careful_reading(m)
        fast = load(f, cfg, expect=expect or (None, False))
    assert "frame" not in vars(fast)  # arrays only until something asks for the frame
    assert (fast.freq, fast.season) == ((freq, 7) if freq == "D" else (freq, 24))
    _same(fast, careful)
    assert fast.frame.index.name == "date" and list(fast.frame.columns) == ["y"]
    assert np.shares_memory(fast.frame.to_numpy(), fast.values)  # the frame is a view of the arrays


@pytest.mark.parametrize("content", [
    "date,y\n2020-01-01,1\n2020-01-03,2\n2020-01-02,3\n",          # unsorted
    "date,y\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n",           # missing value
    "date,y\n2020-01-01,1\n2020-01-02,x\n2020-01-03,3\n",          # text
    "date,y\n2020-01-01,1\n2020-01-02,2\n2020-01-05,3\n2020-01-06,4\n",  # absent days on a daily grid
    "date;y\n2020-01-01;1,5\n2020-01-02;2,5\n2020-01-03;3,5\n",     # other dialect
    "\ufeffdate,y\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n",     # BOM
    "date,y\n2020-01-01,1\n2020-01-02,2,7,8\n2020-01-03,3\n",      # ragged row
])
def test_load_clean_declines_anything_unusual(tmp_path, content):
    f = tmp_path / "odd.csv"
    f.write_text(content, encoding="utf-8")
    assert _load_clean(f, DataConfig(target="y", date_col="date").check(), ("D", False)) is None


def test_load_clean_declines_gaps_in_air_quality():
    cfg = DataConfig(target="T", date_col="Date", na_values="-200").check()
    assert _load_clean(AIR, cfg, ("h", False)) is None  # Date + Time columns and -200 gaps: full reading


@pytest.mark.parametrize("cell", ["+200", "200", "200.0", "2e2"])
def test_a_numeric_marker_sends_the_file_to_the_careful_path(tmp_path, cell):
    """Markers are applied in one place (read_table): a value equal to a numeric marker, in any
    spelling, is missing on both paths (before, the fast path read an integer '+200' as 200)."""
    f = tmp_path / "m.csv"
    f.write_text(f"date,y\n2020-01-01,1\n2020-01-02,{cell}\n2020-01-03,3\n2020-01-04,4\n")
    cfg = DataConfig(target="y", date_col="date", na_values="200", gaps="skip")
    assert _load_clean(f, cfg.check(), ("D", False)) is None
    for ds in (load(f, cfg, expect=("D", False)), load(f, cfg)):
        assert ds.values[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0] and ds.interpolated == {"y": 1}
    f.write_text("date,y\n2020-01-01,1\n2020-01-02,201\n2020-01-03,3\n")  # no marker: the fast path
    assert _load_clean(f, cfg.check(), ("D", False)).values[:, 0].tolist() == [1.0, 201.0, 3.0]


@pytest.mark.parametrize("freq", ["D", "h", "B"])
def test_forecast_csv_is_byte_identical_to_pandas(freq):
    rng = np.random.default_rng(0)
    ts = pd.date_range("2020-01-01 03:00" if freq == "h" else "2020-01-01", periods=6, freq=freq)
    point = rng.normal(size=(6, 2)) * 1e3
    bounds = {80.0: (-np.ones((6, 2)), np.ones((6, 2))), 95.0: (-3 * np.ones((6, 2)), 3 * np.ones((6, 2)))}
    fast = forecast_csv(point, ts, ["y", "a,b"], bounds, 5)
    slow = forecast_frame(point, ts, ["y", "a,b"], bounds, 5).to_csv(index=False, float_format="%.10g")
    assert fast == slow.encode("utf-8")
    assert forecast_csv(point, ts.values, ["y", "a,b"], bounds, 5) == fast  # datetime64 values, as scoring gives


# --------------------------------------------------------------------------- plain-CSV reader
from forecast_cli.reading import _read_plain  # noqa: E402


@pytest.mark.parametrize("content, date_col, cols", [
    ("date,y\n2020-01-01,1\n2020-01-02,-2.5\n2020-01-03,+3e2\n2020-01-04,.5\n", "date", ["y"]),
    ("ts,b,a\n2020-01-01 10:00:00,1,9\n2020-01-01 11:00:00,2,8\n2020-01-01 12:00:00,3,7", "ts", ["a", "b"]),
    ("x,time,y\n5,2020-01-01T10:00,0.1\n6,2020-01-01T10:15,0.2\n7,2020-01-01T10:30,0.30000000000000004\n",
     "time", ["y", "x"]),
])
def test_plain_reader_equals_pandas(content, date_col, cols):
    import io

    got = _read_plain(content.encode(), date_col, cols)
    assert got is not None
    df = pd.read_csv(io.StringIO(content), float_precision="round_trip")  # float() exactly, on any pandas
    assert np.array_equal(got[0], pd.to_datetime(df[date_col], format="ISO8601").to_numpy("datetime64[ns]"))
    assert np.array_equal(got[1], df[cols].to_numpy(np.float64))


@pytest.mark.parametrize("content", [
    "date,y\n2020-01-01,1\n\n2020-01-02,2\n",                     # blank line
    'date,y\n2020-01-01,"1"\n2020-01-02,2\n',                     # quotes
    "date,y\n2020-01-01,1,5\n2020-01-02\n2020-01-03,3\n",         # ragged rows that balance out
    "date,y\n2020-01-01,1_000\n2020-01-02,2\n",                    # Python-only number syntax
    "date,y\n2020-01-01, 1.5\n2020-01-02,2\n",                     # space
    "date,y\n2020-01-01,nan\n2020-01-02,2\n",                      # NA text
    "date,y\n2020-01-01,inf\n2020-01-02,2\n",
    "date,y\n2020-01-01,\n2020-01-02,2\n",                         # empty cell
    "date,y\n2020-01-01,1.2.3\n2020-01-02,2\n",                    # not a number
    "date,y\n2020-1-1,1\n2020-1-2,2\n",                            # not ISO width
    "date,y\n2020-01-01,1\n2020-01-02 10:00,2\n",                  # mixed widths
    "date,y\n2020-02-30,1\n2020-03-01,2\n",                        # impossible date
    "date,y\n2020-01-01T00:00Z,1\n2020-01-02T00:00Z,2\n",          # time zone
    "date,y\r\n2020-01-01,1\r\n2020-01-02,2\r\n",                  # CRLF
])
def test_plain_reader_declines(content):
    assert _read_plain(content.encode(), "date", ["y"]) is None


def test_load_clean_with_plain_reader_equals_load(tmp_path):
    rng = np.random.default_rng(3)
    f = write_series(tmp_path / "w.csv", rng.normal(size=300).round(4) * 1e3, freq="h")
    cfg = DataConfig(target="y", date_col="date")
    assert _read_plain(f.read_bytes(), "date", ["y"]) is not None  # the plain reader is the one tested
    _same(_load_clean(f, cfg.check(), ("h", False)), load(f, cfg))


# --------------------------------------------------------------------------- decimal parser
from forecast_cli.reading import _parse_decimals  # noqa: E402


def _fields(texts):
    buf = ("\n".join(texts)).encode()
    widths = np.array([len(t) for t in texts])
    starts = np.concatenate([[0], np.cumsum(widths + 1)[:-1]])
    return np.frombuffer(buf, np.uint8), starts, widths


def _float_or_none(texts):
    try:
        return np.array([float(t) for t in texts])
    except ValueError:
        return None


def test_decimal_parser_equals_float_bit_for_bit():
    """Seeded columns in fixed-point layouts (the vectorised path) and others (float()): same bits."""
    rng = np.random.default_rng(7)
    fmts = ["%.4f", "%.2f", "%.0f", "%.1f", "%.6f", "%.10f", "%d", "%r", "%e"]
    odd = ["-0", "-0.0", "+.5", "5.", ".5", "00000.000", "9007199254740993", "999999999999999",
           "0.30000000000000004", "1e5", "-1E-05"]
    fixed = 0
    for trial in range(1500):
        fmt = fmts[trial % len(fmts)]
        scale = 10.0 ** rng.integers(-3, 12)
        x = rng.normal(0, scale, rng.integers(1, 12))
        texts = [str(int(v)) if fmt == "%d" else repr(float(v)) if fmt == "%r" else fmt % v for v in x]
        if trial % 7 == 0:
            texts[rng.integers(len(texts))] = odd[trial % len(odd)]
        got, want = _parse_decimals(*_fields(texts)), _float_or_none(texts)
        assert want is not None and got is not None, texts
        assert np.array_equal(got.view(np.int64), want.view(np.int64)), (texts, got, want)
        fixed += fmt not in ("%r", "%e") and trial % 7 != 0
    assert fixed > 1000


@pytest.mark.parametrize("texts", [
    ["1.5", ""], ["1.5", "."], ["-", "2.0"], ["+.", "1.0"], ["1.2.3", "1.0"], ["1-2", "3.0"], ["--1", "2"],
    ["1e", "2"], ["e1", "2"], ["-..", "1.0"],
    # float() takes these, but they are not plain decimals: the reader leaves them to pandas
    ["1.5", " 2.5"], ["nan", "1"], ["inf", "1"], ["1_000", "2"],
])
def test_decimal_parser_refuses_non_decimals(texts):
    assert _parse_decimals(*_fields(texts)) is None


# --------------------------------------------------------------------------- scoring's reading of one input
from forecast_cli.errors import DataError  # noqa: E402
from forecast_cli.forecasting import data_config, future_timestamps, input_tail, last_window, load_input  # noqa: E402


def _manifest(freq, trading, target, features=(), date_col="date"):
    return {"data": {"target": [target], "features": list(features), "date_col": date_col, "freq": freq,
                     "trading_days": trading}}


@pytest.mark.parametrize("case", ["daily", "hourly", "trading", "gappy"])
def test_input_tail_equals_the_careful_path(tmp_path, case):
    rng = np.random.default_rng(1)
    if case == "trading":
        src, man = AAPL, _manifest("B", True, "Close", ["Volume"], "Date")
    elif case == "gappy":  # a missing value inside the history: the full reader fills it
        v = (100 + rng.normal(size=80).cumsum()).round(3)
        f = write_series(tmp_path / "g.csv", v)
        text = f.read_text().splitlines()
        text[10] = text[10].split(",")[0] + ","
        f.write_text("\n".join(text) + "\n")
        src, man = f, _manifest("D", False, "y")
    else:
        freq = "D" if case == "daily" else "h"
        src = write_series(tmp_path / "s.csv", (rng.normal(size=90) * 50).round(4), freq=freq)
        man = _manifest(freq, False, "y")
    cfg = data_config(man)
    rows, win, ts = input_tail(str(src), man, cfg, 20, 4)
    ds = load_input(str(src), man, cfg)
    assert rows == ds.rows_read
    assert np.array_equal(win, last_window(ds, 20))
    assert np.array_equal(np.asarray(ts, "datetime64[ns]"), future_timestamps(ds, man, 4).values)


def test_input_tail_too_short_names_the_file(tmp_path):
    f = write_series(tmp_path / "short.csv", np.arange(5.0))
    man = _manifest("D", False, "y")
    with pytest.raises(DataError, match="too short: 5 rows, fewer than the 20 rows") as e:
        input_tail(str(f), man, data_config(man), 20, 3)
    assert "short.csv" in str(e.value)


def test_scoring_reads_every_input_through_the_one_entry_point(tmp_path, monkeypatch, aapl_bundle):
    """Batch scoring reads each file through data.load: a clean one by its fast path (no read_table),
    one with a missing value by the careful path, which fills it; both are scored."""
    from pathlib import Path

    from forecast_cli import scoring

    calls, careful = [], []
    real_load, real_table = data_module.load, data_module.read_table

    def load_spy(source, cfg, **kw):
        calls.append((Path(source).name, kw.get("expect")))
        return real_load(source, cfg, **kw)

    def read_table_spy(source, cfg):
        careful.append(Path(source).name)
        return real_table(source, cfg)

    monkeypatch.setattr(data_module, "load", load_spy)
    monkeypatch.setattr(data_module, "read_table", read_table_spy)
    inp = tmp_path / "in"
    inp.mkdir()
    lines = AAPL.read_text().splitlines()
    (inp / "clean.csv").write_text("\n".join(lines) + "\n")
    cells = lines[-10].split(",")
    cells[4] = ""  # one Close value missing
    lines[-10] = ",".join(cells)
    (inp / "gappy.csv").write_text("\n".join(lines) + "\n")
    summary = scoring.score(aapl_bundle, [str(inp)], tmp_path / "out")
    assert summary["n_ok"] == 2, summary
    assert sorted(calls) == [("clean.csv", ("B", True)), ("gappy.csv", ("B", True))]
    assert careful == ["gappy.csv"]
    a = pd.read_csv(tmp_path / "out" / "clean.forecast.csv")
    b = pd.read_csv(tmp_path / "out" / "gappy.forecast.csv")
    assert list(a["timestamp"]) == list(b["timestamp"]) and len(a) == 5
