"""The command line: exit codes, one-line errors, JSON schema, streams, start-up cost."""
import json
import math
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from typer.testing import CliRunner

from forecast_cli.cli import app

from conftest import AAPL, FAST_CLI, write_series

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------------------- start-up
def _modules_after(argv):
    code = (
        "import sys\n"
        "from forecast_cli.cli import app\n"
        f"sys.argv = {argv!r}\n"
        "try:\n"
        "    app()\n"
        "except SystemExit:\n"
        "    pass\n"
        "bad = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(bad), file=sys.stderr)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return p


@pytest.mark.parametrize("argv", [["forecast", "--help"], ["forecast", "--version"],
                                  ["forecast", "check", str(AAPL)], ["forecast", "check", str(AAPL), "--json"]])
def test_help_and_check_never_import_tensorflow(argv):
    p = _modules_after(argv)
    assert "HEAVY=\n" in p.stderr, p.stderr
    assert p.stdout  # it did print something


def test_version():
    r = invoke("--version")
    assert r.exit_code == 0 and r.stdout.startswith("forecast-cli ")


# ---------------------------------------------------------------------------- check
def test_check_json_on_aapl():
    r = invoke("check", AAPL, "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["rows"] == 3379 and s["freq"] == "B" and s["trading_days"] is True
    assert s["long_gaps"] == 0


def test_check_table_has_no_ansi_when_not_a_terminal():
    r = invoke("check", AAPL)
    assert r.exit_code == 0
    assert "\x1b[" not in r.stdout
    assert "3,379" in r.stdout and "business days" in r.stdout


# ---------------------------------------------------------------------------- errors
def test_missing_column_is_one_line_exit_1():
    r = invoke("evaluate", AAPL, "--target", "close", *FAST_CLI)
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "AAPL.csv" in lines[0] and "'close'" in lines[0] and "did you mean 'Close'" in lines[0]
    assert "Traceback" not in r.output


def test_too_short_series_exit_1_names_file_and_fix(tmp_path):
    f = write_series(tmp_path / "short.csv", np.arange(20.0))
    r = invoke("evaluate", f, "--target", "y", "--lookback", "30", *FAST_CLI)
    assert r.exit_code == 1
    assert r.stderr.startswith("error: ") and "short.csv" in r.stderr and "20 rows" in r.stderr
    assert "use a series of at least 30 rows" in r.stderr  # no settings fit: the length that would
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_file_exit_1():
    r = invoke("check", "no/such/file.csv")
    assert r.exit_code == 1 and "no/such/file.csv" in r.stderr and "Traceback" not in r.output


def test_usage_errors_exit_2():
    assert invoke("evaluate", AAPL, "--lookback", "0").exit_code == 2
    assert invoke("evaluate", AAPL, "--no-such-option").exit_code == 2
    r = invoke("evaluate", AAPL, "--target", "Close", "--model", "transformer")
    assert r.exit_code == 2 and "--model must be one of lstm, gru, attention" in r.stderr


def test_debug_shows_traceback():
    r = invoke("check", "no/such/file.csv", "--debug")
    assert r.exit_code == 1 and "Traceback" in r.stderr


# ---------------------------------------------------------------------------- evaluate
@pytest.fixture(scope="module")
def aapl_eval(tmp_path_factory):
    pred = tmp_path_factory.mktemp("eval") / "pred.csv"
    r = invoke("evaluate", AAPL, "--target", "Close", "--folds", "3", "--lookback", "20", "--horizon", "3",
               "--by-step", "--json", "--predictions", pred, *FAST_CLI)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), pd.read_csv(pred)


def test_evaluate_json_schema(aapl_eval):
    res, _ = aapl_eval
    names = {"model", "naive", "seasonal_naive", "linear"}
    metrics = {"mse", "rmse", "mae", "r2", "mape", "mase"}
    assert len(res["folds"]) == 3
    for f in res["folds"]:
        assert set(f["metrics"]) == names
        for m in f["metrics"].values():
            assert set(m) == metrics and all(isinstance(v, float) for v in m.values())
        assert len(f["by_step"]["model"]) == 3
        assert f["n_test_windows"] == f["test_rows"][1] - f["test_rows"][0] - 3 + 1
    assert set(res["summary"]) == names
    for name in names:
        assert set(res["summary"][name]) == metrics
        assert set(res["summary"][name]["rmse"]) == {"mean", "std"}
    assert res["data"]["freq"] == "B" and res["settings"]["season"] == 5
    assert isinstance(res["verdict"]["beat_naive"], bool)


def test_evaluate_json_matches_sklearn_on_the_same_predictions(aapl_eval):
    res, pred = aapl_eval
    close = pd.read_csv(AAPL)["Close"].to_numpy()
    for f in res["folds"]:
        p = pred[pred["fold"] == f["fold"]]
        assert len(p) == f["n_test_windows"] * 3
        # the naive forecast is the last input value, recomputed here from the raw file
        origin_rows = np.repeat(np.arange(f["test_rows"][0] - 1, f["test_rows"][1] - 3), 3)
        np.testing.assert_allclose(p["naive"].to_numpy(), close[origin_rows])
        for name in ("model", "naive", "seasonal_naive", "linear"):
            m = f["metrics"][name]
            y, yhat = p["actual"].to_numpy(), p[name].to_numpy()
            assert m["mse"] == pytest.approx(mean_squared_error(y, yhat), rel=1e-9)
            assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, yhat)), rel=1e-9)
            assert m["mae"] == pytest.approx(mean_absolute_error(y, yhat), rel=1e-9)
            assert m["r2"] == pytest.approx(r2_score(y, yhat), rel=1e-9)
            assert m["mape"] == pytest.approx(100 * np.mean(np.abs(y - yhat) / np.abs(y)), rel=1e-9)
            train = close[f["train_rows"][0]:f["train_rows"][1]]
            assert m["mase"] == pytest.approx(mean_absolute_error(y, yhat) / np.mean(np.abs(np.diff(train))),
                                              rel=1e-9)
    agg = res["summary"]["model"]["rmse"]
    vals = [f["metrics"]["model"]["rmse"] for f in res["folds"]]
    assert agg["mean"] == pytest.approx(np.mean(vals)) and agg["std"] == pytest.approx(np.std(vals, ddof=1))


def test_evaluate_table_and_verdict_line(tmp_path):
    r = invoke("evaluate", AAPL, "--target", "Close", "--folds", "2", "--lookback", "10", "--horizon", "2", *FAST_CLI)
    assert r.exit_code == 0, r.output
    assert "fold 1" in r.stdout and "fold 2" in r.stdout and "mean ± std over 2 folds" in r.stdout
    assert "the best baseline (naive)" in r.stdout and "Diebold-Mariano p" in r.stdout
    for label in ("naive", "seasonal naive", "linear (lags)", "LSTM"):
        assert label in r.stdout
    assert r.stderr == ""  # no progress noise when stderr is not a terminal


# ---------------------------------------------------------------------------- train
def test_train_writes_a_verified_bundle(tmp_path):
    out = tmp_path / "m.fcst"
    r = invoke("train", AAPL, "--target", "Close", "-o", out, "--lookback", "10", "--horizon", "3", "--json",
               *FAST_CLI)
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert set(res["holdout"]["metrics"]) == {"model", "naive", "seasonal_naive", "linear"}
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "model.keras"]
        manifest = json.loads(zf.read("manifest.json"))
        import hashlib

        assert hashlib.sha256(zf.read("model.keras")).hexdigest() == manifest["model_sha256"]
    assert manifest["data"]["target"] == ["Close"] and manifest["data"]["freq"] == "B"
    assert manifest["window"] == {"lookback": 10, "horizon": 3}
    assert len(manifest["scaler"]["mean"]) == 1
    assert np.asarray(manifest["conformal"]["residuals"]).shape[:2] == (3, 1)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


# ---------------------------------------------------------------------------- configuration
def test_config_file_env_and_flags_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "f.toml"
    cfg.write_text('lookback = 7\nhorizon = 2\n[evaluate]\nfolds = 2\n', encoding="utf-8")
    args = ["evaluate", AAPL, "--target", "Close", "--json", *FAST_CLI]
    r = invoke("--config", cfg, *args)
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["settings"]["window"] == {"lookback": 7, "horizon": 2} and len(res["folds"]) == 2
    monkeypatch.setenv("FORECAST_LOOKBACK", "9")  # environment beats the file
    res = json.loads(invoke("--config", cfg, *args).stdout)
    assert res["settings"]["window"]["lookback"] == 9
    res = json.loads(invoke("--config", cfg, *args, "--lookback", "11").stdout)  # flags beat both
    assert res["settings"]["window"]["lookback"] == 11


def test_bad_config_file_is_a_usage_error(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("lookback = = 3\n", encoding="utf-8")
    r = invoke("--config", cfg, "check", AAPL)
    assert r.exit_code == 2 and "bad.toml" in r.stderr
