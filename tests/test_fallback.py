"""`train --fallback best`: a baseline that wins the holdout is served as the linear network it is."""
from __future__ import annotations

import numpy as np
import pytest

from forecast_cli.baselines import LinearLags, Naive, SeasonalNaive, linear_map
from forecast_cli.errors import ConfigError
from forecast_cli.fallback import choose


def _series(n=400, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.c_[50 + 5 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.5, n) + 0.05 * t, rng.normal(10, 1, n)]


@pytest.mark.parametrize("make", [lambda H, T: Naive(H, T), lambda H, T: SeasonalNaive(H, T, 7),
                                  lambda H, T: LinearLags(14, H, T)])
def test_each_baseline_is_the_linear_map_it_says(make):
    """linear_map in numpy gives the baseline's own forecasts on windows with a feature column."""
    from forecast_cli.windows import valid_origins

    v, L, H = _series(), 14, 5
    o = valid_origins(v, L, H)
    b = make(H, 1).fit(v, o[o < 300])
    A, c = linear_map(b, L, 2)
    te = o[o >= 300]
    X = np.stack([v[k - L + 1:k + 1] for k in te])
    got = np.einsum("htlc,nlc->nht", A, X) + c
    np.testing.assert_allclose(got, b.predict(v, te), rtol=1e-9, atol=1e-9)


def test_a_season_beyond_the_lookback_cannot_be_served():
    with pytest.raises(ValueError, match="beyond the lookback"):
        linear_map(SeasonalNaive(3, 1, season=24), lookback=12, n_columns=1)


def test_the_served_network_gives_the_baselines_forecasts():
    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
    from forecast_cli.fallback import baseline_network
    from forecast_cli.training import NeuralForecaster
    from forecast_cli.windows import Scaler, valid_origins

    v, L, H = _series(), 14, 5
    net = NeuralForecaster(WindowConfig(L, H), ModelConfig(units=4), TrainConfig(epochs=1), 1)
    net.scaler_ = Scaler().fit(v[:300])
    o = valid_origins(v, L, H)
    te = o[o >= 300]
    X = np.stack([v[k - L + 1:k + 1] for k in te])
    for b in (Naive(H, 1), SeasonalNaive(H, 1, 7), LinearLags(L, H, 1)):
        b.fit(v, o[o < 300])
        np.testing.assert_allclose(baseline_network(b, net).predict_windows(X), b.predict(v, te), atol=2e-5)


def test_choose_takes_the_lowest_holdout_rmse_and_the_simpler_on_a_tie():
    m = {"model": {"rmse": 1.0}, "naive": {"rmse": 1.0}, "seasonal_naive": {"rmse": 3.0}, "linear": {"rmse": 1.5}}
    assert choose(m, "best") == "naive" and choose(m, "model") == "model"
    m["model"]["rmse"] = 0.9
    assert choose(m, "best") == "model"
    with pytest.raises(ConfigError, match="--fallback must be one of model, best"):
        choose(m, "baseline")


def _random_walk(n=400, seed=1):
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="D"),
                         "y": 100 + np.cumsum(rng.normal(0, 1, n))})


def test_fit_holdout_best_serves_the_winning_baseline_end_to_end(tmp_path):
    """On a random walk an untrained network (one epoch) loses to naive: --fallback best saves naive as
    the bundle's network; predict serves the last value, score the same, and inspect says so."""
    from typer.testing import CliRunner

    from forecast_cli import Forecaster
    from forecast_cli.cli import app
    from forecast_cli.forecasting import predict

    df = _random_walk()
    fc = Forecaster(lookback=14, horizon=3, epochs=1, units=4, seed=0, stat_baseline=False, dropout=0.5)
    info = fc.fit_holdout(df, id_col=None, holdout=60, fallback="best")
    m = info["metrics"]
    best = min(("naive", "seasonal_naive", "linear", "model"), key=lambda k: (m[k]["rmse"], k != "naive"))
    assert info["served"]["forecaster"] == best and best != "model", info["served"]
    out = fc.predict(level=[80])
    if best == "naive":
        np.testing.assert_allclose(out["model"], df["y"].iloc[-1], rtol=1e-6)
    # the intervals are the served baseline's own held-out residuals
    assert fc.residuals_.shape == (3, 1, 60 - 3 + 1)  # (horizon, targets, windows), as after load
    fc.save(tmp_path / "b.fcst")
    assert Forecaster.load(tmp_path / "b.fcst").residuals_.shape == fc.residuals_.shape
    df.to_csv(tmp_path / "rw.csv", index=False)
    again = predict(tmp_path / "b.fcst", str(tmp_path / "rw.csv"), levels=[80])
    np.testing.assert_allclose(again.frame["y"], out["model"], rtol=1e-6)
    assert again.info["served"] == best
    r = CliRunner().invoke(app, ["inspect", str(tmp_path / "b.fcst")], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "serves" in r.stdout and "the lowest holdout RMSE" in r.stdout


def test_fallback_best_is_refused_for_many_series():
    import pandas as pd

    from forecast_cli import Forecaster

    df = pd.concat([_random_walk().assign(unique_id=k) for k in "ab"])
    with pytest.raises(ConfigError, match="--fallback best applies to one series"):
        Forecaster(lookback=14, horizon=3, epochs=1).fit_holdout(df, fallback="best")
