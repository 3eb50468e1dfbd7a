"""Settings that fit a short series: what an error says when the requested ones cannot.

An error that only says "use fewer --folds" can send a person round a loop of errors (a 60-row
monthly series took three tries: each message's advice led to the next error). The functions
here compute, from the number of rows, settings that *do* fit (the horizon kept when it can be,
lookback and folds shrunk to the largest values that fit) and write them as a command-line
fragment for the message, so the first error's advice works.

Hand-written, not from a library: the constraints are this tool's own: the fold layout of
:func:`forecast_cli.evaluation.make_folds`, the holdout of
:func:`forecast_cli.evaluation.holdout_split`, the network's minimum of training windows
(:data:`forecast_cli.training.MIN_TRAIN_WINDOWS`) and the held-out windows that split-conformal
intervals need (:func:`min_windows_for_levels`).

>>> s = fold_settings(60, lookback=30, horizon=5, folds=5)
>>> as_flags(s)
'--folds 2 --test-size 11 --lookback 13 --horizon 5'
>>> as_flags(holdout_settings(60, lookback=30, horizon=5))
'--holdout 23 --lookback 13 --horizon 5'
"""
from __future__ import annotations

import math
from typing import Sequence

from .errors import DataError
from .training import MIN_TRAIN_WINDOWS  # no TensorFlow: training imports it on first use

__all__ = ["DEFAULT_LEVELS", "MIN_TRAIN_WINDOWS", "as_flags", "cv_rows_needed", "default_lookback",
           "fold_settings", "holdout_rows_needed", "holdout_settings", "levels_text", "min_windows_for_levels",
           "panel_holdout_span"]

DEFAULT_LEVELS = (80.0, 95.0)

_FLAGS = (("folds", "--folds"), ("test_size", "--test-size"), ("holdout", "--holdout"),
          ("lookback", "--lookback"), ("horizon", "--horizon"))


def min_windows_for_levels(levels: Sequence[float] = DEFAULT_LEVELS) -> int:
    """The fewest held-out windows for which every level's split-conformal bound is a residual.

    With ``n`` held-out errors the bound at level ``a`` % is the ``ceil((n + 1) * a / 100)``-th
    smallest; past ``n`` there is none (the largest is used and covers less than stated).

    Args:
        levels: interval levels in percent. Defaults to ``(80, 95)``.

    >>> min_windows_for_levels(), min_windows_for_levels([80]), min_windows_for_levels([99])
    (19, 4, 99)
    """
    top = max(float(lv) for lv in levels)
    n = 1
    while math.ceil((n + 1) * top / 100.0 - 1e-9) > n:  # the rank formula of the conformal bounds
        n += 1
    return n


def levels_text(levels: Sequence[float] = DEFAULT_LEVELS) -> str:
    """``'80 % and 95 %'``.

    >>> levels_text([80, 90, 95])
    '80 %, 90 % and 95 %'
    """
    parts = [f"{float(lv):g} %" for lv in levels]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def cv_rows_needed(lookback: int, horizon: int, folds: int, test_size: int,
                   min_train_windows: int = MIN_TRAIN_WINDOWS) -> int:
    """Rows that ``folds`` consecutive test spans of ``test_size`` rows need when the first fold
    trains on ``min_train_windows`` complete windows.

    >>> cv_rows_needed(30, 5, 5, 12)
    114
    """
    return folds * test_size + lookback + horizon + min_train_windows - 1


def holdout_rows_needed(lookback: int, horizon: int, holdout_rows: int,
                        min_train_windows: int = MIN_TRAIN_WINDOWS) -> int:
    """Rows that a holdout tail of ``holdout_rows`` needs, with ``min_train_windows`` training
    windows before it.

    >>> holdout_rows_needed(30, 5, 23)
    77
    """
    return holdout_rows + lookback + horizon + min_train_windows - 1


def holdout_settings(n_rows: int, lookback: int, horizon: int, holdout_rows: int = 0, *,
                     min_windows: int | None = None, min_train_windows: int = MIN_TRAIN_WINDOWS) -> dict | None:
    """A holdout (in rows), lookback and horizon that fit ``n_rows``; None when no horizon fits.

    The holdout holds ``min_windows`` windows at least (:func:`min_windows_for_levels`), or
    ``holdout_rows`` when that is more and leaves room for the lookback; the lookback is kept when
    it fits, else the largest that does; the horizon is kept unless even a lookback of 1 does not
    fit, then the longest that does.

    Args:
        n_rows: rows of the series.
        lookback: the requested lookback.
        horizon: the requested horizon.
        holdout_rows: the requested holdout in rows. Defaults to 0 (the least that fits).
        min_windows: held-out windows needed. Defaults to ``min_windows_for_levels()`` (19).
        min_train_windows: training windows needed. Defaults to 20.

    >>> holdout_settings(60, 30, 5)
    {'holdout': 23, 'lookback': 13, 'horizon': 5}
    >>> holdout_settings(1000, 30, 5, holdout_rows=100)
    {'holdout': 100, 'lookback': 30, 'horizon': 5}
    >>> holdout_settings(30, 30, 5) is None
    True
    """
    need = min_windows_for_levels() if min_windows is None else int(min_windows)
    for H in range(int(horizon), 0, -1):
        least = H + need - 1  # rows holding `need` windows of horizon H
        room = n_rows - (H + min_train_windows - 1)  # rows for the lookback and the holdout
        if room - least < 1:
            continue
        L = min(int(lookback), room - least)
        hold = max(least, min(int(holdout_rows), room - L))
        return {"holdout": hold, "lookback": L, "horizon": H}
    return None


def fold_settings(n_rows: int, lookback: int, horizon: int, folds: int, test_size: int | None = None, *,
                  min_train_windows: int = MIN_TRAIN_WINDOWS, holdout_windows: int | None = None) -> dict | None:
    """Folds, test size, lookback and horizon that fit ``n_rows``; None when no horizon fits.

    The rows left after the first fold's ``min_train_windows`` windows are shared between the
    lookback and the test spans: the lookback is kept when it leaves room for the requested folds
    (or for one span, when fewer folds were asked), else cut to half of those rows, and to what
    ``forecast train`` could use with its holdout of ``holdout_windows`` windows, so that the same
    lookback also trains; the folds are the most (up to the requested number) whose spans hold
    ``horizon`` windows each (``2 * horizon - 1`` rows, or the requested ``test_size``), and the
    spans then take every row left. The horizon is kept unless nothing fits it.

    Args:
        n_rows: rows of the series.
        lookback: the requested lookback.
        horizon: the requested horizon.
        folds: the requested folds.
        test_size: the requested rows per test span (kept when it is at least the horizon and
            fits). Defaults to None (chosen here).
        min_train_windows: training windows the first fold needs. Defaults to 20.
        holdout_windows: held-out windows of ``forecast train``. Defaults to
            ``min_windows_for_levels()`` (19).

    >>> fold_settings(60, 30, 5, 5)
    {'folds': 2, 'test_size': 11, 'lookback': 13, 'horizon': 5}
    >>> fold_settings(732, 700, 5, 1)
    {'folds': 1, 'test_size': 23, 'lookback': 685, 'horizon': 5}
    """
    hold = min_windows_for_levels() if holdout_windows is None else int(holdout_windows)
    for H in range(int(horizon), 0, -1):
        budget = n_rows - H - (min_train_windows - 1)  # rows for the lookback and every test span
        if budget < H + 1:
            continue
        fixed = test_size is not None and H <= test_size <= budget - 1
        span = int(test_size) if fixed else min(2 * H - 1, budget - 1)
        L = min(int(lookback), budget - span, max(budget // 2, budget - int(folds) * span))
        train_cap = n_rows - (H + hold - 1) - H - (min_train_windows - 1)  # the lookback `train` could use
        if train_cap >= 1 and budget - min(L, train_cap) >= span:
            L = min(L, train_cap)
        k = max(1, min(int(folds), (budget - L) // span))
        T = span if fixed else (budget - L) // k
        return {"folds": k, "test_size": T, "lookback": L, "horizon": H}
    return None


def default_lookback(n_rows: int, season: int, horizon: int, folds: int = 5, base: int = 30) -> int:
    """The lookback when none is given: whole seasons, so that the closed-form linear path of one
    series (``linear_fit="auto"``) reads every seasonal lag (measured: ``docs/short_series.md``).

    Rule: with a season ``m`` > 1, the smallest multiple of ``m`` that is at least ``base`` and
    two seasons (monthly 36, hourly 48, quarterly 32, business days 30); when the rows cannot hold
    it with ``folds`` folds (:func:`fold_settings`), the largest multiple of ``m``, at least two
    seasons, that they can, else what :func:`fold_settings` fits. Without a season: ``base``, or
    what fits.

    Args:
        n_rows: rows of the series.
        season: the season length (1: none).
        horizon: the horizon.
        folds: the folds the lookback must leave room for. Defaults to 5.
        base: the lookback without a season. Defaults to 30 (the ``lookback`` setting's default).

    >>> default_lookback(700, 12, 5), default_lookback(9000, 24, 5), default_lookback(3000, 5, 5)
    (36, 48, 30)
    >>> default_lookback(80, 12, 5), default_lookback(64, 4, 4, folds=2), default_lookback(500, 1, 5)
    (24, 16, 30)
    """
    m = max(1, int(season))
    want = base if m == 1 else m * max(2, -(-int(base) // m))
    fit = fold_settings(int(n_rows), want, int(horizon), int(folds))
    room = want if fit is None or fit["horizon"] < horizon else fit["lookback"]
    if room >= want:
        return want
    if m > 1 and room >= 2 * m:
        return room // m * m
    return max(1, room)


# The lookback of a model of many series when none is given (the setting's former default; the
# presets of the M3 and M4 benchmarks set their own).
MANY_SERIES_LOOKBACK = 30


def resolve_lookback(window, *, season: int = 1, n_rows: int | None = None, folds: int = 5, many: bool = False):
    """``window`` with its lookback decided when it was not given (None): for many series
    :data:`MANY_SERIES_LOOKBACK`, for one series :func:`default_lookback` of its rows and season
    (``folds``: the folds it must leave room for; ``forecast train`` uses the default 5, so that it
    trains what ``forecast evaluate`` measured). A given lookback is kept as it is.

    >>> from forecast_cli.config import WindowConfig
    >>> resolve_lookback(WindowConfig(), season=12, n_rows=700), resolve_lookback(WindowConfig(), many=True)
    (WindowConfig(lookback=36, horizon=5), WindowConfig(lookback=30, horizon=5))
    >>> resolve_lookback(WindowConfig(lookback=7), season=12, n_rows=700)
    WindowConfig(lookback=7, horizon=5)
    """
    if window.lookback is not None:
        return window
    from dataclasses import replace

    if many:
        return replace(window, lookback=MANY_SERIES_LOOKBACK)
    return replace(window, lookback=default_lookback(int(n_rows), int(season), window.horizon, folds))


def panel_holdout_span(holdout: float, longest: int, horizon: int, n_series: int, *,
                       min_windows: int | None = None) -> int:
    """The steps a many-series holdout holds out after the common cutoff.

    The held-out windows of every series are pooled for the intervals: ``span`` steps hold
    ``span - horizon + 1`` windows per series (fewer for a series that ends earlier). A fraction
    (of the longest series) grows to the steps whose windows reach ``min_windows``, as
    :func:`forecast_cli.evaluation.holdout_split` does for one series; a step count that holds
    fewer, and ``--holdout 0``, are refused.

    Args:
        holdout: the ``--holdout`` value as given (steps, or a fraction if < 1).
        longest: rows of the longest series.
        horizon: the horizon.
        n_series: the series.
        min_windows: held-out windows needed. Defaults to ``min_windows_for_levels()`` (19).

    >>> panel_holdout_span(0.1, 100, 5, 4), panel_holdout_span(0.1, 100, 5, 30)  # 4 series need 5 windows each
    (10, 10)
    >>> panel_holdout_span(0.01, 100, 5, 3)  # grown: 3 series x 7 windows = 21 >= 19
    11
    >>> panel_holdout_span(0, 100, 5, 3)
    Traceback (most recent call last):
    ...
    forecast_cli.errors.DataError: --holdout 0 holds out nothing; the 80 % and 95 % intervals need at least 19 held-out windows (split conformal: the 95 % bound is the ceil((n+1)*0.95)-th smallest of n held-out errors); with 3 series use --holdout 11 or more (steps)
    """
    need = min_windows_for_levels() if min_windows is None else int(min_windows)
    least = horizon - 1 + -(-need // max(1, n_series))  # steps whose windows, over the series, reach `need`
    if 0 < holdout < 1:
        return max(horizon, int(round(longest * holdout)), least)
    span = int(holdout)
    have = max(0, span - horizon + 1) * n_series
    if span > 0 and have >= need:
        return span
    held = ("holds out nothing" if span <= 0 else
            f"holds out {span} steps: {have} window{'s' if have != 1 else ''} of horizon {horizon} over {n_series} "
            f"series")
    raise DataError(f"--holdout {holdout:g} {held}; the {levels_text()} intervals need at least {need} held-out "
                    f"windows (split conformal: the 95 % bound is the ceil((n+1)*0.95)-th smallest of n held-out "
                    f"errors); with {n_series} series use --holdout {least} or more (steps)")


def as_flags(settings: dict | None) -> str:
    """Settings as a command-line fragment: ``--folds 2 --test-size 11 --lookback 13 --horizon 5``.

    >>> as_flags({"lookback": 13, "horizon": 5})
    '--lookback 13 --horizon 5'
    """
    return " ".join(f"{flag} {settings[key]}" for key, flag in _FLAGS if key in (settings or {}))
