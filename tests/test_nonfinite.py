"""No output holds a NaN or an empty forecast cell (issue 12, case 5): values the model cannot
compute with give one line that names the file and the column, in predict, score and evaluate."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app
from forecast_cli.errors import DataError

from conftest import AAPL

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def aapl_with(path, value: float, rows: int = 220):
    """AAPL's Date and Close, the last Close replaced by ``value`` (inside the last window)."""
    df = pd.read_csv(AAPL)[["Date", "Close"]].iloc[:rows].copy()
    df.loc[df.index[-1], "Close"] = value
    df.to_csv(path, index=False)
    return path


def test_predict_refuses_a_forecast_that_is_not_finite(aapl_bundle, tmp_path):
    data = aapl_with(tmp_path / "huge.csv", 1e300)
    out = tmp_path / "f.csv"
    for extra in (["-o", out], ["--json"], []):
        r = invoke("predict", aapl_bundle, data, "-q", *extra)
        assert r.exit_code == 1, r.output
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and r.stdout == ""
        assert lines[0].startswith(f"error: {data}: column 'Close': the forecast is not finite: the last 20 values "
                                   "reach 1e+300, beyond float32 (3.4e+38), far outside the training data (mean ")
        assert lines[0].endswith("; check the data")
    assert not out.exists()


def test_score_marks_a_non_finite_forecast_failed(aapl_bundle, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    aapl_with(d / "huge.csv", 1e300)
    aapl_with(d / "fine.csv", 150.0)
    out = tmp_path / "out"
    r = invoke("score", aapl_bundle, d, "-o", out, "--json")
    assert r.exit_code == 3, r.output
    s = {f["input"].rsplit("/", 1)[-1]: f for f in json.loads(r.stdout)["files"]}
    assert s["huge.csv"]["status"] == "failed" and s["huge.csv"]["output"] is None
    assert "column 'Close': the forecast is not finite: the last 20 values reach 1e+300" in s["huge.csv"]["error"]
    assert s["fine.csv"]["status"] == "ok"
    assert sorted(p.name for p in out.glob("*.forecast.csv")) == ["fine.forecast.csv"]
    assert pd.read_csv(out / "fine.forecast.csv").notna().all().all()


def test_check_forecast_names_the_column_and_checks_the_bounds():
    from forecast_cli.forecasting import check_forecast

    manifest = {"data": {"target": ["a", "b"], "columns": ["a", "b"]},
                "scaler": {"mean": [1.0, 2.0], "scale": [1.0, 1.0]}}
    window = np.ones((4, 2))
    bounds = {80.0: (np.full((3, 2), -1.0), np.full((3, 2), 1.0)), 95.0: (np.full((3, 2), np.nan),) * 2}
    check_forecast(np.ones((3, 2)), window, bounds, manifest, "x.csv")  # empty intervals (NaN offsets) pass
    point = np.ones((3, 2))
    point[1, 1] = 1e308  # finite, but its upper bound overflows
    bounds[80.0] = (np.full((3, 2), -1.0), np.full((3, 2), 1e308))
    with pytest.raises(DataError, match=r"^x\.csv: column 'b': the forecast is not finite: the model gave NaN"):
        check_forecast(point, window, bounds, manifest, "x.csv")
    window[-1, 0] = 5e3  # an extreme input value, in the feature-free column 'a'
    point[0, 0] = np.nan
    with pytest.raises(DataError, match=r"column 'a': .*the last 4 values reach 5000, far outside the training "
                                        r"data \(mean 1, std 1\); check the data$"):
        check_forecast(point, window, bounds, manifest, "x.csv")


def test_values_beyond_float32_are_refused_for_training(tmp_path):
    from forecast_cli import data as _data
    from forecast_cli.config import DataConfig
    from forecast_cli.forecasting import check_value_range

    t = np.arange(100)
    df = pd.DataFrame({"date": pd.date_range("2022-01-01", periods=100, freq="D").strftime("%Y-%m-%d"),
                       "y": 10 + np.sin(t)})
    df.loc[30, "y"] = 1e308
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False)
    ds = _data.load(str(path), DataConfig(target="y").check(), require_target=True)
    with pytest.raises(DataError, match=r"big\.csv: column 'y' at 2022-01-31 00:00:00: 1e\+308 is beyond what the "
                                        r"model can compute with \(float32, up to 3\.4e\+38; 1 such value\(s\)\); "
                                        r"rescale the column or fix the value"):
        check_value_range(ds)
    # The command: one line, exit 1, no internal error (series_model.check_for_model calls check_value_range).
    r = invoke("evaluate", path, "--target", "y", "--lookback", "5", "--horizon", "2", "--folds", "2",
               "--epochs", "1", "--units", "4", "-q")
    assert r.exit_code == 1, r.output
    assert r.stderr.splitlines() == [(f"error: {path}: column 'y' at 2022-01-31 00:00:00: 1e+308 is beyond what the "
                                      "model can compute with (float32, up to 3.4e+38; 1 such value(s)); rescale the "
                                      "column or fix the value")]
