"""One network trained on the windows of many series (a *global* model), or one per series.

:class:`GlobalForecaster` takes lists: ``series[i]`` is one series ``(n_i, C)`` in the data's
units (targets first), ``origins[i]`` the origins of its training windows. Every window is made
scale-free on its own (:func:`forecast_cli.windows.normalise_windows`: logs when the series is
positive, minus the window's last value, over its mean absolute seasonal difference), so series
of any level share one network and a series never seen in training gets forecasts without any
state of its own. The network is :func:`forecast_cli.models.build_model`'s; with
``linear_fit="lstsq"`` its linear path is fitted first in closed form across all series and the
recurrent path learns what it leaves (zero-initialised head), as for one series.

Training windows are gathered batch by batch (``tf.gather``) from one array holding every series'
training rows end to end with a NaN row between them; origins are offsets into it, so a window
never crosses from one series into the next. TensorFlow is imported on first use.

Forecasts of positive quarterly series extrapolate at most
:data:`TREND_CAP` of trend a season (:func:`cap_trend`); a series the model was fitted on keeps its
trend within :data:`TREND_BAND` of the range between 0 and half its own long-run trend (chosen on M3
Quarterly, docs/m3.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .config import ModelConfig, TrainConfig, WindowConfig
from .errors import ConfigError, DataError
from .windows import NORM_CLIP, denormalise, gather, norm_season, normalise_windows

__all__ = ["STATE_VERSION", "GlobalForecaster"]

STATE_VERSION = 1
MIN_TRAIN_WINDOWS = 20
# Most windows the closed-form linear path is fitted on (a seeded random subset beyond).
MAX_RIDGE_WINDOWS = 100_000
# Epochs and early-stopping patience of each network when the settings leave them to the model
# (``epochs``/``patience`` None): the values every M3 and M4 figure was measured with.
EPOCHS, PATIENCE = 30, 5
# The steepest trend a forecast of a logged series may extrapolate, in log units per season
# (:func:`cap_trend`): 0.04, about 4 % a year, where the season is a year of quarters
# (:data:`CAPPED_SEASONS`). Chosen on M3 Quarterly's validation split (docs/m3.md); other seasons
# (months, days, hours, weeks) were not measured, so there it is off.
TREND_CAP = 0.04
CAPPED_SEASONS = (4,)
# For a series the model was fitted on, the band of trends a forecast may extrapolate is instead
# [min(c, 0) - TREND_BAND, max(c, 0) + TREND_BAND] a season, ``c`` HISTORY_TREND_SHARE times the
# trend of its training rows (:func:`history_trend`: Theta's half of the long-run slope); both chosen on
# M3's validation split (docs/m3.md).
TREND_BAND = 0.014
HISTORY_TREND_SHARE = 0.5
# A series whose level (median absolute target) lies outside the training series' range by more
# than this factor is reported by :meth:`GlobalForecaster.out_of_range`.
LEVEL_FACTOR = 10.0


def _as_series(series) -> list[np.ndarray]:
    out = []
    for i, s in enumerate(series):
        a = np.asarray(s, dtype=np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise DataError(f"series {i} must be 2-D (rows, columns). Received shape {a.shape}.")
        out.append(a)
    return out


def _keys(keys, n) -> list[str]:
    keys = [str(i) for i in range(n)] if keys is None else [str(k) for k in keys]
    if len(keys) != n:
        raise ConfigError(f"{len(keys)} keys for {n} series; give one key per series.")
    return keys


class GlobalForecaster:
    """One network trained on the windows of many series (or one per series with ``model.local``).

    Args:
        window: lookback and horizon.
        model: network settings (``local``: one network per series; ``id_embedding``: the series
            id as a learned embedding of that many dimensions, 0 = none).
        train: fitting settings.
        n_targets: target columns (the first columns of each series).
        season: the data's season length, the lag of the differences that scale each window.
            Defaults to 1.
        log: take logs of positive windows before scaling (a series with a value <= 0 in its
            training rows is scaled in its own units). Not a setting: chosen on M4's validation
            split (docs/m4.md); kept as an argument for the tests and the saved state. Defaults to True.
        loss: the training loss on normalised values (a Keras loss name). Not a setting: MAE
            beat MSE on M4's validation split (docs/m4.md). Defaults to ``mae``.
        ensemble: networks trained and averaged (one Keras model, their mean): the ``j``-th of
            ``k`` reads the last ``lookback * (k - j) / k`` rows of each window (see
            :meth:`member_reads`) and is seeded ``seed + 1000 j``. Defaults to ``model.ensemble``.
        balance: weight each training window of a logged series by ``1 + balance * s``, ``s`` its
            scale (mean absolute seasonal difference of log values). Windows are scaled by ``s``, so
            the loss alone weighs every series like MASE does (its error over its own seasonal
            variation); the weight moves it towards relative errors (sMAPE's), which count more on
            series that vary a lot within a season. Needs every series trained on logged (positive):
            beside a series in its own units, whose errors are not relative, :meth:`fit` refuses it
            (ConfigError) rather than ignore it. 0 = off. Defaults to ``train.balance``.
        trend_cap: the steepest trend a forecast of a logged series may extrapolate, in log units
            per season (:func:`cap_trend`); 0 = off. Not a setting: chosen on M3's validation split
            (docs/m3.md). Defaults to :data:`TREND_CAP` when ``season`` is in
            :data:`CAPPED_SEASONS` (quarters: the one season measured), else 0; it acts only where the
            horizon holds two whole seasons (M3 Quarterly's 8 quarters). With a cap, each fitted
            series' long-run trend is recorded (``history_trend_``, by key) and a forecast for that
            key keeps its trend in ``[min(c, 0) - TREND_BAND, max(c, 0) + TREND_BAND]`` a season,
            ``c`` half that trend (:data:`HISTORY_TREND_SHARE`); unknown keys get ``+-trend_cap``.

    >>> import numpy as np
    >>> from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
    >>> t = np.arange(300.0)
    >>> series = [10 + k + np.sin(2 * np.pi * t / 12) for k in range(3)]
    >>> g = GlobalForecaster(WindowConfig(24, 6), ModelConfig(units=4, linear_fit="lstsq"),
    ...                      TrainConfig(epochs=1), n_targets=1, season=12)
    >>> g = g.fit(series, [np.arange(23, 294)] * 3, keys=["a", "b", "c"])  # doctest: +SKIP
    >>> g.predict(series, [np.array([299])] * 3)[0].shape                   # doctest: +SKIP
    (1, 6, 1)
    """

    name = "model"

    def __init__(self, window: WindowConfig, model: ModelConfig, train: TrainConfig, n_targets: int,
                 season: int = 1, *, log: bool | None = None, loss: str | None = None,
                 ensemble: int | None = None, balance: float | None = None, trend_cap: float | None = None):
        if model.linear_fit == "auto":  # one series' choice; across series Adam (lstsq lost on M3: docs/m3.md)
            model = replace(model, linear_fit="adam")
        self.window, self.model_cfg, self.train_cfg = window, model, train
        self.n_targets, self.season = int(n_targets), max(1, int(season))
        self.log = True if log is None else bool(log)
        self.loss = "mae" if loss is None else str(loss)
        self.ensemble = max(1, int(model.ensemble if ensemble is None else ensemble))
        self.balance = float(train.balance if balance is None else balance)
        self.norm_lag = norm_season(window.lookback, self.season)
        if trend_cap is None:
            trend_cap = TREND_CAP if self.season in CAPPED_SEASONS else 0.0
        self.trend_cap = max(0.0, float(trend_cap))

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, series: Sequence[np.ndarray], origins: Sequence[np.ndarray], *,
            keys: Sequence[str] | None = None, on_epoch=None) -> GlobalForecaster:
        """Fit on the windows at ``origins[i]`` of each ``series[i]``; the last ``val_fraction`` of
        each series' windows (in time order) stop training early. No statistic of series ``i``
        uses rows after ``max(origins[i]) + horizon``.

        Args:
            series: one ``(n_i, C)`` array per series (data units, targets first, NaN only in
                unfilled gaps).
            origins: training-window origins into each series (the last input row of a window).
            keys: series ids (for ``local`` and ``id_embedding``); ``"0", "1", ...`` when None.
            on_epoch: called as ``on_epoch(epoch, epochs, logs)`` after each epoch (with
                ``local``: of each series' network in turn).
        """
        series = _as_series(series)
        if len(origins) != len(series):
            raise ConfigError(f"{len(origins)} origin arrays for {len(series)} series.")
        keys = _keys(keys, len(series))
        if len(set(keys)) != len(keys):
            raise ConfigError("series keys must be unique.")
        if not series:
            raise DataError("no series to fit on.")
        self.n_features_ = series[0].shape[1]
        if any(s.shape[1] != self.n_features_ for s in series):
            raise DataError("every series must have the same columns.")
        self.keys_ = keys
        self._record_levels(series, origins)
        self._record_trends(series, origins, keys)
        if self.model_cfg.local:
            sub_model = replace(self.model_cfg, local=False, id_embedding=0)
            self.members_ = {}
            for s, o, k in zip(series, origins, keys):
                m = GlobalForecaster(self.window, sub_model, self.train_cfg, self.n_targets, self.season,
                                     log=self.log, loss=self.loss, ensemble=self.ensemble, balance=self.balance,
                                     trend_cap=self.trend_cap)
                self.members_[k] = m.fit([s], [o], keys=[k], on_epoch=on_epoch)
            return self
        from . import runtime

        with runtime.deferred_interrupts():
            return self._fit_global(series, origins, keys, on_epoch)

    def _record_levels(self, series, origins):
        """Each series' level (median absolute target over its training rows), for
        :meth:`out_of_range`."""
        L, H, T = self.window.lookback, self.window.horizon, self.n_targets
        levels = []
        for s, o in zip(series, origins):
            o = np.asarray(o, dtype=np.int64)
            rows = s[max(0, int(o.min()) - L + 1):int(o.max()) + H + 1, :T] if len(o) else s[:, :T]
            lv = np.nanmedian(np.abs(rows)) if np.isfinite(rows).any() else np.nan
            levels.append(float(lv))
        lv = np.asarray(levels)
        lv = lv[np.isfinite(lv)]
        self.level_range_ = (float(lv.min()), float(lv.max())) if len(lv) else (0.0, 0.0)

    def _record_trends(self, series, origins, keys):
        """Each fitted series' long-run trend (:data:`HISTORY_TREND_SHARE` times
        :func:`history_trend` of its training rows, log units a step; NaN where not positive), by
        key, for the trend band of :meth:`predict_windows`; none without a trend cap."""
        self.history_trend_ = {}
        if self.trend_cap <= 0 or not self.log:
            return
        L, H, T = self.window.lookback, self.window.horizon, self.n_targets
        for s, o, k in zip(series, origins, keys):
            o = np.asarray(o, dtype=np.int64)
            if len(o):
                rows = s[max(0, int(o.min()) - L + 1):int(o.max()) + H + 1, :T]
                self.history_trend_[k] = [HISTORY_TREND_SHARE * history_trend(rows[:, j], self.season)
                                          for j in range(T)]

    def _layout(self, series, origins):
        """The training array (every series' used rows, logged where positive, NaN row between),
        and per series its origins shifted into it, split into training and early-stopping ones."""
        L, H = self.window.lookback, self.window.horizon
        vf = self.train_cfg.val_fraction
        parts, tr, va, tr_id, va_id = [], [], [], [], []
        offset = 0
        self.logged_, used = [], []
        for i, (s, o) in enumerate(zip(series, origins)):
            o = np.unique(np.asarray(o, dtype=np.int64))
            used.append(bool(len(o)))
            if not len(o):
                self.logged_.append([False] * s.shape[1])
                continue
            if o.min() - L + 1 < 0 or o.max() + H >= len(s):
                raise DataError(f"series {i}: a training window runs past its rows (origins "
                                f"{o.min()}..{o.max()}, {len(s)} rows, lookback {L}, horizon {H}).")
            first, last = int(o.min()) - L + 1, int(o.max()) + H
            rows = s[first:last + 1]
            finite = np.isfinite(rows)
            logged = (self.log & np.all(np.where(finite, rows, 1.0) > 0, axis=0)
                      & finite.any(axis=0))
            self.logged_.append([bool(v) for v in logged])
            z = np.where(logged, np.log(np.where(logged & finite & (rows > 0), rows, 1.0)), rows)
            z = np.where(finite, z, np.nan)
            # windows that touch a missing row are left out
            bad = ~np.isfinite(z).all(axis=1)
            cum = np.concatenate([[0], np.cumsum(bad)])
            local = o - first
            o = o[(cum[local + H + 1] - cum[local - L + 1]) == 0]
            n_val = round(len(o) * vf)
            g = o - first + offset
            tr.append(g[:len(g) - n_val])
            va.append(g[len(g) - n_val:])
            tr_id.append(np.full(len(g) - n_val, i + 1, dtype=np.int32))
            va_id.append(np.full(n_val, i + 1, dtype=np.int32))
            parts.append(z)
            parts.append(np.full((1, s.shape[1]), np.nan))
            offset += len(z) + 1
        # relative errors mean something only on logged series: with one in its own units, refuse (never ignore)
        unlogged = sum(1 for lg, u in zip(self.logged_, used) if u and not all(lg[:self.n_targets]))
        if self.balance > 0 and unlogged:
            raise ConfigError(f"--balance weighs windows towards relative errors, which need positive series, but "
                              f"{unlogged} series trained on have values <= 0; drop --balance")
        self.balance_used_ = self.balance
        Z = np.concatenate(parts).astype(np.float32)
        tr, va = np.concatenate(tr), np.concatenate(va)
        tr_id, va_id = np.concatenate(tr_id), np.concatenate(va_id)
        if len(tr) + len(va) < MIN_TRAIN_WINDOWS:
            raise DataError(f"only {len(tr) + len(va)} training windows across {len(series)} series "
                            f"(lookback {L}, horizon {H}); need at least {MIN_TRAIN_WINDOWS}: use longer "
                            "series or a smaller --lookback/--horizon")
        if not len(va):  # series too short for a held-out share: hold out the last windows overall
            k = max(1, round(len(tr) * vf))
            tr, va, tr_id, va_id = tr[:-k], tr[-k:], tr_id[:-k], tr_id[-k:]
        return Z, tr, va, tr_id, va_id

    def _normalised(self, Z, origins, ids=None):
        """Normalised windows and targets ``(Xn, Yn, w)`` (float64) at ``origins`` of the training
        array (already logged: the same scaling as :meth:`_window_dataset`); ``w`` the windows'
        loss weights (``balance``; series indices ``ids`` say which are logged), None without."""
        L, H, T = self.window.lookback, self.window.horizon, self.n_targets
        X, Y = gather(Z, origins, L, H, T, dtype=np.float64)
        Xn, (last, scale, _) = normalise_windows(X, self.norm_lag, log=False)
        Yn = np.clip((Y - last[:, :, :T]) / scale[:, :, :T], -NORM_CLIP, NORM_CLIP)
        w = None
        balance = getattr(self, "balance_used_", self.balance)  # settled by _layout
        if balance > 0 and ids is not None:
            logged = np.asarray(self.logged_, dtype=np.float64)[np.asarray(ids) - 1, :T]
            w = 1.0 + balance * np.mean(scale[:, 0, :T] * logged, axis=-1)
        return Xn.astype(np.float64), Yn, w

    def _window_dataset(self, Z, origins, ids, batch_size, *, shuffle=False, id_dropout=0.0):
        """A ``tf.data`` pipeline of normalised ``(window, target)`` batches gathered from ``Z``:
        the TensorFlow twin of :func:`forecast_cli.windows.normalise_windows` (``log=False``: ``Z``
        is logged already) for full windows."""
        import tensorflow as tf

        L, H, T, m = self.window.lookback, self.window.horizon, self.n_targets, self.norm_lag
        s = tf.constant(Z, dtype=tf.float32)
        ds = tf.data.Dataset.from_tensor_slices((np.asarray(origins, np.int64), np.asarray(ids, np.int32)))
        if shuffle:
            ds = ds.shuffle(len(origins), seed=self.train_cfg.seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size)
        in_off = tf.range(-L + 1, 1, dtype=tf.int64)
        out_off = tf.range(1, H + 1, dtype=tf.int64)
        use_ids = self._use_ids
        seed = self.train_cfg.seed
        balance = float(getattr(self, "balance_used_", self.balance))
        logged = np.zeros((len(self.logged_) + 1, T), dtype=np.float32)
        logged[1:] = np.asarray(self.logged_, dtype=np.float32)[:, :T]
        logged = tf.constant(logged)

        def mad(x, lag):
            return tf.reduce_mean(tf.abs(x[:, lag:, :] - x[:, :-lag, :]), axis=1, keepdims=True)

        def windows(o, i):
            x = tf.gather(s, o[:, None] + in_off[None, :])
            y = tf.gather(s[:, :T], o[:, None] + out_off[None, :])
            last = x[:, -1:, :]
            tiny = 1e-7 * tf.maximum(1.0, tf.abs(last))
            s1 = mad(x, 1)
            sm = mad(x, m) if m > 1 else tf.zeros_like(last)
            scale = tf.where(sm > tiny, sm, tf.where(s1 > tiny, s1, tf.ones_like(s1)))
            xn = tf.clip_by_value((x - last) / scale, -NORM_CLIP, NORM_CLIP)
            yn = tf.clip_by_value((y - last[:, :, :T]) / scale[:, :, :T], -NORM_CLIP, NORM_CLIP)
            out = (yn,)
            if balance > 0:  # weight 1 + balance x (the window's scale of log values), see __init__
                w = 1.0 + balance * tf.reduce_mean(scale[:, 0, :T] * tf.gather(logged, i), axis=-1)
                out = (yn, tf.broadcast_to(w[:, None], tf.shape(yn)[:2]))  # per sample and step
            if not use_ids:
                return (xn, *out)
            if id_dropout > 0:  # teach the embedding of an unknown id (0)
                keep = tf.random.stateless_uniform(tf.shape(i), seed=[seed, 1]) >= id_dropout
                i = tf.where(keep, i, tf.zeros_like(i))
            return ((xn, i), *out)

        return ds.map(windows, num_parallel_calls=1, deterministic=True).prefetch(2)

    def _fit_ridge(self, model, Z, tr, va, reads):
        """The linear path in closed form across all series (penalty, and rank unless ``full``,
        chosen on at most ``MAX_RIDGE_WINDOWS // 4`` of the windows ``va``), unweighted (weighting
        it as the network's loss with ``balance`` did worse on M4: docs/m4.md). A full-rank map is
        fitted on every training window, accumulated in chunks; a reduced rank needs the design
        matrix, so then on at most ``MAX_RIDGE_WINDOWS`` of them."""
        from . import baselines as bl

        rng = np.random.default_rng(self.train_cfg.seed)
        if len(va) > MAX_RIDGE_WINDOWS // 4:
            va = np.sort(rng.choice(va, MAX_RIDGE_WINDOWS // 4, replace=False))
        Av, Bv = self._design(*self._normalised(Z, va)[:2], reads)
        if self.model_cfg.linear_rank == "full":
            step = 20_000
            chunks = (self._design(*self._normalised(Z, tr[i:i + step])[:2], reads) for i in range(0, len(tr), step))
            fits = ((rel, None, W, b) for rel, W, b in bl._ridge_path_moments(bl._moments(chunks), bl.RIDGE_GRID))
            n_rows = len(tr) * (self.n_targets if self.model_cfg.channel_independent else 1)
        else:
            if len(tr) > MAX_RIDGE_WINDOWS:
                tr = np.sort(rng.choice(tr, MAX_RIDGE_WINDOWS, replace=False))
            A, B = self._design(*self._normalised(Z, tr)[:2], reads)
            fits = bl._ridge_fits(A, B, bl.RIDGE_GRID, bl._rank_candidates(self.model_cfg.linear_rank, B.shape[1]))
            n_rows = len(A)
        best = None
        for rel, rank, W, b in fits:
            mse = float(np.mean((Av @ W + b - Bv) ** 2))
            if best is None or mse < best[0]:
                best = (mse, rel, rank, W, b)
        mse, rel, rank, W, b = best
        model.get_layer("linear").set_weights([W.astype(np.float32), b.astype(np.float32)])
        return {"alpha": rel, "rank": "full" if rank is None else int(rank), "val_mse": mse,
                "train_rows": int(n_rows)}

    def _design(self, Xn, Yn, reads):
        """``(A, B)`` for the linear layer, laid out as the model's ``flat_window`` sees them (the
        last ``reads`` rows of each window)."""
        L, H, T = reads, self.window.horizon, self.n_targets
        Xn = Xn[:, -reads:, :]
        if self.model_cfg.channel_independent:
            Xn = Xn[:, :, :T]
            return Xn.transpose(0, 2, 1).reshape(-1, L), Yn.transpose(0, 2, 1).reshape(-1, H)
        return Xn.reshape(len(Xn), -1), Yn.reshape(len(Yn), -1)

    def budget(self) -> tuple[int, int]:
        """``(epochs, patience)`` of each network: the settings when given; else :data:`EPOCHS` and
        :data:`PATIENCE`, the global model's own (a step budget sized for one series,
        :func:`forecast_cli.training.train_budget`, would give M3's ~15,000 windows only 10 epochs
        where the best epoch was 25 of 30: docs/m3.md).

        >>> from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
        >>> GlobalForecaster(WindowConfig(8, 8), ModelConfig(), TrainConfig(), 1).budget()
        (30, 5)
        >>> GlobalForecaster(WindowConfig(8, 8), ModelConfig(), TrainConfig(epochs=3, patience=2), 1).budget()
        (3, 2)
        """
        tc = self.train_cfg
        return (EPOCHS if tc.epochs is None else int(tc.epochs),
                PATIENCE if tc.patience is None else int(tc.patience))

    def member_reads(self) -> list[int]:
        """The rows each network of the ensemble reads (the last ones of the window): ``lookback``
        for one network; with ``ensemble = k``, ``lookback * (k - j) / k`` for ``j = 0..k-1``,
        rounded down to whole patches (at least one patch or season)."""
        L, k = self.window.lookback, self.ensemble
        unit = max(1, self.model_cfg.patch)
        out = []
        for j in range(k):
            r = (L * (k - j) // k) // unit * unit
            out.append(max(r, unit, min(L, self.season)))
        return out

    def _fit_global(self, series, origins, keys, on_epoch):
        from . import runtime

        cfg, tc = self.model_cfg, self.train_cfg
        if cfg.channel_independent and self.n_targets != self.n_features_:
            raise ConfigError("--channel-independent forecasts every column: use it with targets alone.")
        runtime.configure(tc.threads)
        keras = runtime.import_keras()
        self.key_index_ = {k: i + 1 for i, k in enumerate(keys)}
        self._use_ids = cfg.id_embedding > 0
        Z, tr, va, tr_id, va_id = self._layout(series, origins)
        self.members_info_ = []
        nets = []
        for j, reads in enumerate(self.member_reads()):
            runtime.seed_everything(tc.seed + 1000 * j)
            net, info = self._fit_member(keras, Z, tr, va, tr_id, va_id, len(keys), reads, on_epoch)
            nets.append(net)
            self.members_info_.append(info)
        if len(nets) == 1:
            self.model_ = nets[0]
        else:  # one Keras model: the members' mean, so a bundle holds one network as before
            inp = keras.Input((self.window.lookback, self.n_features_), name="window")
            inputs = [inp, keras.Input((), dtype="int32", name="series_id")] if self._use_ids else inp
            outs = [net(inputs) for net in nets]
            self.model_ = keras.Model(inputs, keras.layers.Average(name="ensemble_mean")(outs), name="forecast_ensemble")
        first = self.members_info_[0]
        self.linear_fit_, self.linear_val_ = first["linear_fit"], first["linear_val"]
        self.history_, self.epochs_run_ = first["history"], first["epochs_run"]
        self.best_epoch_, self.residual_scale_ = first["best_epoch"], first["residual_scale"]
        self.train_windows_ = len(tr)
        return self

    def _fit_member(self, keras, Z, tr, va, tr_id, va_id, n_keys, reads, on_epoch):
        """One network reading the last ``reads`` rows of each window: the ridge path, then the
        recurrent path on what it leaves, kept only if some epoch beats the ridge alone."""
        from .models import build_model
        from .training import _interrupt_point

        cfg, tc = self.model_cfg, self.train_cfg
        model = build_model(self.window, cfg, self.n_features_, self.n_targets, tc.learning_rate,
                            n_ids=n_keys if self._use_ids else 0, loss=self.loss, reads=reads)
        if reads < self.window.lookback:
            model.name = f"member_{reads}"
        safe_point = _interrupt_point(keras)
        bs = tc.batch_size
        ds_va = self._window_dataset(Z, va, va_id, max(bs, 256))
        start_weights = start_val = linear_fit = None
        if cfg.linear_skip and cfg.linear_fit == "lstsq":
            linear_fit = self._fit_ridge(model, Z, tr, va, reads)
            start_weights = model.get_weights()
            start_val = float(model.evaluate(ds_va, verbose=0, callbacks=[safe_point]))
        epochs, patience = self.budget()
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                   restore_best_weights=True), safe_point]
        if on_epoch is not None:

            class _Progress(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    on_epoch(epoch + 1, epochs, dict(logs or {}))

            callbacks.append(_Progress())
        ds_tr = self._window_dataset(Z, tr, tr_id, bs, shuffle=True, id_dropout=0.1 if self._use_ids else 0.0)
        hist = model.fit(ds_tr, validation_data=ds_va, epochs=epochs, callbacks=callbacks,
                         shuffle=False, verbose=0)
        history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
        # drop the traced training and evaluation steps: with --local, hundreds of networks would
        # each keep theirs (about 5 MB a network of the M4 preset)
        model.train_function = model.test_function = None
        val = history.get("val_loss", [])
        info = {"reads": reads, "linear_fit": linear_fit, "linear_val": start_val, "history": history,
                "epochs_run": len(history.get("loss", [])),
                "best_epoch": int(np.argmin(val)) + 1 if val else len(history.get("loss", [])),
                "residual_scale": 1.0}
        if start_weights is not None and val and start_val <= min(val):
            model.set_weights(start_weights)
            info.update(best_epoch=0, residual_scale=0.0)
        return model, info

    # -- predicting --------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "model_") and not hasattr(self, "members_"):
            raise ConfigError("This GlobalForecaster instance is not fitted yet. "
                              "Call 'fit' with appropriate arguments before using this estimator.")

    @property
    def local(self) -> bool:
        """True when this holds one network per series."""
        return hasattr(self, "members_")

    def predict(self, series, origins, keys=None) -> list[np.ndarray]:
        """Forecasts for the windows at ``origins[i]`` of each ``series[i]``: one ``(len(origins[i]),
        horizon, n_targets)`` array per series, in the data's units. ``keys`` as in :meth:`fit`
        (a key unseen in fitting is forecast by the global network without its id; see
        :meth:`predict_windows` for ``local``)."""
        self._check_fitted()
        series = _as_series(series)
        keys = _keys(keys, len(series))
        L = self.window.lookback
        Xs, ks = [], []
        for s, o, k in zip(series, origins, keys):
            o = np.asarray(o, dtype=np.int64)
            if len(o):
                Xs.append(gather(s, o, L, 1, self.n_targets, dtype=np.float64)[0])
                ks.extend([k] * len(o))
        H, T = self.window.horizon, self.n_targets
        out = self.predict_windows(np.concatenate(Xs), keys=ks) if Xs else np.empty((0, H, T))
        sizes = np.cumsum([len(o) for o in origins])[:-1]
        return np.split(out, sizes)

    def predict_windows(self, X: np.ndarray, keys=None, lengths=None, batch_size: int = 4096) -> np.ndarray:
        """Forecasts ``(n, horizon, n_targets)`` for windows ``(n, lookback, C)`` in the data's units.

        Args:
            X: the windows, stacked.
            keys: each window's series id (None: unknown ids).
            lengths: real rows of each window; a window with ``lengths[j] < lookback`` is a short
                history, left-padded (its padding rows are ignored: they are refilled by
                repeating its real rows seasonally, and its scale comes from its real rows). Each
                window is scaled and forecast on its own, so padding one never changes the
                forecast of another. None = all full.
            batch_size: windows per network call. Defaults to 4096.

        With ``local``, a window whose key has no network of its own gets the seasonal naive
        forecast, and its key is added to ``fallback_keys_``.
        """
        self._check_fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2:
            X = X[:, :, None]
        n = len(X)
        H, T = self.window.horizon, self.n_targets
        if n == 0:
            return np.empty((0, H, T))
        if X.shape[1] != self.window.lookback:
            raise DataError(f"windows have {X.shape[1]} rows; this model reads {self.window.lookback} "
                            "(pad shorter histories on the left and give their lengths).")
        if lengths is not None:
            lengths = np.minimum(np.asarray(lengths, dtype=np.int64), self.window.lookback)
            bad = ~np.isfinite(X[np.arange(self.window.lookback)[None, :] >= (self.window.lookback - lengths)[:, None]])
            if bad.any():
                raise DataError("a window holds missing values in its real rows.")
        keys = [None] * n if keys is None else [None if k is None else str(k) for k in keys]
        if len(keys) != n:
            raise ConfigError(f"{len(keys)} keys for {n} windows.")
        self.trend_capped_ = 0  # this call's count (see below)
        if self.local:
            return self._predict_local(X, keys, lengths, batch_size)
        Xn, stats = normalise_windows(X, self.norm_lag, log=self.log, lengths=lengths)
        inputs = Xn
        if getattr(self, "_use_ids", False):
            ids = np.array([self.key_index_.get(k, 0) for k in keys], dtype=np.int32)
            inputs = (Xn, ids)
        outs = []
        for i in range(0, n, batch_size):
            part = inputs[i:i + batch_size] if not isinstance(inputs, tuple) else \
                [inputs[0][i:i + batch_size], inputs[1][i:i + batch_size]]
            outs.append(self._infer(part))
        out = np.concatenate(outs)
        if self.trend_cap > 0:
            trends = getattr(self, "history_trend_", {})
            centre = np.array([trends.get(k, [np.nan] * T) for k in keys], dtype=np.float64).reshape(n, T)
            out, capped = cap_trend(out, stats, self.trend_cap / self.season, self.season, centre=centre,
                                    band=TREND_BAND / self.season)
            self.trend_capped_ = int(capped.sum())
        return denormalise(out, stats)

    def _predict_local(self, X, keys, lengths, batch_size):
        from .baselines import SeasonalNaive

        H, T = self.window.horizon, self.n_targets
        out = np.empty((len(X), H, T))
        self.fallback_keys_ = getattr(self, "fallback_keys_", set())
        keys_arr = np.array([str(k) for k in keys], dtype=object)
        for k in dict.fromkeys(keys_arr.tolist()):
            idx = np.flatnonzero(keys_arr == k)
            ln = None if lengths is None else lengths[idx]
            member = self.members_.get(k)
            if member is None:
                self.fallback_keys_.add(k)
                sn = SeasonalNaive(H, T, self.season)
                Xp = X[idx] if ln is None else _pad(X[idx], ln, self.season)
                out[idx] = np.stack([sn.predict(w, [len(w) - 1])[0] for w in Xp])
                continue
            out[idx] = member.predict_windows(X[idx], keys=[k] * len(idx), lengths=ln, batch_size=batch_size)
        return out

    def _infer(self, x):
        """The network on one batch, through one traced graph after the first call."""
        from .runtime import deferred_interrupts

        self._infer_calls = getattr(self, "_infer_calls", 0) + 1
        with deferred_interrupts():
            if self._infer_calls == 1:
                return np.asarray(self.model_(x, training=False))
            fn = getattr(self, "_infer_fn", None)
            if fn is None:
                import tensorflow as tf

                if isinstance(x, (list, tuple)):
                    spec = [tf.TensorSpec((None, *x[0].shape[1:]), tf.float32), tf.TensorSpec((None,), tf.int32)]
                    fn = tf.function(lambda a, b: self.model_([a, b], training=False), input_signature=spec,
                                     autograph=False)
                else:
                    spec = [tf.TensorSpec((None, *x.shape[1:]), tf.float32)]
                    fn = tf.function(lambda t: self.model_(t, training=False), input_signature=spec,
                                     autograph=False)
                self._infer_fn = fn
            return np.asarray(fn(*x) if isinstance(x, (list, tuple)) else fn(x))

    # -- scale checks ------------------------------------------------------------------------
    def out_of_range(self, series, keys=None, factor: float = LEVEL_FACTOR) -> list[str]:
        """Keys of the series whose level (median absolute target) lies outside the training series'
        range (``level_range_``) by more than ``factor``: forecasts for them are extrapolations
        worth a warning (the network itself sees scale-free windows)."""
        self._check_fitted()
        series = _as_series(series)
        keys = _keys(keys, len(series))
        lo, hi = self.level_range_
        out = []
        for s, k in zip(series, keys):
            t = s[:, : self.n_targets]
            if not np.isfinite(t).any():
                continue
            lv = float(np.nanmedian(np.abs(t)))
            if lv > hi * factor or lv < lo / factor:
                out.append(k)
        return out

    # -- persistence -------------------------------------------------------------------------
    def keras_models(self) -> list:
        """The fitted Keras model(s) to save beside :meth:`get_state`: one, or one per series in
        the order of ``get_state()["keys"]`` with ``local``."""
        self._check_fitted()
        if self.local:
            return [self.members_[k].model_ for k in self.keys_]
        return [self.model_]

    def get_state(self) -> dict:
        """A JSON-ready dict of everything but the Keras model(s) (:meth:`keras_models`)."""
        self._check_fitted()
        state = {"version": STATE_VERSION, "kind": "local" if self.local else "global",
                 "n_targets": self.n_targets, "n_features": self.n_features_, "season": self.season,
                 "log": self.log, "loss": self.loss, "ensemble": self.ensemble, "balance": self.balance,
                 "trend_cap": self.trend_cap,
                 "history_trend": {k: [None if not np.isfinite(v) else float(v) for v in vs]
                                   for k, vs in getattr(self, "history_trend_", {}).items()},
                 "keys": list(self.keys_),
                 "level_range": list(self.level_range_)}
        if self.local:
            state["members"] = [self.members_[k].get_state() for k in self.keys_]
        else:
            state.update(id_embedding=bool(self._use_ids), linear_fit=self.linear_fit_,
                         residual_scale=self.residual_scale_, best_epoch=self.best_epoch_,
                         epochs_run=self.epochs_run_,
                         ensemble_members=[{k: v for k, v in m.items() if k != "history"}
                                  for m in getattr(self, "members_info_", [])])
        return state

    @classmethod
    def from_state(cls, state: dict, keras_models: list, window: WindowConfig, model: ModelConfig,
                   train: TrainConfig) -> GlobalForecaster:
        """Rebuild a fitted forecaster from :meth:`get_state` and the loaded Keras model(s)."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ConfigError(f"global model state of an unknown version: {state.get('version')!r}"
                              if isinstance(state, dict) else "global model state must be a JSON object")
        self = cls(window, model, train, state["n_targets"], state["season"], log=state["log"], loss=state["loss"],
                   ensemble=int(state.get("ensemble", 1)), balance=float(state.get("balance", 0.0)),
                   trend_cap=float(state.get("trend_cap", 0.0)))  # saved before the cap: none
        self.n_features_ = int(state["n_features"])
        self.keys_ = [str(k) for k in state["keys"]]
        self.level_range_ = tuple(float(v) for v in state["level_range"])
        # saved before the trend band: none (every series gets the plain cap)
        self.history_trend_ = {str(k): [np.nan if v is None else float(v) for v in vs]
                               for k, vs in state.get("history_trend", {}).items()}
        if state["kind"] == "local":
            if len(keras_models) != len(self.keys_):
                raise ConfigError(f"{len(keras_models)} networks for {len(self.keys_)} local series.")
            sub = replace(model, local=False, id_embedding=0)
            self.members_ = {k: cls.from_state(st, [km], window, sub, train)
                             for k, st, km in zip(self.keys_, state["members"], keras_models)}
            return self
        if len(keras_models) != 1:
            raise ConfigError(f"a global model has one network; got {len(keras_models)}.")
        self.model_ = keras_models[0]
        self._use_ids = bool(state.get("id_embedding"))
        self.key_index_ = {k: i + 1 for i, k in enumerate(self.keys_)}
        for name in ("linear_fit", "residual_scale", "best_epoch", "epochs_run"):
            setattr(self, name + "_", state.get(name))
        return self


def _trend_design(horizon: int, season: int) -> np.ndarray | None:
    """Columns ``[1, h]`` and, with a season, its contrasts over the steps ``h = 1..horizon``; None
    where a trend cannot be told from the season (a horizon under two whole seasons, or under 3
    steps): a straight line through part of a seasonal swing is no trend."""
    if horizon < 3 or (season > 1 and horizon < 2 * season):
        return None
    h = np.arange(1, horizon + 1)
    cols = [np.ones(horizon), h.astype(np.float64)]
    cols += [(h % season == j).astype(np.float64) - (h % season == 0) for j in range(1, season)]
    return np.column_stack(cols)


def cap_trend(Yn: np.ndarray, stats, cap: float, season: int = 1, *, centre=None,
              band: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Normalised forecast paths ``(n, horizon, T)`` whose linear trend is at most ``cap`` log
    units a step, up or down, on logged windows (``stats`` from
    :func:`forecast_cli.windows.normalise_windows`); ``(paths, capped)``, ``capped`` ``(n, T)``
    True where a trend was cut. Where ``centre`` ``(n, T)`` is finite (the series' own long-run
    trend, log units a step), the trend is kept in ``[min(centre, 0) - band, max(centre, 0) + band]``
    instead: a series whose history fell may forecast a fall, one that rose a rise, and neither
    much beyond it (M3: docs/m3.md).

    Each path is split by least squares into a level, a trend ``beta h`` and a seasonal profile
    (paths shorter than two seasons are left alone: their trend cannot be told from the season);
    a trend steeper than ``cap`` (``beta`` times the window's scale, in logs) is replaced by
    ``+-cap`` and the level and seasonal profile are kept. Why: on
    M3 the network never forecast a falling trend and extrapolated steep rises that did not last
    (docs/m3.md); damped-trend ETS's lesson, as a bound. Hand-written: one least-squares
    projection over the horizon, a few lines of NumPy. Windows in their own units are left alone.

    >>> from forecast_cli.windows import normalise_windows
    >>> X = np.exp(0.1 * np.arange(8.0))[None, :, None]     # rising 0.1 in logs a step
    >>> Xn, stats = normalise_windows(X, 1)
    >>> Yn = Xn[:, -1:, :] + 1.0 * np.arange(1, 5.0)[None, :, None]   # the trend continued
    >>> out, capped = cap_trend(Yn, stats, 0.01)
    >>> np.round(np.diff(out[0, :, 0] * stats[1][0, 0, 0]), 6).tolist(), capped.tolist()
    ([0.01, 0.01, 0.01], [[True]])
    """
    Yn = np.asarray(Yn, dtype=np.float64)
    D = _trend_design(Yn.shape[1], season)
    if D is None or cap <= 0:
        return Yn, np.zeros((len(Yn), Yn.shape[2]), dtype=bool)
    _, scale, logged = stats
    T = Yn.shape[2]
    scale, logged = scale[:, 0, :T], logged[:, 0, :T]
    beta = np.einsum("h,nht->nt", np.linalg.pinv(D)[1], Yn)
    lo, hi = np.full(beta.shape, -cap), np.full(beta.shape, cap)
    if centre is not None:
        c = np.asarray(centre, dtype=np.float64).reshape(beta.shape)
        ok = np.isfinite(c)
        c = np.where(ok, c, 0.0)
        lo = np.where(ok, np.minimum(c, 0.0) - band, lo)
        hi = np.where(ok, np.maximum(c, 0.0) + band, hi)
    slope = beta * scale  # log units a step
    capped = logged & ((slope < lo) | (slope > hi))
    new = np.where(capped, np.clip(slope, lo, hi) / scale, beta)
    h = np.arange(1, Yn.shape[1] + 1, dtype=np.float64)
    return Yn + (new - beta)[:, None, :] * h[None, :, None], capped


def history_trend(y: np.ndarray, season: int = 1) -> float:
    """The least-squares slope of ``log y`` on time beside one mean per season position (log units
    a step) over the finite rows of ``y``; NaN when ``y`` is not positive or holds under two seasons
    (and 3 rows). Hand-written: one small least-squares fit (``np.polyfit`` takes no season means).

    >>> t = np.arange(12.0)
    >>> round(history_trend(np.exp(0.02 * t + np.tile([0.1, -0.1, 0.2, -0.2], 3)), 4), 6)
    0.02
    """
    y = np.asarray(y, dtype=np.float64)
    t = np.flatnonzero(np.isfinite(y))
    season = max(1, int(season))
    if len(t) < max(3, 2 * season) or (y[t] <= 0).any():
        return float("nan")
    A = np.column_stack([t.astype(np.float64)] + [(t % season == j).astype(np.float64) for j in range(season)])
    return float(np.linalg.lstsq(A, np.log(y[t]), rcond=None)[0][0])


def _pad(X, lengths, season):
    from .windows import pad_windows

    return pad_windows(X, lengths, season)
