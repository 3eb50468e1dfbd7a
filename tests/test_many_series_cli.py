"""Many series on the command line: evaluate, train, predict and score on long files and folders."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app

from conftest import one_line_error

runner = CliRunner()
FAST = ["--lookback", "48", "--horizon", "12", "--epochs", "3", "--units", "8", "--linear-fit", "lstsq",
        "--patch", "12", "--dropout", "0"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _series(n: int, kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    day = np.sin(2 * np.pi * t / 24)
    base = {"flat": 10 + day, "big": 500 + 40 * day, "trend": 50 + 0.05 * t + 3 * day}[kind]
    return base + rng.normal(0, 0.02 * np.std(base), n)


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    """A long file (timestamp, sensor, value) of three hourly series and one too short to use."""
    d = tmp_path_factory.mktemp("long")
    frames = []
    for k, kind in enumerate(("flat", "big", "trend")):
        ts = pd.date_range("2024-01-01", periods=300, freq="h")
        frames.append(pd.DataFrame({"timestamp": ts, "sensor": kind, "value": _series(300, kind, k)}))
    frames.append(pd.DataFrame({"timestamp": pd.date_range("2024-01-12", periods=20, freq="h"), "sensor": "new",
                                "value": _series(20, "big", 9)}))
    path = d / "sensors.csv"
    pd.concat(frames).to_csv(path, index=False, float_format="%.6f")
    return path


@pytest.fixture(scope="module")
def folder(long_csv, tmp_path_factory):
    """The same series as one file per series."""
    d = tmp_path_factory.mktemp("folder")
    df = pd.read_csv(long_csv)
    for sid, g in df.groupby("sensor"):
        g.drop(columns="sensor").to_csv(d / f"{sid}.csv", index=False)
    return d


@pytest.fixture(scope="module")
def bundle(long_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "sensors.fcst"
    r = invoke("train", long_csv, "--id-col", "sensor", "--target", "value", *FAST, "--holdout", "48",
               "-o", out, "--json")
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout)


def test_evaluate_long_file_beats_naive_on_each_series_and_leaves_the_short_one_out(long_csv, tmp_path):
    pred = tmp_path / "cv.csv"
    r = invoke("evaluate", long_csv, "--id-col", "sensor", "--target", "value", *FAST, "--folds", "2",
               "--predictions", pred, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["data"]["series"] == 3 and [s["id"] for s in res["data"]["skipped"]] == ["new"]
    assert "series 'new' left out" in r.stderr
    b = res["verdict"]["beats"]["naive"]
    assert b["point"] == {"wins": 3, "ties": 0, "losses": 0}  # every series' mean MASE below naive's
    # 2 folds x 1 window a series: a t test with 1 df; 2 wins are significant, 1 is not
    assert (b["wins"], b["ties"], b["losses"], b["too_few"]) == (2, 1, 0, 0)
    assert set(res["series"]) == {"flat", "big", "trend"}
    for sid in res["series"]:
        assert res["series"][sid]["model"]["mase"] < res["series"][sid]["naive"]["mase"]
    df = pd.read_csv(pred)
    assert list(df.columns) == ["sensor", "fold", "cutoff", "ds", "y", "model", "naive", "seasonal_naive", "linear", "ets"]
    assert len(df) == 3 * 2 * 12 and not df.isna().any().any()
    # one cutoff per fold, common to all series
    assert df.groupby("fold").cutoff.nunique().tolist() == [1, 1]


def test_evaluate_strict_fails_on_the_short_series(long_csv):
    r = invoke("evaluate", long_csv, "--id-col", "sensor", "--target", "value", *FAST, "--strict")
    one_line_error(r, 1, "new")


def test_folder_is_many_series(folder):
    r = invoke("evaluate", folder, "--target", "value", *FAST, "--folds", "1", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["data"]["series"] == 3 and res["data"]["id_col"] == "unique_id"
    assert res["verdict"]["series"] == 3


def test_train_bundle_and_predict_long_output(bundle, long_csv, tmp_path):
    path, res = bundle
    assert res["bundle"]["series"] == 3 and res["holdout"]["holdout_steps"] == 48
    out = tmp_path / "f.csv"
    r = invoke("predict", path, long_csv, "-o", out)
    assert r.exit_code == 0, r.output
    assert "1 series shorter than the lookback (48) were padded: new" in r.stderr
    f = pd.read_csv(out)
    assert list(f.columns) == ["sensor", "timestamp", "value", "value_lower_80", "value_upper_80", "value_lower_95",
                               "value_upper_95", "step", "short_history"]
    assert f.groupby("sensor").size().to_dict() == {"big": 12, "flat": 12, "new": 12, "trend": 12}
    assert f.loc[f.sensor == "new", "short_history"].all() and not f.loc[f.sensor != "new", "short_history"].any()
    assert np.isfinite(f.select_dtypes(float).to_numpy()).all()
    assert (f.value_lower_95 <= f.value_lower_80).all() and (f.value_upper_80 <= f.value_upper_95).all()
    # the new series, listed 20 hours ago at the big one's level, is forecast at that level
    assert f.loc[f.sensor == "new", "value"].between(400, 600).all()


def test_score_long_input_and_folder_with_a_global_bundle(bundle, long_csv, folder, tmp_path):
    path, _ = bundle
    r = invoke("score", path, long_csv, "-o", tmp_path / "a")
    assert r.exit_code == 0, r.output
    f = pd.read_csv(tmp_path / "a" / "sensors.forecast.csv")
    assert f.columns[0] == "sensor" and sorted(f.sensor.unique()) == ["big", "flat", "new", "trend"]
    r = invoke("score", path, folder, "-o", tmp_path / "b")
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    status = {f["input"].rsplit("/", 1)[-1]: f for f in summary["files"]}
    assert all(v["status"] == "ok" for v in status.values())
    assert status["new.csv"]["short_history"] and "short_history" not in status["big.csv"]
    one = pd.read_csv(tmp_path / "b" / "big.forecast.csv")
    # a file of one series is forecast as that series of the long file was
    np.testing.assert_allclose(one.value.to_numpy(), f.loc[f.sensor == "big", "value"].to_numpy(), rtol=1e-6)


def test_local_models_cannot_be_one_bundle(long_csv, tmp_path):
    r = invoke("train", long_csv, "--id-col", "sensor", "--target", "value", *FAST, "--local", "-o",
               tmp_path / "x.fcst")
    one_line_error(r, 2, "--local")
    assert not (tmp_path / "x.fcst").exists()
