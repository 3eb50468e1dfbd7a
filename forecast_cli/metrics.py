"""Forecast accuracy metrics in the data's own units, overall and per horizon step.

All functions take arrays of shape ``(n_windows, horizon, n_targets)``; metrics are
computed per target on the flattened windows and steps, then averaged over targets
(scikit-learn's ``multioutput="uniform_average"``).

- MSE  = mean((y - ŷ)²)
- RMSE = sqrt(MSE)
- MAE  = mean(|y - ŷ|)
- R²   = 1 - Σ(y - ŷ)² / Σ(y - ȳ)²; undefined (None) when y is constant
- MAPE = 100 · mean(|y - ŷ| / |y|), in percent; undefined (None) when some y is 0
- MASE = MAE / mean(|y_t - y_{t-1}|) over the training rows (the in-sample naive MAE)

For many series (:mod:`forecast_cli.panel_cv`), the scale-free measures are computed per series,
as the M4 competition defined them, with the season ``m`` of the data (m = 1 without one):

- sMAPE = mean(200 · |y - ŷ| / (|y| + |ŷ|)), in percent (a 0/0 term counts as 0)
- MASE  = MAE / mean(|y_t - y_{t-m}|) over the series' training rows
- RMSSE = sqrt(MSE / mean((y_t - y_{t-m})²)) over the same rows (M5's measure, seasonal here)
"""
from __future__ import annotations

import math

import numpy as np

from .errors import DataError

__all__ = ["METRICS", "SERIES_METRICS", "HEADLINE", "compute_metrics", "metrics_by_step", "aggregate",
           "mase_scale", "check_finite", "smape", "seasonal_scales", "interval_scale", "series_metrics"]

METRICS = ("mse", "rmse", "mae", "r2", "mape", "mase")
# Per series, for many series: the scale-free measures first (their mean over series is the headline).
SERIES_METRICS = ("smape", "mase", "rmsse", "mse", "rmse", "mae", "r2")
HEADLINE = ("smape", "mase", "rmsse")


def mase_scale(train_targets: np.ndarray) -> np.ndarray:
    """Mean absolute one-step change of each target column over the training rows (NaN-aware)."""
    d = np.abs(np.diff(np.asarray(train_targets, dtype=np.float64), axis=0))
    with np.errstate(all="ignore"):
        s = np.nanmean(d, axis=0) if d.size else np.full(train_targets.shape[1], np.nan)
    return np.atleast_1d(s)


def check_finite(y_true: np.ndarray, y_pred: np.ndarray, what: str = "predictions", where=None) -> None:
    """Raise DataError naming the first window and step where a value is missing or not finite.

    Args:
        y_true, y_pred: ``(n_windows, horizon, n_targets)`` (or ``(n_windows, horizon)``).
        what: how the predictions are named in the message ("'model' forecasts").
        where: one label per window (its origin timestamp or row), named in the message.
    """
    for arr, name in ((y_true, "targets"), (y_pred, what)):
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        bad = ~np.isfinite(arr)
        if bad.any():
            w, h, t = (int(i) for i in np.argwhere(bad)[0])
            loc = f" (window origin {where[w]})" if where is not None and w < len(where) else ""
            kind = "NaN" if np.isnan(arr).any() else "infinite"
            raise DataError(
                f"{int(bad.sum())} {name} are missing or not finite ({kind}), the first in window {w}{loc}, "
                f"step {h + 1}, target {t}; metrics would be meaningless, so none are reported"
            )


def _flat(a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    return a.reshape(-1, a.shape[-1])


def compute_metrics(y_true, y_pred, scale=None) -> dict:
    """Every metric of ``METRICS`` for one set of forecasts; None where a metric is undefined.

    Args:
        y_true, y_pred: ``(n_windows, horizon, n_targets)`` in the data's units.
        scale: per-target MASE denominators from :func:`mase_scale`. Defaults to None
            (MASE reported as None).
    """
    from sklearn.metrics import (mean_absolute_error, mean_absolute_percentage_error,
                                 mean_squared_error, r2_score)

    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim == 2:
        y_true, y_pred = y_true[:, :, None], y_pred[:, :, None]
    check_finite(y_true, y_pred)
    yt, yp = _flat(y_true), _flat(y_pred)
    if yt.shape[0] == 0:
        raise DataError("no windows to evaluate; the test span is shorter than the horizon")
    mse = float(mean_squared_error(yt, yp))
    mae = float(mean_absolute_error(yt, yp))
    out = {"mse": mse, "rmse": math.sqrt(mse), "mae": mae}
    constant = np.ptp(yt, axis=0) == 0
    out["r2"] = None if constant.any() or yt.shape[0] < 2 else float(r2_score(yt, yp))
    out["mape"] = None if (yt == 0).any() else 100.0 * float(mean_absolute_percentage_error(yt, yp))
    if scale is None:
        out["mase"] = None
    else:
        scale = np.atleast_1d(np.asarray(scale, dtype=np.float64))
        mae_t = mean_absolute_error(yt, yp, multioutput="raw_values")
        ok = np.isfinite(scale) & (scale > 0)
        out["mase"] = float(np.mean(mae_t / scale)) if ok.all() else None
    for k, v in out.items():
        if v is not None and not math.isfinite(v):
            if k in ("r2", "mape", "mase"):
                out[k] = None  # undefined (e.g. a zero denominator after overflow), not a number
            else:
                raise DataError(
                    f"{k.upper()} overflowed to {v} (the values, up to {np.nanmax(np.abs(yt)):.3g}, are too large "
                    "to square); rescale the data, e.g. to thousands or millions"
                )
    return out


def metrics_by_step(y_true, y_pred, scale=None) -> list[dict]:
    """:func:`compute_metrics` for each horizon step (step 1 first)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return [compute_metrics(y_true[:, h:h + 1], y_pred[:, h:h + 1], scale) for h in range(y_true.shape[1])]


def aggregate(per_fold: list[dict]) -> dict:
    """Mean and sample standard deviation of each metric across folds (None if any fold's is None)."""
    out = {}
    for m in METRICS:
        vals = [d.get(m) for d in per_fold]
        if not vals or any(v is None for v in vals):
            out[m] = {"mean": None, "std": None}
            continue
        arr = np.asarray(vals, dtype=np.float64)
        out[m] = {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0}
    return out


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE in percent, as in the M4 competition; a term with ``y = ŷ = 0`` counts as 0.

    >>> round(smape([100.0, 0.0], [110.0, 0.0]), 4)
    4.7619
    """
    yt, yp = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    den = np.abs(yt) + np.abs(yp)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(den > 0, 200.0 * np.abs(yt - yp) / den, 0.0)
    return float(terms.mean())


def seasonal_scales(train_targets, season: int = 1) -> tuple[float, float]:
    """``(mean |y_t - y_{t-m}|, mean (y_t - y_{t-m})²)`` over one series' training values (NaN-aware):
    the denominators of MASE and RMSSE. NaN when there are fewer than ``m + 1`` values, and 0 when
    the differences are rounding noise (under 1e-9 of the mean absolute value: an exactly periodic
    series, on which a scaled error would be a meaningless 1e14).

    >>> seasonal_scales([1.0, 2.0, 4.0, 7.0], season=1)
    (2.0, 4.666666666666667)
    """
    y = np.asarray(train_targets, dtype=np.float64).reshape(-1)
    m = max(1, int(season))
    if len(y) <= m:
        return float("nan"), float("nan")
    d = y[m:] - y[:-m]
    d = d[np.isfinite(d)]
    if not d.size:
        return float("nan"), float("nan")
    s_abs = float(np.mean(np.abs(d)))
    if s_abs <= 1e-9 * float(np.nanmean(np.abs(y))):
        return 0.0, 0.0
    return s_abs, float(np.mean(d * d))


def interval_scale(y, season: int = 1) -> float:
    """Mean absolute seasonal difference of one input window (one-step when the window is shorter
    than two seasons; 0 for a flat window): the unit in which a many-series model's held-out
    residuals are stored, so that an interval fits the series it is drawn for.

    >>> interval_scale([1.0, 3.0, 2.0, 4.0], season=1)
    1.6666666666666667
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    m = season if len(y) > 2 * season else 1
    s = seasonal_scales(y, m)[0]
    return s if np.isfinite(s) else 0.0


def series_metrics(y_true, y_pred, scales: tuple[float, float]) -> dict:
    """:data:`SERIES_METRICS` for one series' forecasts (any shape, one target), in its own units;
    None where a measure is undefined (a zero or unknown scale, a constant truth for R²).

    >>> m = series_metrics([[1.0, 2.0]], [[1.0, 3.0]], (1.0, 1.0))
    >>> m["mae"], m["mase"], m["rmsse"], round(m["smape"], 2)
    (0.5, 0.5, 0.7071067811865476, 20.0)
    """
    yt = np.asarray(y_true, dtype=np.float64).reshape(-1)
    yp = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    check_finite(yt[:, None, None], yp[:, None, None])
    if yt.size == 0:
        raise DataError("no forecasts to evaluate for this series")
    err = yt - yp
    mse, mae = float(np.mean(err * err)), float(np.mean(np.abs(err)))
    s_abs, s_sq = scales
    ok = lambda s: s is not None and math.isfinite(s) and s > 0  # noqa: E731
    ss_tot = float(np.sum((yt - yt.mean()) ** 2))
    out = {
        "smape": smape(yt, yp),
        "mase": mae / s_abs if ok(s_abs) else None,
        "rmsse": math.sqrt(mse / s_sq) if ok(s_sq) else None,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": mae,
        "r2": 1.0 - float(np.sum(err * err)) / ss_tot if ss_tot > 0 and yt.size > 1 else None,
    }
    for k, v in out.items():
        if v is not None and not math.isfinite(v):
            if k in ("mse", "rmse", "mae"):
                raise DataError(f"{k.upper()} overflowed to {v}; rescale the data, e.g. to thousands or millions")
            out[k] = None
    return out
