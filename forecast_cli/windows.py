"""Input/output windows over a series without copying it, scaling fitted on training rows, and the
scale-free normalisation of each window that lets one network serve many series.

A window is identified by its *origin* ``o``: the index of its last input row. Its inputs
are rows ``[o - lookback + 1, o]`` and its targets rows ``[o + 1, o + horizon]``.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError, DataError

__all__ = ["Scaler", "gather", "valid_origins", "window_views"]


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

    def fit(self, rows: np.ndarray) -> Scaler:
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
    def from_dict(cls, d: dict) -> Scaler:
        return cls(d["mean"], d["scale"])


# -- scale-free window normalisation (the global model across series) ---------------------------
# Normalised inputs and training targets are clipped to +-NORM_CLIP: a window whose scale is tiny
# next to a jump (a level shift after a flat stretch) must not dominate the squared loss. The bound
# is wide: nearly periodic series (M4 hourly) swing 100s of times their seasonal differences.
NORM_CLIP = 1e4


def norm_season(lookback: int, season: int) -> int:
    """The lag of the differences that scale a window: ``season`` when the window holds at least
    two seasons, else 1 (successive differences).

    >>> norm_season(168, 24), norm_season(30, 24), norm_season(30, 1)
    (24, 1, 1)
    """
    season = max(1, int(season))
    return season if lookback >= 2 * season else 1


def _tiny(last):
    return 1e-7 * np.maximum(1.0, np.abs(last))


def window_scale(Z: np.ndarray, m: int, lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(last, scale)`` of windows ``Z`` ``(n, L, C)``: each window's last row and the mean absolute
    lag-``m`` difference over its real rows (the last ``lengths[j]`` rows; all when None), with
    successive differences when a window is too short or flat for lag ``m``, and 1 when it is
    constant. Both ``(n, 1, C)``.

    >>> Z = np.array([[[0.], [1.], [0.], [1.], [3.]]])
    >>> [a.ravel().tolist() for a in window_scale(Z, 2)]
    [[3.0], [1.0]]
    """
    n, L, C = Z.shape
    lengths = np.full(n, L) if lengths is None else np.asarray(lengths, dtype=np.int64)
    last = Z[:, -1:, :]
    t = np.arange(L)[None, :, None]
    start = (L - lengths)[:, None, None]

    def mad(lag):
        d = np.abs(Z[:, lag:, :] - Z[:, :-lag, :]) if lag < L else np.zeros((n, 0, C))
        ok = (t[:, lag:, :] - lag) >= start  # both ends of the difference are real rows
        cnt = ok.sum(axis=1, keepdims=True)
        s = np.where(ok, d, 0.0).sum(axis=1, keepdims=True)
        return np.where(cnt > 0, s / np.maximum(cnt, 1), 0.0)

    tiny = _tiny(last)
    s = mad(m) if m > 1 else np.zeros_like(last)
    s1 = mad(1)
    scale = np.where(s > tiny, s, np.where(s1 > tiny, s1, 1.0))
    return last, scale


def pad_windows(X: np.ndarray, lengths: np.ndarray, m: int) -> np.ndarray:
    """Windows ``(n, L, C)`` whose first ``L - lengths[j]`` rows are padding, those rows filled by
    repeating the real rows backwards with period ``m`` (``lengths[j]`` when that is shorter), so a
    short history looks like a full window of the same seasonal shape; full windows are returned
    unchanged (a copy).

    >>> pad_windows(np.array([[[0.], [0.], [5.], [6.], [7.]]]), np.array([3]), 2)[0, :, 0].tolist()
    [5.0, 6.0, 5.0, 6.0, 7.0]
    """
    X = np.array(X, dtype=np.float64)
    _, L, _ = X.shape
    lengths = np.asarray(lengths, dtype=np.int64)
    for j in np.flatnonzero(lengths < L):
        k = int(lengths[j])
        if k < 1:
            raise DataError("a window needs at least one observed row")
        p = min(m, k)
        for r in range(L - k - 1, -1, -1):
            X[j, r] = X[j, r + p]
    return X


def normalise_windows(X: np.ndarray, season: int, *, log: bool = True, lengths=None):
    """Scale-free windows for a model shared by many series: per window and column, log values
    when the window is positive (and ``log``), minus the last value, divided by the mean absolute
    lag-``season`` difference (:func:`window_scale`), clipped to +-:data:`NORM_CLIP`.

    Args:
        X: windows ``(n, L, C)`` in the data's units.
        season: the seasonal lag (use :func:`norm_season`).
        log: take logs of positive windows. Defaults to True.
        lengths: real rows per window (the rest is left padding, see :func:`pad_windows`);
            None = all full. Defaults to None.

    Returns:
        ``(Xn, stats)``: ``Xn`` float32 ``(n, L, C)`` and ``stats = (last, scale, logged)`` for
        :func:`denormalise`.

    >>> X = np.array([[[1.], [2.], [1.], [2.]]])
    >>> Xn, st = normalise_windows(X, 2, log=False)
    >>> Xn[0, :, 0].tolist(), denormalise(np.zeros((1, 2, 1)), st)[0, :, 0].tolist()
    ([-1.0, 0.0, -1.0, 0.0], [2.0, 2.0])
    """
    X = np.asarray(X, dtype=np.float64)
    n, L, C = X.shape
    if lengths is not None:
        lengths = np.minimum(np.asarray(lengths, dtype=np.int64), L)
        X = pad_windows(X, lengths, season)
    if log:
        logged = np.all(X > 0, axis=1, keepdims=True)  # NaN compares False: not logged
        Z = np.where(logged, np.log(np.where(logged, X, 1.0)), X)
    else:
        logged = np.zeros((n, 1, C), dtype=bool)
        Z = X
    last, scale = window_scale(Z, season, lengths)
    Xn = np.clip((Z - last) / scale, -NORM_CLIP, NORM_CLIP)
    return Xn.astype(np.float32), (last, scale, logged)


def denormalise(Yn: np.ndarray, stats) -> np.ndarray:
    """Forecasts ``(n, H, T)`` in normalised units back to the data's units (targets are the first
    ``T`` columns of the windows that gave ``stats``). A logged forecast is capped at 1,000 times
    the window's last value (and floored at a thousandth of it) before the exponential."""
    last, scale, logged = stats
    T = Yn.shape[-1]
    last, scale, logged = last[:, :, :T], scale[:, :, :T], logged[:, :, :T]
    Z = np.asarray(Yn, dtype=np.float64) * scale + last
    cap = np.log(1e3)
    Zl = np.clip(Z, last - cap, last + cap)
    return np.where(logged, np.exp(np.where(logged, Zl, 0.0)), Z)
