"""The statistical peer beside the model: AutoETS (statsforecast) with the inferred season.

:class:`AutoETSBaseline` has the baselines' contract (:mod:`forecast_cli.baselines`):
``fit(values, origins)`` fits one AutoETS model per target column on the training rows of the
given origins only, and ``predict(values, origins)`` forecasts from each origin with those
parameters, the model's state filtered through the data up to that origin and no further (the
"updated through the test span without refitting" of the other baselines), ``(n, horizon,
n_targets)`` in the data's units.

statsforecast is an optional extra (``pip install 'forecast-cli[stats]'``), imported only when the
baseline is made. :func:`stat_baselines` decides whether it runs at all and says why not in a note:
the extra is missing, or the fits would cost more than the network (see :data:`MAX_FIT_VALUES`).
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["INSTALL", "MAX_FIT_ROWS", "MAX_FIT_VALUES", "STAT_BASELINES", "AutoETSBaseline", "fit_rows",
           "stat_baselines", "stats_missing"]

STAT_BASELINES = ("ets",)
INSTALL = "pip install 'forecast-cli[stats]'"
# Each target's model is fitted on the most recent MAX_FIT_ROWS training rows at most (the state is
# still filtered through every later row). AutoETS took 0.3-0.8 ms of CPU per row (500-2,000 rows of
# AAPL and of the air-quality temperature, seasons 1 to 168), so one fit costs 4 s at most.
MAX_FIT_ROWS = 5000
# Skipped when a fold would fit more than this many rows (over targets and series): about 40 s of
# CPU per fold, more than the network takes on such data (about 4 s a fold on AAPL's 2,800 rows).
MAX_FIT_VALUES = 50_000


def stats_missing() -> bool:
    """True when statsforecast cannot be imported (the ``stats`` extra is not installed)."""
    try:
        import statsforecast.ets  # noqa: F401
    except ImportError:
        return True
    return False


def fit_rows(n_rows, n_targets: int) -> int:
    """Rows a fold's AutoETS fits read at most: ``n_targets`` times each series' rows, capped at
    :data:`MAX_FIT_ROWS` (``n_rows``: an int, or one int per series).

    >>> fit_rows(3379, 1), fit_rows([9357, 120], 2)
    (3379, 10240)
    """
    rows = [n_rows] if np.ndim(n_rows) == 0 else list(n_rows)
    return int(n_targets * sum(min(int(r), MAX_FIT_ROWS) for r in rows))


def stat_baselines(lookback: int, horizon: int, n_targets: int, season: int, *, n_rows=None,
                   notes: list | None = None) -> list:
    """``[AutoETSBaseline(...)]``, or ``[]`` with a one-line note appended to ``notes`` (once) when it
    is skipped: statsforecast is missing, or :func:`fit_rows` of ``n_rows`` exceeds :data:`MAX_FIT_VALUES`.

    Args:
        n_rows: the series' rows (an int, or one per series); None: not checked. Defaults to None.
        notes: where a skip is said. Defaults to None (not said).
    """
    why = None
    if n_rows is not None and fit_rows(n_rows, n_targets) > MAX_FIT_VALUES:
        why = (f"AutoETS baseline skipped: {fit_rows(n_rows, n_targets):,} rows to fit per fold (over targets"
               f"{' and series' if np.ndim(n_rows) else ''}, {MAX_FIT_ROWS:,} at most each), more than "
               f"{MAX_FIT_VALUES:,}, where its fits take longer than the network's")
    elif stats_missing():
        why = f"AutoETS baseline skipped: statsforecast is not installed; {INSTALL} (or --no-stat-baseline)"
    if why is None:
        return [AutoETSBaseline(lookback, horizon, n_targets, season)]
    if notes is not None and why not in notes:
        notes.append(why)
    return []


def _runs(finite: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop)]`` of each run of True in ``finite``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


class AutoETSBaseline:
    """statsforecast's AutoETS (``ZZZ``, chosen by AICc) with season ``season``, one model per target.

    Fitted on the training rows of the origins given to :meth:`fit` (rows ``min(origins) - lookback
    + 1`` to ``max(origins) + horizon``: the training windows' inputs and targets), on their most
    recent :data:`MAX_FIT_ROWS`, and within them on the last run without missing values (a gap left
    by ``--gaps skip``) that holds at least ``2 * season + 10`` rows, else on the longest run.
    :meth:`predict` runs the fitted model's state equations from its initial state through the rows
    up to each origin (statsforecast's ``forward``, done once for all origins rather than once per
    origin) and forecasts ``horizon`` steps from the state at the origin; a missing row is taken to
    be its forecast (the state moves on without an update). A forecast from origin ``o`` reads rows
    ``<= o`` only, and the parameters the training rows only. Where no ETS model can be fitted
    (too few rows: a short series of a panel), the target's forecasts are its last value, and
    ``methods_`` says so.

    Args:
        lookback: the windows' input length (where the training rows start).
        horizon: steps forecast from each origin.
        n_targets: target columns (the first columns of ``values``).
        season: season length (1: no seasonal component).

    >>> t = np.arange(120.0)
    >>> y = (10 + 0.5 * t + 3 * np.sin(2 * np.pi * t / 4))[:, None]
    >>> b = AutoETSBaseline(8, 4, 1, season=4).fit(y, np.arange(7, 96))
    >>> b.methods_  # doctest: +ELLIPSIS
    ['ETS(...,A,A)']
    >>> bool(np.abs(b.predict(y, np.array([110]))[0, :, 0] - y[111:115, 0]).max() < 0.1)
    True
    """

    name = "ets"

    def __init__(self, lookback: int, horizon: int, n_targets: int, season: int):
        self.lookback, self.horizon, self.n_targets = max(1, int(lookback)), int(horizon), int(n_targets)
        self.season = max(1, int(season))

    def fit(self, values, origins):
        values = np.asarray(values, dtype=np.float64)
        origins = np.asarray(origins, dtype=np.int64)
        self.models_, self.starts_, self.methods_ = [], [], []
        if not len(origins):  # a series of a panel with no training window in this fold: fitted in predict
            self.models_ = None
            return self
        start = max(0, int(origins.min()) - self.lookback + 1)
        self._fit_rows(values, start, min(len(values), int(origins.max()) + self.horizon + 1))
        return self

    def _fit_rows(self, values, start: int, stop: int) -> None:
        """One model per target on rows ``[start, stop)`` (see the class docstring)."""
        from statsforecast.models import AutoETS

        self.models_, self.starts_, self.methods_ = [], [], []
        for j in range(self.n_targets):
            a, b = self._fit_span(values[start:stop, j])
            a, b = a + start, b + start
            try:  # statsforecast's warnings on a few rows (a zero degree of freedom) are its own business
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore", RuntimeWarning)
                    model = AutoETS(season_length=self.season).fit(values[a:b, j]).model_
                method = model.get("method") or f"ETS({','.join(model['components'][:3])})"
            except Exception:  # NotImplementedError "tiny datasets", Exception "no model able to be fitted"
                model, method, a = None, "naive (too few rows for ETS)", 0
            self.models_.append(model)
            self.starts_.append(a)
            self.methods_.append(method)

    def _fit_span(self, y: np.ndarray) -> tuple[int, int]:
        """``(a, b)``: the rows of ``y`` to fit on (see the class docstring); ``(0, 0)`` for none."""
        runs = _runs(np.isfinite(y)) or [(0, 0)]
        need = 2 * self.season + 10
        a, b = next((r for r in reversed(runs) if r[1] - r[0] >= need), max(runs, key=lambda r: r[1] - r[0]))
        return max(a, b - MAX_FIT_ROWS), b

    def predict(self, values, origins):
        values = np.asarray(values, dtype=np.float64)
        origins = np.asarray(origins, dtype=np.int64)
        out = np.empty((len(origins), self.horizon, self.n_targets))
        if not len(origins):
            return out
        if self.models_ is None:  # no training window: fitted on the rows up to the first origin
            self._fit_rows(values, 0, int(origins.min()) + 1)
        for j, (model, a) in enumerate(zip(self.models_, self.starts_)):
            if model is None:
                out[:, :, j] = values[origins, j][:, None]
                continue
            if origins.min() < a:
                raise ValueError(f"AutoETS baseline: origin {int(origins.min())} precedes its fitted rows (from {a})")
            states = self._filter(model, values[a:int(origins.max()) + 1, j])
            for i, o in enumerate(origins - a):
                out[i, :, j] = self._forecast(model, states[o + 1], self.horizon)
        return out

    @staticmethod
    def _forecast(model: dict, state: np.ndarray, h: int) -> np.ndarray:
        """``h`` point forecasts from one state vector (statsforecast's own forecast routine)."""
        from statsforecast.ets import pegelsfcast_C

        return pegelsfcast_C(h, {**model, "states": state[None, :]})

    @staticmethod
    def _filter(model: dict, y: np.ndarray) -> np.ndarray:
        """The states ``(len(y) + 1, n_states)`` after each row of ``y``, from the model's initial
        state with its fitted parameters (row 0: the initial state); a missing row is replaced by
        its forecast from the state before it, so the state moves on without an update."""
        from statsforecast.ets import pegelsresid_C

        e, t, s, d = model["components"][:4]
        alpha, beta, gamma, phi = model["par"][:4]
        init = np.asarray(model["par"][4:], dtype=np.float64)
        y = np.array(y, dtype=np.float64)
        states = np.empty((len(y) + 1, len(init)))
        states[0] = init
        pos = 0
        while pos < len(y):
            bad = np.flatnonzero(~np.isfinite(y[pos:]))
            stop = pos + int(bad[0]) if len(bad) else len(y)
            if stop > pos:
                _, _, x, _ = pegelsresid_C(y[pos:stop], model["m"], states[pos], e, t, s, d == "D",
                                           alpha, beta, gamma, phi, 3)
                states[pos + 1:stop + 1] = x[1:]
            if stop == len(y):
                break
            gap = stop + int(np.argmax(np.isfinite(y[stop:]))) if np.isfinite(y[stop:]).any() else len(y)
            y[stop:gap] = AutoETSBaseline._forecast(model, states[stop], gap - stop)
            pos = stop  # the filled rows are filtered next, with zero errors: the state's own path
        return states
