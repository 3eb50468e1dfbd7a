"""Is one forecaster's lower error more than noise? The Diebold-Mariano test on per-window losses.

The test (Diebold & Mariano, 1995, "Comparing predictive accuracy", JBES 13(3)) asks whether the
mean loss difference ``d_t = loss_model_t - loss_baseline_t`` over the test windows is zero. Its
statistic is ``DM = mean(d) / sqrt(V / n)``, where the long-run variance
``V = γ_0 + 2 Σ_{k=1}^{h-1} γ_k`` sums the autocovariances of ``d`` up to lag ``h - 1`` (``γ_k``
with denominator ``n``), since the errors of ``h``-step forecasts from consecutive origins overlap.
Harvey, Leybourne & Newbold (1997, "Testing the equality of prediction mean squared errors",
IJF 13(2)) scale it by ``sqrt((n + 1 - 2h + h(h - 1)/n) / n)`` and read it against Student's t
with ``n - 1`` degrees of freedom, which keeps the size honest with few windows.

Written here because statsmodels (which has no DM test either) is not a dependency; the recipe,
including the fall-back to ``h = 1`` when the estimated variance is not positive, follows R's
``forecast::dm.test`` (Hyndman & Khandakar, 2008). Pure numpy, except scipy's t distribution
(``scipy.special.stdtr``, the CDF behind ``scipy.stats.t``), imported where it is used.

``h`` here counts *windows*, not rows: :func:`overlap_lag` gives it from the windows' origins
(the horizon for consecutive origins, 1 for windows that share no target row).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import ConfigError, DataError

__all__ = ["BEAT", "TIE", "WORSE", "TOO_FEW", "RESULTS", "ALPHA", "TEST_NAME", "LOSS_OF_METRIC", "window_losses",
           "overlap_lag", "dm_test", "compare"]

BEAT, TIE, WORSE, TOO_FEW = "beat", "no significant difference", "worse", "too few windows to test"
RESULTS = (BEAT, TIE, WORSE, TOO_FEW)
ALPHA = 0.05
TEST_NAME = "Diebold-Mariano with the Harvey-Leybourne-Newbold correction, two-sided"
# The loss whose mean each verdict metric summarises (scaled by the training rows' scale for MASE).
LOSS_OF_METRIC = {"mse": "squared", "rmse": "squared", "rmsse": "squared", "mae": "absolute", "mase": "absolute"}


def window_losses(y_true, y_pred, loss: str = "squared", scale=None) -> np.ndarray:
    """One loss per window: the mean over its horizon steps and targets of the squared (or absolute) error.

    Args:
        y_true, y_pred: ``(n_windows, horizon)`` or ``(n_windows, horizon, n_targets)``.
        loss: ``"squared"`` or ``"absolute"``. Defaults to ``"squared"``.
        scale: per-target divisors of the error (e.g. MASE's in-sample naive MAE), so that
            targets in different units weigh alike. Defaults to None (the data's units).

    >>> window_losses([[1.0, 2.0], [3.0, 4.0]], [[1.0, 4.0], [3.0, 3.0]])
    array([2. , 0.5])
    """
    if loss not in ("squared", "absolute"):
        raise ConfigError(f"loss must be 'squared' or 'absolute'. Got {loss!r}.")
    yt, yp = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if yt.ndim == 2:
        yt, yp = yt[:, :, None], yp[:, :, None]
    err = yt - yp
    if scale is not None:
        err = err / np.atleast_1d(np.asarray(scale, dtype=np.float64))
    e = err * err if loss == "squared" else np.abs(err)
    return e.reshape(len(e), -1).mean(axis=1)


def overlap_lag(origins, horizon: int) -> int:
    """The ``h`` of the test in windows: 1 + the largest lag (in the time-ordered windows) at which
    two windows of ``horizon`` steps still share a target row.

    >>> overlap_lag([0, 1, 2, 3, 4, 5], horizon=3)   # consecutive origins: the horizon
    3
    >>> overlap_lag([0, 3, 6, 9], horizon=3)         # windows side by side: no overlap
    1
    """
    pos = np.sort(np.asarray(origins, dtype=np.int64).reshape(-1))
    if pos.size == 0:
        return 1
    ends = np.searchsorted(pos, pos + int(horizon), side="left")  # first window sharing no row
    return int(max(1, (ends - np.arange(pos.size)).max()))


def _long_run_variance(d: np.ndarray, h: int) -> float:
    """γ_0 + 2 Σ_{k<h} γ_k, each autocovariance with denominator n (as DM and R's dm.test)."""
    n = d.size
    dev = d - d.sum() / n
    return float(dev @ dev / n + 2.0 * sum(dev[k:] @ dev[:-k] / n for k in range(1, h)))


def dm_test(loss_a, loss_b, h: int = 1, alpha: float = ALPHA) -> dict:
    """Diebold-Mariano test (HLN-corrected, two-sided) that forecasters ``a`` and ``b`` have equal mean loss.

    Args:
        loss_a, loss_b: one loss per test window, in time order (e.g. :func:`window_losses`).
        h: the lag structure in windows (:func:`overlap_lag`); autocovariances up to ``h - 1``
            enter the variance. Defaults to 1 (windows that do not overlap).
        alpha: the test's level. Defaults to 0.05.

    Returns:
        ``{"result", "statistic", "p_value", "n", "h", "mean_difference"}`` (and ``"note"`` for a
        degenerate case). ``result`` reads from ``a``'s side: ``"beat"`` (``a``'s loss is lower,
        ``p < alpha``), ``"worse"``, ``"no significant difference"``, or ``"too few windows to test"``
        when ``n < 2h`` (no p-value is made up then). Identical losses give p = 1.

    The variance by hand for ``d = a - b = [3, 1, 2, 0, -1, 1]``, ``h = 2``: mean 1, ``γ_0 = 10/6``,
    ``γ_1 = 1/6``, ``V = 2``, ``DM = 1 / sqrt(2/6) = √3``; the HLN factor ``sqrt((6 + 1 - 4 + 2/6) / 6)
    = √5 / 3`` gives ``√15 / 3 = 1.2910``, and ``p = 2 P(t_5 > 1.2910) = 0.2532``:

    >>> r = dm_test([3.0, 1.0, 2.0, 0.0, -1.0, 1.0], [0.0] * 6, h=2)
    >>> round(r["statistic"], 4), round(r["p_value"], 4), r["result"]
    (1.291, 0.2532, 'no significant difference')
    >>> dm_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])["p_value"]   # identical forecasts
    1.0
    >>> dm_test([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], h=2)["result"]
    'too few windows to test'
    """
    a, b = np.asarray(loss_a, dtype=np.float64).reshape(-1), np.asarray(loss_b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise DataError(f"the two forecasters have {a.size} and {b.size} window losses; the test pairs them by window")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataError("a window loss is missing or not finite; the Diebold-Mariano test needs every window scored")
    n, h = int(a.size), max(1, int(h))
    d = a - b
    dbar = float(d.sum() / n) if n else None
    out = {"result": TOO_FEW, "statistic": None, "p_value": None, "n": n, "h": h, "mean_difference": dbar}
    if n < max(2, 2 * h):
        out["note"] = f"{n} test windows, fewer than 2h = {2 * h} (h = {h}) that the test needs"
        return out
    tiny = 1e-12 * max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-300)
    if float(d.max() - d.min()) <= tiny:  # the same difference in every window: no variance to test against
        if abs(dbar) <= tiny:
            return {**out, "result": TIE, "statistic": 0.0, "p_value": 1.0, "note": "identical losses in every window"}
        return {**out, "result": BEAT if dbar < 0 else WORSE, "p_value": 0.0,
                "note": "the loss difference is the same in every window"}
    var = _long_run_variance(d, h)
    if var <= 0:  # the truncated sum is not always positive; R's dm.test falls back to h = 1
        out["note"] = f"the long-run variance with h = {h} is not positive; used h = 1"
        h = 1
        var = _long_run_variance(d, 1)
    from scipy.special import stdtr  # Student's t CDF: what scipy.stats.t.sf calls, without its ~0.1 ms overhead

    k = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    stat = k * dbar / math.sqrt(var / n)
    p = float(min(1.0, 2.0 * stdtr(n - 1, -abs(stat))))
    result = TIE if p >= alpha else (BEAT if dbar < 0 else WORSE)
    return {**out, "result": result, "statistic": float(stat), "p_value": p, "h": h}


def compare(loss_model, loss_baseline, origins, horizon: int, alpha: float = ALPHA) -> dict:
    """:func:`dm_test` of the model against a baseline on windows in any order: sorted by origin,
    with ``h`` from :func:`overlap_lag`.

    Args:
        loss_model, loss_baseline: one loss per window.
        origins: each window's origin as a row position on a regular time grid.
        horizon: steps per window.
        alpha: the test's level. Defaults to 0.05.

    >>> compare([1.0] * 4 + [0.0] * 4, [1.0] * 8, origins=range(8), horizon=1)["result"]
    'beat'
    """
    o = np.asarray(origins, dtype=np.int64).reshape(-1)
    order = np.argsort(o, kind="stable")
    a = np.asarray(loss_model, dtype=np.float64).reshape(-1)[order]
    b = np.asarray(loss_baseline, dtype=np.float64).reshape(-1)[order]
    return dm_test(a, b, h=overlap_lag(o, horizon), alpha=alpha)
