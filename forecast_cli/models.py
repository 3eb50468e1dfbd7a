"""Keras model builders (LSTM, GRU, LSTM with attention): the only module that imports Keras.

Import this module only from code that trains or predicts: importing it loads TensorFlow.
The custom layers are registered with Keras so that bundles load with ``safe_mode=True``
(no Lambda layers, no pickled code).
"""
from __future__ import annotations

from .runtime import import_keras

keras = import_keras()
from keras import layers, ops  # noqa: E402
import numpy as np  # noqa: E402

from .config import ModelConfig, WindowConfig  # noqa: E402

__all__ = ["build_model", "fit_linear_path", "FusedLSTM", "PeepholeLSTMCell", "SubtractLast", "AddLast",
           "LastStep", "ChannelsToBatch", "BatchToChannels", "CUSTOM_OBJECTS"]


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


CUSTOM_OBJECTS = {"FusedLSTM": FusedLSTM, "PeepholeLSTMCell": PeepholeLSTMCell, "SubtractLast": SubtractLast,
                  "AddLast": AddLast, "LastStep": LastStep, "ChannelsToBatch": ChannelsToBatch, "BatchToChannels": BatchToChannels}


def build_model(window: WindowConfig, cfg: ModelConfig, n_features: int, n_targets: int,
                learning_rate: float = 1e-3, jit_compile: bool = False) -> "keras.Model":
    """A compiled direct multi-step forecaster ``(batch, lookback, n_features) -> (batch, horizon, n_targets)``.

    Layout: [SubtractLast] -> [ChannelsToBatch] -> [patches] -> recurrent stack (``layers`` x
    LSTM/GRU, ``recurrent_dropout`` on the state) -> [attention over the top layer's outputs] ->
    Dropout(``dropout``) -> Dense(horizon * outputs), plus an optional linear path from the
    flattened window, -> [BatchToChannels] -> [AddLast].
    ``dropout`` acts on the recurrent stack's output, not on the input features.

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
    x = SubtractLast(name="subtract_last")(inp) if cfg.norm == "last" else inp
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
        if rnn_cls is layers.LSTM and not cfg.recurrent_dropout and not jit_compile:
            h = FusedLSTM(cfg.units, return_sequences=seq, name=f"lstm_{i + 1}")(h)
            continue
        h = rnn_cls(cfg.units, return_sequences=seq,
                    recurrent_dropout=cfg.recurrent_dropout, name=f"{rnn_cls.__name__.lower()}_{i + 1}")(h)
    if cfg.model == "attention":
        query = LastStep(name="last_state")(h)
        context = layers.Attention(name="attention")([query, h])
        h = layers.Flatten(name="attended")(layers.Concatenate(axis=-1)([query, context]))
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
    model = keras.Model(inp, out, name=f"forecast_{cfg.model}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", jit_compile=jit_compile)
    return model


# Ridge penalties tried by fit_linear_path, per training row of the design matrix.
RIDGE_GRID = (0.0, 0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0)
# Ranks tried by fit_linear_path with linear_rank="auto" (those below the output size, then full).
RANK_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


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


def _ridge_path(A, B, rels):
    """Ridge least squares of ``B`` on ``A`` with an unpenalised intercept, for each penalty in
    ``rels`` (per row of ``A``): yields ``(rel, W, b)``, float64, ``A @ W + b`` the fit."""
    mx, my = A.mean(axis=0), B.mean(axis=0)
    Ac = A - mx
    G = Ac.T @ Ac
    R = Ac.T @ (B - my)
    evals, evecs = np.linalg.eigh(G)
    evals = np.clip(evals, 0.0, None)
    VR = evecs.T @ R
    eps = 1e-9 * max(float(evals.max()), 1.0)
    for rel in rels:
        alpha = rel * len(A) + eps
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
            "train_rows": int(len(A))}

