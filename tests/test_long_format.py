"""Long-format input on the command line: `check` of many series, the --id-col advice, Parquet."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app
from forecast_cli.config import DataConfig
from forecast_cli.data import load
from forecast_cli.errors import DataError
from forecast_cli.panel import load_panel

from conftest import SAMPLE, write_series

runner = CliRunner()
LONG = SAMPLE / "stocks_long.csv"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _long(tmp_path, lengths=(60, 8, 40), freqs=("D", "D", "D")):
    parts = []
    for sid, n, f in zip("abc", lengths, freqs):
        idx = pd.date_range("2020-01-01", periods=n, freq=f)
        parts.append(pd.DataFrame({"date": idx.strftime("%Y-%m-%d"), "id": sid, "v": np.arange(n, dtype=float)}))
    path = tmp_path / "long.csv"
    pd.concat(parts).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------- the --id-col advice
def test_repeated_timestamps_with_one_text_column_suggest_id_col():
    with pytest.raises(DataError) as e:
        load(LONG, DataConfig(target="close"))
    assert str(e.value) == (f"{LONG}: 2519 timestamps repeat (e.g. 2007-12-31 on lines 849, 850) and column 'ticker' "
                            "holds text (2 values: AAPL, SPY): this looks like several series in one long-format "
                            "file; pass --id-col ticker to read one series per value")


def test_repeated_timestamps_without_one_text_column_keep_the_old_advice(tmp_path):
    f = tmp_path / "dup.csv"
    f.write_text("date,y,note,kind\n2024-01-01,1,x,p\n2024-01-01,2,y,q\n2024-01-02,3,z,r\n")
    with pytest.raises(DataError, match="1 duplicate timestamp: 2024-01-01 .lines 2, 3.; remove or aggregate"):
        load(f, DataConfig(target="y"))
    g = tmp_path / "plain.csv"
    g.write_text("date,y\n2024-01-01,1\n2024-01-01,2\n2024-01-02,3\n")
    with pytest.raises(DataError, match="remove or aggregate duplicate rows"):
        load(g, DataConfig())


def test_check_without_id_col_says_to_pass_it():
    r = invoke("check", LONG)
    assert r.exit_code == 1
    assert "pass --id-col ticker" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- check of many series
def test_check_long_file_shows_a_table_per_series_and_totals():
    r = invoke("check", LONG, "--id-col", "ticker")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "2 series by 'ticker'" in out
    assert "AAPL" in out and "3,379" in out and "2004-08-19" in out and "2018-01-19" in out
    assert "SPY" in out and "2,519" in out and "2007-12-31" in out
    assert "totals: 2 series, 5,898 rows, 0 left out" in out


def test_check_long_file_json_has_per_series_blocks():
    r = invoke("check", LONG, "--id-col", "ticker", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert [b["id"] for b in s["series"]] == ["AAPL", "SPY"]
    assert s["series"][1]["rows"] == 2519 and s["series"][1]["freq"] == "B" and s["series"][1]["missing"] == 0
    assert s["totals"] == {"series": 2, "rows": 5898, "left_out": 0, "gaps": 0, "long_gaps": 0, "missing": 0}
    assert s["id_col"] == "ticker" and s["target"] == ["close"]


def test_check_lists_what_is_left_out(tmp_path):
    f = _long(tmp_path, freqs=("D", "D", "W"))
    r = invoke("check", f, "--id-col", "id")
    assert r.exit_code == 0, r.output
    assert "2 series by 'id'" in r.stdout and "left out (1)" in r.stdout
    assert "frequency weekly, not daily" in r.stdout
    s = json.loads(invoke("check", f, "--id-col", "id", "--json").stdout)
    assert s["totals"]["left_out"] == 1 and s["skipped"][0]["id"] == "c" and s["skipped"][0]["kind"] == "freq"


def test_check_folder_and_glob(tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    for k, n in (("x", 30), ("y", 40)):
        write_series(d / f"{k}.csv", np.arange(n, dtype=float))
    for source in (d, d / "*.csv"):
        r = invoke("check", source, "--json")
        assert r.exit_code == 0, r.output
        s = json.loads(r.stdout)
        assert [b["id"] for b in s["series"]] == ["x", "y"] and s["totals"]["rows"] == 70
        assert s["id_col"] == "unique_id"


def test_check_refuses_folder_of_different_columns(tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    write_series(d / "x.csv", np.arange(30.0))
    write_series(d / "y.csv", np.arange(30.0), name="z")
    r = invoke("check", d)
    assert r.exit_code == 1 and "y.csv: its columns differ from those of" in r.stderr


def test_check_of_a_single_file_is_unchanged():
    r = invoke("check", SAMPLE / "AAPL.csv", "--json")
    s = json.loads(r.stdout)
    assert r.exit_code == 0 and "series" not in s and s["rows"] == 3379


def test_check_of_many_series_never_imports_tensorflow():
    code = ("import sys\nfrom forecast_cli.cli import app\n"
            f"sys.argv = ['forecast', 'check', {str(LONG)!r}, '--id-col', 'ticker']\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY=' + ','.join(m for m in ('tensorflow', 'keras') if m in sys.modules), file=sys.stderr)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY=\n" in p.stderr and "AAPL" in p.stdout, p.stderr


# ---------------------------------------------------------------------------- Parquet
def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed: importing it raises ImportError
    f = tmp_path / "long.parquet"
    f.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError) as e:
        load_panel(f, DataConfig(id_col="id"))
    assert str(e.value) == (f"{f}: reading Parquet needs pyarrow, which is not installed; pip install "
                            "'forecast-cli[parquet]' (or pip install pyarrow), or give a CSV file")


@pytest.mark.skipif(not _has_pyarrow(), reason="needs pyarrow")
def test_parquet_long_file_equals_its_csv(tmp_path):
    csv = _long(tmp_path, lengths=(60, 50, 40))
    df = pd.read_csv(csv)
    pq = tmp_path / "long.parquet"
    df.to_parquet(pq)
    a, b = load_panel(csv, DataConfig(id_col="id")), load_panel(pq, DataConfig(id_col="id"))
    assert a.ids == b.ids == ["a", "b", "c"]
    for x, y in zip(a.series, b.series):
        pd.testing.assert_frame_equal(x.frame, y.frame)
    df["date"] = pd.to_datetime(df["date"]).dt.tz_localize("UTC")  # a real timestamp column
    df.to_parquet(pq)
    c = load_panel(pq, DataConfig(id_col="id"))
    assert c.tz == "UTC" and c.ids == ["a", "b", "c"] and len(c["a"].frame) == 60
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load(tmp_path / "broken.parquet", DataConfig())
