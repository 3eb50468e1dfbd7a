"""Baseline forecasters computed beside every model: naive, seasonal naive, linear on lags.

Each has the same small contract as the neural forecaster: ``fit(values, origins)`` learns
from the windows whose origins are given (training windows only) and
``predict(values, origins)`` returns ``(n, horizon, n_targets)`` forecasts in the data's units.
``values`` is the whole ``(n_rows, n_columns)`` array; targets are its first columns.
No TensorFlow here.
"""
from __future__ import annotations

import numpy as np

from .windows import gather

__all__ = ["Naive", "SeasonalNaive", "LinearLags", "BASELINES", "make_baselines"]


class Naive:
    """Repeat the last observed value for every step: ŷ[o+h] = y[o]."""

    name = "naive"

    def __init__(self, horizon: int, n_targets: int):
        self.horizon, self.n_targets = horizon, n_targets

    def fit(self, values, origins):
        return self

    def predict(self, values, origins):
        last = np.asarray(values, dtype=np.float64)[np.asarray(origins), : self.n_targets]
        return np.repeat(last[:, None, :], self.horizon, axis=1)


class SeasonalNaive:
    """Repeat the last observed season: ŷ[o+h] = y[o + h - m·ceil(h/m)], m the season length.

    Where that row would lie before the start of the data, or is missing (a long gap left by
    ``--gaps skip`` that the season reaches back into), the last value is used instead.
    """

    name = "seasonal_naive"

    def __init__(self, horizon: int, n_targets: int, season: int):
        self.horizon, self.n_targets, self.season = horizon, n_targets, max(1, int(season))

    def fit(self, values, origins):
        return self

    def predict(self, values, origins):
        values = np.asarray(values, dtype=np.float64)
        origins = np.asarray(origins)
        m = self.season
        h = np.arange(1, self.horizon + 1)
        lag = h - m * np.ceil(h / m).astype(int)  # in (-m, 0]
        rows = origins[:, None] + lag[None, :]
        rows = np.where(rows < 0, origins[:, None], rows)
        out = values[rows, : self.n_targets]
        missing = np.isnan(out)
        if missing.any():
            last = np.broadcast_to(values[origins, None, : self.n_targets], out.shape)
            out = np.where(missing, last, out)
        return out


class LinearLags:
    """A linear regression (scikit-learn) from the flattened input window to all steps at once.

    It is fitted on the most recent ``MAX_FIT_WINDOWS`` training windows at most: more adds
    nothing to a model of ``lookback x columns`` weights, and copying a million windows would
    cost gigabytes.
    """

    name = "linear"
    MAX_FIT_WINDOWS = 100_000

    def __init__(self, lookback: int, horizon: int, n_targets: int):
        self.lookback, self.horizon, self.n_targets = lookback, horizon, n_targets

    def fit(self, values, origins):
        from sklearn.linear_model import Ridge

        origins = np.asarray(origins)[-self.MAX_FIT_WINDOWS:]
        X, Y = gather(values, origins, self.lookback, self.horizon, self.n_targets, dtype=np.float64)
        # Regress the change from the last value: same model family, better conditioned on
        # trending levels. A tiny ridge keeps it defined when columns are collinear.
        last = X[:, -1:, : self.n_targets]
        self.model_ = Ridge(alpha=1e-6).fit(self._design(X), (Y - last).reshape(len(Y), -1))
        return self

    def _design(self, X):
        return (X - X[:, -1:, :]).reshape(len(X), -1)

    def predict(self, values, origins, chunk: int = 50_000):
        out = []
        origins = np.asarray(origins)
        for i in range(0, len(origins), chunk):  # bounded memory on long test spans
            X, _ = gather(values, origins[i:i + chunk], self.lookback, self.horizon, self.n_targets,
                          dtype=np.float64)
            d = self.model_.predict(self._design(X)).reshape(len(X), self.horizon, self.n_targets)
            out.append(d + X[:, -1:, : self.n_targets])
        return np.concatenate(out) if out else np.empty((0, self.horizon, self.n_targets))


BASELINES = ("naive", "seasonal_naive", "linear")


def make_baselines(lookback: int, horizon: int, n_targets: int, season: int):
    return [Naive(horizon, n_targets), SeasonalNaive(horizon, n_targets, season),
            LinearLags(lookback, horizon, n_targets)]
