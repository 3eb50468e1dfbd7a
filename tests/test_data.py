"""Tests for forecast_cli.data, .reading and .calendar: reading, validating and regularising CSV time series."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast_cli.calendar import future_index, infer_frequency
from forecast_cli.config import DataConfig
from forecast_cli.data import (
    Dataset,
    Gap,
    check_columns,
    load,
)
from forecast_cli.reading import read_table
from forecast_cli.errors import ConfigError, DataError

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
AAPL = SAMPLES / "AAPL.csv"
AIR = SAMPLES / "air_quality_uci.csv"


def write(tmp_path: Path, text: str, name: str = "data.csv", newline: str = "\n", encoding="utf-8") -> str:
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode(encoding))
    return str(p)


def daily(values, start="2024-01-01", col="y") -> str:
    days = pd.date_range(start, periods=len(values), freq="D")
    rows = [f"{d:%Y-%m-%d},{'' if v is None else v}" for d, v in zip(days, values)]
    return f"date,{col}\n" + "\n".join(rows) + "\n"


# --------------------------------------------------------------------------- sample files


@pytest.fixture(scope="module")
def aapl() -> Dataset:
    return load(AAPL, DataConfig(target="Close"))


def test_aapl_is_trading_days_without_gaps(aapl):
    assert aapl.freq == "B"
    assert aapl.trading_days is True
    assert aapl.freq_label == "business days (trading calendar)"
    assert aapl.season == 5
    assert aapl.gaps == []
    assert len(aapl.frame) == aapl.rows_read == 3379
    assert aapl.frame.index[0] == pd.Timestamp("2004-08-19")
    assert aapl.frame.index[-1] == pd.Timestamp("2018-01-19")
    assert aapl.frame.index.name == "Date"
    assert list(aapl.frame.columns) == ["Close"]
    assert aapl.frame["Close"].dtype == np.float64
    assert aapl.values.shape == (3379, 1)
    assert aapl.frame["Close"].iloc[0] == pytest.approx(2.193571)


def test_aapl_future_index_skips_the_weekend(aapl):
    fut = future_index(aapl.frame.index[-1], aapl.freq, 3, aapl.trading_days)
    assert list(fut) == [pd.Timestamp("2018-01-22"), pd.Timestamp("2018-01-23"), pd.Timestamp("2018-01-24")]


def test_aapl_target_and_features_order():
    ds = load(AAPL, DataConfig(target="Close", features=("Volume", "Open")))
    assert list(ds.frame.columns) == ["Close", "Volume", "Open"]
    assert ds.target == ("Close",) and ds.features == ("Volume", "Open")


def test_aapl_misspelled_target_suggests():
    with pytest.raises(DataError) as e:
        load(AAPL, DataConfig(target="close"))
    msg = str(e.value)
    assert msg.startswith(str(AAPL))
    assert "column 'close' not found" in msg and "did you mean 'Close'?" in msg
    assert "Open, High, Low, Close, Adj Close, Volume" in msg and "--target" in msg
    assert "\n" not in msg


def test_no_target_with_many_numeric_columns():
    with pytest.raises(DataError, match=r"no --target given; numeric columns are: Open, .* \(use --target NAME\)"):
        load(AAPL, DataConfig())


def test_air_quality_hourly_combined_timestamp():
    ds = load(AIR, DataConfig(target="T", na_values="-200", gaps="skip"))
    assert ds.freq == "h" and ds.freq_label == "hourly" and ds.season == 24
    assert ds.frame.index.name == "timestamp"
    assert ds.date_col == "Date" and ds.time_col == "Time"
    assert ds.frame.index[0] == pd.Timestamp("2004-03-10 18:00")
    assert ds.frame.index[-1] == pd.Timestamp("2005-04-04 14:00")
    assert len(ds.frame) == 9357
    assert ds.missing == {"T": 366}
    runs = [g for g in ds.gaps if "T" in g.columns]
    assert len(runs) == 16 and max(g.steps for g in runs) == 76
    # NaNs remain exactly in the long runs, nowhere else.
    assert ds.interpolated["T"] == sum(g.steps for g in runs if g.filled)
    nan = ds.frame["T"].isna().to_numpy()
    assert nan.sum() == sum(g.steps for g in runs if not g.filled)
    for g in runs:
        assert ds.frame.loc[g.start : g.end, "T"].isna().all() == (not g.filled)
        assert g.filled == (g.steps <= 3)


def test_air_quality_long_gap_is_an_error():
    with pytest.raises(DataError) as e:
        load(AIR, DataConfig(target="T", na_values="-200"))
    msg = str(e.value)
    assert "column 'T' has" in msg and "--max-gap 3" in msg and "--gaps skip" in msg
    assert "2004-04-08 23:00" in msg


def test_air_quality_check_describes_every_column():
    ds = load(AIR, DataConfig(na_values="-200"), require_target=False)
    assert len(ds.target) == 13 and ds.missing["CO(GT)"] == 1683
    s = ds.summary()
    json.dumps(s)  # JSON-ready
    assert s["rows"] == 9357 and s["freq"] == "h" and s["long_gaps"] > 0
    assert s["start"] == "2004-03-10T18:00:00"
    col = next(c for c in s["columns"] if c["name"] == "T")
    assert col["missing"] == 366 and col["dtype"] == "float64"


# --------------------------------------------------------------------------- gaps


def test_two_step_gap_is_interpolated_exactly(tmp_path):
    path = write(tmp_path, daily([1.0, 2.0, None, None, 8.0, 9.0]))
    ds = load(path, DataConfig())
    assert ds.frame["y"].tolist() == [1.0, 2.0, 4.0, 6.0, 8.0, 9.0]
    assert ds.missing == {"y": 2} and ds.interpolated == {"y": 2}
    assert ds.gaps == [Gap(pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-04"), 2, ("y",), True)]


def test_absent_timestamps_become_a_filled_gap(tmp_path):
    text = "date,a,b\n2024-01-01,1,10\n2024-01-02,2,20\n2024-01-04,4,40\n2024-01-05,5,50\n"
    ds = load(write(tmp_path, text), DataConfig(target="a", features="b"))
    assert ds.freq == "D" and len(ds.frame) == 5
    assert ds.frame.loc["2024-01-03"].tolist() == [3.0, 30.0]
    assert ds.gaps == [Gap(pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-03"), 1, ("a", "b"), True)]


def test_five_step_gap_over_max_gap_is_an_error(tmp_path):
    path = write(tmp_path, daily([1, 2, None, None, None, None, None, 8, 9], col="sales"))
    with pytest.raises(DataError) as e:
        load(path, DataConfig(max_gap=3))
    msg = str(e.value)
    assert "column 'sales'" in msg and "2024-01-03" in msg and "(5 steps)" in msg and "--gaps skip" in msg
    ds = load(path, DataConfig(max_gap=3, gaps="skip"))
    assert ds.frame["sales"].isna().sum() == 5
    assert ds.gaps[0].filled is False and ds.gaps[0].steps == 5
    assert load(path, DataConfig(max_gap=5)).frame["sales"].isna().sum() == 0


def test_check_never_raises_for_gaps(tmp_path):
    path = write(tmp_path, daily([None, 1, 2, None, None, None, None, 7]))
    ds = load(path, DataConfig(max_gap=1), require_target=False)
    assert [(g.steps, g.filled) for g in ds.gaps] == [(1, False), (4, False)]
    assert ds.summary()["long_gaps"] == 2


def test_leading_missing_value_cannot_be_filled(tmp_path):
    path = write(tmp_path, daily([None, 1, 2, 3]))
    with pytest.raises(DataError, match="at the start or end"):
        load(path, DataConfig())


# --------------------------------------------------------------------------- timestamps


def test_duplicate_timestamps_are_named(tmp_path):
    text = "date,y\n2024-01-01,1\n2024-01-02,2\n2024-01-02,3\n2024-01-03,4\n"
    with pytest.raises(DataError) as e:
        load(write(tmp_path, text), DataConfig())
    msg = str(e.value)
    assert "1 duplicate timestamp: 2024-01-02 (lines 3, 4)" in msg
    assert "remove or aggregate duplicate rows" in msg


def test_unsorted_rows_are_sorted(tmp_path):
    text = "date,y\n2024-01-03,3\n2024-01-01,1\n2024-01-02,2\n"
    ds = load(write(tmp_path, text), DataConfig())
    assert ds.frame.index.is_monotonic_increasing
    assert ds.frame["y"].tolist() == [1.0, 2.0, 3.0]
    assert ds.freq == "D"


def test_bad_date_names_line_and_value(tmp_path):
    text = "date,y\n2024-01-01,1\n2024-01-02,2\nnot a date,3\n"
    with pytest.raises(DataError, match=r"column 'date' line 4: cannot parse 'not a date' as a date"):
        load(write(tmp_path, text), DataConfig())


def test_timezone_aware_values_keep_their_offset(tmp_path):
    # One shared offset: the index holds the wall times as written and the Dataset knows the offset.
    text = "timestamp,y\n2024-03-01T01:00:00+01:00,1\n2024-03-01T02:00:00+01:00,2\n2024-03-01T03:00:00+01:00,3\n"
    ds = load(write(tmp_path, text), DataConfig())
    assert ds.frame.index.tz is None and ds.tz == "+01:00"
    assert ds.frame.index[0] == pd.Timestamp("2024-03-01 01:00")
    assert ds.summary()["start"] == "2024-03-01T01:00:00+01:00"


def test_date_column_found_by_parsing(tmp_path):
    text = "when,y\n2024-01-01 00:00,1\n2024-01-01 01:00,2\n2024-01-01 02:00,3\n"
    ds = load(write(tmp_path, text), DataConfig())
    assert ds.date_col == "when" and ds.freq == "h"


def test_day_first_dates_and_dotted_times(tmp_path):
    # UCI's own layout: semicolons, DD/MM/YYYY, HH.MM.SS, decimal commas, empty trailing columns.
    text = "Date;Time;T;;\n12/03/2004;18.00.00;13,6;;\n12/03/2004;19.00.00;-200;;\n13/03/2004;20.00.00;11,9;;\n"
    ds = load(write(tmp_path, text), DataConfig(na_values="-200"), require_target=False)
    assert ds.frame.index[0] == pd.Timestamp("2004-03-12 18:00")
    assert ds.frame.index[-1] == pd.Timestamp("2004-03-13 20:00")
    assert ds.target == ("T",) and ds.missing == {"T": 1}


def test_mixed_date_formats_name_the_line(tmp_path):
    text = "date,y\n2024-01-01,1\n2024-01-02,2\nJan 3 2024,3\n"
    with pytest.raises(DataError, match=r"line 4: cannot parse 'Jan 3 2024' as a date; use one date format"):
        load(write(tmp_path, text), DataConfig())


def test_missing_date_col_lists_columns(tmp_path):
    with pytest.raises(DataError, match=r"column 'day' not found; columns are: date, y \(use --date-col NAME\)"):
        load(write(tmp_path, daily([1, 2, 3])), DataConfig(date_col="day"))


# --------------------------------------------------------------------------- reading


def test_semicolon_and_decimal_comma(tmp_path):
    text = "Datum;Wert;Menge\n2024-01-01;1,5;10\n2024-01-02;2,25;11\n2024-01-03;-3,75;12\n"
    ds = load(write(tmp_path, text), DataConfig(target="Wert", features="Menge"))
    assert ds.frame["Wert"].tolist() == [1.5, 2.25, -3.75]
    assert ds.frame["Menge"].tolist() == [10.0, 11.0, 12.0]


def test_bom_crlf_and_trailing_blank_lines(tmp_path):
    text = " date , y \n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n\n\n"
    path = write(tmp_path, text, newline="\r\n", encoding="utf-8-sig")
    assert (tmp_path / "data.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    ds = load(path, DataConfig())
    assert ds.date_col == "date" and ds.target == ("y",)
    assert ds.frame["y"].tolist() == [1.0, 2.0, 3.0] and ds.rows_read == 3


def test_latin1_file(tmp_path):
    text = "date,température\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n"
    ds = load(write(tmp_path, text, encoding="latin-1"), DataConfig())
    assert ds.target == ("température",)


def test_na_values_match_numerically(tmp_path):
    text = "date,y\n2024-01-01,1\n2024-01-02,-200\n2024-01-03,-200.0\n2024-01-04,4\n"
    table = read_table(write(tmp_path, text), DataConfig(na_values="-200"))
    assert table["y"].isna().tolist() == [False, True, True, False]
    assert table.index.tolist() == [2, 3, 4, 5]  # CSV line numbers


def test_read_errors(tmp_path):
    with pytest.raises(DataError, match="file not found; check the path"):
        read_table(tmp_path / "nope.csv", DataConfig())
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path, DataConfig())
    with pytest.raises(DataError, match="empty"):
        read_table(write(tmp_path, ""), DataConfig())
    with pytest.raises(DataError, match="no data rows"):
        read_table(write(tmp_path, "date,y\n"), DataConfig())
    (tmp_path / "x.csv").write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(DataError, match="not a text CSV"):
        read_table(tmp_path / "x.csv", DataConfig())


def test_non_numeric_target_names_line(tmp_path):
    text = 'date,y\n2024-01-01,1\n2024-01-02,"1,234.5"\n2024-01-03,3\n'
    with pytest.raises(DataError) as e:
        load(write(tmp_path, text), DataConfig(target="y"))
    msg = str(e.value)
    assert "column 'y' line 3: '1,234.5' is not a number" in msg and "thousands separators" in msg


def test_infinite_value_names_line(tmp_path):
    with pytest.raises(DataError, match=r"column 'y' line 3: infinite value"):
        load(write(tmp_path, "date,y\n2024-01-01,1\n2024-01-02,inf\n2024-01-03,3\n"), DataConfig())


def test_all_missing_target(tmp_path):
    with pytest.raises(DataError, match="column 'y' has no values"):
        load(write(tmp_path, "date,y,z\n2024-01-01,,1\n2024-01-02,,2\n"), DataConfig(target="y"))


def test_target_also_feature_is_config_error(tmp_path):
    with pytest.raises(ConfigError):
        load(write(tmp_path, daily([1, 2, 3])), DataConfig(target="y", features="y"))


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(daily([1.0, 2.0, 3.0, 4.0])))
    ds = load("-", DataConfig())
    assert ds.source == "<stdin>" and ds.frame["y"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_check_columns_names_every_missing_column():
    with pytest.raises(DataError) as e:
        check_columns(["date", "Close", "Open"], ["close", "Volume", "Open"], "f.csv")
    msg = str(e.value)
    assert msg.startswith("f.csv: columns 'close', 'Volume' not found") and "'close' -> 'Close'" in msg
    check_columns(pd.DataFrame(columns=["a", "b"]), ["a"], "f.csv")


# --------------------------------------------------------------------------- frequency


@pytest.mark.parametrize(
    ("freq", "label", "season"),
    [("h", "hourly", 24), ("D", "daily", 7), ("15min", "every 15 minutes", 96), ("MS", "monthly", 12)],
)
def test_infer_frequency_regular(freq, label, season, tmp_path):
    idx = pd.date_range("2024-01-01", periods=40, freq=freq)
    assert infer_frequency(idx) == (freq, label, False)
    text = "ds,y\n" + "\n".join(f"{t.isoformat()},{i}" for i, t in enumerate(idx.delete([5, 6]))) + "\n"
    ds = load(write(tmp_path, text), DataConfig())
    assert ds.freq == freq and ds.season == season and len(ds.frame) == 40
    # rows 5 and 6 are absent: values 4 at position 4 and 5 at position 7, filled in thirds
    assert ds.frame["y"].iloc[4:8].tolist() == pytest.approx([4, 4 + 1 / 3, 4 + 2 / 3, 5])


def test_infer_frequency_irregular_and_weekly():
    irregular = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-06 13:00", "2024-02-01"])
    assert infer_frequency(irregular) == (None, "irregular", False)
    weekly = pd.date_range("2024-01-07", periods=10, freq="W-SUN").delete(4)
    assert infer_frequency(weekly)[0] == "W-SUN"


def test_future_index_hourly_and_irregular():
    fut = future_index(pd.Timestamp("2024-01-01 23:00"), "h", 2, False)
    assert list(fut) == [pd.Timestamp("2024-01-02 00:00"), pd.Timestamp("2024-01-02 01:00")]
    with pytest.raises(DataError, match="irregular"):
        future_index(pd.Timestamp("2024-01-01"), None, 2, False)
    assert list(future_index(pd.Timestamp("2024-01-01"), "MS", 2, False)) == [
        pd.Timestamp("2024-02-01"),
        pd.Timestamp("2024-03-01"),
    ]


def test_data_module_does_not_import_tensorflow():
    import subprocess

    code = ("import sys, forecast_cli.data, forecast_cli.reading, forecast_cli.calendar; "
            "print(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
