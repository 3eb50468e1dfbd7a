"""forecast predict: future timestamps, conformal intervals, --steps, the data contract."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app
from forecast_cli.errors import ConfigError, DataError
from forecast_cli.forecasting import check_levels, check_steps, conformal_bounds, predict

from conftest import AIR, FAST_MODEL, FAST_TRAIN

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


# ----------------------------------------------------------------------------- conformal
def test_conformal_rank_and_widening():
    r = np.arange(1.0, 100.0).reshape(1, 1, 99) * np.array([1, -1] * 49 + [1])  # signs do not matter
    b = conformal_bounds(r, [50, 80, 95])
    # rank ceil(100 * a / 100) = a -> the a-th smallest |residual| = a
    assert b[80][1].item() == 80.0 and b[80][0].item() == -80.0
    assert b[50][1].item() == 50.0 and b[95][1].item() == 95.0


def test_conformal_too_few_residuals_uses_max_and_warns():
    warns = []
    b = conformal_bounds(np.array([[[1.0, -3.0, 2.0]]]), [95], warns)
    assert b[95][1].item() == 3.0
    assert warns and "too few" in warns[0]


@pytest.mark.parametrize("bad", [0, 100, -5, 150])
def test_levels_must_be_percentages(bad):
    with pytest.raises(ConfigError, match="between 0 and 100"):
        check_levels([bad])


def test_steps_beyond_horizon_refused():
    assert check_steps(None, 5) == 5 and check_steps(3, 5) == 3
    with pytest.raises(ConfigError, match="--steps 10 exceeds the horizon 5 .* retrain with --horizon 10"):
        check_steps(10, 5)


# ----------------------------------------------------------------------------- AAPL (trading days)
def test_aapl_continues_on_business_days(aapl_bundle, aapl_path):
    fc = predict(aapl_bundle, aapl_path)
    f = fc.frame
    assert list(f["timestamp"].dt.strftime("%Y-%m-%d")) == [
        "2018-01-22", "2018-01-23", "2018-01-24", "2018-01-25", "2018-01-26"]  # after Friday 2018-01-19
    assert list(f["step"]) == [1, 2, 3, 4, 5]
    assert list(f.columns) == ["timestamp", "Close", "Close_lower_80", "Close_upper_80", "Close_lower_95",
                               "Close_upper_95", "step"]
    # Intervals contain the point forecast and widen with the level.
    assert (f["Close_lower_80"] <= f["Close"]).all() and (f["Close"] <= f["Close_upper_80"]).all()
    assert (f["Close_lower_95"] <= f["Close_lower_80"]).all() and (f["Close_upper_80"] <= f["Close_upper_95"]).all()
    assert ((f["Close_upper_95"] - f["Close_lower_95"]) > (f["Close_upper_80"] - f["Close_lower_80"])).all()
    assert np.isfinite(f.drop(columns="timestamp").to_numpy(dtype=float)).all()
    assert fc.info["interval"]["n_residuals"] > 100


def test_predict_cli_outputs(aapl_bundle, aapl_path, tmp_path):
    # -o - : CSV on stdout, --steps fewer than the horizon
    r = invoke("predict", aapl_bundle, aapl_path, "--steps", "3", "--level", "90", "-o", "-")
    assert r.exit_code == 0, r.output
    f = pd.read_csv(io.StringIO(r.stdout))
    assert list(f.columns) == ["timestamp", "Close", "Close_lower_90", "Close_upper_90", "step"]
    assert list(f["timestamp"]) == ["2018-01-22", "2018-01-23", "2018-01-24"]
    # --json: documented schema
    r = invoke("predict", aapl_bundle, aapl_path, "--json")
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert j["command"] == "predict" and j["steps"] == 5 and j["levels"] == [80.0, 95.0]
    assert j["trading_days"] is True and j["forecast"][0]["timestamp"] == "2018-01-22T00:00:00"
    # -o FILE: written atomically, nothing on stdout
    out = tmp_path / "f.csv"
    r = invoke("predict", aapl_bundle, aapl_path, "-o", out, "-q")
    assert r.exit_code == 0 and r.stdout == ""
    assert len(pd.read_csv(out)) == 5 and not list(tmp_path.glob(".*.tmp"))
    # table for people
    r = invoke("predict", aapl_bundle, aapl_path)
    assert r.exit_code == 0 and "2018-01-22" in r.stdout and "80% interval" in r.stdout


def test_predict_refuses_steps_beyond_horizon(aapl_bundle, aapl_path):
    r = invoke("predict", aapl_bundle, aapl_path, "--steps", "10")
    assert r.exit_code == 2
    assert "--steps 10 exceeds the horizon 5 the model was trained for; retrain with --horizon 10" in r.stderr


def test_predict_names_missing_columns(aapl_bundle, aapl_path, tmp_path):
    p = tmp_path / "open.csv"
    pd.read_csv(aapl_path)[["Date", "Open"]].to_csv(p, index=False)
    r = invoke("predict", aapl_bundle, p)
    assert r.exit_code == 1
    line = r.stderr.strip()
    assert line.startswith("error:") and "'Close' not found" in line and "Date, Open" in line
    assert len(line.splitlines()) == 1


def test_predict_incomplete_last_window(aapl_bundle, aapl_path, tmp_path):
    df = pd.read_csv(aapl_path)[["Date", "Close"]].iloc[-300:].copy()
    df.iloc[-10:-4, 1] = np.nan  # 6 missing steps: longer than max_gap 3, inside the last window
    p = tmp_path / "gap.csv"
    df.to_csv(p, index=False)
    with pytest.raises(DataError, match="last 20 rows .* missing value"):
        predict(aapl_bundle, p)
    # A long gap far from the end does not stop the forecast.
    df = pd.read_csv(aapl_path)[["Date", "Close"]].iloc[-300:].copy()
    df.iloc[50:60, 1] = np.nan
    df.to_csv(p, index=False)
    assert len(predict(aapl_bundle, p).frame) == 5


def test_predict_too_short(aapl_bundle, aapl_path, tmp_path):
    p = tmp_path / "short.csv"
    pd.read_csv(aapl_path)[["Date", "Close"]].iloc[-10:].to_csv(p, index=False)
    with pytest.raises(DataError, match="too short: 1[01] rows"):
        predict(aapl_bundle, p)


def test_parquet_without_pyarrow_is_a_clear_error(aapl_bundle, aapl_path, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed: importing it raises ImportError
    r = invoke("predict", aapl_bundle, aapl_path, "-o", tmp_path / "f.parquet")
    assert r.exit_code == 2 and "needs pyarrow" in r.stderr
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- air quality (hourly)
@pytest.fixture(scope="module")
def air_bundle(tmp_path_factory):
    """A tiny bundle on the last 600 hours of the air-quality data (T, -200 = missing)."""
    from forecast_cli import api
    from forecast_cli.config import DataConfig, ModelConfig, TrainConfig, WindowConfig

    d = tmp_path_factory.mktemp("air")
    lines = AIR.read_text().splitlines()
    src = d / "air_tail.csv"
    src.write_text("\n".join([lines[0]] + lines[-600:]) + "\n")
    out = d / "air.fcst"
    api.train(src, out, DataConfig(target="T", na_values="-200"), WindowConfig(24, 3), ModelConfig(**FAST_MODEL),
              TrainConfig(**FAST_TRAIN))
    return out, src


def test_air_quality_continues_hourly(air_bundle):
    bundle, src = air_bundle
    fc = predict(bundle, src)
    assert list(fc.frame["timestamp"].astype(str)) == [
        "2005-04-04 15:00:00", "2005-04-04 16:00:00", "2005-04-04 17:00:00"]  # last row is 2005-04-04 14:00
    assert fc.info["freq_label"] == "hourly"
    f = fc.frame
    assert (f["T_lower_95"] <= f["T_lower_80"]).all() and (f["T_lower_80"] <= f["T"]).all()
    assert (f["T"] <= f["T_upper_80"]).all() and (f["T_upper_80"] <= f["T_upper_95"]).all()
