"""``forecast train --fallback best``: serve the forecaster that won the holdout, a baseline included.

A bundle always holds a network, so a baseline that wins is saved as the network it is: naive,
seasonal naive and the linear model on lags are each a linear map of the input window
(:func:`forecast_cli.baselines.linear_map`), built here as one Dense layer over the window in the
network's scaled units (:func:`forecast_cli.models.build_linear_network`). ``predict`` and
``score`` then serve it as they serve any bundle, and the manifest's ``served`` section says what
it is and why.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError

__all__ = ["FALLBACKS", "MODEL_KEY", "baseline_network", "choose"]

FALLBACKS = ("model", "best")
MODEL_KEY = "model"


def choose(metrics: dict, fallback: str, servable=lambda name: True, metric: str = "rmse") -> str:
    """The forecaster to serve: ``model`` (``fallback="model"``), or, with ``fallback="best"``, the one
    with the lowest holdout ``metric`` (``metrics[name][metric]``; a tie goes to the simpler), among
    those ``servable`` (a seasonal naive whose season exceeds the lookback is not: the next best is).

    >>> m = {"model": {"rmse": 2.0}, "naive": {"rmse": 1.9}, "linear": {"rmse": 1.95}}
    >>> choose(m, "best"), choose(m, "model"), choose(m, "best", servable=lambda k: k != "naive")
    ('naive', 'model', 'linear')
    """
    if fallback not in FALLBACKS:
        raise ConfigError(f"--fallback must be one of {', '.join(FALLBACKS)}. Got {fallback!r}.")
    if fallback == "model":
        return MODEL_KEY
    order = ["naive", "seasonal_naive", "linear", MODEL_KEY]  # the simpler first on a tie
    means = {k: (metrics.get(k) or {}).get(metric) for k in order}
    ranked = sorted((k for k in order if means[k] is not None and (k == MODEL_KEY or servable(k))),
                    key=lambda k: (means[k], order.index(k)))
    return ranked[0] if ranked else MODEL_KEY


def baseline_network(baseline, net):
    """A fitted single-series ``baseline`` as a :class:`~forecast_cli.training.NeuralForecaster` of one
    linear layer, reading windows scaled by ``net``'s scaler (so the bundle's manifest holds one
    scaler) and giving the baseline's forecasts to float32 precision."""
    from .baselines import linear_map
    from .models import build_linear_network
    from .training import NeuralForecaster

    L, H, T = net.window.lookback, net.window.horizon, net.n_targets
    mu, s = np.asarray(net.scaler_.mean_, dtype=np.float64), np.asarray(net.scaler_.scale_, dtype=np.float64)
    F = len(mu)
    A, b = linear_map(baseline, L, F)  # forecast[h, t] = sum(A[h, t] * window) + b[h, t], data units
    # In scaled units: window = x * s + mu, forecast = (y - mu_t) / s_t.
    K = A * s[None, None, None, :] / s[:T][None, :, None, None]
    c = (np.einsum("htlc,c->ht", A, mu) + b - mu[:T][None, :]) / s[:T][None, :]
    kernel = K.transpose(2, 3, 0, 1).reshape(L * F, H * T)
    model = build_linear_network(L, F, H, T, kernel, c.reshape(H * T))
    return NeuralForecaster.from_parts(net.window, net.model_cfg, net.train_cfg, T, model, net.scaler_)
