"""The library's front door: :class:`Forecaster`, DataFrames in and DataFrames out.

Data is long format with Nixtla's column names by default: ``unique_id`` (the series), ``ds``
(the timestamp) and ``y`` (the value), one row per series and timestamp; ``id_col=None`` reads
one series. With several series, one **global** network is trained on the windows of all of
them (``local=True`` fits one per series instead), beside per-series baselines. One series
(``id_col=None``, or a :class:`~forecast_cli.data.Dataset`) gets the one-series network of
:mod:`forecast_cli.series_model`, scaled by its training rows, exactly as ``forecast evaluate`` and
``forecast train`` run one file; it may have several targets.

>>> import numpy as np, pandas as pd
>>> from forecast_cli import Forecaster
>>> t = np.arange(240)
>>> df = pd.concat([pd.DataFrame({"unique_id": f"s{k}", "ds": pd.date_range("2024-01-01", periods=240, freq="h"),
...                               "y": 10 * (k + 1) + (k + 1) * np.sin(2 * np.pi * t / 24) + 0.01 * np.cos(t)})
...                 for k in range(3)])
>>> fc = Forecaster(lookback=48, horizon=24, epochs=1, units=4, linear_fit="lstsq", seed=0).fit(df)
>>> fc.predict().shape
(72, 4)
>>> list(fc.predict(h=2).columns)
['unique_id', 'ds', 'model', 'short_history']
>>> cv = fc.cross_validate(df, folds=2)
>>> list(cv.columns)
['unique_id', 'fold', 'cutoff', 'ds', 'y', 'model', 'naive', 'seasonal_naive', 'linear', 'ets']
>>> cv.attrs["metrics"]["verdict"]["beats"]["naive"]["wins"]
3

One series (``id_col=None``) is the network ``forecast train`` fits on one file, with its
held-out residuals for intervals:

>>> one = df[df.unique_id == "s0"].drop(columns="unique_id")
>>> fc = Forecaster(lookback=48, horizon=24, epochs=1, units=4, seed=0)
>>> fc.fit_holdout(one, id_col=None, holdout=48)["n_holdout_windows"]
25
>>> list(fc.predict(h=2, level=[80]).columns)
['ds', 'model', 'model-lo-80', 'model-hi-80']
"""
from __future__ import annotations

import contextlib
import os
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError
from .metrics import interval_scale

__all__ = ["Forecaster", "NotFittedError"]


class NotFittedError(ConfigError):
    """The forecaster was used before :meth:`Forecaster.fit` (or :meth:`Forecaster.load`)."""


def _split_settings(settings: dict):
    """The :class:`~forecast_cli.config.Settings` of flat keyword settings (unchecked)."""
    from .config import split_settings

    return split_settings(**settings)


class Forecaster:
    """An LSTM-family forecaster for one or many series, with baselines beside it.

    The settings are keyword arguments named as the command line's options (``lookback``,
    ``horizon``, ``model``, ``units``, ``epochs``, ``seed``, ``local``, ``id_embedding``, ...; see
    :func:`forecast_cli.config.split_settings`). They are stored as given and checked in
    :meth:`fit`, as scikit-learn does.

    Attributes set by :meth:`fit`: ``ids_`` (the series trained on), ``skipped_`` (series left
    out, with the reason), ``season_`` and ``net_`` (the fitted network). :meth:`predict` sets
    ``trend_bounded_`` for many series: how many of the forecasts the global model's trend bound
    changed (:func:`forecast_cli.global_model.cap_trend`; quarterly positive series only).
    """

    def __init__(self, **settings):
        self.settings = dict(settings)

    def get_params(self) -> dict:
        """The settings as given (scikit-learn's convention)."""
        return dict(self.settings)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"Forecaster({args})"

    # -- settings and data -------------------------------------------------------------------
    def _configs(self):
        """``(data, window, model, train)``, every setting checked (the one place they are)."""
        settings = _split_settings(self.settings).check()
        return tuple(settings)

    def _panel(self, df, id_col, time_col, target, features, *, min_rows: int, strict: bool, for_fit: bool,
               data=None):
        """A :class:`~forecast_cli.panel.Panel` from a DataFrame (or a Panel as it is)."""
        from .panel import Panel, panel_from_frame

        model = self._configs()[2]
        if model.transform != "none":
            raise ConfigError("--transform applies to one series (a model of many series scales each window "
                              "on its own, in logs for positive series); drop it")
        if model.theta_weight:
            from .theta_blend import require_stats

            require_stats()
        if isinstance(df, Panel):
            return df
        if not isinstance(df, pd.DataFrame):
            raise ConfigError(f"df must be a pandas DataFrame in long format. Got {type(df).__name__}.")
        data = data if data is not None else self._configs()[0]
        return panel_from_frame(df, id_col=id_col, time_col=time_col, target=target, features=tuple(features),
                                min_rows=min_rows, strict=strict, max_gap=data.max_gap,
                                gaps=data.gaps if for_fit else "skip")

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, df, *, id_col: str | None = "unique_id", time_col: str = "ds", target: str = "y",
            features: Sequence[str] = (), strict: bool = False, on_epoch=None) -> "Forecaster":
        """Train on every complete window of every series.

        Args:
            df: a long DataFrame (``id_col``, ``time_col``, ``target`` and any ``features``), or a
                :class:`~forecast_cli.panel.Panel`.
            id_col: the series column; None when ``df`` holds one series. Defaults to ``"unique_id"``.
            time_col: the timestamp column. Defaults to ``"ds"``.
            target: the value column. Defaults to ``"y"``.
            features: extra numeric input columns. Defaults to none.
            strict: fail when any series is left out (too short, another frequency, long gaps)
                instead of warning. Defaults to False.

        Returns:
            self.
        """
        data, window, model, train = self._configs()
        if _one_series(df, id_col):
            from . import series_model

            ds, season, window = self._series(df, time_col, target, features, data, window, model, train,
                                              length=True)
            net = series_model.fit_all(ds, window, model, train, on_epoch=on_epoch, season=season)
            self._remember_series(net, ds, data, season)
            index = ds.frame.index
            self.weights_ = {"rows": [0, len(index)], "period": [str(index[0]), str(index[-1])], "refit": False}
            self.manifest_["weights"] = self.weights_
            return self
        window = self._many_window(window, model)
        L, H = window.lookback, window.horizon
        panel = self._panel(df, id_col, time_col, target, features, min_rows=L + H + 1, strict=strict,
                            for_fit=True, data=data)
        self.long_ = self._is_long(df, id_col, data)
        self._fit_panel(panel, data, window, model, train, on_epoch=on_epoch)
        self.weights_ = {"period": [str(min(ds.frame.index[0] for ds in panel.series)),
                                    str(max(ds.frame.index[-1] for ds in panel.series))], "refit": False}
        self.residuals_ = self.holdout_ = None  # nothing held out: no intervals
        return self

    def _series(self, df, time_col, target, features, data, window, model, train, *, length: bool = False,
                folds: int = 5):
        """One series' validated Dataset, its season and its window ``(ds, season, window)``, after
        refusing what applies to many series only. A lookback not given is decided from the rows and
        the season (:func:`~forecast_cli.fit_advice.resolve_lookback`, leaving room for ``folds``).
        ``length``: also refuse a series shorter than one window (``fit``; cross-validation and the
        holdout split refuse short series themselves, naming settings that fit)."""
        from . import series_model
        from .fit_advice import resolve_lookback

        series_model.refuse_panel_settings(model, train)
        ds = series_model.series_dataset(df, time_col=time_col, target=target, features=features, data=data)
        season = int(self.settings.get("season") or ds.season or 1)
        window = resolve_lookback(window, season=season, n_rows=len(ds.frame), folds=folds)
        model.check_window(window)
        series_model.check_for_model(ds, window, length=length)
        return ds, season, window

    @staticmethod
    def _many_window(window, model):
        """The window of a model of many series: a lookback not given is
        :data:`~forecast_cli.fit_advice.MANY_SERIES_LOOKBACK`."""
        from .fit_advice import resolve_lookback

        window = resolve_lookback(window, many=True)
        model.check_window(window)
        return window

    def _remember_series(self, net, ds, data, season: int, info: dict | None = None, residuals=None) -> None:
        """What predict and save need of a one-series model: the network, its manifest and the data."""
        from . import series_model

        self.one_series_ = True
        self.net_, self.season_, self.data_ = net, season, ds
        self.window_, self.model_cfg_, self.train_cfg_, self.data_cfg_ = net.window, net.model_cfg, net.train_cfg, data
        self.ids_, self.skipped_, self.id_col_ = [], [], None
        self.target_, self.features_ = list(ds.target), list(ds.features)
        self.freq_, self.freq_label_, self.trading_days_ = ds.freq, ds.freq_label, bool(ds.trading_days)
        self.time_col_ = ds.date_col or "ds"
        # (horizon, n_targets, n_windows), as the manifest stores them and a model of many series keeps them
        self.residuals_ = None if residuals is None else np.transpose(np.asarray(residuals), (1, 2, 0))
        self.manifest_ = series_model.manifest(net, ds, data, season, info=info, residuals=residuals)

    def _is_long(self, df, id_col, data) -> bool:
        """Whether the training data named its series in a column (a long file or frame) rather than
        by file (a folder of files): a bundle then reads new data by that column."""
        if isinstance(df, pd.DataFrame):
            return id_col is not None
        return data.id_col is not None

    def _fit_panel(self, panel, data, window, model, train, *, on_epoch=None) -> "Forecaster":
        from .global_model import GlobalForecaster
        from .windows import valid_origins

        L, H = window.lookback, window.horizon
        values = [ds.values for ds in panel.series]
        origins = [valid_origins(v, L, H) for v in values]
        self.season_ = int(self.settings.get("season") or panel.season or 1)
        self.net_ = GlobalForecaster(window, model, train, n_targets=len(panel.target), season=self.season_)
        self.net_.fit(values, origins, keys=list(panel.ids), on_epoch=on_epoch)
        self.one_series_ = False
        self.window_, self.model_cfg_, self.train_cfg_ = window, model, train
        self.data_cfg_ = data
        self._remember(panel)
        return self

    def fit_holdout(self, df, *, holdout: float | int = 0.1, id_col: str | None = "unique_id", time_col: str = "ds",
                    target: str = "y", features: Sequence[str] = (), strict: bool = False, refit: bool = False,
                    fallback: str = "model", on_epoch=None) -> dict:
        """Fit on every series up to a common cutoff, score the span after it beside the baselines,
        and keep that model with its held-out residuals (for prediction intervals).

        Args:
            holdout: the span after the cutoff: that many steps, or that fraction of the longest
                series if < 1 (at least the horizon). Defaults to 0.1.
            refit: once the holdout is scored, fit again on every row (holdout included); the
                intervals still come from the holdout's residuals, and ``weights_`` (the manifest's
                ``weights``) says which rows the kept network saw. Defaults to False.
            fallback: ``model`` keeps the network; ``best`` keeps the forecaster with the lowest
                holdout RMSE, a baseline when one wins (one series only; served as the linear
                network it is, see :mod:`forecast_cli.fallback`), and says so in ``served``.
                Defaults to ``model``.

        Returns:
            The JSON-ready holdout result: ``mean``, ``series``, ``verdict`` as in
            :meth:`cross_validate`, with the cutoff. One series: ``metrics`` per forecaster, the
            rows and periods of the fit and the holdout, ``verdict`` (see
            :func:`forecast_cli.evaluation.fit_holdout`).
        """
        from .baselines import make_panel_baselines
        from .global_model import GlobalForecaster
        from .panel_cv import cross_validate_panel
        from .theta_blend import partnered

        data, window, model, train = self._configs()
        if _one_series(df, id_col):
            from . import series_model

            ds, season, window = self._series(df, time_col, target, features, data, window, model, train)
            with _named(ds):
                net, info, residuals = series_model.fit_holdout(ds, window, model, train, season=season,
                                                                holdout=holdout, on_epoch=on_epoch)
            stop = info["train_rows"][1]
            from .fallback import choose

            served = choose(info["metrics"], fallback, lambda k: series_model.servable(k, window, season))
            if served != "model":  # a baseline won the holdout: it is what predict and score serve
                net, residuals = series_model.serve_baseline(ds, served, net, season=season, holdout_start=stop,
                                                             refit=refit)
                stop = len(ds.frame) if refit else stop
            elif refit:
                net = series_model.fit_all(ds, window, model, train, on_epoch=on_epoch, season=season)
                stop = len(ds.frame)
            info["served"] = _served(served, info["metrics"], fallback)
            self._remember_series(net, ds, data, season, info, residuals)
            self.manifest_["served"] = info["served"]
            index = ds.frame.index
            self.weights_ = {"rows": [0, int(stop)], "period": [str(index[0]), str(index[stop - 1])],
                             "refit": bool(refit)}
            self.manifest_["weights"] = self.weights_
            info["weights"] = self.weights_
            return info
        if fallback != "model":
            raise ConfigError("--fallback best applies to one series; with many series the global network is "
                              "what a bundle serves (the verdict says how it did against each baseline)")
        window = self._many_window(window, model)
        L, H = window.lookback, window.horizon
        panel = self._panel(df, id_col, time_col, target, features, min_rows=L + H + 1, strict=strict,
                            for_fit=True, data=data)
        self.long_ = self._is_long(df, id_col, data)
        longest = max(len(ds.frame) for ds in panel.series)
        from .fit_advice import panel_holdout_span

        span = panel_holdout_span(holdout, longest, H, len(panel.series))
        season = int(self.settings.get("season") or panel.season or 1)
        fitted, blends, notes = [], [], []

        def make_model():
            fitted.append(GlobalForecaster(window, model, train, n_targets=len(panel.target), season=season))
            blends.append(partnered(_WithEpochs(fitted[-1], on_epoch), model.theta_weight, season))
            return blends[-1]

        frame, result = cross_validate_panel(
            panel.ids, [ds.frame.index for ds in panel.series], [ds.values for ds in panel.series],
            lookback=L, horizon=H, season=season, folds=1, test_size=span, make_model=make_model,
            make_baselines=lambda: make_panel_baselines(L, H, len(panel.target), season, stat=train.stat_baseline,
                                                        n_rows=[len(ds.frame) for ds in panel.series], notes=notes),
            id_col=panel.id_col)
        notes += _blend_notes(model.theta_weight, blends)
        if notes:
            result["notes"] = notes
        self.net_, self.season_, self.one_series_ = fitted[0], season, False
        self.window_, self.model_cfg_, self.train_cfg_, self.data_cfg_ = window, model, train, data
        self._remember(panel)
        self.residuals_ = _scaled_residuals(frame, panel, L, H, season)
        self.holdout_ = result
        cutoff = result["folds"][0]["cutoff"]
        if refit:  # every row now, holdout included; the residuals above stay the holdout's
            self._fit_panel(panel, data, window, model, train, on_epoch=on_epoch)
        self.weights_ = {"period": [str(min(ds.frame.index[0] for ds in panel.series)),
                                    str(max(ds.frame.index[-1] for ds in panel.series)) if refit else str(cutoff)],
                         "refit": bool(refit)}
        result["skipped"] = list(panel.skipped)
        result["holdout_steps"] = span
        result["weights"] = self.weights_
        return result

    def _remember(self, panel) -> None:
        """What :meth:`predict` needs without new data: each series' last window and timestamp."""
        L = self.window_.lookback
        self.ids_ = list(panel.ids)
        self.skipped_ = list(panel.skipped)
        self.target_ = list(panel.target)
        self.features_ = list(panel.features)
        self.id_col_ = panel.id_col
        self.freq_, self.freq_label_ = panel.freq, panel.freq_label
        self.trading_days_ = bool(getattr(panel, "trading_days", False))
        self.time_col_ = panel.date_col or "ds"
        self.tails_ = {sid: (ds.values[-L:].copy(), ds.frame.index[-L:]) for sid, ds in zip(panel.ids, panel.series)}
        if self.model_cfg_.theta_weight:  # AutoTheta reads the whole history (predict with no new data)
            self.histories_ = {sid: ds.values[:, 0].copy() for sid, ds in zip(panel.ids, panel.series)}

    def _check_fitted(self):
        if not hasattr(self, "net_"):
            raise NotFittedError("This Forecaster is not fitted yet: call fit(df) or Forecaster.load(path) first.")

    # -- forecasting -------------------------------------------------------------------------
    def predict(self, h: int | None = None, df=None, *, level: Sequence[float] = (), id_col: str | None = None,
                time_col: str = "ds", target: str | None = None) -> pd.DataFrame:
        """Forecast ``h`` steps (at most the horizon) past the end of every series.

        Args:
            h: steps to forecast. Defaults to the horizon.
            level: coverage levels in percent of split-conformal intervals, from the held-out
                residuals of :meth:`fit_holdout` (each scaled by its window's mean absolute
                seasonal difference, and rescaled by the forecast window's). Defaults to none.
            df: new history in long format (series unseen in training are forecast too: the
                point of a global model); None forecasts the training series from their ends.
            id_col, time_col, target: the columns of ``df``. Default to the training ones.

        Returns:
            A long DataFrame: the id column, ``ds``, ``model``, ``model-lo-<level>`` and
            ``model-hi-<level>`` per level (Nixtla's names), and ``short_history`` (True where a
            series had fewer rows than the lookback and its window was padded). One series: ``ds``,
            ``model`` and the bounds (a ``target`` column first when it has several targets); its
            intervals come from the absolute held-out residuals of each step.
        """
        self._check_fitted()
        H, L = self.window_.horizon, self.window_.lookback
        h = H if h is None else int(h)
        if not 1 <= h <= H:
            raise ConfigError(f"h must be an int in [1, {H}] (the horizon it was trained for). Got {h}.")
        if self.one_series_:
            return self._predict_series(h, df, tuple(level or ()), time_col, target)
        if df is None:
            tails, histories = self.tails_, getattr(self, "histories_", None)
        else:
            panel = self._panel(df, id_col if id_col is not None else self.id_col_, time_col,
                                target or self.target_[0], self.features_, min_rows=1, strict=False, for_fit=False)
            tails = {sid: (ds.values[-L:], ds.frame.index[-L:]) for sid, ds in zip(panel.ids, panel.series)}
            histories = {sid: ds.values[:, 0] for sid, ds in zip(panel.ids, panel.series)}
        return self._forecast(tails, h, tuple(level or ()), histories)

    def _predict_series(self, h: int, df, levels: tuple, time_col: str, target) -> pd.DataFrame:
        """One series: its last window (``df``, or the training data) through the network, with the
        checks and warnings of ``forecast predict`` (warnings as :class:`UserWarning`)."""
        import warnings as _warnings

        from . import series_model
        from .forecasting import predict_frame

        if df is None:
            ds = getattr(self, "data_", None)
            if ds is None:
                raise ConfigError("this model was loaded from a bundle, which holds no data of its series: "
                                  "pass its history as df")
        else:
            from dataclasses import replace

            # as `forecast predict` reads new input: long gaps earlier in the history do not stop a
            # forecast; only the last window must be complete (predict_frame checks it)
            ds = series_model.series_dataset(df, time_col=time_col, target=target or tuple(self.target_),
                                             features=self.features_, data=replace(self.data_cfg_, gaps="skip"))
        if levels:
            from .forecasting import check_levels

            levels = check_levels(levels)
        if levels and (self.residuals_ is None or not np.asarray(self.residuals_).size):
            raise ConfigError("prediction intervals need held-out residuals: fit with fit_holdout() "
                              "(forecast train does), or predict without levels")
        notes: list = []
        table = predict_frame(self.net_, self.manifest_, ds, h, levels, notes)
        for note in notes:
            _warnings.warn(note, UserWarning, stacklevel=3)
        return series_model.to_long(table, self.target_)

    def predict_windows(self, X: np.ndarray, *, keys=None, lengths=None) -> np.ndarray:
        """Forecasts ``(n, horizon, n_targets)`` in the data's units for stacked input windows ``X``
        ``(n, lookback, n_columns)``: the fast path of batch scoring (``forecast score``). ``keys``
        (series ids) and ``lengths`` (real rows of left-padded windows) apply to a model of many series."""
        self._check_fitted()
        if self.one_series_:
            return self.net_.predict_windows(X)
        if self.model_cfg_.theta_weight:
            from .theta_blend import NEEDS_HISTORY

            raise ConfigError(NEEDS_HISTORY)
        return self.net_.predict_windows(X, keys=keys, lengths=lengths)

    def _forecast(self, tails: dict, h: int, levels: tuple = (), histories: dict | None = None) -> pd.DataFrame:
        from .calendar import future_index

        L = self.window_.lookback
        ids = list(tails)
        X = np.zeros((len(ids), L, len(self.target_) + len(self.features_)))
        lengths = np.zeros(len(ids), dtype=np.int64)
        for j, sid in enumerate(ids):
            v = np.asarray(tails[sid][0], dtype=np.float64)
            if not np.isfinite(v).all():
                raise DataError(f"series '{sid}': its last {len(v)} rows hold missing values; fill them first")
            lengths[j] = len(v)
            X[j, L - len(v):] = v
            X[j, :L - len(v)] = v[0]  # padding (masked by the model; kept finite)
        point = np.asarray(self.net_.predict_windows(X, keys=ids, lengths=lengths))[:, :h, 0]
        # forecasts whose trend the global model bounded (positive series at season 4: its trend cap and band)
        self.trend_bounded_ = int(getattr(self.net_, "trend_capped_", 0))
        if self.model_cfg_.theta_weight:
            point = self._blend(point, ids, histories)
        if not np.isfinite(point).all():
            bad = ids[int(np.argwhere(~np.isfinite(point))[0][0])]
            raise DataError(f"series '{bad}': the forecast is not finite; the history is outside what the "
                            "model can compute with")
        bounds = self._bounds(levels, X, lengths, h)
        frames = []
        for j, sid in enumerate(ids):
            ts = future_index(tails[sid][1][-1], self.freq_, h, self.trading_days_)
            cols = {self.id_col_: sid, "ds": ts, "model": point[j]}
            for lv, (lo, hi) in bounds.items():
                cols[f"model-lo-{_level(lv)}"] = point[j] + lo[j]
                cols[f"model-hi-{_level(lv)}"] = point[j] + hi[j]
            cols["short_history"] = bool(lengths[j] < L)
            frames.append(pd.DataFrame(cols))
        return pd.concat(frames, ignore_index=True)

    def _blend(self, point: np.ndarray, ids: list, histories: dict | None) -> np.ndarray:
        """``point`` ``(n_series, h)`` blended with AutoTheta's forecasts from each series' whole
        history (``theta_weight``; :mod:`forecast_cli.theta_blend`), with a warning for those it left alone."""
        import warnings

        from .theta_blend import MIN_ROWS, blend_forecasts

        if histories is None:
            raise ConfigError("this model blends in AutoTheta's forecast from each series' whole history "
                              "(--theta-weight), and a bundle keeps only the last windows: pass the histories as df")
        out, skipped = blend_forecasts(point, [histories[sid] for sid in ids], self.model_cfg_.theta_weight,
                                       self.season_)
        if skipped:
            warnings.warn(f"{skipped} series forecast by the network alone: AutoTheta could not be fitted to their "
                          f"histories (fewer than {MIN_ROWS} rows after the last gap, or a failed fit)",
                          UserWarning, stacklevel=3)
        return out

    def _bounds(self, levels: tuple, X: np.ndarray, lengths: np.ndarray, h: int) -> dict:
        """``{level: (lo, hi)}``, each ``(n_series, h)`` offsets in the data's units."""
        if not levels:
            return {}
        from .forecasting import check_levels, conformal_bounds

        levels = check_levels(levels)
        res = getattr(self, "residuals_", None)
        if res is None or not np.asarray(res).size:
            raise ConfigError("prediction intervals need held-out residuals: fit with fit_holdout() "
                              "(forecast train does), or predict without levels")
        q = conformal_bounds(res, levels)  # scaled units, (H, 1) each
        scale = np.array([interval_scale(X[j, X.shape[1] - lengths[j]:, 0], self.season_) for j in range(len(X))])
        if (scale == 0).any():
            import warnings

            warnings.warn(f"{int((scale == 0).sum())} series end in a flat window (no change to scale the held-out "
                          "residuals by): their prediction intervals have zero width", UserWarning, stacklevel=3)
        return {lv: (lo[:h, 0][None, :] * scale[:, None], hi[:h, 0][None, :] * scale[:, None])
                for lv, (lo, hi) in q.items()}

    # -- evaluation --------------------------------------------------------------------------
    def cross_validate(self, df, *, id_col: str | None = "unique_id", time_col: str = "ds", target: str = "y",
                       features: Sequence[str] = (), folds: int = 5, test_size: int | None = None,
                       step: int | None = None, cv: str = "expanding", by_step: bool = False,
                       predictions: bool = True, strict: bool = False, on_fold=None, on_epoch=None,
                       on_fold_done=None, map_folds=None) -> pd.DataFrame:
        """Cross-validate by cutoffs common to all series (see :mod:`forecast_cli.panel_cv`), or, for
        one series, by forecast origins in time-ordered folds (:func:`forecast_cli.evaluation.cross_validate`).

        Args:
            folds: the number of folds (cutoffs). Defaults to 5.
            test_size: steps after each cutoff (many series; default the horizon), or rows per
                test span (one series; default rows // (folds + 1)).
            cv: one series: ``expanding`` (train on all the past) or ``sliding``. Defaults to
                ``expanding``.
            by_step: one series: metrics per horizon step too. Defaults to False.
            predictions: one series: keep every test forecast in the frame (False: an empty
                frame, the metrics only). Defaults to True.
            on_fold_done: called with each fold's JSON-ready result once it is scored (one
                series: its entry of ``folds``; many series: the fold with the means of its
                metrics over series). Defaults to None.
            map_folds: ``map_folds(fn, items)`` runs the independent fits (folds; with ``local``,
                each series of each fold) elsewhere and yields their results in order, e.g. a
                Dask cluster's :meth:`forecast_cli.cluster.Cluster.map`. Defaults to None (here).

        Returns:
            The long frame of test forecasts (id, ``fold``, ``cutoff``, ``ds``, ``y``, and the
            columns ``model``, ``naive``, ``seasonal_naive``, ``linear``; one series: ``fold``,
            ``cutoff`` (the forecast origin), ``ds``, ``step``, ``target``, ``y`` and the same
            forecasters); the metrics, their means and the verdict are in
            ``frame.attrs["metrics"]`` and ``self.cv_metrics_``.
        """
        from .baselines import make_panel_baselines
        from .global_model import GlobalForecaster
        from .panel_cv import cross_validate_panel
        from .theta_blend import partnered

        data, window, model, train = self._configs()
        if _one_series(df, id_col):
            from . import series_model

            ds, season, window = self._series(df, time_col, target, features, data, window, model, train,
                                              folds=folds)
            with _named(ds):
                frame, result = series_model.cross_validate(
                    ds, window, model, train, season=season, folds=folds, cv=cv, test_size=test_size,
                    by_step=by_step, predictions=predictions, on_fold=on_fold, on_epoch=on_epoch,
                    on_fold_done=on_fold_done, map_folds=map_folds)
            result["season"], result["lookback"] = season, window.lookback
            frame.attrs["metrics"] = result
            self.cv_metrics_ = result
            return frame
        if cv != "expanding":
            raise ConfigError("--cv sliding applies to one series; with many series every fold trains on all the "
                              "past before its cutoff")
        if by_step:
            raise ConfigError("--by-step applies to one series; with many series the metrics are per series")
        window = self._many_window(window, model)
        L, H = window.lookback, window.horizon
        panel = self._panel(df, id_col, time_col, target, features, min_rows=L + H + 1, strict=strict,
                            for_fit=True, data=data)
        season = int(self.settings.get("season") or panel.season or 1)
        n_t, notes, blends = len(panel.target), [], []

        def make_model():
            blends.append(partnered(GlobalForecaster(window, model, train, n_targets=n_t, season=season),
                                    model.theta_weight, season))
            return blends[-1]

        frame, result = cross_validate_panel(
            panel.ids, [ds.frame.index for ds in panel.series], [ds.values for ds in panel.series],
            lookback=L, horizon=H, season=season, folds=folds, test_size=test_size, step=step,
            make_model=make_model,
            make_baselines=lambda: make_panel_baselines(L, H, n_t, season, stat=train.stat_baseline,
                                                        n_rows=[len(ds.frame) for ds in panel.series], notes=notes),
            on_fold=on_fold, on_fold_done=on_fold_done, id_col=panel.id_col, map_folds=map_folds)
        notes += _blend_notes(model.theta_weight, blends)
        if notes:
            result["notes"] = notes
        result["skipped"] = list(panel.skipped)
        result["season"], result["lookback"] = season, L
        frame.attrs["metrics"] = result
        self.cv_metrics_ = result
        return frame

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> dict:
        """Write a bundle (see :mod:`forecast_cli.bundle`) atomically; return its manifest."""
        self._check_fitted()
        if self.one_series_:
            from .bundle import save_bundle

            fixed = ("window", "model", "train", "n_targets", "scaler")  # save_bundle writes them from the network
            return save_bundle(path, self.net_, {k: v for k, v in self.manifest_.items() if k not in fixed})
        from .panel_bundle import save_forecaster

        extra = {}
        res = getattr(self, "residuals_", None)
        if res is not None and np.asarray(res).size:
            extra["conformal"] = {"method": "split conformal, held-out residuals over each window's mean absolute "
                                            "seasonal difference", "residuals": np.round(res, 10).tolist()}
        hold = getattr(self, "holdout_", None)
        if hold:
            fold = hold["folds"][0]
            extra["holdout"] = {"metrics": hold["mean"], "n_holdout_windows": fold["n_test_windows"],
                                "holdout_period": [fold["cutoff"], fold["test_end"]]}
        if getattr(self, "weights_", None):
            extra["weights"] = self.weights_
        return save_forecaster(self, path, extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Forecaster":
        """A fitted Forecaster from a bundle written by :meth:`save` or ``forecast train`` (verified,
        loaded with ``safe_mode=True``)."""
        from .bundle import read_manifest
        from .panel_bundle import is_panel_manifest, load_forecaster

        if is_panel_manifest(read_manifest(path)):
            fc = load_forecaster(cls, path)
            fc.one_series_ = False
            return fc
        return _load_series(cls, path)

    @staticmethod
    def inspect(path: str | os.PathLike) -> dict:
        """A bundle's manifest, after checking its hashes, limits and schema; loads no TensorFlow."""
        from .bundle import verify

        return verify(path)

    def check(self, source, *, require_target: bool = False):
        """Read and validate data as :meth:`fit` would, without fitting: a
        :class:`~forecast_cli.data.Dataset` (one series) or a :class:`~forecast_cli.panel.Panel` (a long
        file with the ``id_col`` setting, a folder, a glob or a list of files), each with ``summary()``.
        ``source`` is a path (``-`` for standard input) or a list of paths. Loads no TensorFlow."""
        from . import data as _data
        from .panel import is_many, load_panel

        data = self._configs()[0]
        if is_many(source, data):
            return load_panel(source, data, require_target=require_target)
        return _data.load(source, data, require_target=require_target)


def _served(name: str, metrics: dict, fallback: str) -> dict:
    """The manifest's ``served`` section: the forecaster a one-series bundle serves, and why."""
    rmse = {k: (m or {}).get("rmse") for k, m in metrics.items()}
    if name == "model":
        why = "the network (--fallback model)" if fallback == "model" else "the network: the lowest holdout RMSE"
    else:
        why = (f"the lowest holdout RMSE ({rmse[name]:.4g}, the network's {rmse['model']:.4g}): a baseline, "
               "served as the linear network it is")
    return {"forecaster": name, "fallback": fallback, "why": why}


@contextlib.contextmanager
def _named(ds):
    """A data error from the steps on one series names its file (or DataFrame)."""
    try:
        yield
    except DataError as e:
        if e.path:
            raise
        raise DataError(e.message, path=ds.source) from None


def _one_series(df, id_col) -> bool:
    """Whether ``df`` is one series: a Dataset, or a DataFrame with no id column named."""
    from .data import Dataset

    return isinstance(df, Dataset) or (isinstance(df, pd.DataFrame) and id_col is None)


def _load_series(cls, path) -> "Forecaster":
    """A fitted one-series Forecaster from its bundle (verified as :func:`forecast_cli.bundle.load_bundle` does)."""
    from .bundle import load_bundle
    from .config import DataConfig, from_dict, to_dict

    net, manifest = load_bundle(path)
    d = manifest["data"]
    data = from_dict(DataConfig, {k: v for k, v in d.items() if k in DataConfig.__dataclass_fields__})
    fc = cls(**{**to_dict(data), **to_dict(net.window), **to_dict(net.model_cfg), **to_dict(net.train_cfg)})
    fc.one_series_, fc.net_, fc.manifest_ = True, net, manifest
    fc.window_, fc.model_cfg_, fc.train_cfg_, fc.data_cfg_ = net.window, net.model_cfg, net.train_cfg, data
    fc.ids_, fc.skipped_, fc.id_col_ = [], [], None
    fc.target_, fc.features_ = list(d["target"]), list(d.get("features") or [])
    fc.freq_, fc.freq_label_, fc.trading_days_ = d.get("freq"), d.get("freq_label") or "", bool(d.get("trading_days"))
    fc.season_, fc.time_col_ = int(d.get("season") or 1), d.get("date_col") or "ds"
    from .forecasting import _residuals

    res = _residuals(manifest)
    fc.residuals_ = res if res.size else None
    return fc


def _level(lv: float) -> str:
    return str(int(lv)) if float(lv).is_integer() else str(lv)


def _scaled_residuals(frame: pd.DataFrame, panel, L: int, H: int, season: int) -> np.ndarray:
    """Held-out residuals (truth - forecast) ``(H, 1, n)``, each divided by its input window's
    :func:`~forecast_cli.metrics.interval_scale`; windows with a zero scale are left out."""
    out = []
    by_id = {sid: ds for sid, ds in zip(panel.ids, panel.series)}
    for (sid, cutoff), g in frame.groupby([panel.id_col, "cutoff"], sort=False):
        ds = by_id[sid]
        o = int(ds.frame.index.get_loc(cutoff))
        s = interval_scale(ds.values[o - L + 1:o + 1, 0], season)
        if s > 0 and len(g) == H:
            out.append((g["y"].to_numpy() - g["model"].to_numpy()) / s)
    if not out:
        return np.empty((H, 1, 0))
    return np.asarray(out).T[:, None, :]


def _blend_notes(weight: float, blends: list) -> list:
    """The notes of a cross-validation or holdout whose forecasts blend in AutoTheta (none at weight 0)."""
    if not weight:
        return []
    notes = [f"model: {1 - weight:g} x the network + {weight:g} x AutoTheta (statsforecast), each fitted on the "
             "series' rows up to the forecast origin (--theta-weight)"]
    skipped = sum(getattr(b, "skipped_", 0) for b in blends)
    if skipped:
        notes.append(f"{skipped} forecasts are the network's alone: AutoTheta could not be fitted to those histories")
    return notes


class _WithEpochs:
    """A many-series forecaster whose ``fit`` reports epochs to ``on_epoch``."""

    def __init__(self, net, on_epoch):
        self.net, self.on_epoch = net, on_epoch

    def fit(self, series, origins, keys=None):
        self.net.fit(series, origins, keys=keys, on_epoch=self.on_epoch)
        return self

    def predict(self, series, origins, keys=None):
        return self.net.predict(series, origins, keys=keys)

    @property
    def epochs_run_(self):
        return getattr(self.net, "epochs_run_", None)
