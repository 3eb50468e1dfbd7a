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
