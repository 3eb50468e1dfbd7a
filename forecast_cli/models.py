"""Keras model builders (LSTM, GRU, LSTM with attention): the only module that imports Keras.

Import this module only from code that trains or predicts: importing it loads TensorFlow.
The custom layers are registered with Keras so that bundles load with ``safe_mode=True``
(no Lambda layers, no pickled code).
"""
from __future__ import annotations

from .runtime import import_keras

keras = import_keras()
import numpy as np
from keras import layers, ops

from .baselines import RANK_GRID, RIDGE_GRID, _rank_candidates, _ridge_fits, _ridge_path  # noqa: F401
from .config import ModelConfig, WindowConfig

__all__ = [
    "CUSTOM_OBJECTS",
    "AddLast",
    "BatchToChannels",
    "ChannelsToBatch",
    "FusedLSTM",
    "LastStep",
    "PeepholeLSTMCell",
    "RepeatRows",
    "SubtractLast",
    "build_model",
    "fit_linear_path",
]


@keras.saving.register_keras_serializable(package="forecast_cli")
class SubtractLast(layers.Layer):
    """Subtract each window's last row from the whole window: ``x - x[:, -1:, :]``.

    The network then sees changes relative to the forecast origin, which keeps it in range
    when the level drifts outside what the training folds saw.
    """

    def call(self, x):
        return x - x[:, -1:, :]


@keras.saving.register_keras_serializable(package="forecast_cli")
class AddLast(layers.Layer):
    """Add the last input value of each target back to a ``(batch, horizon, n_targets)`` forecast."""

    def __init__(self, n_targets: int, **kwargs):
        super().__init__(**kwargs)
        self.n_targets = int(n_targets)

    def call(self, inputs):
        delta, x = inputs
        return delta + x[:, -1:, : self.n_targets]

    def get_config(self):
        return {**super().get_config(), "n_targets": self.n_targets}


@keras.saving.register_keras_serializable(package="forecast_cli")
class LastStep(layers.Layer):
    """The last time step of a sequence: ``(batch, time, units) -> (batch, 1, units)``."""

    def call(self, x):
        return x[:, -1:, :]


@keras.saving.register_keras_serializable(package="forecast_cli")
class ChannelsToBatch(layers.Layer):
    """Fold the columns into the batch: ``(batch, time, C) -> (batch * C, time, 1)``.

    Used for channel-independent models: every column becomes its own univariate series and
    the same weights forecast each of them.
    """

    def call(self, x):
        t = x.shape[1]
        return ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, t, 1))


@keras.saving.register_keras_serializable(package="forecast_cli")
class BatchToChannels(layers.Layer):
    """Undo :class:`ChannelsToBatch` on a forecast: ``(batch * C, horizon) -> (batch, horizon, n_targets)``,
    keeping the first ``n_targets`` of the ``n_channels`` columns."""

    def __init__(self, n_channels: int, n_targets: int, **kwargs):
        super().__init__(**kwargs)
        self.n_channels, self.n_targets = int(n_channels), int(n_targets)

    def call(self, y):
        h = y.shape[-1]
        y = ops.transpose(ops.reshape(y, (-1, self.n_channels, h)), (0, 2, 1))
        return y[:, :, : self.n_targets]

    def get_config(self):
        return {**super().get_config(), "n_channels": self.n_channels, "n_targets": self.n_targets}


def _add_lstm_weights(layer, d: int, forget_gate: int) -> None:
    """Keras LSTM's weights on ``layer``: kernel (glorot), recurrent kernel (orthogonal) and bias,
    with the bias 1 on the forget gate, the ``forget_gate``-th of the four gate blocks."""
    u = layer.units
    bias = np.zeros(4 * u, dtype="float32")
    bias[forget_gate * u:(forget_gate + 1) * u] = 1.0
    layer.kernel = layer.add_weight(shape=(d, 4 * u), initializer="glorot_uniform", name="kernel")
    layer.recurrent_kernel = layer.add_weight(shape=(u, 4 * u), initializer="orthogonal", name="recurrent_kernel")
    layer.bias = layer.add_weight(shape=(4 * u,), name="bias", initializer=keras.initializers.Constant(bias))


@keras.saving.register_keras_serializable(package="forecast_cli")
class PeepholeLSTMCell(layers.Layer):
    """An LSTM cell with peephole connections (Gers & Schmidhuber, 2000): the input and forget
    gates also see the previous cell state, the output gate the new one (diagonal weights).
    Keras 3 has none built in; wrap it in ``keras.layers.RNN``."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, input_shape):
        _add_lstm_weights(self, input_shape[-1], forget_gate=1)  # gates i, f, c, o
        u = self.units
        self.peephole = self.add_weight(shape=(3, u), initializer="zeros", name="peephole")
        self.built = True

    def call(self, inputs, states, training=False):
        h, c = states[0], states[1]
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        zi, zf, zc, zo = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(zi + self.peephole[0] * c)
        f = ops.sigmoid(zf + self.peephole[1] * c)
        c_new = f * c + i * ops.tanh(zc)
        o = ops.sigmoid(zo + self.peephole[2] * c_new)
        h_new = o * ops.tanh(c_new)
        return h_new, [h_new, c_new]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="forecast_cli")
class FusedLSTM(layers.Layer):
    """The LSTM of ``keras.layers.LSTM`` (same gates, initialisers and unit forget bias) as ONE
    TensorFlow kernel over the whole sequence (``BlockLSTM``), forward and backward.

    Keras runs its LSTM on CPU as a graph loop of about 15 small ops per time step, each
    dispatched separately; the fused kernel runs the time loop in C++. The gates are laid out
    (input, cell, forget, output), ``BlockLSTM``'s order; no recurrent dropout (the builder
    uses ``keras.layers.LSTM`` for that).
    """

    def __init__(self, units: int, return_sequences: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.return_sequences = bool(return_sequences)

    def build(self, input_shape):
        _add_lstm_weights(self, input_shape[-1], forget_gate=2)  # BlockLSTM's gates: i, c, f, o
        self.built = True

    def call(self, x):
        import tensorflow as tf

        u = self.units
        xt = tf.transpose(x, (1, 0, 2))  # time major
        zeros = tf.zeros((tf.shape(x)[0], u), x.dtype)
        no_peephole = tf.zeros((u,), x.dtype)
        h = tf.raw_ops.BlockLSTM(
            seq_len_max=tf.cast(tf.shape(xt)[0], tf.int64), x=xt, cs_prev=zeros, h_prev=zeros,
            w=tf.concat([self.kernel, self.recurrent_kernel], axis=0), wci=no_peephole, wcf=no_peephole,
            wco=no_peephole, b=self.bias, forget_bias=0.0, cell_clip=-1.0, use_peephole=False)[6]
        return tf.transpose(h, (1, 0, 2)) if self.return_sequences else h[-1]

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_sequences": self.return_sequences}


@keras.saving.register_keras_serializable(package="forecast_cli")
class RepeatRows(layers.Layer):
    """Repeat each row ``n`` times along the batch: ``(batch, d) -> (batch * n, d)``, in the order
    of :class:`ChannelsToBatch` (a series' id embedding beside each of its folded columns)."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)

    def call(self, x):
        return ops.repeat(x, self.n, axis=0)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


CUSTOM_OBJECTS = {"RepeatRows": RepeatRows, "FusedLSTM": FusedLSTM, "PeepholeLSTMCell": PeepholeLSTMCell, "SubtractLast": SubtractLast,
                  "AddLast": AddLast, "LastStep": LastStep, "ChannelsToBatch": ChannelsToBatch, "BatchToChannels": BatchToChannels}


def build_linear_network(lookback: int, n_features: int, horizon: int, n_targets: int, kernel: np.ndarray,
                         bias: np.ndarray) -> keras.Model:
    """A fixed linear map ``(batch, lookback, n_features) -> (batch, horizon, n_targets)`` as a network:
    Flatten -> Dense (the given ``kernel`` ``(lookback * n_features, horizon * n_targets)`` and ``bias``)
    -> Reshape. ``train --fallback best`` saves a winning baseline this way, so a bundle keeps one
    format and loads with ``safe_mode=True``.

    >>> m = build_linear_network(3, 1, 2, 1, np.eye(3)[:, [2, 2]], np.zeros(2))
    >>> m(np.array([[[1.0], [2.0], [5.0]]], dtype="float32")).numpy().ravel().tolist()
    [5.0, 5.0]
    """
    inp = keras.Input((lookback, n_features), name="window")
    x = layers.Flatten(name="flatten")(inp)
    dense = layers.Dense(horizon * n_targets, name="served_baseline")
    x = dense(x)
    out = layers.Reshape((horizon, n_targets), name="forecast")(x)
    model = keras.Model(inp, out, name="baseline")
    dense.set_weights([np.asarray(kernel, dtype="float32"), np.asarray(bias, dtype="float32")])
    return model


_GPU_VISIBLE: bool | None = None


def _gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU (asked once): there Keras' LSTM runs cuDNN's kernel, and the
    fused LSTM (written for the CPU) is not used. Bundles trained with the fused LSTM still load."""
    global _GPU_VISIBLE
    if _GPU_VISIBLE is None:
        import tensorflow as tf

        _GPU_VISIBLE = bool(tf.config.list_physical_devices("GPU"))
    return _GPU_VISIBLE


def build_model(window: WindowConfig, cfg: ModelConfig, n_features: int, n_targets: int,
                learning_rate: float = 1e-3, jit_compile: bool = False, n_ids: int = 0,
                loss: str = "mse", reads: int | None = None) -> keras.Model:
    """A compiled direct multi-step forecaster ``(batch, lookback, n_features) -> (batch, horizon, n_targets)``.

    Layout: [SubtractLast] -> [ChannelsToBatch] -> [patches] -> recurrent stack (``layers`` x
    LSTM/GRU, ``recurrent_dropout`` on the state) -> [attention over the top layer's outputs] ->
    Dropout(``dropout``) -> Dense(horizon * outputs), plus an optional linear path from the
    flattened window, -> [BatchToChannels] -> [AddLast].
    ``dropout`` acts on the recurrent stack's output, not on the input features.
    With ``n_ids > 0`` (and ``cfg.id_embedding > 0``) the model takes a second input, each
    window's series index (int, 0 = unknown, 1..n_ids), whose learned embedding joins the
    recurrent stack's output before the head. ``loss``: Keras loss name. Defaults to ``mse``.
    ``reads``: the model takes ``lookback`` rows but reads only the last ``reads`` of them (a member
    of an ensemble over lookbacks). Defaults to all.

    >>> m = build_model(WindowConfig(30, 5), ModelConfig(units=8), n_features=1, n_targets=1)
    >>> m.output_shape
    (None, 5, 1)
    >>> m = build_model(WindowConfig(32, 4), ModelConfig(units=8, patch=8, channel_independent=True),
    ...                 n_features=3, n_targets=3)
    >>> m.output_shape
    (None, 4, 3)
    """
    cfg.check().check_window(window)  # also when the config was never checked
    H, T, L = window.horizon, n_targets, window.lookback
    inp = keras.Input((L, n_features), name="window")
    x = inp
    if reads is not None and reads < L:
        x = layers.Cropping1D((L - reads, 0), name="reads_last")(x)
        L = reads
    x = SubtractLast(name="subtract_last")(x) if cfg.norm == "last" else x
    ci = cfg.channel_independent
    if ci:
        x = ChannelsToBatch(name="channels_to_batch")(x)
    F = 1 if ci else n_features
    n_out = H if ci else H * T  # outputs per (folded) row
    h = x
    if cfg.patch > 1:
        n_patch = L // cfg.patch
        if n_patch * cfg.patch < L:
            h = layers.Cropping1D((L - n_patch * cfg.patch, 0), name="crop_to_patches")(h)
        h = layers.Reshape((n_patch, cfg.patch * F), name="patches")(h)
    rnn_cls = layers.GRU if cfg.model == "gru" else layers.LSTM
    for i in range(cfg.layers):
        last_layer = i == cfg.layers - 1
        seq = (not last_layer) or cfg.model == "attention"
        if cfg.model == "peephole":
            h = layers.RNN(PeepholeLSTMCell(cfg.units, name=f"peephole_cell_{i + 1}"), return_sequences=seq,
                           name=f"peephole_lstm_{i + 1}")(h)
            continue
        # The fused kernel (~9% faster epochs on CPU) has no XLA version: XLA gets Keras' LSTM.
        if rnn_cls is layers.LSTM and not cfg.recurrent_dropout and not jit_compile and not _gpu_visible():
            h = FusedLSTM(cfg.units, return_sequences=seq, name=f"lstm_{i + 1}")(h)
            continue
        h = rnn_cls(cfg.units, return_sequences=seq,
                    recurrent_dropout=cfg.recurrent_dropout, name=f"{rnn_cls.__name__.lower()}_{i + 1}")(h)
    if cfg.model == "attention":
        query = LastStep(name="last_state")(h)
        context = layers.Attention(name="attention")([query, h])
        h = layers.Flatten(name="attended")(layers.Concatenate(axis=-1)([query, context]))
    inputs = inp
    if n_ids > 0 and cfg.id_embedding > 0:
        ids = keras.Input((), dtype="int32", name="series_id")
        emb = layers.Embedding(n_ids + 1, cfg.id_embedding, name="id_embedding")(ids)
        if ci:
            emb = RepeatRows(n_features, name="id_per_column")(emb)
        h = layers.Concatenate(name="with_id")([h, emb])
        inputs = [inp, ids]
    if cfg.dropout > 0:
        h = layers.Dropout(cfg.dropout, name="dropout")(h)
    # Zero-initialised heads: with norm="last" an untrained model is exactly the naive
    # forecast, and training moves it only where the data supports a change.
    zeros = "zeros" if cfg.norm == "last" or cfg.linear_fit == "lstsq" else "glorot_uniform"
    out = layers.Dense(n_out, kernel_initializer=zeros, name="head")(h)
    if cfg.linear_skip:
        lin = layers.Dense(n_out, kernel_initializer="zeros" if cfg.norm == "last" else "glorot_uniform",
                           name="linear", trainable=cfg.linear_fit != "lstsq")(layers.Flatten(name="flat_window")(x))
        out = layers.Add(name="rnn_plus_linear")([out, lin])
    if ci:
        out = BatchToChannels(n_features, T, name="batch_to_channels")(out)
    else:
        out = layers.Reshape((H, T), name="forecast_delta")(out)
    if cfg.norm == "last":
        out = AddLast(T, name="add_last")([out, inp])
    model = keras.Model(inputs, out, name=f"forecast_{cfg.model}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, jit_compile=jit_compile)
    return model


def _linear_design(series, origins, L, H, n_targets, cfg: ModelConfig, n_features: int):
    """The linear path's inputs and targets, as the model sees them: ``(A, Y)`` float64 arrays."""
    from .windows import gather

    X, Y = gather(series, origins, L, H, n_targets, dtype=np.float64)
    if cfg.channel_independent:
        # the network forecasts every column; only targets are scored, so fit on target columns
        X = X[:, :, :n_targets]
    if cfg.norm == "last":
        last = X[:, -1:, :]
        X = X - last
        Y = Y - last[:, :, :n_targets]
    if cfg.channel_independent:
        A = X.transpose(0, 2, 1).reshape(-1, L)              # (N*T, L)
        B = Y.transpose(0, 2, 1).reshape(-1, H)              # (N*T, H)
    else:
        A = X.reshape(len(X), -1)                            # (N, L*F)
        B = Y.reshape(len(Y), -1)                            # (N, H*T), row-major like Reshape((H, T))
    return A, B


def fit_linear_path(model, window: WindowConfig, cfg: ModelConfig, series: np.ndarray, train_origins,
                    val_origins, n_targets: int) -> dict:
    """Fit the ``linear`` layer of ``model`` in closed form (ridge least squares).

    The penalty is chosen from :data:`RIDGE_GRID` (times the number of training rows), and with
    ``cfg.linear_rank="auto"`` the rank from :data:`RANK_GRID` and full, by the mean squared
    error on the validation windows; the intercept is not penalised. Sets the layer's weights and
    returns ``{"alpha": ..., "rank": ..., "val_mse": ..., "train_rows": ...}`` (``rank`` is
    ``"full"`` or an int).
    """
    L, H = window.lookback, window.horizon
    n_features = series.shape[1]
    A, B = _linear_design(series, train_origins, L, H, n_targets, cfg, n_features)
    Av, Bv = _linear_design(series, val_origins, L, H, n_targets, cfg, n_features)
    best = None
    for rel, rank, W, b in _ridge_fits(A, B, RIDGE_GRID, _rank_candidates(cfg.linear_rank, B.shape[1])):
        mse = float(np.mean((Av @ W + b - Bv) ** 2))
        if best is None or mse < best[0]:
            best = (mse, rel, rank, W, b)
    mse, rel, rank, W, b = best
    layer = model.get_layer("linear")
    # kernel (L, H) and bias (H,) when channel-independent, else (L*F, H*T) and (H*T,)
    layer.set_weights([W.astype(np.float32), b.astype(np.float32)])
    return {"alpha": rel, "rank": "full" if rank is None else int(rank), "val_mse": mse,
            "train_rows": len(A)}

