"""Fit the neural forecaster with early stopping, and predict; TensorFlow is imported on first use.

:class:`NeuralForecaster` has the same ``fit(values, origins)`` / ``predict(values, origins)``
contract as the baselines: ``values`` is the whole ``(n_rows, n_columns)`` series in the data's
units (targets first), ``origins`` index the last input row of each window. The scaler is fitted
on the rows that the training windows cover, and nothing later.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .config import ModelConfig, TrainConfig, WindowConfig
from .errors import ConfigError, DataError
from .windows import Scaler

__all__ = ["NeuralForecaster", "EpochCallback", "MIN_TRAIN_WINDOWS", "LSTSQ_MIN_WINDOWS", "Budget", "train_budget"]

EpochCallback = Callable[[int, int, dict], None]
MIN_TRAIN_WINDOWS = 20
# With jit_compile="auto": training windows x lookback from which XLA is tried (off by default: on the
# 2-core CPU it was slower, see TrainConfig).
XLA_MIN_WORK = 1_000_000


# The budget rule's bounds (train_budget): with epochs sized by the step budget, an epoch is one pass
# over the training windows or ROUND_STEPS steps when a pass is shorter (Keras' own cost of an epoch,
# its validation pass and callbacks, outweighs a pass of 2 to 4 steps: 3 folds of a monthly series took
# 126 s for 2,186 steps in one-pass epochs, 75 s for 1,925 in 25-step ones, docs/short_series.md); the
# epochs stay in [MIN_EPOCHS, MAX_EPOCHS] (a huge series still sees every window a few times), and the
# patience is PATIENCE_SHARE of the steps, at least MIN_PATIENCE epochs.
ROUND_STEPS = 25
MIN_EPOCHS, MAX_EPOCHS = 10, 500
MIN_PATIENCE, PATIENCE_SHARE = 5, 0.1
FIXED_PATIENCE = 5  # the patience with a given --epochs (the rule before the budget)
# linear_fit="auto" on one series: the closed-form (ridge) linear path from this many training windows
# (early-stopping ones included), the adam-trained one below it; measured per fold on 5 series
# (docs/short_series.md): the ridge path was better in 10 of 16 folds of 100 windows or more (4 worse,
# 2 level), worse in 4 of 5 below (its penalty is chosen on a tenth of the windows, 3 to 9 there).
LSTSQ_MIN_WINDOWS = 100


@dataclass(frozen=True)
class Budget:
    """What :func:`train_budget` chose: most epochs, patience (epochs), batch size, the optimisation
    steps of one epoch (more than a pass over the windows when ``repeat``: the windows are cycled
    through, reshuffled each pass), and whether the epochs were ``sized`` by the step budget."""

    epochs: int
    patience: int
    batch_size: int
    steps_per_epoch: int
    repeat: bool
    sized: bool


def train_budget(train: TrainConfig, n_windows: int) -> Budget:
    """The epochs and patience for ``n_windows`` training windows: a budget of optimisation steps.

    With ``train.epochs`` None (the default) an epoch is one pass over the windows
    (``ceil(n_windows / batch_size)`` steps) or 25 steps when a pass is shorter, the epochs are
    ``ceil(train.steps / steps_per_epoch)`` within [10, 500], and the patience is a tenth of the
    step budget in epochs, at least 5: a series of 200 windows trains up to 1,000 Adam steps
    instead of 30 to 90, and one of 20,000 at least 10 passes. A given ``train.epochs`` is used as
    it is (one pass each, patience 5 unless given); a given ``train.patience`` always is.

    Args:
        train: the fitting settings.
        n_windows: windows trained on (the early-stopping ones left out).

    >>> from forecast_cli.config import TrainConfig
    >>> b = train_budget(TrainConfig(), 200); (b.epochs, b.patience, b.steps_per_epoch, b.repeat)
    (40, 5, 25, True)
    >>> b = train_budget(TrainConfig(), 20_000); (b.epochs, b.patience, b.steps_per_epoch, b.repeat)
    (10, 5, 313, False)
    >>> b = train_budget(TrainConfig(epochs=3), 200); (b.epochs, b.patience, b.steps_per_epoch, b.sized)
    (3, 5, 4, False)
    """
    bs = int(train.batch_size)
    one_pass = max(1, math.ceil(int(n_windows) / bs))
    if train.epochs is not None:
        epochs, spe, sized, patience = int(train.epochs), one_pass, False, FIXED_PATIENCE
    else:
        spe, sized = max(one_pass, ROUND_STEPS), True
        epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(train.steps / spe)))
        patience = max(MIN_PATIENCE, math.ceil(PATIENCE_SHARE * train.steps / spe))
    if train.patience is not None:
        patience = int(train.patience)
    return Budget(epochs, patience, bs, spe, spe > one_pass, sized)


def _window_dataset(series, origins, lookback, horizon, n_targets, batch_size, *, shuffle=False,
                    seed=0, with_targets=True, repeat=False):
    """A ``tf.data`` pipeline that gathers windows from the series batch by batch.

    The series is held once; windows are built on the fly with ``tf.gather``, so memory does
    not grow with the lookback.
    """
    import tensorflow as tf

    s = tf.constant(series, dtype=tf.float32)
    origins = np.asarray(origins, dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices(origins)
    if shuffle:
        ds = ds.shuffle(len(origins), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if repeat:  # passes end to end (reshuffled each pass); the caller sets the steps of an epoch
        ds = ds.repeat()
    in_off = tf.range(-lookback + 1, 1, dtype=tf.int64)
    out_off = tf.range(1, horizon + 1, dtype=tf.int64)

    def windows(o):
        x = tf.gather(s, o[:, None] + in_off[None, :])
        if not with_targets:
            return x
        return x, tf.gather(s[:, :n_targets], o[:, None] + out_off[None, :])

    return ds.map(windows, num_parallel_calls=1, deterministic=True).prefetch(2)


def _interrupt_point(keras):
    """A Keras callback that raises a held SIGINT/SIGTERM (:func:`runtime.interrupt`) at the start
    of each training or validation batch: outside TensorFlow's and Keras' own code, and a
    batch-begin hook makes Keras wait for nothing (batch-end hooks would sync every batch)."""
    from .runtime import raise_pending

    class _InterruptPoint(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            raise_pending()

        def on_test_batch_begin(self, batch, logs=None):
            raise_pending()

    return _InterruptPoint()


class NeuralForecaster:
    """A Keras LSTM/GRU/attention forecaster over scaled windows.

    Args:
        window: lookback and horizon.
        model: network settings.
        train: fitting settings.
        n_targets: number of target columns (the first columns of ``values``).
        season: the series' season length, kept as ``season``; the network reads the season
            from the window (the lookback defaults to whole seasons,
            :func:`forecast_cli.fit_advice.default_lookback`, and the closed-form linear path fits
            the seasonal lags; deseasonalised inputs were measured and not adopted,
            ``docs/short_series.md``). Defaults to 1.
    """

    name = "model"

    def __init__(self, window: WindowConfig, model: ModelConfig, train: TrainConfig, n_targets: int,
                 season: int = 1):
        self.window, self.model_cfg, self.train_cfg, self.n_targets = window, model, train, n_targets
        self.season = max(1, int(season or 1))

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, values: np.ndarray, origins: np.ndarray, *, on_epoch: EpochCallback | None = None,
            val_origins: np.ndarray | None = None, callbacks: list | None = None):
        """Fit scaler and network on the windows at ``origins``; the last ``val_fraction`` of them
        (in time order) is held out for early stopping, unless ``val_origins`` gives the
        early-stopping windows explicitly (then all of ``origins`` are trained on).
        ``callbacks``: extra ``keras.callbacks.Callback`` objects for ``model.fit``."""
        from . import runtime

        extra_callbacks = list(callbacks or [])
        L, H = self.window.lookback, self.window.horizon
        origins = np.sort(np.asarray(origins, dtype=np.int64))
        if len(origins) < MIN_TRAIN_WINDOWS:
            raise DataError(
                f"only {len(origins)} training windows (lookback {L}, horizon {H}); need at least "
                f"{MIN_TRAIN_WINDOWS}: use a longer series, fewer --folds, or a smaller --lookback/--horizon"
            )
        values = np.asarray(values, dtype=np.float64)
        last_row = int(origins[-1]) + H  # the last row any training window touches
        first_row = int(origins[0]) - L + 1
        self.scaler_ = Scaler().fit(values[first_row:last_row + 1])
        self.train_rows_ = (first_row, last_row + 1)
        scaled = self.scaler_.transform(values).astype(np.float32)
        # SIGINT/SIGTERM are held while the network is built and trained, and raised at the next
        # batch (or when this block ends): an exception raised inside TensorFlow or Keras code
        # (in a __del__, say) can be swallowed, and training would then run on
        with runtime.deferred_interrupts():
            return self._fit_network(values, scaled, origins, val_origins, on_epoch, extra_callbacks)

    def _fit_network(self, values, scaled, origins, val_origins, on_epoch, extra_callbacks):
        """:meth:`fit` after the scaler: the linear path, the network and the fallback."""
        from . import runtime

        L, H, T = self.window.lookback, self.window.horizon, self.n_targets
        runtime.configure(self.train_cfg.threads)
        runtime.seed_everything(self.train_cfg.seed)
        keras = runtime.import_keras()
        from .models import build_model

        safe_point = _interrupt_point(keras)

        if val_origins is not None and len(val_origins):
            tr, va = origins, np.sort(np.asarray(val_origins, dtype=np.int64))
        else:
            n_val = max(1, int(round(len(origins) * self.train_cfg.val_fraction)))
            tr, va = origins[:-n_val], origins[-n_val:]
        cfg = self.model_cfg
        if cfg.linear_fit == "auto":  # one series: the closed-form path from LSTSQ_MIN_WINDOWS windows on
            closed = cfg.linear_skip and len(origins) >= LSTSQ_MIN_WINDOWS
            cfg = replace(cfg, linear_fit="lstsq" if closed else "adam")
        lstsq = cfg.linear_skip and cfg.linear_fit == "lstsq"
        jit = self.train_cfg.jit_compile
        if jit == "auto":
            jit = len(tr) * L >= XLA_MIN_WORK
        self.jit_compile_ = bool(jit)
        self.model_ = build_model(self.window, cfg, values.shape[1], T, self.train_cfg.learning_rate,
                                  jit_compile=self.jit_compile_)
        bs = self.train_cfg.batch_size
        ds_va = _window_dataset(scaled, va, L, H, T, max(bs, 256))
        start_weights = start_val = None
        if lstsq:
            from .models import fit_linear_path

            self.linear_fit_ = fit_linear_path(self.model_, self.window, cfg, scaled, tr, va, T)
            # the model now starts as the fitted linear map: keep it if no epoch beats it
            start_weights = self.model_.get_weights()
            start_val = float(self.model_.evaluate(ds_va, verbose=0, callbacks=[safe_point]))
        self.linear_val_ = start_val  # the linear path alone on the early-stopping windows (None without lstsq)
        budget = self.budget_ = train_budget(self.train_cfg, len(tr))
        epochs = budget.epochs
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=budget.patience,
                                                   restore_best_weights=True), safe_point]
        if on_epoch is not None:

            class _Progress(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    on_epoch(epoch + 1, epochs, dict(logs or {}))

            callbacks.append(_Progress())
        callbacks.extend(extra_callbacks)
        ds_tr = _window_dataset(scaled, tr, L, H, T, bs, shuffle=True, seed=self.train_cfg.seed,
                                repeat=budget.repeat)
        hist = self.model_.fit(ds_tr, validation_data=ds_va, epochs=epochs,
                               steps_per_epoch=budget.steps_per_epoch if budget.repeat else None,
                               callbacks=callbacks, shuffle=False, verbose=0)  # tf.data shuffles
        self.history_ = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
        self.epochs_run_ = len(self.history_.get("loss", []))
        val = self.history_.get("val_loss", [])
        self.best_epoch_ = int(np.argmin(val)) + 1 if val else self.epochs_run_
        # residual_scale_: 1.0 keeps the network, 0.0 = the fallback to the linear path alone
        self.residual_scale_ = 1.0
        if start_weights is not None and val and start_val <= min(val):
            self.model_.set_weights(start_weights)
            self.best_epoch_ = 0
            self.residual_scale_ = 0.0
        return self

    def fit_info(self) -> dict:
        """How the fit went, for a fold's JSON: ``epochs`` run, ``best_epoch`` (0: the linear path
        alone was kept), ``steps`` (optimisation steps run), ``max_epochs`` and ``patience`` (what
        :func:`train_budget` chose) and ``sized`` (epochs from the step budget, not ``--epochs``)."""
        self._check_fitted()
        b = self.budget_
        return {"epochs": self.epochs_run_, "best_epoch": self.best_epoch_,
                "steps": self.epochs_run_ * b.steps_per_epoch, "max_epochs": b.epochs, "patience": b.patience,
                "sized": b.sized}

    # -- predicting --------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise ConfigError("This NeuralForecaster instance is not fitted yet. "
                              "Call 'fit' with appropriate arguments before using this estimator.")

    def predict(self, values: np.ndarray, origins: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Forecasts ``(n, horizon, n_targets)`` in the data's units for the windows at ``origins``."""
        self._check_fitted()
        L, H, T = self.window.lookback, self.window.horizon, self.n_targets
        origins = np.asarray(origins, dtype=np.int64)
        if len(origins) == 0:
            return np.empty((0, H, T))
        scaled = self.scaler_.transform(values).astype(np.float32)
        ds = _window_dataset(scaled, origins, L, H, T, batch_size, with_targets=False)
        out = self.model_.predict(ds, verbose=0)
        return self.scaler_.inverse_targets(out)

    def predict_windows(self, X: np.ndarray) -> np.ndarray:
        """Forecasts ``(n, horizon, n_targets)`` for windows already stacked as ``(n, lookback, n_columns)``
        in the data's units, with one network call (batch scoring stacks the last window of each file)."""
        self._check_fitted()
        x = self.scaler_.transform(X).astype(np.float32)
        return self.scaler_.inverse_targets(self._infer(x))

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """The network on a float32 batch. ``model.predict`` costs ~40 ms a call; the first call here
        runs eagerly (cheaper than tracing: one batch-scoring call scores 4,096 files), later ones
        through one traced graph (~1 ms a call). Both give the same numbers."""
        from .runtime import deferred_interrupts

        self._infer_calls = getattr(self, "_infer_calls", 0) + 1
        with deferred_interrupts():  # a SIGTERM mid-trace is raised after the call, not inside Keras
            if self._infer_calls == 1:
                return np.asarray(self.model_(x, training=False))
            fn = getattr(self, "_infer_fn", None)
            if fn is None:
                import tensorflow as tf

                spec = tf.TensorSpec((None, *x.shape[1:]), tf.float32)
                fn = self._infer_fn = tf.function(lambda t: self.model_(t, training=False),
                                                  input_signature=[spec], autograph=False)
            return np.asarray(fn(x))

    @classmethod
    def from_parts(cls, window, model_cfg, train_cfg, n_targets, keras_model, scaler):
        """Rebuild a fitted forecaster from a loaded Keras model and scaler (used by bundles)."""
        self = cls(window, model_cfg, train_cfg, n_targets)
        self.model_, self.scaler_ = keras_model, scaler
        return self

