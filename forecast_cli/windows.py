"""Input/output windows over a series without copying it, and scaling fitted on training rows.

A window is identified by its *origin* ``o``: the index of its last input row. Its inputs
are rows ``[o - lookback + 1, o]`` and its targets rows ``[o + 1, o + horizon]``.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError, DataError

__all__ = ["window_views", "valid_origins", "gather", "Scaler"]


def window_views(values: np.ndarray, lookback: int, horizon: int, n_targets: int):
    """Strided views of every complete window of ``values``.

    Args:
        values: array of shape ``(n_rows, n_columns)``; the first ``n_targets`` columns are
            the targets.
        lookback: input length.
        horizon: output length.
        n_targets: number of target columns.

    Returns:
        ``(X, Y)`` read-only views: ``X[i]`` is ``values[i:i+lookback]`` with shape
        ``(lookback, n_columns)`` and ``Y[i]`` is ``values[i+lookback:i+lookback+horizon, :n_targets]``.
        Window ``i`` has origin ``i + lookback - 1``. No data is copied.

    >>> X, Y = window_views(np.arange(6.0)[:, None], lookback=3, horizon=2, n_targets=1)
    >>> X.shape, Y.shape
    ((2, 3, 1), (2, 2, 1))
    >>> X[1, :, 0].tolist(), Y[1, :, 0].tolist()
    ([1.0, 2.0, 3.0], [4.0, 5.0])
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (rows, columns). Received shape {values.shape}.")
    n = values.shape[0] - lookback - horizon + 1
    if n < 1:
        raise DataError(
            f"series has {values.shape[0]} rows, fewer than lookback + horizon = "
            f"{lookback + horizon}; use a longer series or a smaller --lookback/--horizon"
        )
    sw = np.lib.stride_tricks.sliding_window_view
    X = sw(values[: n + lookback - 1], lookback, axis=0).swapaxes(1, 2)
    Y = sw(values[lookback:, :n_targets], horizon, axis=0).swapaxes(1, 2)
    return X[:n], Y[:n]


def valid_origins(values: np.ndarray, lookback: int, horizon: int, start: int = 0, stop: int | None = None):
    """Origins ``o`` whose whole window lies in rows ``[start, stop)`` and holds no NaN.

    Windows that touch a missing value (a long gap left by ``--gaps skip``) are left out.
    """
    values = np.asarray(values)
    n_rows = values.shape[0]
    stop = n_rows if stop is None else min(stop, n_rows)
    first, last = start + lookback - 1, stop - horizon - 1
    if last < first:
        return np.empty(0, dtype=np.int64)
    origins = np.arange(first, last + 1, dtype=np.int64)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        # cum[k] = number of bad rows in [0, k); a window spans [o-L+1, o+H].
        cum = np.concatenate([[0], np.cumsum(bad)])
        n_bad = cum[origins + horizon + 1] - cum[origins - lookback + 1]
        origins = origins[n_bad == 0]
    return origins


def gather(values: np.ndarray, origins: np.ndarray, lookback: int, horizon: int, n_targets: int,
           dtype=np.float32):
    """Copy the windows at ``origins`` into contiguous ``(X, Y)`` arrays of ``dtype``.

    ``Y`` is None when some origins have no complete target span (forecasting past the end).
    """
    origins = np.asarray(origins, dtype=np.int64)
    values = np.asarray(values)
    sw = np.lib.stride_tricks.sliding_window_view
    Xv = sw(values, lookback, axis=0).swapaxes(1, 2)  # Xv[i] = rows [i, i+L)
    X = np.asarray(Xv[origins - lookback + 1], dtype=dtype)
    if len(origins) and origins.max() + horizon >= values.shape[0]:
        return X, None
    Yv = sw(values[:, :n_targets], horizon, axis=0).swapaxes(1, 2)
    Y = np.asarray(Yv[origins + 1], dtype=dtype)
    return X, Y


class Scaler:
    """Per-column standardisation, fitted on training rows only and stored as plain numbers.

    Fitting uses scikit-learn's ``StandardScaler`` (which ignores NaN); the learned
    ``mean_`` and ``scale_`` are kept as float arrays so they can go into JSON.
    """

    def __init__(self, mean=None, scale=None):
        self.mean_ = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale_ = None if scale is None else np.asarray(scale, dtype=np.float64)

    def fit(self, rows: np.ndarray) -> "Scaler":
        from sklearn.preprocessing import StandardScaler

        rows = np.asarray(rows, dtype=np.float64)
        if rows.shape[0] < 2:
            raise DataError(f"cannot fit a scaler on {rows.shape[0]} training row(s); need at least 2")
        sk = StandardScaler().fit(rows)
        self.mean_ = np.nan_to_num(sk.mean_.astype(np.float64))
        self.scale_ = np.where(np.isfinite(sk.scale_) & (sk.scale_ > 0), sk.scale_, 1.0)
        return self

    def _check(self):
        if self.mean_ is None:
            raise ConfigError("This Scaler instance is not fitted yet. Call 'fit' with appropriate arguments.")

    def transform(self, values: np.ndarray) -> np.ndarray:
        self._check()
        return (np.asarray(values, dtype=np.float64) - self.mean_) / self.scale_

    def inverse_targets(self, y: np.ndarray) -> np.ndarray:
        """Undo the scaling of target arrays ``(..., n_targets)`` (targets are the first columns)."""
        self._check()
        t = y.shape[-1]
        return np.asarray(y, dtype=np.float64) * self.scale_[:t] + self.mean_[:t]

    def to_dict(self) -> dict:
        self._check()
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Scaler":
        return cls(d["mean"], d["scale"])
