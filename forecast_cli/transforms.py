"""A variance-stabilising transform of the target columns (log or Box-Cox), fitted on training rows only.

On a positive series whose seasonal swing grows with its level (airline passengers, retail
sales), the network and its loss see big swings late and small ones early; on the log or
Box-Cox scale the swing is about constant. :class:`TargetTransform` holds one choice per
target column, fitted on the training rows only; :class:`TransformedForecaster` wraps a
:class:`~forecast_cli.training.NeuralForecaster` so that the network is fitted on, and forecasts
on, the transformed scale, while every forecast it returns (and so every metric, residual and
interval built on them) is on the data's scale.

The settings (``--transform``):

- ``none`` (the default): the identity (the network as it was before this module). Measured on
  validation folds of 17 series (docs/transforms.md), no transform helped consistently, and
  ``auto`` would refuse series that dip to <= 0 after training (Celsius temperatures).
- ``log``: ``log(x)`` (Box-Cox with lambda 0).
- ``boxcox``: Box-Cox with lambda estimated on the training rows (below).
- ``auto``: Box-Cox with that lambda only where the training rows are strictly positive **and**
  their seasonal swing grows with their level, else none.

The rule of ``auto`` and the lambda (Guerrero-like, by regression): the training rows of a
column are cut into consecutive blocks of one season (``season`` rows; 2 when the series has
no season), ending at the last training row; each block gives its mean ``m`` and standard
deviation ``s``. If ``s`` grows like ``m ** b``, then ``x ** (1 - b)`` has a constant spread
(Box & Cox 1964; Guerrero 1993 chooses lambda on the same blocks), so lambda = ``1 - b``, ``b``
the slope of ``log s`` on ``log m`` (``scipy.stats.linregress``), clipped to [0, 1]. ``auto``
applies it when that slope is positive at the 5 % level (one-sided, :data:`AUTO_P`), is at least
:data:`AUTO_MIN_SLOPE` (a lambda above 0.9 changes next to nothing), and there are at least
:data:`MIN_BLOCKS` blocks; otherwise it leaves the column as it is.
The transform itself is ``scipy.special.boxcox`` and ``inv_boxcox`` (exact inverses of each
other). Why not scipy's ``boxcox_normmax`` or scikit-learn's ``PowerTransformer``: they choose
lambda to make the values' *distribution* normal (maximum likelihood), which on a trending series
answers a question about the trend, not about the swing; the block regression asks the question
the transform is for. (docs/transforms.md compares the two on validation folds.)

Values <= 0: ``log`` and ``boxcox`` refuse training rows that hold one (``auto`` leaves such a
column alone). A value <= 0 that appears later, in the rows a forecast reads (a later fold's
input window, a file given to ``predict`` or ``score``), is refused in one line that names the
column and the fix (``--transform none``), never turned into a NaN. Forecasts on the transformed
scale are clipped to the image of ``[0, float32 max]`` before the inverse, so a wild forecast
ends at 0 or a huge finite number, never at NaN or infinity.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError, DataError

__all__ = ["AUTO_MIN_SLOPE", "AUTO_P", "MIN_BLOCKS", "MODES", "TargetTransform", "TransformedForecaster",
           "make_forecaster", "swing_slope", "transform_section", "transform_text"]

MODES = ("auto", "log", "boxcox", "none")
AUTO_P = 0.05
AUTO_MIN_SLOPE = 0.1
MIN_BLOCKS = 4
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def swing_slope(x: np.ndarray, season: int = 1) -> tuple[float, float, int]:
    """How the seasonal swing grows with the level: ``(slope, one-sided p-value, blocks)``.

    ``x`` is cut into consecutive blocks of ``season`` rows (2 when ``season`` < 2), the last
    block ending at the last row; the slope is that of ``log(std)`` on ``log(mean)`` over the
    blocks (``scipy.stats.linregress``, ``alternative="greater"``). Fewer than :data:`MIN_BLOCKS`
    blocks with a positive mean and spread: ``(nan, 1.0, n)``.

    Args:
        x: one column's training rows, strictly positive (NaN rows are dropped).
        season: block length. Defaults to 1 (blocks of 2).

    >>> t = np.arange(120)
    >>> mult = (10 + t) * (1 + 0.3 * np.sin(2 * np.pi * t / 12))
    >>> b, p, n = swing_slope(mult, 12)
    >>> round(b, 2), p < 0.01, n
    (1.14, True, 10)
    """
    from scipy.stats import linregress

    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    m = max(int(season), 2)
    n = len(x) // m
    if n < MIN_BLOCKS:
        return float("nan"), 1.0, n
    blocks = x[len(x) - n * m:].reshape(n, m)
    mean, std = blocks.mean(axis=1), blocks.std(axis=1, ddof=1)
    keep = (mean > 0) & (std > 0)
    if keep.sum() < MIN_BLOCKS or np.ptp(np.log(mean[keep])) == 0:
        return float("nan"), 1.0, n
    fit = linregress(np.log(mean[keep]), np.log(std[keep]), alternative="greater")
    return float(fit.slope), float(fit.pvalue), n


def _choose(x: np.ndarray, mode: str, season: int, name: str) -> dict:
    """One column's transform: ``{"kind", "lambda"}`` (plus the test's ``slope``, ``p_value``)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if mode == "none":
        return {"kind": "none", "lambda": None}
    if not len(x) or x.min() <= 0:
        if mode == "auto":
            return {"kind": "none", "lambda": None}
        low = f"{x.min():.4g}" if len(x) else "no value"
        raise DataError(f"--transform {mode} needs values > 0, and column '{name}' holds {low} in its training "
                        "rows; use --transform auto (it leaves such a column alone) or none")
    if mode == "log":
        return {"kind": "log", "lambda": 0.0}
    slope, p, _ = swing_slope(x, season)
    lam = float(np.clip(1.0 - slope, 0.0, 1.0)) if np.isfinite(slope) else 1.0
    info = {"slope": None if not np.isfinite(slope) else round(slope, 6), "p_value": round(p, 6)}
    if mode == "auto" and not (p < AUTO_P and slope >= AUTO_MIN_SLOPE):
        return {"kind": "none", "lambda": None, **info}
    return {"kind": "boxcox", "lambda": lam, **info}


class TargetTransform:
    """Log or Box-Cox per target column (the first ``n_targets`` columns), fitted on training rows.

    Args:
        mode: ``auto``, ``log``, ``boxcox`` or ``none`` (see the module's docstring). Defaults to ``auto``.
        season: the season length of the block test. Defaults to 1.
        names: the target columns' names, for messages. Defaults to ``target 1``, ...

    >>> t = np.arange(120.0)
    >>> y = ((10 + t) * (1 + 0.3 * np.sin(2 * np.pi * t / 12)))[:, None]
    >>> tf = TargetTransform("auto", season=12).fit(y[:96])
    >>> tf.params_[0]["kind"], round(tf.params_[0]["lambda"], 2)
    ('boxcox', 0.0)
    >>> bool(np.abs(tf.inverse(tf.transform(y)) - y).max() < 1e-9)
    True
    """

    def __init__(self, mode: str = "auto", season: int = 1, names=None):
        if mode not in MODES:
            raise ConfigError(f"--transform must be one of {', '.join(MODES)}. Got {mode!r}.")
        self.mode, self.season, self.names = mode, int(season or 1), names

    def _name(self, j: int) -> str:
        return str(self.names[j]) if self.names is not None and j < len(self.names) else f"target {j + 1}"

    def fit(self, rows: np.ndarray) -> TargetTransform:
        """Choose each column's transform from ``rows`` ``(n, n_targets)``: the training rows only."""
        rows = np.asarray(rows, dtype=np.float64)
        rows = rows[:, None] if rows.ndim == 1 else rows
        self.params_ = [_choose(rows[:, j], self.mode, self.season, self._name(j)) for j in range(rows.shape[1])]
        return self

    @property
    def identity(self) -> bool:
        """Whether every column is left as it is."""
        return all(p["kind"] == "none" for p in self.params_)

    def _lambdas(self):
        return [(j, float(p["lambda"])) for j, p in enumerate(self.params_) if p["kind"] != "none"]

    def check_positive(self, values: np.ndarray) -> None:
        """Refuse a value <= 0 in a transformed column of ``values`` ``(..., n_columns)`` in one line."""
        for j, lam in self._lambdas():
            col = np.asarray(values)[..., j]
            with np.errstate(invalid="ignore"):
                bad = col <= 0
            if bad.any():
                kind = "log" if self.params_[j]["kind"] == "log" else f"Box-Cox (lambda {lam:.3g})"
                raise DataError(f"column '{self._name(j)}' holds {col[bad].min():.4g} in the rows a forecast reads; "
                                f"the model's {kind} transform, fitted on positive training rows, needs values > 0: "
                                "train with --transform none for data that can be <= 0")

    def transform(self, values: np.ndarray) -> np.ndarray:
        """``values`` ``(..., n_columns)`` with the target columns transformed (a value <= 0 becomes NaN:
        :meth:`check_positive` refuses the rows a forecast reads)."""
        from scipy.special import boxcox

        out = np.array(values, dtype=np.float64, copy=True)
        for j, lam in self._lambdas():
            with np.errstate(invalid="ignore", divide="ignore"):
                col = out[..., j]
                out[..., j] = np.where(col > 0, boxcox(np.where(col > 0, col, 1.0), lam), np.nan)
        return out

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Target arrays ``(..., n_targets)`` back on the data's scale; each value is first clipped
        to the image of ``[0, float32 max]``, so the result is finite and >= 0."""
        from scipy.special import boxcox, inv_boxcox

        out = np.array(y, dtype=np.float64, copy=True)
        for j, lam in self._lambdas():
            lo = -1.0 / lam if lam > 0 else -np.inf
            hi = float(boxcox(_FLOAT32_MAX, lam))
            out[..., j] = np.maximum(inv_boxcox(np.clip(out[..., j], lo, hi), lam), 0.0)
        return out

    def to_dict(self) -> dict:
        """The manifest's ``transform`` section (JSON-ready)."""
        return {"setting": self.mode, "season": self.season,
                "targets": [{"column": self._name(j), **p} for j, p in enumerate(self.params_)]}

    @classmethod
    def from_dict(cls, d: dict) -> TargetTransform:
        """Rebuild a fitted transform from :meth:`to_dict`'s section."""
        targets = d["targets"]
        self = cls(d.get("setting", "none"), int(d.get("season") or 1), [t["column"] for t in targets])
        self.params_ = [{k: v for k, v in t.items() if k != "column"} for t in targets]
        return self


class TransformedForecaster:
    """A forecaster (a :class:`~forecast_cli.training.NeuralForecaster`) fitted and run on transformed
    targets; its forecasts are on the data's scale. Other attributes are the wrapped forecaster's.

    Args:
        net: the unfitted (or, with ``transform``, fitted) forecaster.
        mode: the ``--transform`` setting. Defaults to ``auto``.
        season: the season of the block test. Defaults to 1.
        names: the target columns' names, for messages. Defaults to None.
    """

    def __init__(self, net, mode: str = "auto", season: int = 1, names=None, transform: TargetTransform | None = None):
        self.net = net
        self.transform_ = transform if transform is not None else TargetTransform(mode, season, names)

    def __getattr__(self, name):
        if name in ("net", "transform_") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.net, name)

    def fit(self, values: np.ndarray, origins: np.ndarray, **kwargs):
        """Fit the transform on the rows the training windows cover (the scaler's rows), then the network."""
        values = np.asarray(values, dtype=np.float64)
        o = np.sort(np.asarray(origins, dtype=np.int64))
        L, H, T = self.net.window.lookback, self.net.window.horizon, self.net.n_targets
        if len(o):
            self.transform_.fit(values[max(0, int(o[0]) - L + 1):int(o[-1]) + H + 1, :T])
        else:
            self.transform_.fit(values[:, :T])
        self.net.fit(values if self.transform_.identity else self.transform_.transform(values), origins, **kwargs)
        return self

    def predict(self, values: np.ndarray, origins: np.ndarray, **kwargs) -> np.ndarray:
        """Forecasts ``(n, horizon, n_targets)`` on the data's scale for the windows at ``origins``."""
        if self.transform_.identity:
            return self.net.predict(values, origins, **kwargs)
        values = np.asarray(values, dtype=np.float64)
        o = np.asarray(origins, dtype=np.int64)
        rows = np.unique(o[:, None] + np.arange(-self.net.window.lookback + 1, 1)[None, :]) if len(o) else o
        self.transform_.check_positive(values[rows])
        return self.transform_.inverse(self.net.predict(self.transform_.transform(values), origins, **kwargs))

    def predict_windows(self, X: np.ndarray) -> np.ndarray:
        """Forecasts for stacked windows ``(n, lookback, n_columns)`` in the data's units. A window with a
        value <= 0 in a transformed column gets NaN forecasts (the others are unaffected: batch scoring
        stacks many files), which :func:`forecast_cli.forecasting.check_forecast` refuses, naming why."""
        if self.transform_.identity:
            return self.net.predict_windows(X)
        X = np.asarray(X, dtype=np.float64)
        bad = np.zeros(len(X), dtype=bool)
        for j, _ in self.transform_._lambdas():
            with np.errstate(invalid="ignore"):
                bad |= (X[..., j] <= 0).any(axis=1)
        Z = self.transform_.transform(X)
        Z[bad] = self.transform_.transform(np.ones_like(X[:1]))  # a harmless stand-in, its forecast dropped
        out = self.transform_.inverse(self.net.predict_windows(Z))
        out[bad] = np.nan
        return out


def make_forecaster(window, model, train, n_targets: int, season: int = 1, names=None):
    """The forecaster of one series for ``model.transform``: a plain
    :class:`~forecast_cli.training.NeuralForecaster` for ``none`` (the very same code path as before
    the transform existed), else one wrapped in :class:`TransformedForecaster`."""
    from .training import NeuralForecaster

    net = NeuralForecaster(window, model, train, n_targets, season=season)
    mode = getattr(model, "transform", "none")
    return net if mode == "none" else TransformedForecaster(net, mode, season, names)


def transform_section(net, names) -> dict:
    """The manifest's ``transform`` section of a fitted one-series forecaster (``none`` for a plain one).

    >>> transform_section(object(), ["y"])["targets"]
    [{'column': 'y', 'kind': 'none', 'lambda': None}]
    """
    tf = getattr(net, "transform_", None)
    if isinstance(tf, TargetTransform):
        tf.names = list(names)
        return tf.to_dict()
    return {"setting": "none", "season": 1,
            "targets": [{"column": str(n), "kind": "none", "lambda": None} for n in names]}


def transform_text(section) -> str | None:
    """A fitted transform in words, for reports: a fold's or holdout's ``transform`` entry
    (``{column: {kind, lambda}}``) or a manifest's section (``{"targets": [...]}``); None for none.

    >>> transform_text({"y": {"kind": "boxcox", "lambda": 0.271}, "x": {"kind": "none", "lambda": None}})
    'transform: y Box-Cox (lambda 0.271), x none'
    >>> transform_text({"targets": [{"column": "y", "kind": "none", "lambda": None}]}) is None
    True
    """
    if not isinstance(section, dict):
        return None
    if "targets" in section:
        section = {t.get("column"): t for t in section.get("targets") or [] if isinstance(t, dict)}
    parts = [f"{c} " + ("log" if t.get("kind") == "log" else f"Box-Cox (lambda {float(t['lambda']):.3g})"
                        if t.get("kind") == "boxcox" else "none") for c, t in section.items() if isinstance(t, dict)]
    if all(p.endswith(" none") for p in parts):
        return None
    return "transform: " + ", ".join(parts)
