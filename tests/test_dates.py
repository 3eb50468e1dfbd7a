"""Issue 12: dates are never read silently wrong: day-first or month-first, the supported range, UTC offsets.

One tiny bundle (trained with ``--dayfirst`` on slash dates) serves the predict and score cases.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.bundle import read_manifest
from forecast_cli.cli import app
from forecast_cli.config import DataConfig, from_dict, to_dict
from forecast_cli.errors import ConfigError
from forecast_cli.forecasting import data_config

from conftest import one_line_error

runner = CliRunner()
TINY = ["--epochs", "1", "--units", "4", "--lookback", "5", "--horizon", "5", "--batch-size", "128",
        "--patience", "1", "--dropout", "0"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_rows(path: Path, header: str, stamps, values=None, sep=",") -> Path:
    values = np.sin(np.arange(len(stamps)) / 3.0) * 10 + 100 if values is None else values
    path.write_text(header + "\n" + "".join(f"{s}{sep}{v:.4f}\n" for s, v in zip(stamps, values)))
    return path


@pytest.fixture(scope="module")
def dayfirst_bundle(tmp_path_factory) -> Path:
    """Trained with --dayfirst on 60 daily rows dated dd/mm/yyyy (columns date, y)."""
    d = tmp_path_factory.mktemp("dates")
    src = write_rows(d / "train.csv", "date,y", pd.date_range("2021-01-01", periods=60, freq="D").strftime("%d/%m/%Y"))
    out = d / "m.fcst"
    r = invoke("train", src, "-o", out, "--dayfirst", *TINY, "-q")
    assert r.exit_code == 0, r.output
    return out


def check_json(*args) -> dict:
    r = invoke("check", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# --------------------------------------------------------------------------- case 1: day-first dates


def test_dotted_monthly_dates_read_day_first(tmp_path):
    # Before: read month-first, a daily series of 742 rows with 706 missing, exit 0.
    stamps = pd.date_range("2021-01-01", periods=36, freq="MS").strftime("%d.%m.%Y")
    s = check_json(write_rows(tmp_path / "dots.csv", "Date;Value", stamps, sep=";"))
    assert s["rows"] == 36 and s["freq"] == "MS" and s["dayfirst"] is True
    assert s["start"] == "2021-01-01T00:00:00" and s["end"] == "2023-12-01T00:00:00"
    assert s["columns"][0]["missing"] == 0


def test_slash_dates_ambiguous_both_ways_are_refused_and_the_options_decide(tmp_path):
    # 01/01/2021 .. 12/01/2021: day-first gives 12 days, month-first 12 months; both are regular.
    f = write_rows(tmp_path / "both.csv", "date,y", [f"{i:02d}/01/2021" for i in range(1, 13)])
    one_line_error(invoke("check", f), 1, "both.csv", "column 'date'", "day-first and month-first",
                   "--date-format", "--dayfirst")
    one_line_error(invoke("evaluate", f, *TINY), 1, "--date-format", "--dayfirst")
    day = check_json(f, "--dayfirst")
    assert (day["freq"], day["end"]) == ("D", "2021-01-12T00:00:00")
    month = check_json(f, "--no-dayfirst")
    assert (month["freq"], month["end"]) == ("MS", "2021-12-01T00:00:00")
    fmt = check_json(f, "--date-format", "%d/%m/%Y")
    assert (fmt["freq"], fmt["end"]) == ("D", "2021-01-12T00:00:00")
    one_line_error(invoke("check", f, "--date-format", "%Y-%m-%d"), 1, "line 2",
                   "does not match --date-format '%Y-%m-%d'")
    one_line_error(invoke("check", f, "--date-format", "dd/mm/yyyy"), 2, "--date-format", "no % directive")


def test_slash_dates_where_only_one_reading_is_regular(tmp_path):
    # Monthly on the 1st over two years: day-first is regular; month-first is Jan 1-12 of two years.
    monthly = pd.date_range("2021-01-01", periods=24, freq="MS").strftime("%d/%m/%Y")
    s = check_json(write_rows(tmp_path / "dm.csv", "date,y", monthly))
    assert (s["freq"], s["rows"], s["end"], s["dayfirst"]) == ("MS", 24, "2022-12-01T00:00:00", True)
    # The same dates written month-first: only the month-first reading is regular.
    s = check_json(write_rows(tmp_path / "md.csv", "date,y",
                              pd.date_range("2021-01-01", periods=24, freq="MS").strftime("%m/%d/%Y")))
    assert (s["freq"], s["rows"], s["end"], s["dayfirst"]) == ("MS", 24, "2022-12-01T00:00:00", False)
    # A day over 12 decides by itself, whatever the regularity.
    s = check_json(write_rows(tmp_path / "d13.csv", "date,y", ["12/01/2021", "13/01/2021", "14/01/2021"]))
    assert (s["start"], s["freq"]) == ("2021-01-12T00:00:00", "D")


def test_bundle_trained_with_dayfirst_reads_new_files_the_same_way(dayfirst_bundle, tmp_path):
    m = read_manifest(dayfirst_bundle)
    assert m["data"]["dayfirst"] is True and m["data"]["date_format"] is None
    assert data_config(m).dayfirst is True
    # An old bundle without the keys still loads (rule-based reading).
    old = {**m, "data": {k: v for k, v in m["data"].items() if k not in ("dayfirst", "date_format")}}
    assert data_config(old).dayfirst is None and data_config(old).date_format is None
    # 01/01 .. 12/01: ambiguous both ways on its own; the bundle reads it day-first (1-12 January).
    new = write_rows(tmp_path / "new.csv", "date,y", [f"{i:02d}/01/2021" for i in range(1, 13)])
    one_line_error(invoke("check", new), 1, "--dayfirst")
    r = invoke("predict", dayfirst_bundle, new, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["last_timestamp"] == "2021-01-12T00:00:00"
    assert [row["timestamp"] for row in out["forecast"]][:2] == ["2021-01-13T00:00:00", "2021-01-14T00:00:00"]
    # predict's options override the bundle's reading: month-first makes 12 months, 1 Jan .. 1 Dec.
    r = invoke("predict", dayfirst_bundle, new, "--no-dayfirst", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["last_timestamp"] == "2021-12-01T00:00:00"
    r = invoke("score", dayfirst_bundle, new, "-o", tmp_path / "out", "-q")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "out" / "new.forecast.csv").read_text().splitlines()
    assert text[1].startswith("2021-01-13,")


def test_date_settings_round_trip_and_replace():
    cfg = DataConfig(target="y", dayfirst=True)
    back = from_dict(DataConfig, json.loads(json.dumps(to_dict(cfg))))
    assert back == cfg and back.dayfirst is True and back.date_format is None
    # How score applies its options to a bundle's settings.
    new = replace(back, date_format="%m/%d/%Y", dayfirst=None).check()
    assert new.date_format == "%m/%d/%Y" and new.dayfirst is None
    assert back.with_dates(None, False) == replace(back, dayfirst=False)
    assert DataConfig(date_format="%d.%m.%Y").with_dates(None, True).date_format is None
    with pytest.raises(ConfigError, match="no % directive"):
        DataConfig(date_format="dd.mm.yyyy").check()


# --------------------------------------------------------------------------- case 2: the supported range


@pytest.mark.parametrize("year", [1600, 3000, 9999])
def test_dates_outside_the_nanosecond_range_are_refused(tmp_path, year, dayfirst_bundle):
    # Before: 1600 -> 2184, 3000 -> 1830, 9999 -> 1815, exit 0.
    f = write_rows(tmp_path / f"y{year}.csv", "date,y", [f"{year}-01-{d:02d}" for d in range(1, 11)])
    one_line_error(invoke("check", f), 1, f"y{year}.csv", "column 'date' line 2", f"'{year}-01-01'",
                   "outside the supported range 1677-09-21 .. 2262-04-11")
    r = invoke("score", dayfirst_bundle, f, "-o", tmp_path / "out", "-q")  # the fast reader too
    assert r.exit_code == 1, r.output
    entry = json.loads((tmp_path / "out" / "summary.json").read_text())["files"][0]
    assert entry["status"] == "failed" and "outside the supported range" in entry["error"]


def test_forecast_past_2262_is_one_line_error(tmp_path, dayfirst_bundle):
    # Before: step 3 came out as 1677-09-21 00:25:26, exit 0.
    stamps = pd.date_range("2262-02-09", "2262-04-09", freq="D").strftime("%Y-%m-%d")
    f = write_rows(tmp_path / "late.csv", "date,y", stamps)
    one_line_error(invoke("predict", dayfirst_bundle, f, "--steps", "5"), 1, "late.csv", "2262-04-09",
                   "go past 2262-04-11", "--steps 2")
    r = invoke("predict", dayfirst_bundle, f, "--steps", "2", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["forecast"][-1]["timestamp"] == "2262-04-11T00:00:00"
    r = invoke("score", dayfirst_bundle, f, "-o", tmp_path / "out", "-q")  # the fast reader's timestamps
    assert r.exit_code == 1
    entry = json.loads((tmp_path / "out" / "summary.json").read_text())["files"][0]
    assert entry["status"] == "failed" and "go past 2262-04-11" in entry["error"]


# --------------------------------------------------------------------------- case 6: UTC offsets


def test_utc_offset_is_kept_in_check_predict_and_score(tmp_path, dayfirst_bundle):
    # Before: read as UTC and written without a zone: the first forecast 11:00 repeated the last row.
    wall = pd.date_range("2024-01-01", periods=48, freq="h")
    f = write_rows(tmp_path / "tz.csv", "date,y", [f"{t:%Y-%m-%dT%H:%M:%S}+01:00" for t in wall])
    s = check_json(f)
    assert (s["tz"], s["start"], s["end"]) == ("+01:00", "2024-01-01T00:00:00+01:00", "2024-01-02T23:00:00+01:00")
    assert "+01:00" in invoke("check", f).stdout
    r = invoke("predict", dayfirst_bundle, f, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["last_timestamp"] == "2024-01-02T23:00:00+01:00"
    assert out["forecast"][0]["timestamp"] == "2024-01-03T00:00:00+01:00"
    r = invoke("predict", dayfirst_bundle, f, "-o", tmp_path / "fc.csv", "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "fc.csv").read_text().splitlines()[1].startswith("2024-01-03 00:00:00+01:00,")
    r = invoke("score", dayfirst_bundle, f, "-o", tmp_path / "out", "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "tz.forecast.csv").read_text().splitlines()[1].startswith("2024-01-03 00:00:00+01:00,")


def test_evaluate_predictions_carry_the_offset(tmp_path):
    wall = pd.date_range("2024-01-01", periods=120, freq="h")
    values = np.sin(np.arange(120) / 3)
    f = tmp_path / "tz.csv"
    f.write_text("date,y\n" + "".join(f"{t:%Y-%m-%dT%H:%M:%S}+01:00,{v:.4f}\n" for t, v in zip(wall, values)))
    r = invoke("evaluate", f, "-k", "2", "--predictions", tmp_path / "p.csv", *TINY)
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(tmp_path / "p.csv", dtype=str)
    assert rows["timestamp"].str.endswith("+01:00").all() and rows["origin"].str.endswith("+01:00").all()
    assert rows["timestamp"].iloc[-1] == "2024-01-05 23:00:00+01:00"  # the last row, as written


def test_mixed_offsets_are_converted_to_utc_and_written_with_it(tmp_path):
    stamps = ["2024-03-30T22:00:00+01:00", "2024-03-30T23:00:00+01:00", "2024-03-31T00:00:00+01:00",
              "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00"]
    s = check_json(write_rows(tmp_path / "dst.csv", "date,y", stamps))
    assert (s["tz"], s["freq"], s["rows"]) == ("UTC", "h", 6)
    assert (s["start"], s["end"]) == ("2024-03-30T21:00:00+00:00", "2024-03-31T02:00:00+00:00")
