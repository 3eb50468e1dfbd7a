"""Fast paths of batch scoring give exactly what the careful paths give."""
import numpy as np
import pandas as pd
import pytest

from forecast_cli.config import DataConfig
from forecast_cli.data import load, load_fast
from forecast_cli.forecasting import forecast_csv, forecast_frame

from conftest import AAPL, AIR, write_series


def _same(a, b):
    assert np.array_equal(a.values, b.values)
    assert a.frame.index.equals(b.frame.index) and a.frame.index.name == b.frame.index.name
    assert list(a.frame.columns) == list(b.frame.columns)
    assert (a.freq, a.freq_label, a.trading_days, a.season, a.rows_read) == \
           (b.freq, b.freq_label, b.trading_days, b.season, b.rows_read)


@pytest.mark.parametrize("expect", [("B", True), None])
def test_load_fast_equals_load_on_trading_days(expect):
    cfg = DataConfig(target="Close", features="Volume", date_col="Date")
    fast = load_fast(AAPL, cfg, expect)
    assert fast is not None
    _same(fast, load(AAPL, cfg))


def test_load_fast_equals_load_hourly(tmp_path):
    f = write_series(tmp_path / "h.csv", np.arange(50.0), freq="h")
    cfg = DataConfig(target="y", date_col="date")
    _same(load_fast(f, cfg, ("h", False)), load(f, cfg))


@pytest.mark.parametrize("content", [
    "date,y\n2020-01-01,1\n2020-01-03,2\n2020-01-02,3\n",          # unsorted
    "date,y\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n",           # missing value
    "date,y\n2020-01-01,1\n2020-01-02,x\n2020-01-03,3\n",          # text
    "date,y\n2020-01-01,1\n2020-01-02,2\n2020-01-05,3\n2020-01-06,4\n",  # absent days on a daily grid
    "date;y\n2020-01-01;1,5\n2020-01-02;2,5\n2020-01-03;3,5\n",     # other dialect
    "\ufeffdate,y\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n",     # BOM
    "date,y\n2020-01-01,1\n2020-01-02,2,7,8\n2020-01-03,3\n",      # ragged row
])
def test_load_fast_declines_anything_unusual(tmp_path, content):
    f = tmp_path / "odd.csv"
    f.write_text(content, encoding="utf-8")
    assert load_fast(f, DataConfig(target="y", date_col="date"), ("D", False)) is None


def test_load_fast_declines_gaps_in_air_quality():
    cfg = DataConfig(target="T", date_col="Date", na_values="-200")
    assert load_fast(AIR, cfg, ("h", False)) is None  # Date + Time columns and -200 gaps: full reading


@pytest.mark.parametrize("freq", ["D", "h", "B"])
def test_forecast_csv_is_byte_identical_to_pandas(freq):
    rng = np.random.default_rng(0)
    ts = pd.date_range("2020-01-01 03:00" if freq == "h" else "2020-01-01", periods=6, freq=freq)
    point = rng.normal(size=(6, 2)) * 1e3
    bounds = {80.0: (-np.ones((6, 2)), np.ones((6, 2))), 95.0: (-3 * np.ones((6, 2)), 3 * np.ones((6, 2)))}
    fast = forecast_csv(point, ts, ["y", "a,b"], bounds, 5)
    slow = forecast_frame(point, ts, ["y", "a,b"], bounds, 5).to_csv(index=False, float_format="%.10g")
    assert fast == slow.encode("utf-8")
