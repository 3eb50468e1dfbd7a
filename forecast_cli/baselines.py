"""Baseline forecasters computed beside every model: naive, seasonal naive, linear on lags.

The ridge least squares behind the closed-form linear path (``models.fit_linear_path``) and
the across-series :class:`GlobalLinear` lives here, free of TensorFlow. For many series,
:class:`PanelBaseline` runs a single-series baseline on each, and :class:`GlobalLinear` fits one
linear map on the normalised windows of all of them; both take lists of series, like
:class:`forecast_cli.global_model.GlobalForecaster`.

Each single-series class has the same small contract as the neural forecaster: ``fit(values, origins)`` learns
from the windows whose origins are given (training windows only) and
``predict(values, origins)`` returns ``(n, horizon, n_targets)`` forecasts in the data's units.
``values`` is the whole ``(n_rows, n_columns)`` array; targets are its first columns.
No TensorFlow here.
"""
from __future__ import annotations

import numpy as np

from .windows import NORM_CLIP, denormalise, gather, norm_season, normalise_windows

__all__ = [
    "BASELINES",
    "RANK_GRID",
    "RIDGE_GRID",
    "GlobalLinear",
    "LinearLags",
    "Naive",
    "PanelBaseline",
    "STAT_BASELINES",
    "SeasonalNaive",
    "linear_map",
    "make_baselines",
    "make_panel_baselines",
]


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
STAT_BASELINES = ("ets",)  # with stat=True: forecast_cli.stat_baselines (statsforecast, optional)


def linear_map(baseline, lookback: int, n_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted single-series baseline as the linear map of its input window it is:
    ``(A, b)`` with ``A`` of shape ``(horizon, n_targets, lookback, n_columns)`` and ``b`` of shape
    ``(horizon, n_targets)``, so that ``forecast[h, t] = sum(A[h, t] * window) + b[h, t]`` in the
    data's units. ``train --fallback best`` serves a baseline this way, as a one-layer network.

    A seasonal naive whose season is longer than the lookback reads rows outside the window:
    ValueError (the caller serves another forecaster).

    >>> A, b = linear_map(Naive(2, 1), lookback=3, n_columns=1)
    >>> A[:, 0, :, 0].tolist(), b.tolist()
    ([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]], [[0.0], [0.0]])
    >>> A, _ = linear_map(SeasonalNaive(3, 1, season=2), lookback=4, n_columns=1)
    >>> A[:, 0, :, 0].tolist()
    [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]]
    """
    H, T, L, C = baseline.horizon, baseline.n_targets, lookback, n_columns
    A, b = np.zeros((H, T, L, C)), np.zeros((H, T))
    if isinstance(baseline, Naive):
        for t in range(T):
            A[:, t, L - 1, t] = 1.0
    elif isinstance(baseline, SeasonalNaive):
        m = baseline.season
        if m > L:
            raise ValueError(f"seasonal naive reads {m} rows back, beyond the lookback of {L}")
        for h in range(1, H + 1):
            row = L - 1 + h - m * int(np.ceil(h / m))
            for t in range(T):
                A[h - 1, t, row, t] = 1.0
    elif isinstance(baseline, LinearLags):
        # forecast = last + coef @ (window - window's last row) + intercept
        coef = baseline.model_.coef_.reshape(H, T, L, C)
        A[:] = coef
        A[:, :, L - 1, :] -= coef.sum(axis=2)
        for t in range(T):
            A[:, t, L - 1, t] += 1.0
        b[:] = np.asarray(baseline.model_.intercept_).reshape(H, T)
    else:
        raise TypeError(f"no linear map for {type(baseline).__name__}")
    return A, b


def make_baselines(lookback: int, horizon: int, n_targets: int, season: int, *, stat: bool = False,
                   n_rows: int | None = None, notes: list | None = None):
    """Naive, seasonal naive and linear on lags; with ``stat``, AutoETS too
    (:func:`forecast_cli.stat_baselines.stat_baselines`: left out, with a line in ``notes``, when
    statsforecast is missing or the series' ``n_rows`` make its fits too long).

    >>> [b.name for b in make_baselines(10, 2, 1, 7)]
    ['naive', 'seasonal_naive', 'linear']
    """
    out = [Naive(horizon, n_targets), SeasonalNaive(horizon, n_targets, season),
           LinearLags(lookback, horizon, n_targets)]
    if stat:
        from .stat_baselines import stat_baselines

        out += stat_baselines(lookback, horizon, n_targets, season, n_rows=n_rows, notes=notes)
    return out


# Ridge penalties tried by fit_linear_path, per training row of the design matrix.
RIDGE_GRID = (0.0, 0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0)
# Ranks tried by fit_linear_path with linear_rank="auto" (those below the output size, then full).
RANK_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


def _ridge_path(A, B, rels):
    """Ridge least squares of ``B`` on ``A`` with an unpenalised intercept, for each penalty in
    ``rels`` (per row of ``A``): yields ``(rel, W, b)``, float64, ``A @ W + b`` the fit."""
    yield from _ridge_path_moments(_moments([(A, B)]), rels)


def _moments(chunks) -> tuple:
    """``(n, mean of A, mean of B, centred A'A, centred A'B)`` accumulated over ``(A, B)`` chunks
    (float64), so a ridge fit on millions of rows never holds them all at once."""
    n, sa, sb, AtA, AtB = 0, 0.0, 0.0, 0.0, 0.0
    for A, B in chunks:
        A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
        n += len(A)
        sa, sb = sa + A.sum(axis=0), sb + B.sum(axis=0)
        AtA, AtB = AtA + A.T @ A, AtB + A.T @ B
    mx, my = sa / n, sb / n
    return n, mx, my, AtA - n * np.outer(mx, mx), AtB - n * np.outer(mx, my)


def _ridge_path_moments(moments, rels):
    """:func:`_ridge_path` from :func:`_moments`."""
    n, mx, my, G, R = moments
    evals, evecs = np.linalg.eigh(G)
    evals = np.clip(evals, 0.0, None)
    VR = evecs.T @ R
    eps = 1e-9 * max(float(evals.max()), 1.0)
    for rel in rels:
        alpha = rel * n + eps
        W = evecs @ (VR / (evals + alpha)[:, None])
        b = my - mx @ W
        yield rel, W, b


def _rank_candidates(linear_rank, n_out: int) -> tuple:
    """The ranks ``fit_linear_path`` tries for a ``linear_rank`` setting; ``None`` = full rank."""
    if linear_rank == "full":
        return (None,)
    if linear_rank == "auto":
        return tuple(r for r in RANK_GRID if r < n_out) + (None,)
    return (linear_rank if linear_rank < n_out else None,)


def _ridge_fits(A, B, rels, ranks=(None,)):
    """Reduced-rank ridge fits of ``B`` on ``A`` (unpenalised intercept): yields ``(rel, rank, W,
    b)`` for each penalty in ``rels`` and each rank in ``ranks`` (``None`` = the ridge map itself).

    A rank-``r`` fit projects the ridge map onto the ``r`` leading right singular vectors of its
    centred fitted values on ``A`` (reduced-rank ridge regression, Mukherjee and Zhu 2011): the
    outputs are then a mix of ``r`` profiles learned from the data.
    """
    mx, my = A.mean(axis=0), B.mean(axis=0)
    Ac = A - mx if any(r is not None for r in ranks) else None
    for rel, W, b in _ridge_path(A, B, rels):
        Vt = None
        for rank in ranks:
            if rank is None:
                yield rel, None, W, b
                continue
            if Vt is None:
                Vt = np.linalg.svd(Ac @ W, full_matrices=False)[2]
            Wr = (W @ Vt[:rank].T) @ Vt[:rank]
            yield rel, rank, Wr, my - mx @ Wr


def _stack_windows(series, origins, L, H, T, with_targets=True):
    """The windows at ``origins[i]`` of each ``series[i]``, stacked: ``(X, Y)`` float64 (Y None
    when ``with_targets`` is False)."""
    Xs, Ys = [], []
    for s, o in zip(series, origins):
        o = np.asarray(o, dtype=np.int64)
        if not len(o):
            continue
        X, Y = gather(np.asarray(s, dtype=np.float64), o, L, H if with_targets else 1, T, dtype=np.float64)
        Xs.append(X)
        Ys.append(Y)
    C = np.asarray(series[0]).shape[1] if len(series) else T
    X = np.concatenate(Xs) if Xs else np.empty((0, L, C))
    if not with_targets:
        return X, None
    return X, (np.concatenate(Ys) if Ys else np.empty((0, H, T)))


def _split(out, origins):
    """Split stacked forecasts back into one array per series."""
    sizes = np.cumsum([len(o) for o in origins])[:-1]
    return np.split(out, sizes)


class PanelBaseline:
    """A single-series baseline (:class:`Naive`, :class:`SeasonalNaive`, :class:`LinearLags`) run on
    each series of a list, with the list contract of the global model.

    Args:
        make: a function of no arguments returning a fresh single-series baseline.
        name: the baseline's name. Defaults to the made baseline's name.

    >>> s = [np.arange(10.0)[:, None], np.arange(20.0, 30.0)[:, None]]
    >>> b = PanelBaseline(lambda: Naive(2, 1)).fit(s, [np.arange(3, 6)] * 2)
    >>> [p[:, :, 0].tolist() for p in b.predict(s, [np.array([9])] * 2)]
    [[[9.0, 9.0]], [[29.0, 29.0]]]
    """

    def __init__(self, make, name: str | None = None):
        self.make = make
        self.name = name or make().name

    def fit(self, series, origins, *, keys=None):
        self.models_ = [self.make().fit(s, o) for s, o in zip(series, origins)]
        return self

    def predict(self, series, origins, keys=None):
        return [m.predict(s, o) for m, s, o in zip(self.models_, series, origins)]


class GlobalLinear:
    """One ridge map from normalised windows to normalised forecasts, fitted across all series.

    Each window is made scale-free by :func:`forecast_cli.windows.normalise_windows` (log when
    positive, minus its last value, over its mean absolute seasonal difference), so series of any
    level share the map, and a series unseen in fitting gets forecasts too. The ridge penalty is
    chosen from :data:`RIDGE_GRID` on each series' last ``val_fraction`` of windows (then refitted on
    all of them). Written here rather than with scikit-learn's ``RidgeCV`` to share the penalty
    path and its choice with the network's closed-form linear path.

    Args:
        lookback: input window length.
        horizon: forecast length.
        n_targets: target columns (the first columns of each series).
        season: seasonal lag of the normalisation (1 = successive differences). Defaults to 1.
        log: take logs of positive windows. Defaults to True.
        val_fraction: share of each series' last windows used to choose the penalty. Defaults to 0.1.
        max_windows: most windows fitted on (a random subset beyond). Defaults to 200,000.

    >>> t = np.arange(400.0)
    >>> s = [(10 + k + np.sin(2 * np.pi * t / 8))[:, None] for k in range(3)]
    >>> g = GlobalLinear(16, 4, 1, season=8).fit(s, [np.arange(15, 396)] * 3)
    >>> p = g.predict(s, [np.array([395])] * 3)
    >>> bool(np.abs(p[0][0, :, 0] - s[0][396:, 0]).max() < 1e-3)
    True
    """

    name = "linear"

    def __init__(self, lookback: int, horizon: int, n_targets: int, season: int = 1, *, log: bool = True,
                 val_fraction: float = 0.1, max_windows: int = 200_000):
        self.lookback, self.horizon, self.n_targets = lookback, horizon, n_targets
        self.season, self.log, self.val_fraction, self.max_windows = season, log, val_fraction, max_windows

    def _design(self, X, lengths=None):
        Xn, stats = normalise_windows(X, norm_season(self.lookback, self.season), log=self.log, lengths=lengths)
        return Xn.reshape(len(Xn), -1).astype(np.float64), stats

    def fit(self, series, origins, *, keys=None):
        L, H, T = self.lookback, self.horizon, self.n_targets
        tr, va = [], []
        for o in origins:
            o = np.sort(np.asarray(o, dtype=np.int64))
            n_val = round(len(o) * self.val_fraction)
            tr.append(o[:len(o) - n_val])
            va.append(o[len(o) - n_val:])
        X, Y = _stack_windows(series, origins, L, H, T)
        if len(X) > self.max_windows:
            keep = np.sort(np.random.default_rng(0).choice(len(X), self.max_windows, replace=False))
            X, Y = X[keep], Y[keep]
        A, stats = self._design(X)
        B = self._targets(Y, stats)
        rel = RIDGE_GRID[0]
        Xt, Yt = _stack_windows(series, tr, L, H, T)
        Xv, Yv = _stack_windows(series, va, L, H, T)
        if len(Xv) and len(Xt) > A.shape[1]:
            At, st = self._design(Xt)
            Av, sv = self._design(Xv)
            Bt, Bv = self._targets(Yt, st), self._targets(Yv, sv)
            best = None
            for r, W, b in _ridge_path(At, Bt, RIDGE_GRID):
                mse = float(np.mean((Av @ W + b - Bv) ** 2))
                if best is None or mse < best[0]:
                    best = (mse, r)
            rel = best[1]
        self.alpha_ = rel
        _, self.W_, self.b_ = next(_ridge_path(A, B, (rel,)))
        return self

    def _targets(self, Y, stats):
        last, scale, logged = (a[:, :, : self.n_targets] for a in stats)
        Z = np.where(logged, np.log(np.where(logged & (Y > 0), Y, 1.0)), Y)
        return np.clip((Z - last) / scale, -NORM_CLIP, NORM_CLIP).reshape(len(Y), -1)

    def predict_windows(self, X, keys=None, lengths=None):
        """Forecasts ``(n, H, T)`` for windows ``(n, L, C)`` in the data's units (``lengths``: real
        rows of left-padded short windows)."""
        A, stats = self._design(np.asarray(X, dtype=np.float64), lengths)
        Yn = (A @ self.W_ + self.b_).reshape(len(A), self.horizon, self.n_targets)
        return denormalise(Yn, stats)

    def predict(self, series, origins, keys=None):
        X, _ = _stack_windows(series, origins, self.lookback, self.horizon, self.n_targets, with_targets=False)
        return _split(self.predict_windows(X), origins)


PANEL_BASELINES = ("naive", "seasonal_naive", "linear")


def make_panel_baselines(lookback: int, horizon: int, n_targets: int, season: int, *, stat: bool = False,
                         n_rows=None, notes: list | None = None):
    """Naive and seasonal naive on each series, and :class:`GlobalLinear` across them; with ``stat``,
    AutoETS on each series (``n_rows``: each series' rows; see :func:`make_baselines`)."""
    out = [PanelBaseline(lambda: Naive(horizon, n_targets)),
           PanelBaseline(lambda: SeasonalNaive(horizon, n_targets, season)),
           GlobalLinear(lookback, horizon, n_targets, season)]
    if stat:
        from .stat_baselines import AutoETSBaseline, stat_baselines

        if stat_baselines(lookback, horizon, n_targets, season, n_rows=n_rows, notes=notes):
            out.append(PanelBaseline(lambda: AutoETSBaseline(lookback, horizon, n_targets, season), name="ets"))
    return out
