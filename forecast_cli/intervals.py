"""Conformal intervals that follow drift: the quantile of held-out residuals, and adaptive conformal
inference (ACI; Gibbs and Candès, "Adaptive conformal inference under distribution shift", NeurIPS
2021), which moves the level as misses are observed.

Split conformal (:func:`conformal_quantile`) assumes the future errors look like the held-out ones.
After training a series may drift (a stock's level rises, a season turns), and the intervals then
cover more or less than stated. ACI walks through forecasts whose truth has since been observed
(:func:`aci_walk`): after each miss the level it asks of the residuals goes up, after each hit it
goes down, by a step ``gamma``, so that the share of misses tracks the nominal one; each observed
error also joins the held-out ones the quantile is taken of, so a band can grow past the largest
held-out residual. At predict time these are the windows of the input after the training data
(their targets are known); a window's miss at step ``h`` is known ``h`` rows after its origin, and
only then counts. docs/intervals.md has the measurements behind these choices (and the scaled
residuals that were tried and not adopted).

Written here rather than taken from a library: the walk is a few lines of numpy over the network's
own forecasts; the packages that implement ACI (MAPIE, for one) wrap their own models and would be
a heavy dependency for it.

>>> import numpy as np
>>> calib = np.arange(1.0, 20.0)         # 19 held-out |residuals|
>>> conformal_quantile(calib, 80.0)      # rank ceil(20 * 0.8) = 16
16.0
>>> walk = aci_walk(np.full(10, 30.0), np.arange(10), calib, 80.0, step=1)   # the errors jump to 30
>>> walk.quantiles.tolist()[:4], walk.misses  # three misses raise the level and add 30s to the scores
([16.0, 18.0, 19.0, 30.0], 3)
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ACI_GAMMA", "ACI_MAX_WINDOWS", "AciWalk", "aci_bounds", "aci_walk", "adaptive_levels",
           "adaptive_section", "band_counts", "conformal_quantile", "coverage", "coverage_summary",
           "observed_windows"]

ACI_GAMMA = 0.02  # ACI's step: the level moves 100 * gamma * (alpha - miss) points per observed window
ACI_MAX_WINDOWS = 2000  # predict walks through at most this many of the input's most recent windows


def conformal_quantile(scores, level: float) -> float:
    """The split-conformal quantile: the ``ceil((n + 1) * level / 100)``-th smallest of ``n`` scores,
    clipped to the largest (a level at or beyond 100 %) and the smallest (at or below 0 %); NaN
    without scores.

    >>> conformal_quantile([3.0, 1.0, 2.0], 50.0), conformal_quantile([3.0, 1.0, 2.0], 150.0)
    (2.0, 3.0)
    """
    s = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    s = s[np.isfinite(s)]
    if not len(s):
        return math.nan
    k = math.ceil((len(s) + 1) * float(level) / 100.0) if math.isfinite(level) else len(s)
    return float(s[min(max(k, 1), len(s)) - 1])


@dataclass(frozen=True)
class AciWalk:
    """What :func:`aci_walk` returns: the level (percent) after the last observed miss, the
    quantile used at each window's origin, the misses it counted and the scores it ended with."""

    level: float
    quantiles: np.ndarray
    misses: int
    observed: int
    calib: np.ndarray  # the held-out scores and the observed ones, sorted: the final band's quantile is of these


def aci_walk(scores, origins, calib, level: float, *, gamma: float = ACI_GAMMA, step: int = 1,
             until: int | None = None) -> AciWalk:
    """Adaptive conformal inference over windows in time order, for one horizon step.

    Each window's band is the conformal quantile, at the current level, of the held-out scores and
    of the scores observed so far; once a window's truth is known its miss moves the level by
    ``gamma`` (up after a miss, down after a hit) and its score joins the calibration scores.

    Args:
        scores: each window's |residual| at this step (in the units of ``calib``), in origin order;
            NaN where the truth is unknown (never observed).
        origins: each window's origin row (the last input row), ascending.
        calib: the held-out |residuals| the quantile is first taken of.
        level: the nominal coverage in percent.
        gamma: ACI's step size. Defaults to :data:`ACI_GAMMA`.
        step: the horizon step (1-based): window ``j``'s miss is known at row ``origins[j] + step``.
            Defaults to 1.
        until: the row the forecast is made from: misses known by then count in the final level.
            Defaults to the last window's target row.

    Returns:
        :class:`AciWalk`. ``level`` is ``100 * (1 - alpha_t)``; it may leave [0, 100], and the
        quantile then clips to the smallest or largest score (a finite interval).
    """
    scores = np.asarray(scores, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.int64)
    cal = sorted(float(x) for x in np.asarray(calib, dtype=np.float64).reshape(-1) if math.isfinite(x))
    alpha0 = 1.0 - float(level) / 100.0
    alpha, pending, misses, observed = alpha0, 0, 0, 0
    quantiles = np.empty(len(scores))

    def observe(j: int) -> None:
        nonlocal alpha, misses, observed
        if not np.isfinite(scores[j]):  # a target in a gap (or not in the input): nothing observed
            return
        miss = bool(scores[j] > quantiles[j])
        misses, observed = misses + miss, observed + 1
        alpha += gamma * (alpha0 - miss)
        bisect.insort(cal, float(scores[j]))

    for i in range(len(scores)):
        while pending < i and origins[pending] + step <= origins[i]:
            observe(pending)
            pending += 1
        quantiles[i] = _ranked(cal, 100.0 * (1.0 - alpha))
    last = (int(origins[-1]) + step) if until is None and len(origins) else until
    while pending < len(scores) and last is not None and origins[pending] + step <= last:
        observe(pending)
        pending += 1
    return AciWalk(100.0 * (1.0 - alpha), quantiles, misses, observed, np.asarray(cal))


def _ranked(s: list, level: float) -> float:
    """:func:`conformal_quantile` of already sorted finite scores."""
    if not s:
        return math.nan
    k = math.ceil((len(s) + 1) * level / 100.0)
    return s[min(max(k, 1), len(s)) - 1]


def adaptive_levels(residuals, calib, origins, levels, *, gamma: float = ACI_GAMMA,
                    until: int | None = None) -> dict:
    """Each level's band after walking through observed windows (:func:`aci_walk`), per step and target.

    Args:
        residuals: ``(n, horizon, n_targets)`` truth - forecast of windows after the training data
            (NaN where the truth is not known).
        calib: ``(horizon, n_targets, m)`` held-out residuals (signed or absolute).
        origins: the ``n`` windows' origin rows, ascending.
        levels: nominal levels in percent.
        gamma: ACI's step. Defaults to :data:`ACI_GAMMA`.
        until: the row the forecast starts from. Defaults to the last window's last target row.

    Returns:
        ``{level: (levels, half-widths)}``, each ``(horizon, n_targets)``: the level (percent) ACI
        reached and the band's half-width, the conformal quantile at that level of the held-out
        and observed scores (the nominal level and the held-out quantile where nothing was observed).

    >>> lv, half = adaptive_levels(np.zeros((4, 1, 1)), np.ones((1, 1, 9)), np.arange(4), [80])[80]
    >>> round(float(lv[0, 0]), 1), float(half[0, 0])    # four hits: 80 - 100 * 0.02 * 0.2 * 4
    (78.4, 1.0)
    """
    r = np.abs(np.asarray(residuals, dtype=np.float64))
    c = np.abs(np.asarray(calib, dtype=np.float64))
    _, H, T = r.shape
    out = {}
    for lv in levels:
        level, half = np.empty((H, T)), np.empty((H, T))
        for h in range(H):
            for t in range(T):
                walk = aci_walk(r[:, h, t], origins, c[h, t], lv, gamma=gamma, step=h + 1, until=until)
                level[h, t], half[h, t] = walk.level, _ranked(list(walk.calib), walk.level)
        out[lv] = (level, half)
    return out


def adaptive_section(gamma: float = ACI_GAMMA, max_windows: int = ACI_MAX_WINDOWS) -> dict:
    """The bundle's ``conformal.adaptive`` section: predict adapts the level by ACI with step
    ``gamma`` over at most ``max_windows`` of the input's windows after the training data. A bundle
    without it (written before) keeps the nominal level: plain split conformal.

    >>> adaptive_section()
    {'method': 'aci', 'gamma': 0.02, 'max_windows': 2000}
    """
    return {"method": "aci", "gamma": float(gamma), "max_windows": int(max_windows)}


def aci_bounds(calib, levels, residuals, origins, *, gamma: float = ACI_GAMMA, until: int | None = None) -> dict:
    """Interval offsets ``{level: (lower, upper)}``, each ``(horizon, n_targets)``, from the held-out
    residuals ``calib`` ``(horizon, n_targets, m)`` at the levels ACI reaches over the observed
    windows (``residuals`` ``(n, horizon, n_targets)`` at ``origins``; see :func:`adaptive_levels`).

    >>> b = aci_bounds(np.arange(1.0, 20.0).reshape(1, 1, 19), [80], np.zeros((0, 1, 1)), [])
    >>> b[80][1].tolist()                # nothing observed: the split-conformal bound
    [[16.0]]
    """
    c = np.abs(np.asarray(calib, dtype=np.float64))
    H, T, _ = c.shape
    r = np.asarray(residuals, dtype=np.float64).reshape(-1, H, T)
    grid = adaptive_levels(r, c, np.asarray(origins, dtype=np.int64), levels, gamma=gamma, until=until)
    return {lv: (-grid[lv][1], grid[lv][1]) for lv in levels}


def observed_windows(stamps, values, lookback: int, horizon: int, after, limit: int = ACI_MAX_WINDOWS):
    """``(origins, residual rows)`` of the windows whose first target comes after ``after`` (the last
    training timestamp) with a complete input and a known first target: the forecasts whose misses
    predict can observe (a window near the end has its first steps observed, not its last). At most
    the ``limit`` most recent. ``rows`` is ``(n, horizon)``: each step's target row, -1 where it is
    past the end of ``values``.

    >>> import pandas as pd
    >>> st = pd.date_range("2024-01-01", periods=10, freq="D").to_numpy()
    >>> org, rows = observed_windows(st, np.zeros((10, 1)), 3, 2, st[5])   # first target row 6
    >>> org.tolist(), rows[-1].tolist()
    ([5, 6, 7, 8], [9, -1])
    """
    from .windows import valid_origins

    stamps = np.asarray(stamps)
    first = int(np.searchsorted(stamps, np.datetime64(after, "ns"), side="right"))
    values = np.asarray(values, dtype=np.float64)
    org = valid_origins(values, lookback, 1)
    org = org[org >= first - 1]
    org = org[-limit:] if limit else org
    rows = org[:, None] + np.arange(1, horizon + 1)[None, :]
    return org, np.where(rows < len(values), rows, -1)


def coverage(y_true, lower, upper) -> tuple[float, float]:
    """``(coverage in percent, mean width)`` of intervals ``[lower, upper]`` over every cell.

    >>> coverage([1.0, 2.0, 5.0, 3.0], [0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0])
    (50.0, 2.0)
    """
    y, lo, hi = (np.asarray(a, dtype=np.float64) for a in (y_true, lower, upper))
    inside = (y >= lo) & (y <= hi)
    return float(100.0 * inside.mean()), float(np.mean(hi - lo))


def band_counts(calib, y_true, y_pred, origins, levels, *, gamma: float = ACI_GAMMA) -> dict:
    """How the bands of forecasts ``y_pred`` ``(n, horizon, n_targets)`` at ``origins`` cover ``y_true``:
    the split-conformal quantile of the held-out ``calib`` ``(horizon, n_targets, m)``, at the level ACI
    reaches over the earlier of these windows (as predict adapts it over the input's windows after
    training; ``gamma=0``: plain split conformal).

    Returns:
        ``{level: {"hits": (horizon,) cells inside, "width": (horizon,) summed widths, "cells":
        (horizon,) cells}}``, summed over targets: add them over folds, then :func:`coverage_summary`.

    >>> c = band_counts(np.ones((1, 1, 9)), np.array([[[0.5]], [[3.0]]]), np.zeros((2, 1, 1)), [0, 1], [80], gamma=0)
    >>> {k: v.tolist() for k, v in c[80].items()}
    {'hits': [1], 'width': [4.0], 'cells': [2]}
    """
    c = np.abs(np.asarray(calib, dtype=np.float64))
    y, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    err = np.abs(y - p)
    n, H, T = err.shape
    out = {}
    for lv in levels:
        half = np.empty_like(err)
        for h in range(H):
            for t in range(T):
                if gamma:
                    half[:, h, t] = aci_walk(err[:, h, t], origins, c[h, t], lv, gamma=gamma, step=h + 1).quantiles
                else:
                    half[:, h, t] = conformal_quantile(c[h, t], lv)
        out[lv] = {"hits": (err <= half).sum(axis=(0, 2)), "width": (2 * half).sum(axis=(0, 2)),
                   "cells": np.full(H, n * T)}
    return out


def coverage_summary(counts: dict, by_step: bool = False) -> dict:
    """JSON-ready coverage per level from :func:`band_counts`: ``{"80": {"coverage": percent,
    "width": mean width, "by_step": [{"coverage", "width"}, ...]}}`` (``by_step`` only when asked).

    >>> coverage_summary({80.0: {"hits": np.array([3, 1]), "width": np.array([8.0, 12.0]), "cells": np.array([4, 4])}})
    {'80': {'coverage': 50.0, 'width': 2.5}}
    """
    out = {}
    for lv, c in counts.items():
        hits, width, cells = (np.asarray(c[k], dtype=np.float64) for k in ("hits", "width", "cells"))
        entry = {"coverage": round(float(100 * hits.sum() / cells.sum()), 2), "width": float(width.sum() / cells.sum())}
        if by_step:
            entry["by_step"] = [{"coverage": round(float(100 * h / k), 2), "width": float(w / k)}
                                for h, w, k in zip(hits, width, cells)]
        out[f"{float(lv):g}"] = entry
    return out
