"""Issue 14, "small frictions seen": the holdout the intervals need, advice that works on a short
series, the progress bar between folds, --json-lines, and fold titles at 80 columns."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli import training
from forecast_cli.cli import app
from forecast_cli.errors import DataError
from forecast_cli.evaluation import holdout_note, holdout_split, make_folds
from forecast_cli.fit_advice import fold_settings, holdout_settings, min_windows_for_levels, panel_holdout_span

from conftest import one_line_error

runner = CliRunner()
TINY = ["--epochs", "1", "--units", "4", "--batch-size", "64", "--patience", "1", "--dropout", "0"]


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


@pytest.fixture(scope="module")
def monthly60(tmp_path_factory):
    """Five years of a monthly series (60 rows): trend, a yearly season and noise."""
    rng = np.random.default_rng(0)
    t = np.arange(60)
    path = tmp_path_factory.mktemp("frictions") / "monthly60.csv"
    pd.DataFrame({"date": pd.date_range("2015-01-01", periods=60, freq="MS").strftime("%Y-%m-%d"),
                  "value": (100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 60)).round(3)}
                 ).to_csv(path, index=False)
    return path


def advised(line: str) -> list[str]:
    """The flags after "settings that fit:" in an error line, as arguments."""
    m = re.search(r"settings that fit: ((?:--[a-z-]+ \d+ ?)+)", line)
    assert m, line
    return m.group(1).split()


# ---------------------------------------------------------------------------- 1. --holdout 0
def test_a_holdout_too_small_for_the_intervals_is_refused_with_the_count_they_need(monthly60, tmp_path):
    assert min_windows_for_levels() == 19 and min_windows_for_levels([80]) == 4
    r = invoke("train", monthly60, "-o", tmp_path / "m.fcst", "--holdout", "0", *TINY)
    line = one_line_error(r, 1, "--holdout 0 holds out no rows; the 80 % and 95 % intervals need 19 held-out windows",
                          "ceil((n+1)*0.95)", "settings that fit: --holdout 23")
    assert not (tmp_path / "m.fcst").exists(), line
    # a row count too small is refused; a longer series keeps its lookback, only the holdout grows
    with pytest.raises(DataError, match=r"--holdout 10 holds out 10 rows: 6 windows of horizon 5; .*"
                                        r"settings that fit: --holdout 23 --lookback 30 --horizon 5$"):
        holdout_split(300, 30, 5, 10)
    assert holdout_split(300, 30, 5, 23) == 277
    # a fraction (the default 0.1 is one) grows to the 19 windows, and the result says so
    assert holdout_split(300, 30, 5, 0.05) == 277 and holdout_split(300, 30, 5, 0.1) == 270
    assert holdout_note(300, 5, 0.05, 277) == ("--holdout 0.05 is 15 rows (11 windows); 23 rows were held out: "
                                               "the 80 % and 95 % intervals need 19 windows")
    # many series pool their held-out windows: --holdout 0 is refused, and a span too short for them
    with pytest.raises(DataError, match=r"--holdout 0 holds out nothing; .* with 3 series use --holdout 11 or more"):
        panel_holdout_span(0, 100, 5, 3)
    with pytest.raises(DataError, match=r"holds out 6 steps: 6 windows of horizon 5 over 3 series"):
        panel_holdout_span(6, 100, 5, 3)
    assert panel_holdout_span(11, 100, 5, 3) == 11  # 3 series x 7 windows = 21
    assert panel_holdout_span(0.01, 100, 5, 3) == 11 and panel_holdout_span(0.01, 100, 5, 40) == 5


def test_a_grown_holdout_is_reported(tmp_path):
    from forecast_cli import evaluation
    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig

    class Net:  # no TensorFlow: the holdout's bookkeeping is what is tested
        epochs_run_ = best_epoch_ = 0

        def __init__(self, *args):
            pass

        def fit(self, values, origins, on_epoch=None):
            return self

        def predict(self, values, origins):
            return np.repeat(values[np.asarray(origins), None, :1], 5, axis=1)

    values = np.sin(np.arange(150.0) / 3)[:, None]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluation, "NeuralForecaster", Net)
        _, info = evaluation.fit_holdout(values, n_targets=1, window=WindowConfig(10, 5), model=ModelConfig(),
                                         train=TrainConfig(), holdout=0.1)
    assert info["holdout_rows"] == [127, 150] and info["n_holdout_windows"] == 19
    assert info["holdout_note"].startswith("--holdout 0.1 is 15 rows (11 windows); 23 rows were held out")


# ---------------------------------------------------------------------------- 2. a 60-row monthly series
@pytest.mark.parametrize("n_rows", [22, 25, 40, 48, 60, 61, 97, 150, 400])
@pytest.mark.parametrize("lookback,horizon,folds,test_size", [(30, 5, 5, None), (12, 12, 3, None), (60, 1, 1, None),
                                                              (30, 5, 2, 4), (30, 5, 2, 40)])
def test_the_advised_settings_fit_whatever_the_length(n_rows, lookback, horizon, folds, test_size):
    """The settings an error names always make folds (with the network's 20 windows) and a holdout."""
    values = np.arange(float(n_rows))[:, None]
    fit = fold_settings(n_rows, lookback, horizon, folds, test_size)
    if fit is not None:
        got = make_folds(values, fit["lookback"], fit["horizon"], fit["folds"], test_size=fit["test_size"],
                         min_train_windows=training.MIN_TRAIN_WINDOWS)
        assert len(got) == fit["folds"] and fit["folds"] <= folds and fit["lookback"] <= lookback
        assert fit["horizon"] == horizon or n_rows < 2 * horizon + 20  # the horizon is kept when it can be
    else:
        assert n_rows < 22
    hold = holdout_settings(n_rows, lookback, horizon)
    if hold is not None:
        start = holdout_split(n_rows, hold["lookback"], hold["horizon"], hold["holdout"])
        assert n_rows - start - hold["horizon"] + 1 >= 19
    else:
        assert n_rows < 40


def test_a_short_monthly_series_gets_advice_that_works_the_first_time(monthly60, tmp_path):
    r = invoke("evaluate", monthly60, *TINY)
    line = one_line_error(r, 1, "60 rows leave 10 training rows before the first of 5 test spans of 10 rows",
                          "(20 training windows of lookback 13 and horizon 5)")
    flags = advised(line)
    assert flags == ["--folds", "2", "--test-size", "11", "--lookback", "13", "--horizon", "5"]
    r = invoke("evaluate", monthly60, *flags, *TINY, "--json-lines")
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["type"] for x in lines] == ["fold", "fold", "result"]
    assert [x["n_train_windows"] for x in lines[:2]] == [21, 32]  # at least the network's 20 in every fold
    assert lines[-1]["settings"]["window"] == {"lookback": 13, "horizon": 5}

    # train without --lookback: the whole-seasons rule takes what the rows hold, the lookback evaluate advised
    r = invoke("train", monthly60, "-o", tmp_path / "d.fcst", *TINY, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["settings"]["window"] == {"lookback": 13, "horizon": 5}
    assert out["holdout"]["n_holdout_windows"] == 19 and out["holdout"]["n_train_windows"] >= 20
    # the former default, given, gets the advice
    r = invoke("train", monthly60, "-o", tmp_path / "m.fcst", "--lookback", "30", *TINY)
    line = one_line_error(r, 1, "60 rows leave 37 training rows before a holdout of 23 rows (--holdout 0.1 is 6 rows, "
                          "grown to the 19 windows that the 80 % and 95 % intervals need)")
    flags = advised(line)
    assert flags == ["--holdout", "23", "--lookback", "13", "--horizon", "5"]  # the lookback evaluate advised
    r = invoke("train", monthly60, "-o", tmp_path / "m.fcst", *flags, *TINY, "--json")
    assert r.exit_code == 0, r.output
    hold = json.loads(r.stdout)["holdout"]
    assert hold["n_holdout_windows"] == 19 and hold["n_train_windows"] >= 20


# ---------------------------------------------------------------------------- 3. one fold, long lookback
def test_one_fold_with_a_long_lookback_is_not_told_to_use_fewer_folds(monthly60):
    r = invoke("evaluate", monthly60, "--folds", "1", "--lookback", "40", *TINY)
    line = one_line_error(r, 1, "60 rows leave 30 training rows before the first of 1 test span of 30 rows")
    assert "fewer --folds" not in line
    flags = advised(line)
    assert flags == ["--folds", "1", "--test-size", "23", "--lookback", "13", "--horizon", "5"]
    # the check that refused is the one the advice now passes (the network's own needs the same 20 windows)
    values = pd.read_csv(monthly60)[["value"]].to_numpy()
    (fold,) = make_folds(values, 13, 5, 1, test_size=23, min_train_windows=training.MIN_TRAIN_WINDOWS)
    assert len(fold.train_origins) == 20 and len(fold.test_origins) == 19


def test_gaps_that_leave_too_few_training_windows_say_so():
    values = np.arange(120.0)[:, None]
    values[20:60:8] = np.nan  # enough rows, but few complete windows in the first fold
    with pytest.raises(DataError, match=r"gaps leave fold 1 \d+ complete training windows .* fewer than the 20"):
        make_folds(values, 10, 2, 2, min_train_windows=20)


# ---------------------------------------------------------------------------- 4. progress between folds
def test_the_progress_bar_forgets_the_last_folds_val_loss():
    from forecast_cli.cli import _Progress

    with _Progress(True) as prog:
        prog.on_fold(1, 2)
        prog.on_epoch(3, 10, {"val_loss": 0.125})
        task = prog.progress.tasks[prog.epoch_task]
        assert task.fields["info"] == "val_loss 0.125" and task.completed == 3
        prog.on_fold(2, 2)
        task = prog.progress.tasks[prog.epoch_task]
        assert task.fields["info"] == "" and task.completed == 0


# ---------------------------------------------------------------------------- 5. --json-lines
def test_json_lines_keeps_the_finished_folds_when_interrupted(monkeypatch, monthly60):
    real_fit, calls = training.NeuralForecaster.fit, []

    def fit(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while fold 2 trains
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(training.NeuralForecaster, "fit", fit)
    r = invoke("evaluate", monthly60, "--folds", "2", "--test-size", "11", "--lookback", "13", *TINY, "--json-lines")
    assert r.exit_code == 130, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    fold = json.loads(lines[0])
    assert fold["type"] == "fold" and fold["of"] == 2 and fold["fold"] == 1
    assert set(fold["metrics"]) == {"model", "naive", "seasonal_naive", "linear", "ets"}
    assert np.isfinite(fold["metrics"]["model"]["rmse"])
    r = invoke("evaluate", monthly60, "--json", "--json-lines")
    one_line_error(r, 2, "--json and --json-lines both write JSON to stdout; choose one")


class _LastValue:
    """A stand-in for the many-series network (no TensorFlow): it repeats each window's last value."""

    def __init__(self, window, model, train, n_targets=1, season=1):
        self.horizon, self.epochs_run_ = window.horizon, 0

    def fit(self, values, origins, keys=None):
        return self

    def predict(self, values, origins, keys=None):
        return [np.repeat(np.asarray(v)[np.asarray(o, dtype=int), None, :1], self.horizon, axis=1)
                for v, o in zip(values, origins)]


def test_json_lines_for_many_series(tmp_path, monkeypatch):
    from forecast_cli import global_model

    monkeypatch.setattr(global_model, "GlobalForecaster", _LastValue)
    rng = np.random.default_rng(1)
    frames = [pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=80, freq="D"), "sid": f"s{k}",
                            "y": 10 + k + np.sin(np.arange(80) / 3) + rng.normal(0, 0.1, 80)}) for k in range(3)]
    src = tmp_path / "long.csv"
    pd.concat(frames).to_csv(src, index=False)
    r = invoke("evaluate", src, "--id-col", "sid", "--target", "y", "--lookback", "8", "--horizon", "2",
               "--folds", "2", *TINY, "--json-lines")
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["type"] for x in lines] == ["fold", "fold", "result"]
    final = lines[-1]
    for k, fold in enumerate(lines[:2]):
        assert fold["cutoff"] == final["folds"][k]["cutoff"] and fold["of"] == 2
        assert set(fold["mean"]) >= {"model", "naive"}
    # the folds' means over series average to the summary's mean (every series tested in every fold)
    mase = np.mean([f["mean"]["model"]["mase"] for f in lines[:2]])
    assert mase == pytest.approx(final["mean"]["model"]["mase"])


# ---------------------------------------------------------------------------- 6. fold titles at 80 columns
def test_fold_titles_break_between_phrases_at_80_columns(monkeypatch):
    from forecast_cli.cli import _stdout_console
    from forecast_cli.report import render_evaluation

    metrics = {k: {"mse": 1.0, "rmse": 1.0, "mae": 1.0, "r2": 0.5, "mape": 1.0, "mase": 1.0}
               for k in ("model", "naive", "seasonal_naive", "linear")}
    fold = {"fold": 1, "test_period": ["2009-02-10", "2013-07-31"], "n_train_windows": 1093, "n_test_windows": 1122,
            "epochs": 12, "best_epoch": 7, "metrics": metrics}
    result = {"data": {"file": "AAPL.csv", "rows": 3379, "start": "2004-08-19", "end": "2018-01-19",
                       "freq_label": "business days", "target": ["Close"]},
              "settings": {"model": {"model": "lstm", "layers": 1, "units": 4, "dropout": 0.1, "norm": "last",
                                     "linear_skip": True}, "window": {"lookback": 30, "horizon": 5}, "cv": "expanding",
                           "season": 5},
              "folds": [fold, {**fold, "fold": 2, "linear_path": {"rank": 3, "alpha": 0.01, "val_mse": 1.0}}],
              "summary": {k: {m: {"mean": 1.0, "std": 0.1} for m in v} for k, v in metrics.items()},
              "verdict": {"result": "no significant difference", "baseline": "naive", "model": 1.0,
                          "baseline_value": 1.0, "p_value": 0.5, "metric": "rmse", "vs": {}}}
    monkeypatch.setenv("COLUMNS", "80")
    console = _stdout_console()
    console.file = io.StringIO()
    render_evaluation(console, result)
    lines = console.file.getvalue().splitlines()
    title = [x for x in lines if x.startswith("fold 1:")]
    assert title == ["fold 1: test 2009-02-10 .. 2013-07-31; 1093 train / 1122 test windows;"]
    after = lines[lines.index(title[0]) + 1]
    assert after == "  12 epochs (best 7)"
    assert "  12 epochs (best 7); linear path rank 3, penalty 0.01" in lines
    assert all(len(x) <= 80 for x in lines if x.startswith(("fold", "  ")))
