"""Seasonality on one series (issue 15): the lookback defaults to whole seasons and the closed-form
linear path (the one-series default, ``linear_fit="auto"``) reads the seasonal lags, so the forecast
recovers a planted seasonal pattern; nothing fitted reads rows after the training windows.
(Deseasonalised inputs were measured and not adopted: docs/short_series.md.)"""
from __future__ import annotations

import numpy as np

from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
from forecast_cli.fit_advice import default_lookback
from forecast_cli.training import NeuralForecaster

M = 12
PATTERN = np.sin(2 * np.pi * np.arange(M) / M) + 0.5 * np.cos(4 * np.pi * np.arange(M) / M)  # sums to 0
TRAIN_END = 180  # rows [0, 180) hold every training window (inputs and targets)


def _planted(n=240, noise=0.2, trend=0.05, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + trend * t + PATTERN[t % M] + noise * rng.standard_normal(n)


def _fit(v, **model):
    window = WindowConfig(default_lookback(TRAIN_END, M, M, folds=1), M)
    origins = np.arange(window.lookback - 1, TRAIN_END - M)  # the last training target is row 179
    cfg = ModelConfig(units=4, dropout=0.0, **model)
    return NeuralForecaster(window, cfg, TrainConfig(epochs=1, patience=1), 1, season=M).fit(v, origins)


def test_lookback_defaults_to_whole_seasons():
    assert default_lookback(700, 12, 5) == 36  # monthly: 3 years
    assert default_lookback(9000, 24, 5) == 48  # hourly: 2 days
    assert default_lookback(3000, 5, 5) == 30  # business days: 6 weeks, the old default
    assert default_lookback(500, 1, 5) == 30  # no season: unchanged
    assert default_lookback(80, 12, 5) == 24  # the rows allow 2 years, not 3
    assert default_lookback(64, 4, 4, folds=2) == 16  # quarterly, short: 4 years
    assert default_lookback(40, 12, 5) == 7  # not two seasons: what fits


def test_default_model_recovers_the_planted_seasonal_pattern():
    v = _planted()[:, None]
    net = _fit(v)
    assert net.window.lookback == 36 and net.linear_fit_ is not None  # whole seasons, the closed-form path
    test = np.arange(200, 228)  # windows after the training rows
    pred = net.predict(v, test)[:, :, 0]
    steps = np.arange(1, M + 1)
    truth = PATTERN[(test[:, None] + steps[None, :]) % M]
    shape = pred - pred.mean(axis=1, keepdims=True)
    assert min(np.corrcoef(s, t)[0, 1] for s, t in zip(shape, truth)) > 0.9
    # with the planted trend (0.05 a step), each window's forecast is the planted pattern within 0.15
    # on average over the test windows (the pattern's range is 2.6)
    expect = truth + 0.05 * steps
    err = (shape - (expect - expect.mean(axis=1, keepdims=True))).mean(axis=0)
    assert np.max(np.abs(err)) < 0.15
    # an adam-trained path after one epoch is still near the naive forecast: the shape is the ridge's
    flat = _fit(v, linear_fit="adam").predict(v, test)[:, :, 0]
    assert np.ptp(flat, axis=1).max() < 0.5 * np.ptp(pred, axis=1).min()


def test_nothing_fitted_reads_rows_after_the_training_windows():
    v = _planted()[:, None]
    changed = v.copy()
    changed[TRAIN_END:] += 50.0 * np.sin(np.arange(len(v) - TRAIN_END))[:, None]  # later rows, changed wildly
    a, b = _fit(v), _fit(changed)
    assert np.array_equal(a.scaler_.mean_, b.scaler_.mean_) and a.linear_fit_ == b.linear_fit_
    o = np.arange(100, TRAIN_END - 1)  # windows whose inputs end before the changed rows forecast the same
    assert np.allclose(a.predict(v, o), b.predict(changed, o), atol=1e-5)


# ----------------------------------------------------------------------------- the default, wired
def _monthly_csv(tmp_path, n=240):
    import pandas as pd

    path = tmp_path / "monthly.csv"
    pd.DataFrame({"date": pd.date_range("2000-01-01", periods=n, freq="MS"), "y": _planted(n)}).to_csv(path, index=False)
    return path


def test_commands_use_whole_seasons_when_no_lookback_is_given(tmp_path):
    """evaluate and train on one series: no --lookback -> 36 on monthly data (shown in the settings and
    trained with); a given --lookback is kept; fewer rows -> the whole seasons they hold."""
    from forecast_cli import api
    from forecast_cli.config import DataConfig
    from forecast_cli.settings_table import TABLE

    assert TABLE["lookback"].default is None and WindowConfig().lookback is None
    src, fast = _monthly_csv(tmp_path), dict(units=4, dropout=0.0)
    train = TrainConfig(epochs=1, patience=1, stat_baseline=False)
    ev = api.evaluate(str(src), DataConfig(), WindowConfig(horizon=M), ModelConfig(**fast), train, folds=2)
    assert ev["settings"]["window"] == {"lookback": 36, "horizon": M} and ev["settings"]["season"] == M
    assert all(f["n_train_windows"] == f["train_rows"][1] - 36 - M + 1 for f in ev["folds"]), ev["folds"][0]
    tr = api.train(str(src), tmp_path / "m.fcst", DataConfig(), WindowConfig(horizon=M), ModelConfig(**fast), train)
    assert tr["settings"]["window"]["lookback"] == 36
    from forecast_cli.bundle import read_manifest

    assert read_manifest(tmp_path / "m.fcst")["window"] == {"lookback": 36, "horizon": M}
    given = api.evaluate(str(src), DataConfig(), WindowConfig(20, M), ModelConfig(**fast), train, folds=2)
    assert given["settings"]["window"]["lookback"] == 20
    (tmp_path / "short").mkdir()
    short = api.evaluate(str(_monthly_csv(tmp_path / "short", 96)), DataConfig(), WindowConfig(horizon=M),
                         ModelConfig(**fast), train, folds=2, test_size=M)
    assert short["settings"]["window"]["lookback"] == default_lookback(96, M, M, 2) == 24


def test_many_series_and_tune_read_the_default_lookback():
    """Many series: None is 30 (the former default); tune's defaults trial gets the rule's value."""
    from forecast_cli.config import WindowConfig as W
    from forecast_cli.fit_advice import MANY_SERIES_LOOKBACK, resolve_lookback

    assert MANY_SERIES_LOOKBACK == 30 and resolve_lookback(W(), many=True).lookback == 30
    assert resolve_lookback(W(horizon=M), season=M, n_rows=500).lookback == 36
    assert resolve_lookback(W(9, M), season=M, n_rows=500, many=True).lookback == 9
