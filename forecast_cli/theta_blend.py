"""A statistical partner for the network of many series: its forecast blended with AutoTheta's.

``theta_weight = w`` (off at 0, the default) makes every forecast of a model of many series
``(1 - w) * network + w * theta``, where ``theta`` is statsforecast's AutoTheta (season from the
data) fitted on the series' whole history up to the forecast origin and no further: in
cross-validation and the holdout on the rows before each origin, in :meth:`Forecaster.predict
<forecast_cli.forecaster.Forecaster.predict>` on the history given (or trained on).

Why a partner, and why Theta: the global network reads the last ``lookback`` rows of each
series, while Theta extrapolates half the slope of the whole history; on M3 Quarterly the two
err differently and their blend beats both (``docs/m3.md``: validation MASE 1.097 network, 1.138
AutoTheta, 1.073 blended at 0.35, the weight chosen on the histories' own last 8 quarters).
Nothing here is hand-written modelling: the fits are statsforecast's, and this module only
decides which rows each fit reads and what happens where one cannot be made.

A history that AutoTheta cannot fit (fewer than :data:`MIN_ROWS` rows in its last run without
missing values, or a fit that fails) is forecast by the network alone; the count is kept in
``skipped_`` and the callers say so. statsforecast is the optional ``stats`` extra
(``pip install 'forecast-cli[stats]'``), imported only when ``theta_weight > 0``.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError

__all__ = ["MIN_ROWS", "NEEDS_HISTORY", "ThetaBlend", "blend_forecasts", "mix", "partnered", "require_stats",
           "theta_forecast"]

# statsforecast's AutoTheta refuses shorter series ("tiny datasets").
MIN_ROWS = 4
# Why stacked windows alone (batch scoring's fast path) cannot be forecast by a blended model.
NEEDS_HISTORY = ("this model blends in AutoTheta's forecast from each series' whole history (--theta-weight), "
                 "which input windows alone do not hold: use Forecaster.predict(df=...), `forecast predict` or "
                 "`forecast score`")


def require_stats() -> None:
    """ConfigError (one line, exit 2) when statsforecast is missing; ``theta_weight`` needs it."""
    from .stat_baselines import INSTALL, stats_missing

    if stats_missing():
        raise ConfigError(f"--theta-weight blends statsforecast's AutoTheta into the forecast: {INSTALL}, "
                          "or drop --theta-weight")


def _last_run(y: np.ndarray) -> np.ndarray:
    """The last stretch of ``y`` without missing values (a gap left by ``--gaps skip`` cuts the history)."""
    bad = np.flatnonzero(~np.isfinite(y))
    return y if not len(bad) else y[bad[-1] + 1:]


def theta_forecast(y, horizon: int, season: int) -> np.ndarray | None:
    """AutoTheta's ``horizon``-step forecast from the end of ``y`` (its last run without missing
    values), or None where it cannot be made (fewer than :data:`MIN_ROWS` rows, a failed fit, or a
    forecast that is not finite).

    >>> t = np.arange(40.0)
    >>> f = theta_forecast(100 + 2 * t + 5 * np.tile([1, -1, 2, -2], 10), 4, season=4)
    >>> np.sign(f - (100 + 2 * np.arange(40, 44))).tolist()  # the season carried on
    [1.0, -1.0, 1.0, -1.0]
    >>> theta_forecast([1.0, 2.0, 3.0], 4, season=4) is None
    True
    """
    from statsforecast.models import AutoTheta

    y = _last_run(np.asarray(y, dtype=np.float64))
    if len(y) < MIN_ROWS:
        return None
    try:  # statsforecast tests the seasonality itself (and drops it for short histories)
        f = np.asarray(AutoTheta(season_length=max(1, int(season))).forecast(y, int(horizon))["mean"], dtype=np.float64)
    except (NotImplementedError, ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None
    return f if f.shape == (int(horizon),) and np.isfinite(f).all() else None


def mix(network: np.ndarray, theta: np.ndarray, weight: float) -> np.ndarray:
    """The blend itself: ``(1 - weight) * network + weight * theta``.

    >>> mix(np.array([10.0, 20.0]), np.array([20.0, 20.0]), 0.25).tolist()
    [12.5, 20.0]
    """
    return (1.0 - weight) * network + weight * theta


def blend_forecasts(point: np.ndarray, histories, weight: float, season: int) -> tuple[np.ndarray, int]:
    """``(1 - weight) * point + weight * theta`` for each series: ``point`` ``(n, h)`` (one row per
    series), ``histories`` the n series' values up to each forecast's origin. Returns the blend and
    how many rows kept the network's forecast alone (no Theta fit)."""
    out = np.array(point, dtype=np.float64, copy=True)
    skipped = 0
    for j, y in enumerate(histories):
        f = theta_forecast(y, out.shape[1], season)
        if f is None:
            skipped += 1
            continue
        out[j] = mix(out[j], f, weight)
    return out, skipped


class ThetaBlend:
    """A model of many series (the ``fit``/``predict`` contract of
    :class:`~forecast_cli.global_model.GlobalForecaster`) whose forecasts from each origin are
    blended with AutoTheta's, fitted on that series' rows up to the origin. ``fit`` trains the
    network only (Theta has nothing to learn before an origin is known); every other attribute is
    the network's.

    Args:
        net: the network (fitted by :meth:`fit`).
        weight: Theta's share, in (0, 1).
        season: season length of the data (1: none).
    """

    def __init__(self, net, weight: float, season: int):
        self.net, self.weight, self.season = net, float(weight), max(1, int(season))
        self.skipped_ = 0

    def fit(self, series, origins, keys=None, **kwargs) -> "ThetaBlend":
        self.net.fit(series, origins, keys=keys, **kwargs)
        return self

    def predict(self, series, origins, keys=None) -> list[np.ndarray]:
        """The network's forecasts (one ``(len(origins[i]), horizon, n_targets)`` array per series),
        each target's blended with Theta's from the rows ``<= origin`` of that target."""
        preds = self.net.predict(series, origins, keys=keys)
        out = []
        for s, o, p in zip(series, origins, preds):
            s = np.asarray(s, dtype=np.float64)
            p = np.array(p, dtype=np.float64, copy=True)
            for t in range(p.shape[2]):
                p[:, :, t], skipped = blend_forecasts(p[:, :, t], [s[:int(k) + 1, t] for k in o],
                                                      self.weight, self.season)
                self.skipped_ += skipped
            out.append(p)
        return out

    def __getattr__(self, name):  # epochs_run_, local, fit_info, ... are the network's
        if name == "net":
            raise AttributeError(name)
        return getattr(self.net, name)


def partnered(net, weight: float, season: int):
    """``net`` itself at ``weight`` 0, else the :class:`ThetaBlend` around it."""
    return ThetaBlend(net, weight, season) if weight else net
