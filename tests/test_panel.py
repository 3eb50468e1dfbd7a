"""Many series as a Panel: long files, folders, globs, lists and DataFrames; what is left out and why."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_cli.config import DataConfig
from forecast_cli.data import load
from forecast_cli.errors import ConfigError, DataError
from forecast_cli.panel import Panel, is_many, load_panel, panel_from_frame

from conftest import SAMPLE, write_series


def long_frame(spec, id_col="id", value="v", start="2020-01-01"):
    """One row per (series, day): ``spec`` maps id -> values (or (values, freq))."""
    parts = []
    for sid, vals in spec.items():
        vals, freq = vals if isinstance(vals, tuple) else (vals, "D")
        idx = pd.date_range(start, periods=len(vals), freq=freq)
        parts.append(pd.DataFrame({"date": idx.strftime("%Y-%m-%d"), id_col: sid, value: vals}))
    return pd.concat(parts, ignore_index=True)


def three(n=(60, 50, 40)):
    t = [np.arange(k, dtype=float) for k in n]
    return {"a": np.sin(t[0]) + 10, "b": 2 * t[1] + 1, "c": np.cos(t[2]) * 3}


def test_long_file_of_three_series(tmp_path):
    f = tmp_path / "long.csv"
    df = long_frame(three()).sample(frac=1.0, random_state=0)  # rows in any order
    df.to_csv(f, index=False)
    p = load_panel(f, DataConfig(id_col="id"))
    assert isinstance(p, Panel) and p.ids == ["a", "b", "c"] and p.id_col == "id"
    assert [len(s.frame) for s in p.series] == [60, 50, 40]
    assert p.freq == "D" and p.target == ("v",) and p.skipped == [] and p.rows == 150
    np.testing.assert_allclose(p["b"].frame["v"].to_numpy(), 2 * np.arange(50) + 1)
    assert p["c"].frame.index.is_monotonic_increasing and p["c"].source == f"{f}: series 'c'"


def test_each_series_is_validated_like_a_single_file(tmp_path):
    spec = three()
    spec["a"] = spec["a"].copy()
    spec["a"][[10, 11]] = np.nan  # a short gap: interpolated in that series only
    f = tmp_path / "long.csv"
    long_frame(spec).to_csv(f, index=False)
    p = load_panel(f, DataConfig(id_col="id"))
    single = tmp_path / "a.csv"
    long_frame({"a": spec["a"]}).drop(columns="id").to_csv(single, index=False)
    ds = load(single, DataConfig())
    np.testing.assert_array_equal(p["a"].values, ds.values)
    assert p["a"].interpolated == {"v": 2} and p["b"].interpolated == {"v": 0}


def test_too_short_series_is_left_out_with_its_reason(tmp_path):
    f = tmp_path / "long.csv"
    long_frame(three((60, 8, 40))).to_csv(f, index=False)
    p = load_panel(f, DataConfig(id_col="id"), min_rows=20)
    assert p.ids == ["a", "c"] and len(p.skipped) == 1
    s = p.skipped[0]
    assert (s["id"], s["kind"], s["rows"]) == ("b", "short", 8)
    assert s["reason"] == "8 rows, fewer than the 20 needed"
    assert s["message"] == "series 'b' left out: 8 rows, fewer than the 20 needed"
    assert p.summary()["totals"] == {"series": 2, "rows": 100, "left_out": 1, "gaps": 0, "long_gaps": 0,
                                     "missing": 0}


def test_series_of_another_frequency_is_left_out(tmp_path):
    spec = three()
    spec["c"] = (np.arange(30.0), "W")
    f = tmp_path / "long.csv"
    long_frame(spec).to_csv(f, index=False)
    p = load_panel(f, DataConfig(id_col="id"))
    assert p.ids == ["a", "b"] and p.freq == "D"
    assert p.skipped[0]["id"] == "c" and p.skipped[0]["kind"] == "freq"
    assert "frequency weekly, not daily (the frequency of 2 of 3 series)" in p.skipped[0]["reason"]


def test_long_gap_leaves_a_series_out_unless_gaps_skip_or_check(tmp_path):
    spec = three()
    spec["b"] = spec["b"].copy()
    spec["b"][20:30] = np.nan
    f = tmp_path / "long.csv"
    long_frame(spec).to_csv(f, index=False)
    p = load_panel(f, DataConfig(id_col="id"))
    assert p.ids == ["a", "c"] and p.skipped[0]["kind"] == "gaps"
    assert "column 'v' has 1 gap longer than --max-gap 3 steps, the first from 2020-01-21 to 2020-01-30 (10 steps)" \
        == p.skipped[0]["reason"]
    assert load_panel(f, DataConfig(id_col="id", gaps="skip")).ids == ["a", "b", "c"]
    checked = load_panel(f, DataConfig(id_col="id"), require_target=False)
    assert checked.ids == ["a", "b", "c"] and checked["b"].long_gaps[0].steps == 10


def test_all_missing_target_in_one_series_is_left_out(tmp_path):
    spec = three()
    spec["c"] = np.full(40, np.nan)
    f = tmp_path / "long.csv"
    long_frame(spec).to_csv(f, index=False)
    p = load_panel(f, DataConfig(id_col="id"))
    assert p.ids == ["a", "b"]
    assert p.skipped[0]["reason"] == "target column 'v' has no values (all 40 are missing)"


def test_strict_fails_at_the_first_series_left_out(tmp_path):
    f = tmp_path / "long.csv"
    long_frame(three((60, 8, 40))).to_csv(f, index=False)
    with pytest.raises(DataError) as e:
        load_panel(f, DataConfig(id_col="id"), min_rows=20, strict=True)
    msg = str(e.value)
    assert msg.startswith(f"{f}: series 'b' left out: 8 rows, fewer than the 20 needed; --strict")
    assert "\n" not in msg


def test_no_usable_series_fails_in_one_line(tmp_path):
    f = tmp_path / "long.csv"
    long_frame(three((6, 8, 7))).to_csv(f, index=False)
    with pytest.raises(DataError) as e:
        load_panel(f, DataConfig(id_col="id"), min_rows=20)
    msg = str(e.value)
    assert msg.startswith(f"{f}: no usable series: all 3 were left out (the first, 'a': 6 rows, fewer than the 20")
    assert "--lookback" in msg and "\n" not in msg


def test_repeated_timestamps_inside_one_series_name_the_series(tmp_path):
    df = long_frame(three())
    df = pd.concat([df, df.iloc[[3]]], ignore_index=True)
    f = tmp_path / "long.csv"
    df.to_csv(f, index=False)
    with pytest.raises(DataError, match=r"series 'a': 1 duplicate timestamp: 2020-01-04 \(lines 5, 152\)"):
        load_panel(f, DataConfig(id_col="id"))


def test_empty_id_and_bad_id_col(tmp_path):
    df = long_frame(three())
    df.loc[7, "id"] = None
    f = tmp_path / "long.csv"
    df.to_csv(f, index=False)
    with pytest.raises(DataError, match=r"column 'id' line 9: the series id is empty"):
        load_panel(f, DataConfig(id_col="id"))
    with pytest.raises(DataError, match=r"column 'ID' not found \(did you mean 'id'\?\).*--id-col"):
        load_panel(f, DataConfig(id_col="ID"))
    with pytest.raises(ConfigError, match="--id-col 'v' names the series"):
        load_panel(f, DataConfig(id_col="v", target="v"))


def test_numeric_ids_are_kept_out_of_the_values(tmp_path):
    df = long_frame(three(), id_col="sensor")
    df["sensor"] = df["sensor"].map({"a": 101, "b": 7, "c": 55})
    f = tmp_path / "long.csv"
    df.to_csv(f, index=False)
    p = load_panel(f, DataConfig(id_col="sensor"), require_target=False)
    assert p.ids == ["101", "55", "7"] and p.target == ("v",)  # ids sorted as strings


def _folder(tmp_path, lengths=(60, 50, 40)):
    d = tmp_path / "many"
    d.mkdir()
    for sid, vals in three(lengths).items():
        write_series(d / f"{sid}.csv", vals)
    (d / "notes.txt").write_text("not data\n")
    return d


def test_folder_glob_and_list_are_one_series_per_file(tmp_path):
    d = _folder(tmp_path)
    for source in (d, str(d / "*.csv"), sorted(d.glob("*.csv"))):
        assert is_many(source, DataConfig())
        p = load_panel(source, DataConfig())
        assert p.ids == ["a", "b", "c"] and [len(s.frame) for s in p.series] == [60, 50, 40]
        assert p.id_col == "unique_id" and p["b"].source == str(d / "b.csv")
    assert load_panel(d, DataConfig(), min_rows=45).ids == ["a", "b"]


def test_folder_files_must_share_columns(tmp_path):
    d = _folder(tmp_path)
    write_series(d / "d.csv", np.arange(30.0), name="w")
    with pytest.raises(DataError) as e:
        load_panel(d, DataConfig())
    assert str(e.value) == (f"{d / 'd.csv'}: its columns differ from those of {d / 'a.csv'} (it lacks 'y'; has 'w' "
                            "in addition); every file must have the same columns")


def test_repeated_stems_are_refused(tmp_path):
    d = _folder(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    write_series(other / "a.csv", np.arange(30.0))
    with pytest.raises(DataError, match=r"files '.*many/a.csv' and '.*other/a.csv' both name series 'a'"):
        load_panel([d / "a.csv", d / "b.csv", other / "a.csv"], DataConfig())


def test_missing_glob_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no files match the pattern"):
        load_panel(str(tmp_path / "*.csv"), DataConfig())
    with pytest.raises(DataError, match=r"is a directory with no \.csv, \.tsv or \.parquet files; give the path"):
        load_panel(tmp_path, DataConfig())


def test_single_file_is_a_panel_of_one_validated_as_load_does():
    p = load_panel(SAMPLE / "AAPL.csv", DataConfig(target="Close"))
    ds = load(SAMPLE / "AAPL.csv", DataConfig(target="Close"))
    assert p.ids == ["AAPL"] and not is_many(SAMPLE / "AAPL.csv", DataConfig())
    np.testing.assert_array_equal(p.series[0].values, ds.values)
    with pytest.raises(DataError, match=r"series 'AAPL' cannot be used: 3379 rows, fewer than the 5000 needed"):
        load_panel(SAMPLE / "AAPL.csv", DataConfig(target="Close"), min_rows=5000)


def test_sample_long_file_holds_aapl_and_spy_unchanged():
    p = load_panel(SAMPLE / "stocks_long.csv", DataConfig(id_col="ticker", target="close"))
    aapl = load(SAMPLE / "AAPL.csv", DataConfig(target="Close"))
    assert p.ids == ["AAPL", "SPY"] and p.trading_days and len(p["SPY"].frame) == 2519
    np.testing.assert_array_equal(p["AAPL"].values[:, 0], aapl.values[:, 0])


def test_panel_from_frame_nixtla_columns():
    df = long_frame(three()).rename(columns={"id": "unique_id", "date": "ds", "v": "y"})
    df["ds"] = pd.to_datetime(df["ds"])
    p = panel_from_frame(df.iloc[::-1])
    assert p.ids == ["a", "b", "c"] and p.freq == "D" and p.id_col == "unique_id"
    np.testing.assert_allclose(p["b"].frame["y"].to_numpy(), 2 * np.arange(50) + 1)
    short = panel_from_frame(df, min_rows=45)
    assert short.ids == ["a", "b"] and short.skipped[0]["id"] == "c"
    with pytest.raises(DataError, match=r"DataFrame: column 'value' not found"):
        panel_from_frame(df, target="value")


def test_panel_from_frame_single_series_and_offsets():
    ds = pd.date_range("2024-03-01", periods=48, freq="h", tz="+01:00")
    p = panel_from_frame(pd.DataFrame({"ds": ds, "y": np.arange(48.0)}), id_col=None)
    assert p.ids == ["series"] and p.id_col == "unique_id" and p.freq == "h" and p.tz == "+01:00"
    assert p.series[0].frame.index[0] == pd.Timestamp("2024-03-01 00:00")
    text = pd.DataFrame({"ds": ["2024-01-01", "2024-01-02", "2024-01-02"], "y": [1.0, 2, 3]})
    with pytest.raises(DataError, match="1 duplicate timestamp"):
        panel_from_frame(text, id_col=None)


def test_summary_is_json_ready(tmp_path):
    import json

    f = tmp_path / "long.csv"
    long_frame(three((60, 8, 40))).to_csv(f, index=False)
    s = load_panel(f, DataConfig(id_col="id"), min_rows=20).summary()
    back = json.loads(json.dumps(s))
    assert [b["id"] for b in back["series"]] == ["a", "c"] and back["series"][0]["rows"] == 60
    assert back["series"][0]["start"] == "2020-01-01T00:00:00" and back["skipped"][0]["id"] == "b"
    assert back["id_col"] == "id" and back["freq"] == "D"


def test_load_takes_the_fast_path_inside_it(tmp_path):
    cfg = DataConfig(target="Close", date_col="Date")
    fast = load(SAMPLE / "AAPL.csv", cfg, expect=("B", True))
    full = load(SAMPLE / "AAPL.csv", cfg)
    pd.testing.assert_frame_equal(fast.frame, full.frame, check_names=False)
    assert (fast.freq, fast.trading_days) == (full.freq, full.trading_days)
    f = write_series(tmp_path / "gap.csv", [1.0, 2.0, np.nan, 4.0, 5.0])  # unusual: the full path, same answer
    assert load(f, DataConfig(target="y"), expect=("D", False)).interpolated == {"y": 1}
